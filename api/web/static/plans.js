/* The plan check page, progressively enhanced: the file's size checked before it is sent (the server
   checks it anyway), and a recorded check's map: the plan area and the parcels, linked with the
   table's rows. Without JavaScript the tables stand alone. */
(function () {
  "use strict";

  var COLOURS = { flaechensicherung: "#a4001d", abstandserlass: "#b15928", keiner: "#00557a" };

  function data(id) {
    var element = document.getElementById(id);
    if (!element) { return null; }
    try { return JSON.parse(element.textContent); } catch (e) { return null; }
  }

  function textElement(text) {
    var span = document.createElement("span");
    span.textContent = text;  // never markup: references and names are what people typed
    return span;
  }

  /* the form: a file over the limit is refused at the field before it is uploaded */
  function sizeCheck() {
    var input = document.getElementById("f-file");
    if (!input || !input.files) { return; }
    var limit = Number(input.getAttribute("data-limit"));
    input.addEventListener("change", function () {
      var file = input.files[0];
      var tooLarge = Boolean(file && limit && file.size > limit);
      input.setCustomValidity(tooLarge ? input.getAttribute("data-too-large") : "");
      if (tooLarge) { input.reportValidity(); }
    });
  }

  /* a recorded check: the plan area (dashed) and the parcels coloured by their conflict */
  function checkMap() {
    var shown = data("plan-check-data");
    if (!shown || !document.getElementById("plan-map") || typeof L === "undefined") { return; }
    var map = L.map("plan-map", { keyboard: true, scrollWheelZoom: false });
    // the base map is decoration: offline, the plan and the parcels are drawn on an empty background
    L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
      maxZoom: 19, attribution: "© OpenStreetMap contributors"
    }).addTo(map);
    var area = L.geoJSON(shown.area, {
      interactive: false, className: "plan-area",
      style: { color: "#1b1b1b", weight: 3, dashArray: "8 6", fillColor: "#ffbf47", fillOpacity: 0.2 }
    }).addTo(map);
    var rows = {};
    Array.prototype.forEach.call(document.querySelectorAll(".plans-tables tbody tr[data-id]"), function (row) {
      var id = row.getAttribute("data-id");
      (rows[id] = rows[id] || []).push(row);
    });
    var layers = {};
    function style(feature, on) {
      var colour = COLOURS[feature.properties.conflict] || COLOURS.keiner;
      return { color: colour, weight: on ? 5 : 2, fillColor: colour, fillOpacity: on ? 0.6 : 0.35 };
    }
    function highlight(id, on) {
      var layer = layers[id];
      if (layer) {
        layer.setStyle(style(layer.feature, on));
        if (on) { layer.bringToFront(); }
      }
      (rows[id] || []).forEach(function (row) { row.classList.toggle("highlight", on); });
    }
    var parcels = L.geoJSON(shown.parcels, {
      style: function (feature) { return style(feature, false); },
      onEachFeature: function (feature, layer) {
        layers[feature.id] = layer;
        layer.options.className = "plan-parcel conflict-" + feature.properties.conflict;
        layer.bindTooltip(textElement(feature.properties.label), { sticky: true });
        layer.on("click", function () { window.location.href = "/app/flaechen/" + encodeURIComponent(feature.id); });
        layer.on("mouseover", function () { highlight(feature.id, true); });
        layer.on("mouseout", function () { highlight(feature.id, false); });
      }
    }).addTo(map);
    var bounds = area.getBounds();
    if (parcels.getLayers().length) { bounds.extend(parcels.getBounds()); }
    map.fitBounds(bounds, { maxZoom: 17, padding: [16, 16] });
    Object.keys(rows).forEach(function (id) {
      rows[id].forEach(function (row) {
        ["mouseenter", "focusin"].forEach(function (name) { row.addEventListener(name, function () { highlight(id, true); }); });
        ["mouseleave", "focusout"].forEach(function (name) { row.addEventListener(name, function () { highlight(id, false); }); });
      });
    });
  }

  sizeCheck();
  checkMap();
}());
