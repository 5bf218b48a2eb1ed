/* landreg workspace: drawing a new parcel's outline and editing an outline (Leaflet + Leaflet-Geoman).
 *
 * The page (api/web/templates/drawing/) holds a map #drawing-map, a form field #geometry and its
 * configuration as JSON in #drawing-config (mode "new" or "edit", the URL of the parcels nearby,
 * texts). The outline is kept in #geometry as a GeoJSON geometry in EPSG:4326 (longitude,
 * latitude), unrounded; the server transforms it to EPSG:25832. The parcels nearby (the signed-in
 * person's view) are loaded for the map's extent and snapped to; they are never editable.
 *
 * Documented hook (for tests and other tools), window.landregDrawing:
 *   setGeometry(geojson)  a Polygon or MultiPolygon (a geometry or a Feature, as Geoman's
 *                         layer.toGeoJSON() gives it) put on the map as if drawn: editable, in the
 *                         form field; returns the field's value
 *   getGeometry()         the outline in the form field (a GeoJSON geometry) or null
 *   clear()               removes the outline
 *   map                   the Leaflet map
 *   alkis.chosen()        the Kennzeichen of the ticked ALKIS Flurstücke (where they are offered)
 * The body's data-outline ("drawn" / "none"), data-neighbours (parcels loaded) and data-flurstuecke
 * (Flurstücke in the extent) attributes say what the map shows.
 *
 * ALKIS (config.alkis, the new-parcel page where Flurstücke are loaded): the form's radio "source"
 * switches between drawing and choosing Flurstücke (.drawing-page[data-source]). Choosing loads the Flurstücke
 * of the extent, a click on one (or its checkbox in #alkis-list, the keyboard's way) ticks it; the
 * ticked ones are drawn with the outline of their union (the edges only one of them has) and their
 * area (the sum of their areas: Flurstücke do not overlap); the database's figures follow on saving.
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("drawing-config").textContent);
  var text = config.text;
  var field = document.getElementById("geometry");
  var status = document.getElementById("drawing-status");
  var outlineNote = document.getElementById("drawing-outline");
  var OUTLINE = { color: "#c2185b", weight: 3, fillOpacity: 0.25 };
  var NEIGHBOUR = { color: "#00557a", weight: 1.5, fillOpacity: 0.12 };
  var CURRENT = { color: "#1b1b1b", weight: 2, dashArray: "6 6", fill: false };

  // a view first: layers added to a map without one are not on it yet (nor editable)
  var map = L.map("drawing-map", { zoomControl: true }).setView([51.48, 7.25], 10);
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution: "© <a href=\"https://www.openstreetmap.org/copyright\">OpenStreetMap</a>",
  }).addTo(map);
  map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');

  // parcels nearby: snapped to (snapIgnore false), ignored by Geoman's editing (pmIgnore)
  var neighbours = L.geoJSON(null, {
    pmIgnore: true,
    snapIgnore: false,
    style: function () { return NEIGHBOUR; },
    onEachFeature: function (feature, layer) {
      var p = feature.properties || {};
      var label = [p.local_ref, p.name, config.codes[p.category]].filter(Boolean).join(" · ");
      if (label) layer.bindTooltip(label, { sticky: true });
    },
  }).addTo(map);
  if (config.reference) {
    L.geoJSON(config.reference, { pmIgnore: true, snapIgnore: true, interactive: false, style: CURRENT }).addTo(map);
  }

  map.pm.setLang(config.lang === "en" ? "en" : "de");
  map.pm.setGlobalOptions({ snappable: true, snapDistance: 15, allowSelfIntersection: false, pathOptions: OUTLINE });

  var outline = null;

  function ringArea(ring) {
    // spherical excess of a lon/lat ring (m²), as Leaflet.draw's geodesicArea
    var R = 6378137, d2r = Math.PI / 180, sum = 0;
    for (var i = 0; i < ring.length - 1; i++) {
      var a = ring[i], b = ring[i + 1];
      sum += (b[0] - a[0]) * d2r * (2 + Math.sin(a[1] * d2r) + Math.sin(b[1] * d2r));
    }
    return Math.abs((sum * R * R) / 2);
  }
  function area(geometry) {
    var polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    return polygons.reduce(function (total, rings) {
      return total + rings.reduce(function (s, ring, i) { return s + (i === 0 ? 1 : -1) * ringArea(ring); }, 0);
    }, 0);
  }
  function show(geometry) {
    document.body.setAttribute("data-outline", geometry ? "drawn" : "none");
    if (!outlineNote) return;
    if (!geometry) { outlineNote.textContent = text.no_outline; return; }
    var m2 = Math.round(area(geometry)).toLocaleString(config.lang === "en" ? "en" : "de");
    outlineNote.textContent = text.outline_area.replace("{area}", m2 + " m²");
  }
  function sync() {
    var geometry = outline ? outline.toGeoJSON(false).geometry : null;
    field.value = geometry ? JSON.stringify(geometry) : "";
    show(geometry);
    toggle("drawing-clear", !!outline);
    toggle("drawing-reset", config.mode === "edit");
  }
  function toggle(id, visible) {
    var button = document.getElementById(id);
    if (button) button.hidden = !visible;
  }
  function adopt(layer) {
    if (outline && outline !== layer) map.removeLayer(outline);
    outline = layer;
    layer.setStyle(OUTLINE);
    layer.pm.enable({ snappable: true, snapDistance: 15, allowSelfIntersection: false });
    layer.on("pm:edit pm:vertexadded pm:vertexremoved pm:markerdragend", sync);
    sync();
  }
  function geometryOf(geojson) {
    var geometry = geojson && geojson.type === "Feature" ? geojson.geometry : geojson;
    if (!geometry || (geometry.type !== "Polygon" && geometry.type !== "MultiPolygon") || !Array.isArray(geometry.coordinates)) {
      throw new Error(text.invalid_geojson);
    }
    return geometry;
  }
  function setGeometry(geojson, keepView, still) {
    var geometry = geometryOf(geojson);
    var latlngs = L.GeoJSON.coordsToLatLngs(geometry.coordinates, geometry.type === "Polygon" ? 1 : 2);
    var layer = L.polygon(latlngs, OUTLINE).addTo(map);
    adopt(layer);
    if (!keepView) map.fitBounds(layer.getBounds(), { maxZoom: 18, padding: [20, 20], animate: !still });
    return field.value;
  }
  function clear() {
    if (outline) map.removeLayer(outline);
    outline = null;
    sync();
  }

  if (config.mode === "new") {
    map.pm.addControls({
      position: "topleft",
      drawMarker: false, drawCircleMarker: false, drawPolyline: false, drawCircle: false, drawText: false,
      drawRectangle: true, drawPolygon: true,
      editMode: false, dragMode: false, cutPolygon: false, removalMode: false, rotateMode: false,
    });
    map.on("pm:create", function (e) { adopt(e.layer); });
    var start = document.getElementById("drawing-start");
    start.hidden = false;
    start.addEventListener("click", function () { map.pm.enableDraw("Polygon"); map.getContainer().focus(); });
    document.getElementById("drawing-clear").addEventListener("click", clear);
  } else {
    document.getElementById("drawing-reset").addEventListener("click", function () {
      setGeometry(config.original);
    });
  }
  // Geoman's toolbar buttons: named for screen readers, reachable with the keyboard
  Array.prototype.forEach.call(map.getContainer().querySelectorAll(".leaflet-pm-toolbar .button-container"), function (c) {
    var link = c.querySelector("a");
    var title = c.getAttribute("title") || (link && link.getAttribute("title"));
    if (link && title) { link.setAttribute("aria-label", title); link.setAttribute("role", "button"); link.setAttribute("tabindex", "0"); }
  });

  // Geoman's vertex markers are keyboard-focusable buttons (Leaflet's markers): named for screen readers
  new MutationObserver(function () {
    Array.prototype.forEach.call(map.getPane("markerPane").querySelectorAll(".marker-icon:not([aria-label])"), function (m) {
      m.setAttribute("aria-label", m.classList.contains("marker-icon-middle") ? text.vertex_middle : text.vertex);
    });
  }).observe(map.getPane("markerPane"), { childList: true });

  field.addEventListener("change", function () {
    var value = field.value.trim();
    if (!value) { clear(); return; }
    try {
      setGeometry(JSON.parse(value));
      status.textContent = "";
    } catch (e) {
      status.textContent = text.invalid_geojson;
    }
  });

  // parcels nearby for the map's extent
  var request = null;
  function loadNeighbours() {
    var b = map.getBounds();
    if (b.getEast() - b.getWest() > config.span || b.getNorth() - b.getSouth() > config.span) {
      neighbours.clearLayers();
      document.body.setAttribute("data-neighbours", "0");
      status.textContent = text.zoom_in;
      return;
    }
    if (request) request.abort();
    request = new AbortController();
    var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (n) { return n.toFixed(6); }).join(",");
    fetch(config.neighbours + "?bbox=" + bbox, { credentials: "same-origin", signal: request.signal, headers: { Accept: "application/geo+json" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (data) {
        var features = data.features.filter(function (f) { return f.id !== config.parcelId; });
        neighbours.clearLayers();
        neighbours.addData(features);
        document.body.setAttribute("data-neighbours", String(features.length));
        status.textContent = data.numberMatched > data.numberReturned
          ? text.neighbours_more.replace("{count}", data.numberReturned).replace("{matched}", data.numberMatched)
          : text.neighbours.replace("{count}", features.length);
      })
      .catch(function (e) { if (e.name !== "AbortError") status.textContent = text.neighbours_failed; });
  }
  map.on("moveend", loadNeighbours);

  // ALKIS Flurstücke to choose from
  function chooser(cfg) {
    var form = field.form;
    var switched = form.closest(".drawing-page") || form; // carries data-source
    var list = document.getElementById("alkis-list");
    var note = document.getElementById("alkis-status");
    var summary = document.getElementById("alkis-selection");
    var STYLES = {
      free: { color: "#6a3d9a", weight: 1.5, fillOpacity: 0.08 },
      chosen: { color: "#c2185b", weight: 1, fillOpacity: 0.35 },
      other: { color: "#767676", weight: 1, dashArray: "2 4", fillOpacity: 0.1 },
    };
    var chosen = {}; // Kennzeichen -> feature (only its name until the map has shown it)
    var inView = [];
    cfg.chosen.forEach(function (c) { chosen[c.kennzeichen] = { id: c.kennzeichen, properties: { bezeichnung: c.bezeichnung, selectable: true } }; });
    var layer = L.geoJSON(null, {
      pmIgnore: true, snapIgnore: true,
      style: function (f) { return f.properties.selectable ? (chosen[f.id] ? STYLES.chosen : STYLES.free) : STYLES.other; },
      onEachFeature: function (f, l) {
        l.bindTooltip(label(f), { sticky: true });
        if (f.properties.selectable) l.on("click", function () { toggle(f, !chosen[f.id]); });
      },
    });
    var union = L.geoJSON(null, { pmIgnore: true, snapIgnore: true, interactive: false, style: function () { return { color: OUTLINE.color, weight: 3 }; } });
    var local = config.lang === "en" ? "en" : "de";
    function m2(value) { return Math.round(value).toLocaleString(local) + " m²"; }
    function label(f) {
      var p = f.properties;
      if (!p.selectable) return cfg.text.other.replace("{name}", p.bezeichnung).replace("{municipality}", p.municipality || p.ags || "?");
      return p.area_m2 == null ? p.bezeichnung : cfg.text.item.replace("{name}", p.bezeichnung).replace("{area}", m2(p.area_m2));
    }
    function edges(geometry) {
      // the outline of the union: the edges only one ticked Flurstück has (neighbours share theirs)
      var polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
      var out = [];
      polygons.forEach(function (rings) { rings.forEach(function (ring) {
        for (var i = 0; i < ring.length - 1; i++) out.push([ring[i], ring[i + 1]]);
      }); });
      return out;
    }
    function showChoice() {
      var counted = {}, lines = [], area = 0, n = 0;
      Object.keys(chosen).forEach(function (k) {
        var f = chosen[k];
        n += 1;
        if (f.properties.area_m2 != null) area += f.properties.area_m2;
        if (f.geometry) edges(f.geometry).forEach(function (e) {
          var key = [String(e[0]), String(e[1])].sort().join("|");
          counted[key] = counted[key] ? null : e;
        });
      });
      Object.keys(counted).forEach(function (key) { if (counted[key]) lines.push(counted[key]); });
      union.clearLayers();
      if (lines.length) union.addData({ type: "MultiLineString", coordinates: lines });
      summary.textContent = n ? cfg.text.selection.replace("{count}", n).replace("{area}", m2(area)) : cfg.text.alkis_none_chosen;
      layer.setStyle(layer.options.style);
    }
    function toggle(f, on) {
      if (on) chosen[f.id] = f; else delete chosen[f.id];
      var box = document.getElementById("fs-" + f.id);
      if (box) box.checked = on;
      showChoice();
    }
    function render() {
      var focused = document.activeElement && list.contains(document.activeElement) ? document.activeElement.id : null;
      var byKey = {};
      Object.keys(chosen).forEach(function (k) { byKey[k] = chosen[k]; });
      inView.forEach(function (f) { if (!byKey[f.id] || !byKey[f.id].geometry) byKey[f.id] = f; });
      list.textContent = "";
      Object.keys(byKey).sort().forEach(function (k) {
        var f = byKey[k], item = document.createElement("li"), box = document.createElement("input"), text = document.createElement("label");
        box.type = "checkbox"; box.id = "fs-" + k; box.name = "flurstueck"; box.value = k;
        box.checked = !!chosen[k]; box.disabled = !f.properties.selectable;
        box.addEventListener("change", function () { toggle(byKey[k], box.checked); });
        text.htmlFor = box.id; text.textContent = label(f);
        item.appendChild(box); item.appendChild(text); list.appendChild(item);
      });
      if (!list.children.length) {
        var empty = document.createElement("li");
        empty.textContent = cfg.text.alkis_list_empty;
        list.appendChild(empty);
      }
      if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    }
    var pending = null;
    function load() {
      if (switched.getAttribute("data-source") !== "flurstuecke") return;
      var b = map.getBounds();
      if (b.getEast() - b.getWest() > cfg.span || b.getNorth() - b.getSouth() > cfg.span) {
        inView = []; layer.clearLayers(); render();
        document.body.setAttribute("data-flurstuecke", "0");
        note.textContent = cfg.text.alkis_zoom_in;
        return;
      }
      if (pending) pending.abort();
      pending = new AbortController();
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
      fetch(cfg.url + "?bbox=" + bbox, { credentials: "same-origin", signal: pending.signal, headers: { Accept: "application/geo+json" } })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (data) {
          inView = data.features;
          inView.forEach(function (f) { if (chosen[f.id]) chosen[f.id] = f; });
          layer.clearLayers(); layer.addData(inView);
          render(); showChoice();
          document.body.setAttribute("data-flurstuecke", String(inView.length));
          note.textContent = data.tooMany ? cfg.text.too_many : cfg.text.alkis_loaded.replace("{count}", inView.length);
        })
        .catch(function (e) { if (e.name !== "AbortError") note.textContent = cfg.text.alkis_failed; });
    }
    function setSource(source) {
      switched.setAttribute("data-source", source);
      var choosing = source === "flurstuecke";
      if (choosing) {
        map.pm.disableDraw();
        if (outline) map.removeLayer(outline);
        layer.addTo(map); union.addTo(map);
        load();
      } else {
        map.removeLayer(layer); map.removeLayer(union);
        if (outline && !map.hasLayer(outline)) adopt(outline.addTo(map));
      }
    }
    Array.prototype.forEach.call(form.querySelectorAll("input[name=source]"), function (radio) {
      radio.addEventListener("change", function () { if (radio.checked) setSource(radio.value); });
    });
    map.on("moveend", function () {
      load();
      try { sessionStorage.setItem("landreg.drawing.view", JSON.stringify(map.getBounds().toBBoxString())); } catch (e) { /* private mode */ }
    });
    render(); showChoice();
    return {
      start: function () {
        var stored = null;
        try { stored = JSON.parse(sessionStorage.getItem("landreg.drawing.view")); } catch (e) { /* none */ }
        if (cfg.chosen.length && stored) { // after a refusal: where the planner was
          var v = stored.split(",").map(Number);
          map.fitBounds([[v[1], v[0]], [v[3], v[2]]], { animate: false });
        }
        setSource(switched.getAttribute("data-source"));
      },
      chosen: function () { return Object.keys(chosen).sort(); },
    };
  }
  var alkis = config.alkis ? chooser(config.alkis) : null;

  // first view: the outline in the field (kept after a refusal, or the parcel's), else the municipality;
  // not animated: Leaflet ignores a setView while a zoom animation runs (a first move would be lost)
  var initial = field.value.trim();
  var drawn = false;
  if (initial) {
    try { setGeometry(JSON.parse(initial), false, true); drawn = true; } catch (e) { status.textContent = text.invalid_geojson; }
  }
  if (!drawn) {
    if (config.bounds) map.fitBounds(config.bounds, { animate: false });
    sync();
  }
  if (alkis) alkis.start();
  var created = document.getElementById("created");
  if (created && created.dataset.url && !location.search) history.replaceState(null, "", created.dataset.url); // a reload shows, not saves

  window.landregDrawing = {
    map: map,
    setGeometry: function (geojson) { return setGeometry(geojson); },
    getGeometry: function () { return field.value ? JSON.parse(field.value) : null; },
    clear: clear,
    alkis: alkis && { chosen: alkis.chosen },
  };
  document.body.setAttribute("data-drawing", "ready");
})();
