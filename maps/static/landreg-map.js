/* landreg maps: styles and popups of parcels, the same for embedded GeoJSON and vector tiles.
   The page sets window.LANDREG = {lang, labels, codes, text, categoryColors, scoreClasses,
   colorBy, municipalities, itemUrl, explainUrl} before the map is drawn. */
(function () {
  "use strict";
  // Leaflet.VectorGrid 1.3 calls L.DomEvent.fakeStop, which Leaflet 1.8 removed.
  if (window.L && L.DomEvent && !L.DomEvent.fakeStop) { L.DomEvent.fakeStop = L.DomEvent.stopPropagation; }

  function cfg() { return window.LANDREG || {}; }
  function esc(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function number(value, digits) {
    return Number(value).toLocaleString(cfg().lang === "en" ? "en-GB" : "de-DE",
      { maximumFractionDigits: digits, minimumFractionDigits: digits });
  }
  function area(m2) { return m2 >= 10000 ? number(m2 / 10000, 2) + " ha" : number(m2, 0) + " m²"; }
  function label(list, code) {
    var codes = cfg().codes[list] || {};
    return codes[code] !== undefined ? codes[code] : code;
  }
  function scoreColor(score) {
    var classes = cfg().scoreClasses, color = cfg().noScoreColor;
    if (score === undefined || score === null) { return color; }
    for (var i = 0; i < classes.length; i++) { if (score >= classes[i][0]) { color = classes[i][1]; } }
    return color;
  }
  function fill(p) {
    var by = cfg().colorBy;
    if (by === "score") { return scoreColor(p.score); }
    if (by === "status") { return (cfg().statusColors || {})[p.status] || "#999999"; }
    return cfg().categoryColors[p.category] || "#999999";
  }
  function style(p, zoom) {
    if (p.parcels !== undefined) {  // a cell of aggregated parcels (low zoom)
      return { radius: Math.min(22, 4 + 2 * Math.sqrt(p.parcels)), fill: true, fillColor: fill(p),
               fillOpacity: 0.75, color: "#333333", weight: 1 };
    }
    var s = { fill: true, fillColor: fill(p), fillOpacity: 0.7, color: "#222222", weight: 1, opacity: 0.9 };
    if (p.highlight) { s.color = "#e31a1c"; s.weight = 3; }
    return s;
  }
  function row(name, value) { return "<tr><th>" + esc(name) + "</th><td>" + value + "</td></tr>"; }
  function popup(p) {
    var c = cfg(), L_ = c.labels, T = c.text, html;
    if (p.parcels !== undefined) {
      html = "<b>" + number(p.parcels, 0) + " " + esc(T.count) + "</b><br>" + esc(T.area) + ": " + area(p.area_m2);
      if (p.short_term) { html += "<br>" + number(p.short_term, 0) + " " + esc(T.short_term); }
      return '<div class="lr-popup">' + html + "<br><i>" + esc(T.zoom_in) + "</i></div>";
    }
    html = '<div class="lr-popup"><b>' + esc(p.name || p.local_ref) + "</b>";
    if (p.is_sample) { html += ' <span class="lr-sample">' + esc(T.sample_short) + "</span>"; }
    html += "<table>";
    html += row(L_.ags, esc((c.municipalities || {})[p.ags] || p.ags));
    html += row(L_.category, esc(label("category", p.category)));
    html += row(L_.status, esc(label("status", p.status)));
    if (p.availability) { html += row(L_.availability, esc(label("availability", p.availability))); }
    if (p.designation) { html += row(L_.designation, esc(label("designation", p.designation))); }
    if (p.restriction_class !== undefined && p.restriction_class !== null) {
      html += row(L_.restriction_class, esc(label("restriction_class", String(p.restriction_class))));
    }
    html += row(L_.area_m2, area(p.area_m2));
    if (p.contamination) { html += row(L_.contamination, esc(label("contamination", p.contamination))); }
    else if (p.contamination_flag !== undefined) { html += row(L_.contamination_flag, esc(p.contamination_flag ? T.yes : T.no)); }
    if (c.profile) {
      html += row(T.score_for, p.score === undefined || p.score === null ? esc(T.not_scored) : number(p.score, 1) + " / 100");
    }
    if (p.rank) { html += row(T.rank, number(p.rank, 0)); }
    if (p.pressure) { html += row(T.pressure, esc(p.pressure)); }
    if (p.abstand_class) { html += row(T.abstand_class, esc(p.abstand_class)); }
    if (p.abstand_class_possible) { html += row(T.abstand_class_possible, esc(p.abstand_class_possible)); }
    html += "</table>";
    if (p.drivers) { html += drivers(p.drivers, p.weakness); }
    else if (c.explainUrl && c.profile && p.score !== undefined && p.score !== null) {
      html += '<div class="lr-drivers" data-explain="' + esc(c.explainUrl.replace("{id}", p.id)) + '"></div>';
    }
    if (c.itemUrl && p.id) { html += '<a href="' + esc(c.itemUrl.replace("{id}", p.id)) + '" target="_blank">' + esc(T.details) + "</a>"; }
    return html + "</div>";
  }
  function drivers(list, weakness) {
    var T = cfg().text, html = "<div class=\"lr-drivers\"><b>" + esc(T.drivers) + "</b><ul>";
    list.forEach(function (d) { html += "<li>" + esc(d[0]) + (d[1] !== null ? " (+" + number(d[1], 1) + " " + esc(T.points) + ")" : "") + "</li>"; });
    html += "</ul>";
    if (weakness) { html += esc(T.weakness) + ": " + esc(weakness); }
    return html + "</div>";
  }
  function explainOnOpen(map) {
    map.on("popupopen", function (e) {
      var box = e.popup.getElement().querySelector("[data-explain]");
      if (!box) { return; }
      fetch(box.getAttribute("data-explain")).then(function (r) { return r.ok ? r.json() : null; }).then(function (x) {
        if (!x) { return; }
        var top = x.criteria.filter(function (k) { return k.available; })
          .sort(function (a, b) { return b.weight * b.normalised - a.weight * a.normalised; }).slice(0, 3)
          .map(function (k) { return [k.label, k.contribution]; });
        box.innerHTML = drivers(top, x.would_help_most.length ? x.would_help_most[0].label : null);
        e.popup.update();
      });
    });
  }
  function bindTiles(layer, map) {
    layer.on("click", function (e) {
      L.popup().setLatLng(e.latlng).setContent(popup(e.layer.properties)).openOn(map);
    });
    layer.on("load", function () { document.body.setAttribute("data-parcels-drawn", "tiles"); });
    explainOnOpen(map);
  }
  function bindFeature(feature, layer) {
    if (layer.setStyle) { layer.setStyle(style(feature.properties)); }
    layer.bindPopup(popup(feature.properties), { maxWidth: 360 });
    document.body.setAttribute("data-parcels-drawn", "geojson");
  }
  window.landreg = { style: style, popup: popup, bindTiles: bindTiles, bindFeature: bindFeature,
                     explainOnOpen: explainOnOpen, scoreColor: scoreColor };
})();
