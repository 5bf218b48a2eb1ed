/* landreg maps: styles and popups of parcels, the same for embedded GeoJSON and vector tiles.
   The page sets window.LANDREG = {lang, labels, codes, text, categoryColors, scoreClasses,
   colorBy, municipalities, itemUrl, recordUrl, explainUrl} before the map is drawn. */
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
  function empty(value) { return value === undefined || value === null || value === ""; }
  // What the headline shows (the name, else the reference; the sample mark): the table does not repeat it.
  function inHeadline(name, p) { return name === "name" || name === "is_sample" || (name === "local_ref" && !p.name); }
  function value(name, v) {
    var c = cfg(), T = c.text;
    if (name === "ags") { return esc((c.municipalities || {})[v] || v); }
    if (name === "area_m2") { return area(v); }
    if (typeof v === "boolean") { return esc(v ? T.yes : T.no); }
    if (c.codes[name]) { return esc(label(name, String(v))); }
    if (typeof v === "number") { return number(v, Number.isInteger(v) ? 0 : 2); }
    if (/^\d{4}-\d{2}-\d{2}$/.test(v)) { return esc(new Date(v + "T00:00:00").toLocaleDateString(c.lang === "en" ? "en-GB" : "de-DE")); }
    return esc(v);
  }
  function headline(p) {
    var T = cfg().text, html = "<b>" + esc(p.name || p.local_ref || "") + "</b>";
    if (p.is_sample) { html += ' <span class="lr-sample">' + esc(T.sample_short) + "</span>"; }
    return html;
  }
  function detailsLink(p) {
    var c = cfg();
    return c.itemUrl && p.id ? '<a href="' + esc(c.itemUrl.replace("{id}", p.id)) + '" target="_blank">' + esc(c.text.details) + "</a>" : "";
  }
  /* A cell of aggregated parcels, or a parcel's record: every field of it the page has a label for, in
     the registry's order (an embedded parcel carries its record; a parcel of a tile gets it from the item). */
  function popup(p) {
    var c = cfg(), T = c.text, html;
    if (p.parcels !== undefined) {
      html = "<b>" + number(p.parcels, 0) + " " + esc(T.count) + "</b><br>" + esc(T.area) + ": " + area(p.area_m2);
      if (p.short_term) { html += "<br>" + number(p.short_term, 0) + " " + esc(T.short_term); }
      return '<div class="lr-popup">' + html + "<br><i>" + esc(T.zoom_in) + "</i></div>";
    }
    html = '<div class="lr-popup">' + headline(p) + "<table>";
    Object.keys(c.labels).forEach(function (name) {
      if (!inHeadline(name, p) && name !== "score" && !empty(p[name])) { html += row(c.labels[name], value(name, p[name])); }
    });
    if (c.profile) {
      html += row(T.score_for, empty(p.score) ? esc(T.not_scored) : number(p.score, 1) + " / 100");
    }
    if (p.rank) { html += row(T.rank, number(p.rank, 0)); }
    if (p.pressure) { html += row(T.pressure, esc(p.pressure)); }
    html += "</table>";
    if (p.drivers) { html += drivers(p.drivers, p.weakness); }
    else if (c.explainUrl && c.profile && !empty(p.score)) {
      html += '<div class="lr-drivers" data-explain="' + esc(c.explainUrl.replace("{id}", p.id)) + '"></div>';
    }
    return html + detailsLink(p) + "</div>";
  }
  /* A parcel of a tile carries what the map colours it by and its name: its popup says so while it
     reads the record from the item (with the page's own view: a same-origin request), then shows it. */
  function loading(p) {
    return '<div class="lr-popup">' + headline(p) + '<p class="lr-loading" role="status">' + esc(cfg().text.loading) + "</p></div>";
  }
  function failed(p, reason) {
    return '<div class="lr-popup">' + headline(p) + '<p class="lr-error" role="alert">' +
      esc(cfg().text.load_failed.replace("{reason}", reason)) + "</p>" + detailsLink(p) + "</div>";
  }
  function loadRecord(box, p, map) {
    fetch(cfg().recordUrl.replace("{id}", encodeURIComponent(p.id)), { headers: { Accept: "application/geo+json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.json();
      })
      .then(function (feature) {
        box.setContent(popup(Object.assign({}, p, feature.properties, { id: p.id })));
        if (map.hasLayer(box)) { explain(box); }
      })
      .catch(function (error) { box.setContent(failed(p, error.message)); });
  }
  function drivers(list, weakness) {
    var T = cfg().text, html = "<div class=\"lr-drivers\"><b>" + esc(T.drivers) + "</b><ul>";
    list.forEach(function (d) { html += "<li>" + esc(d[0]) + (d[1] !== null ? " (+" + number(d[1], 1) + " " + esc(T.points) + ")" : "") + "</li>"; });
    html += "</ul>";
    if (weakness) { html += esc(T.weakness) + ": " + esc(weakness); }
    return html + "</div>";
  }
  function explain(box) {
    var element = box.getElement(), target = element && element.querySelector("[data-explain]");
    if (!target) { return; }
    fetch(target.getAttribute("data-explain")).then(function (r) { return r.ok ? r.json() : null; }).then(function (x) {
      if (!x) { return; }
      var top = x.criteria.filter(function (k) { return k.available; })
        .sort(function (a, b) { return b.weight * b.normalised - a.weight * a.normalised; }).slice(0, 3)
        .map(function (k) { return [k.label, k.contribution]; });
      target.innerHTML = drivers(top, x.would_help_most.length ? x.would_help_most[0].label : null);
      box.update();
    });
  }
  function explainOnOpen(map) {
    map.on("popupopen", function (e) { explain(e.popup); });
  }
  function bindTiles(layer, map) {
    layer.on("click", function (e) {
      var p = e.layer.properties, box = L.popup({ maxWidth: 360, maxHeight: 360 }).setLatLng(e.latlng);
      if (p.parcels !== undefined || !cfg().recordUrl) { box.setContent(popup(p)).openOn(map); return; }
      box.setContent(loading(p)).openOn(map);
      loadRecord(box, p, map);
    });
    layer.on("load", function () { document.body.setAttribute("data-parcels-drawn", "tiles"); });
    explainOnOpen(map);
  }
  function bindFeature(feature, layer) {
    if (layer.setStyle) { layer.setStyle(style(feature.properties)); }
    layer.bindPopup(popup(feature.properties), { maxWidth: 360, maxHeight: 360 });
    document.body.setAttribute("data-parcels-drawn", "geojson");
  }
  window.landreg = { style: style, popup: popup, bindTiles: bindTiles, bindFeature: bindFeature,
                     explainOnOpen: explainOnOpen, scoreColor: scoreColor };
})();
