// The report form's map: grid boundaries from GeoJSON (tiles only if configured); a tap
// places the pin and fills the hidden lat/lng fields. Re-run after htmx swaps the form.
(function () {
  var map, marker;
  function setup() {
    var holder = document.getElementById("map");
    if (!holder || holder.dataset.ready) return;
    holder.dataset.ready = "1";
    var data = JSON.parse(document.getElementById("map-data").textContent);
    var tiles = JSON.parse(document.getElementById("map-tiles").textContent);
    map = L.map(holder, { attributionControl: false });
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    var grids = L.featureGroup().addTo(map);
    data.grids.forEach(function (g) {
      L.geoJSON(g.boundary, { style: { color: "#0b6e4f", weight: 1, fillOpacity: 0.05 } })
        .bindTooltip(g.name).addTo(grids);
    });
    if (grids.getBounds().isValid()) map.fitBounds(grids.getBounds()); else map.setView([35, 110], 4);
    var lat = document.getElementById("id_lat"), lng = document.getElementById("id_lng");
    function place(latlng) {
      if (marker) marker.setLatLng(latlng); else marker = L.marker(latlng).addTo(map);
      lat.value = latlng.lat.toFixed(6); lng.value = latlng.lng.toFixed(6);
      document.getElementById("pin").textContent = lat.value + ", " + lng.value;
    }
    if (lat.value && lng.value) place(L.latLng(+lat.value, +lng.value));
    map.on("click", function (e) { place(e.latlng); });
  }
  document.addEventListener("DOMContentLoaded", setup);
  document.addEventListener("htmx:afterSettle", setup);
})();
