/* The public site pages, progressively enhanced: the search's map (the page's sites, in step with the
   list; a click sets the reference point in the form's "near" field) and the exposé's map (the site
   and its surroundings from the register's own data; the OpenStreetMap background only when asked
   for). Without JavaScript the list, the form and the printed map stand alone. */
(function () {
  "use strict";

  function data(id) {
    var element = document.getElementById(id);
    if (!element) { return null; }
    try { return JSON.parse(element.textContent); } catch (e) { return null; }
  }

  function label(text) {
    var span = document.createElement("span");
    span.textContent = text;  // never markup: names are what people typed
    return span;
  }

  function searchMap() {
    var collection = data("sites-geojson");
    var element = document.getElementById("sites-map");
    if (!collection || !element || typeof L === "undefined") { return; }
    var map = L.map(element, { keyboard: true, scrollWheelZoom: false });
    var layers = {}, items = {};
    Array.prototype.forEach.call(document.querySelectorAll("#site-list li[data-id]"), function (li) {
      items[li.getAttribute("data-id")] = li;
    });
    function style(on) { return { color: on ? "#e31a1c" : "#00557a", weight: on ? 4 : 2, fillOpacity: on ? 0.5 : 0.3 }; }
    function highlight(id, on) {
      if (layers[id]) { layers[id].setStyle(style(on)); if (on) { layers[id].bringToFront(); } }
      if (items[id]) { items[id].classList.toggle("highlight", on); }
    }
    var group = L.geoJSON(collection, {
      style: function () { return style(false); },
      onEachFeature: function (feature, layer) {
        layers[feature.id] = layer;
        layer.bindTooltip(label(feature.properties.name || feature.properties.local_ref), { sticky: true });
        layer.on("mouseover", function () { highlight(feature.id, true); });
        layer.on("mouseout", function () { highlight(feature.id, false); });
        layer.on("click", function (event) {
          L.DomEvent.stopPropagation(event);
          window.location.href = feature.properties.href;
        });
      }
    }).addTo(map);
    Object.keys(items).forEach(function (id) {
      items[id].addEventListener("mouseenter", function () { highlight(id, true); });
      items[id].addEventListener("mouseleave", function () { highlight(id, false); });
      items[id].addEventListener("focusin", function () { highlight(id, true); });
      items[id].addEventListener("focusout", function () { highlight(id, false); });
    });
    var near = data("sites-near");
    var marker = near ? L.circleMarker([near[1], near[0]], { radius: 7, color: "#a4001d" }).addTo(map) : null;
    if (group.getLayers().length) {
      map.fitBounds(group.getBounds(), { padding: [20, 20], maxZoom: 15, animate: false });
    } else {
      map.setView([51.48, 7.25], 10, { animate: false });
    }
    var field = document.getElementById("f-near");
    map.on("click", function (event) {
      if (!field) { return; }
      var lon = event.latlng.lng.toFixed(5), lat = event.latlng.lat.toFixed(5);
      field.value = lon + "," + lat;
      if (marker) { marker.setLatLng(event.latlng); } else { marker = L.circleMarker(event.latlng, { radius: 7, color: "#a4001d" }).addTo(map); }
      field.dispatchEvent(new Event("change"));
    });
  }

  function canonicalSubmit() {
    /* the search form leaves empty fields out of the URL: the address holds only the criteria set */
    var form = document.getElementById("sites-form");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, key) {
        if (String(value).trim() !== "") { params.append(key, String(value).trim()); }
      });
      var query = params.toString();
      window.location.href = form.getAttribute("action") + (query ? "?" + query : "");
    });
  }

  function exposeMap() {
    var collections = data("expose-geojson");
    var element = document.getElementById("expose-map");
    if (!collections || !element || typeof L === "undefined") { return; }
    var map = L.map(element, { keyboard: true, scrollWheelZoom: false });
    L.geoJSON(collections.borders, { style: { color: "#555", weight: 2, dashArray: "6 4", fill: false } }).addTo(map);
    L.geoJSON(collections.neighbours, { style: { color: "#777", weight: 1, fillColor: "#bbb", fillOpacity: 0.5 } }).addTo(map);
    var site = L.geoJSON(collections.site, { style: { color: "#a00", weight: 3, fillColor: "#d7191c", fillOpacity: 0.5 } }).addTo(map);
    L.geoJSON(collections.context, {
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, { radius: 6, color: "#00557a", fillOpacity: 0.9 })
          .bindTooltip(label(feature.properties.label + (feature.properties.name ? ": " + feature.properties.name : "")));
      }
    }).addTo(map);
    map.fitBounds(site.getBounds().pad(1.5), { animate: false });
    var osm = null, toggle = document.getElementById("osm-toggle");
    if (toggle) {
      toggle.addEventListener("change", function () {
        if (toggle.checked) {
          osm = L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
            maxZoom: 19, attribution: "© OpenStreetMap contributors"
          }).addTo(map);
          osm.bringToBack();
        } else if (osm) { map.removeLayer(osm); osm = null; }
      });
    }
    var print = document.getElementById("print-button");
    if (print) { print.addEventListener("click", function () { window.print(); }); }
  }

  searchMap();
  canonicalSubmit();
  exposeMap();
})();
