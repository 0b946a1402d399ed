// Open alerts on the map of grids (GeoJSON, labelled with their names; tiles only if
// configured): a circle per building, sized by its number of open alerts and coloured by the
// most severe; a tap shows the counts and opens the building's alerts. No names: counts only.
(function () {
  var data = JSON.parse(document.getElementById("map-data").textContent);
  var tiles = JSON.parse(document.getElementById("map-tiles").textContent);
  var map = L.map("map", { attributionControl: false });
  if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
  var group = L.featureGroup().addTo(map);
  data.grids.forEach(function (g) {
    var shape = L.geoJSON(g.boundary, { style: { color: "#0b6e4f", weight: 1, fillOpacity: 0.04 } });
    LinliMap.label(shape, g.name).addTo(group);
  });
  LinliMap.labelsByZoom(map);
  // Severity 1 (low) to 4 (severe).
  var colours = { 1: "#4a90d9", 2: "#d9a400", 3: "#e8590c", 4: "#ba2525" };
  // Least severe first, so red markers are drawn on top.
  data.buildings.features.slice().reverse().forEach(function (f) {
    var p = f.properties;
    var popup = document.createElement("div");
    popup.appendChild(LinliMap.text(p.building + " · " + p.count + " " + data.labels.alerts));
    popup.appendChild(document.createElement("br"));
    popup.appendChild(LinliMap.text(p.severity_label));
    popup.appendChild(document.createElement("br"));
    var link = document.createElement("a");
    link.href = data.alerts_url + "?state=active&building=" + encodeURIComponent(p.building_id);
    link.textContent = data.labels.show;
    popup.appendChild(link);
    var c = f.geometry.coordinates;
    L.circleMarker([c[1], c[0]], {
      radius: Math.min(5 + 2 * Math.sqrt(p.count), 16), color: colours[p.severity] || "#555",
      fillOpacity: 0.8, weight: 1
    }).bindPopup(popup).addTo(group);
  });
  var bounds = group.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] }); else map.setView([35, 110], 4);
})();
