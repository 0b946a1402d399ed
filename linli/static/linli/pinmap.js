// The report form's map: grid boundaries from GeoJSON, labelled with their names (tiles only
// if configured); a tap, or the "my location" button, places the pin and fills the hidden
// lat/lng fields. Re-run after htmx swaps the form.
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
      var shape = L.geoJSON(g.boundary, { style: { color: "#0b6e4f", weight: 1, fillOpacity: 0.05 } });
      LinliMap.label(shape, g.name).addTo(grids);
    });
    LinliMap.labelsByZoom(map);
    if (grids.getBounds().isValid()) map.fitBounds(grids.getBounds()); else map.setView([35, 110], 4);
    var lat = document.getElementById("id_lat"), lng = document.getElementById("id_lng");
    function place(latlng) {
      if (marker) marker.setLatLng(latlng); else marker = L.marker(latlng).addTo(map);
      lat.value = latlng.lat.toFixed(6); lng.value = latlng.lng.toFixed(6);
      document.getElementById("pin").textContent = lat.value + ", " + lng.value;
    }
    if (lat.value && lng.value) place(L.latLng(+lat.value, +lng.value));
    map.on("click", function (e) { place(e.latlng); });
    locateButton(function (latlng) {
      place(latlng);
      map.setView(latlng, Math.max(map.getZoom(), 17));
    });
  }
  // "Use my location": the button says what happened when the browser gives no position
  // (refused, unavailable, or a page not served over HTTPS); the pin can still be tapped.
  function locateButton(place) {
    var button = document.getElementById("locate");
    var status = document.getElementById("locate-status");
    if (!button) return;
    if (!navigator.geolocation) {
      status.textContent = button.dataset.unavailable;
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = button.dataset.locating;
      button.disabled = true;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          button.disabled = false;
          status.textContent = "";
          place(L.latLng(position.coords.latitude, position.coords.longitude));
        },
        function (error) {
          button.disabled = false;
          status.textContent = error.code === error.PERMISSION_DENIED
            ? button.dataset.refused : button.dataset.unavailable;
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
  }
  document.addEventListener("DOMContentLoaded", setup);
  document.addEventListener("htmx:afterSettle", setup);
})();
