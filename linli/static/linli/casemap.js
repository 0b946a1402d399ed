// Open cases on the grid boundaries (GeoJSON, labelled with their names; tiles only if
// configured), red when overdue, amber when the deadline is near; a tap opens the case.
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
  var colours = ["#0b6e4f", "#d9a400", "#ba2525"];
  // Least urgent first, so red markers are drawn on top.
  data.cases.slice().reverse().forEach(function (c) {
    var link = document.createElement("a");
    link.href = c.url;
    link.textContent = c.number;
    var popup = document.createElement("div");
    popup.appendChild(link);
    popup.appendChild(document.createElement("br"));
    popup.appendChild(document.createTextNode(c.label));
    L.circleMarker([c.lat, c.lng], {
      radius: c.warning ? 7 : 5, color: colours[c.warning], fillOpacity: 0.8, weight: 1
    }).bindPopup(popup).addTo(group);
  });
  var bounds = group.getBounds();
  if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] }); else map.setView([35, 110], 4);
})();
