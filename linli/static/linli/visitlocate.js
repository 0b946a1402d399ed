// The home-visit form's "Use my position" button (monitoring/visits_detail.html): fills the
// latitude and longitude fields from the phone's position. Kept out of the HTML so the
// Content-Security-Policy can forbid inline script; without geolocation the fields can be typed.
(function () {
  function setup() {
    var button = document.getElementById("locate");
    var status = document.getElementById("locate-status");
    var lat = document.getElementById("id_lat");
    var lng = document.getElementById("id_lng");
    if (!button || !lat || !lng || button.dataset.ready) return;
    button.dataset.ready = "1";
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
          lat.value = position.coords.latitude.toFixed(6);
          lng.value = position.coords.longitude.toFixed(6);
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
