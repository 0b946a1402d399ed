// Draws a place's boundary and its children's from GeoJSON, the children labelled with their
// names; tiles only if configured (closed government networks often have none).
(function () {
  var data = JSON.parse(document.getElementById("map-data").textContent);
  var tiles = JSON.parse(document.getElementById("map-tiles").textContent);
  var map = L.map("map", { attributionControl: false });
  if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
  var group = L.featureGroup().addTo(map);
  data.children.forEach(function (c) {
    var shape = L.geoJSON(c.boundary, { style: { color: "#0b6e4f", weight: 1, fillOpacity: 0.08 } });
    LinliMap.label(shape, c.name).on("click", function () { window.location = c.url; }).addTo(group);
  });
  LinliMap.labelsByZoom(map);
  if (data.boundary) {
    L.geoJSON(data.boundary, { style: { color: "#b44d12", weight: 3, fill: false } }).addTo(group);
  }
  if (data.point[0] !== null) L.circleMarker([data.point[0], data.point[1]], { radius: 5 }).addTo(group);
  var bounds = group.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] }); else map.setView([data.point[0], data.point[1]], 16);
})();
