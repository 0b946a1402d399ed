// Shared by the maps: names of grids and places go onto the map as text, never as HTML (a
// name is typed by a street officer and seen by residents), and as permanent labels only once
// the map is zoomed in far enough for them not to pile up.
var LinliMap = (function () {
  var LABEL_ZOOM = 14;
  function text(value) {
    var span = document.createElement("span");
    span.textContent = value;
    return span;
  }
  return {
    // Leaflet puts a string into the tooltip as HTML; an element goes in as it is.
    label: function (layer, name) {
      return layer.bindTooltip(text(name), {
        permanent: true, direction: "center", className: "map-label", interactive: false
      });
    },
    // Hides the labels while zoomed out (CSS: .labels-off .map-label).
    labelsByZoom: function (map) {
      function toggle() {
        map.getContainer().classList.toggle("labels-off", map.getZoom() < LABEL_ZOOM);
      }
      map.on("zoomend", toggle);
      toggle();
    },
    text: text
  };
})();
