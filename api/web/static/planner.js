/* The planner's pages, progressively enhanced: the list's map (the page's parcels, linked with the
   table's rows), the parcel page's map (with an outline change from the history) and its sections
   as keyboard-operable tabs. Without JavaScript every section is shown and the list stands alone. */
(function () {
  "use strict";

  var STATUS_COLOURS = {
    potenzial: "#6a3d9a", verfuegbar: "#1d6b2f", reserviert: "#b15928", in_entwicklung: "#00557a",
    genutzt: "#555555", andere_nutzung: "#a4001d"
  };

  function data(id) {
    var element = document.getElementById(id);
    if (!element) { return null; }
    try { return JSON.parse(element.textContent); } catch (e) { return null; }
  }

  function baseMap(id) {
    var map = L.map(id, { keyboard: true, scrollWheelZoom: false });
    // the base map is decoration: offline, the parcels are drawn on an empty background
    L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
      maxZoom: 19, attribution: "© OpenStreetMap contributors"
    }).addTo(map);
    return map;
  }

  function textElement(text) {
    var span = document.createElement("span");
    span.textContent = text;  // never markup: references and names are what people typed
    return span;
  }

  /* "Meine Flächen": the map of the page's parcels */
  function listMap() {
    var collection = data("planner-geojson");
    if (!collection || !document.getElementById("planner-map") || typeof L === "undefined") { return; }
    var map = baseMap("planner-map");
    var layers = {};
    function style(feature, on) {
      var colour = STATUS_COLOURS[feature.properties.status] || "#00557a";
      return { color: on ? "#e31a1c" : colour, weight: on ? 4 : 2, fillColor: colour, fillOpacity: on ? 0.5 : 0.3 };
    }
    var rows = {};
    Array.prototype.forEach.call(document.querySelectorAll("#parcel-table tbody tr[data-id]"), function (row) {
      rows[row.getAttribute("data-id")] = row;
    });
    function highlight(id, on) {
      var layer = layers[id];
      if (layer) {
        layer.setStyle(style(layer.feature, on));
        if (on) { layer.bringToFront(); }
      }
      if (rows[id]) { rows[id].classList.toggle("highlight", on); }
    }
    var group = L.geoJSON(collection, {
      style: function (feature) { return style(feature, false); },
      onEachFeature: function (feature, layer) {
        layers[feature.id] = layer;
        var label = feature.properties.local_ref + (feature.properties.name ? " – " + feature.properties.name : "");
        layer.bindTooltip(textElement(label), { sticky: true });
        layer.on("click", function () { window.location.href = "/app/flaechen/" + encodeURIComponent(feature.id); });
        layer.on("mouseover", function () { highlight(feature.id, true); });
        layer.on("mouseout", function () { highlight(feature.id, false); });
      }
    }).addTo(map);
    if (group.getLayers().length) {
      map.fitBounds(group.getBounds(), { maxZoom: 16, padding: [12, 12] });
    } else {
      map.setView([51.48, 7.2], 9);  // the Ruhr
    }
    Object.keys(rows).forEach(function (id) {
      var row = rows[id];
      ["mouseenter", "focusin"].forEach(function (name) { row.addEventListener(name, function () { highlight(id, true); }); });
      ["mouseleave", "focusout"].forEach(function (name) { row.addEventListener(name, function () { highlight(id, false); }); });
    });
  }

  /* the parcel page's map: the current outline, and an earlier one from the history on demand */
  function parcelMap() {
    var geometry = data("parcel-geometry");
    if (!geometry || !document.getElementById("parcel-map") || typeof L === "undefined") { return; }
    var map = baseMap("parcel-map");
    var now = { color: "#00557a", weight: 3, fillColor: "#00557a", fillOpacity: 0.25 };
    var current = L.geoJSON(geometry, { style: now }).addTo(map);
    map.fitBounds(current.getBounds(), { maxZoom: 17, padding: [16, 16] });
    var outlines = data("parcel-outlines") || {};
    var shown = null;
    Array.prototype.forEach.call(document.querySelectorAll("button.show-outline"), function (button) {
      var change = outlines[button.getAttribute("data-version")];
      if (!change) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        if (shown) { map.removeLayer(shown); }
        shown = L.featureGroup();
        if (change.before) {
          L.geoJSON(change.before, { style: { color: "#a4001d", weight: 3, dashArray: "6 4", fill: false } }).addTo(shown);
        }
        L.geoJSON(change.after, { style: now }).addTo(shown);
        shown.addTo(map);
        map.fitBounds(shown.getBounds(), { maxZoom: 17, padding: [16, 16] });
        document.getElementById("parcel-map").scrollIntoView({ block: "nearest" });
      });
    });
  }

  /* the parcel page's sections as tabs (WAI-ARIA tabs pattern: arrows, Home and End move between them) */
  function tabs() {
    var nav = document.querySelector(".parcel-tabs");
    if (!nav) { return; }
    var list = nav.querySelector("ul");
    var links = Array.prototype.slice.call(list.querySelectorAll("a"));
    var panels = {};
    list.setAttribute("role", "tablist");
    links.forEach(function (link) {
      var id = link.getAttribute("href").slice(1);
      var panel = document.getElementById(id);
      if (!panel) { return; }
      panels[id] = panel;
      link.parentNode.setAttribute("role", "presentation");
      link.setAttribute("role", "tab");
      link.setAttribute("aria-controls", id);
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", link.id);
      link.addEventListener("click", function (event) {
        event.preventDefault();
        select(id, true);
        if (window.history && window.history.replaceState) { window.history.replaceState(null, "", "#" + id); }
      });
      link.addEventListener("keydown", function (event) {
        var index = links.indexOf(link), next = null;
        if (event.key === "ArrowRight") { next = links[(index + 1) % links.length]; }
        else if (event.key === "ArrowLeft") { next = links[(index - 1 + links.length) % links.length]; }
        else if (event.key === "Home") { next = links[0]; }
        else if (event.key === "End") { next = links[links.length - 1]; }
        if (next) {
          event.preventDefault();
          select(next.getAttribute("href").slice(1), true);
        }
      });
    });
    function select(id, focus) {
      links.forEach(function (link) {
        var on = link.getAttribute("href") === "#" + id;
        link.setAttribute("aria-selected", on ? "true" : "false");
        link.setAttribute("tabindex", on ? "0" : "-1");
        if (on && focus) { link.focus(); }
      });
      Object.keys(panels).forEach(function (key) { panels[key].hidden = key !== id; });
      load(panels[id]);
    }
    // a section whose content is computed on demand (the scores) is loaded when first opened
    function load(panel) {
      var url = panel && panel.getAttribute("data-load");
      var body = panel && panel.querySelector(".scores-body");
      if (!url || !body || panel.getAttribute("data-loaded")) { return; }
      panel.setAttribute("data-loaded", "loading");
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (answer) { if (!answer.ok) { throw new Error(answer.status); } return answer.text(); })
        .then(function (html) { body.innerHTML = html; panel.setAttribute("data-loaded", "yes"); })
        .catch(function () { panel.removeAttribute("data-loaded"); });  // the link to the page stays
    }
    function showTarget() {
      var target = window.location.hash ? document.getElementById(window.location.hash.slice(1)) : null;
      var panel = target && (target.classList.contains("tab-panel") ? target : target.closest(".tab-panel"));
      if (document.getElementById("form-errors")) { panel = panels.daten; }
      select(panel && panels[panel.id] ? panel.id : "daten", false);
      if (target && target !== panel) { target.scrollIntoView(); }
    }
    // a link to a field or a version inside another section opens that section first
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[href^='#']") : null;
      if (!link || link.getAttribute("role") === "tab") { return; }
      var target = document.getElementById(link.getAttribute("href").slice(1));
      var panel = target && target.closest(".tab-panel");
      if (panel && panels[panel.id]) { select(panel.id, false); }
    }, true);
    window.addEventListener("hashchange", showTarget);
    showTarget();
  }

  function start() {
    listMap();
    parcelMap();
    tabs();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
