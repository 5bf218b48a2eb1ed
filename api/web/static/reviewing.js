/* Progressive enhancement of the review pages: "select all" in the queue, and the map of the
   outlines before (approved) and after (submitted) of a submission's parcels. Everything works
   without it, except the map. */
(function () {
  "use strict";

  function selectAll() {
    var slot = document.querySelector(".select-all-slot");
    var boxes = Array.prototype.slice.call(document.querySelectorAll('table.queue input[name="ids"]'));
    if (!slot || !boxes.length) return;
    var all = document.createElement("input");
    all.type = "checkbox";
    all.id = "select-all";
    all.setAttribute("aria-label", slot.getAttribute("data-label"));
    all.title = slot.getAttribute("data-label");
    all.checked = boxes.every(function (b) { return b.checked; });
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
    });
    boxes.forEach(function (b) {
      b.addEventListener("change", function () {
        all.checked = boxes.every(function (x) { return x.checked; });
      });
    });
    slot.textContent = "";
    slot.appendChild(all);
  }

  function outlineMap() {
    var holder = document.getElementById("review-map");
    var data = document.getElementById("review-map-data");
    if (!holder || !data || typeof L === "undefined") return;
    var parcels = JSON.parse(data.textContent);
    var map = L.map(holder, { zoomControl: true, attributionControl: true });
    L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
      maxZoom: 19,
      attribution: "© OpenStreetMap contributors"
    }).addTo(map);
    var group = L.featureGroup().addTo(map);
    parcels.forEach(function (p) {  // after: filled, below; before: dashed, on top
      L.geoJSON(p.after, {
        style: { color: p.retired ? "#a4001d" : "#00557a", weight: 3, fillOpacity: 0.15 }
      }).bindTooltip(p.ref).addTo(group);
    });
    parcels.forEach(function (p) {
      if (p.before) {
        L.geoJSON(p.before, {
          style: { color: "#4a4a4a", weight: 3, dashArray: "6 6", fill: false },
          interactive: false
        }).addTo(group);
      }
    });
    var bounds = group.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 18 });
    L.control.scale({ imperial: false }).addTo(map);
  }

  document.addEventListener("DOMContentLoaded", function () {
    selectAll();
    outlineMap();
  });
})();
