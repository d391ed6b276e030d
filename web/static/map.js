// Maps of the inspector, citizen and order pages (Leaflet from /web/static/leaflet/, never
// a CDN). The map is our own data first: the grid cells and known addresses as GeoJSON
// from /web/api/geo/map; tiles from [web] map_tiles_url are drawn under it when set and
// dropped when they fail to load. A marker shows the report's position.
//   <div class="map" data-map data-lat data-lng data-tiles data-attribution data-pick>
// Events on document: "hotline:position" {lat, lng} moves the marker; a click on a map with
// data-pick sends "hotline:pick" {lat, lng}.
(function () {
  "use strict";
  var box = document.querySelector("[data-map]");
  if (!box) return;
  var status = document.getElementById(box.dataset.status || "map-status");

  function say(text) {
    if (status) status.textContent = text || "";
  }

  if (!window.L) {
    box.classList.add("map-missing");
    say(box.dataset.msgMissing || "地图组件未安装,仅显示坐标");
    return;
  }
  var L = window.L;
  var map = L.map(box, { zoomControl: true, attributionControl: true });
  var marker = null;
  var LABEL_ZOOM = 14;  // cell names from this zoom on (a city-wide view would be all text)
  var MARKER_ZOOM = 14;  // a marker is shown with its cell and the neighbours around
  var placed = false;

  function setMarker(lat, lng) {
    var at = [lat, lng];
    if (!marker) {
      marker = L.circleMarker(at, {
        radius: 9, color: "#c0392b", weight: 3, fillColor: "#e74c3c", fillOpacity: 0.7,
        className: "report-marker"
      }).addTo(map);
    } else {
      marker.setLatLng(at);
    }
    box.dataset.marker = lat.toFixed(6) + "," + lng.toFixed(6);
    map.setView(at, Math.max(map.getZoom() || 0, MARKER_ZOOM), { animate: false });
    placed = true;
  }

  var lat = parseFloat(box.dataset.lat);
  var lng = parseFloat(box.dataset.lng);
  if (isFinite(lat) && isFinite(lng)) setMarker(lat, lng);
  else map.setView([0, 0], 2);

  if (box.dataset.tiles) {
    var failures = 0;
    var tiles = L.tileLayer(box.dataset.tiles, {
      attribution: box.dataset.attribution || "", maxZoom: 19
    }).addTo(map);
    tiles.on("tileerror", function () {
      failures += 1;
      if (failures === 1) {
        map.removeLayer(tiles);
        box.classList.add("map-offline");
        say(box.dataset.msgOffline || "底图无法加载,显示本系统网格");
      }
    });
  } else {
    box.classList.add("map-offline");
  }

  fetch("/web/api/geo/map", { credentials: "same-origin" })
    .then(function (resp) { return resp.ok ? resp.json() : { features: [] }; })
    .then(function (doc) {
      var layer = L.geoJSON(doc, {
        style: function () {
          return { color: "#5b7083", weight: 1, fillColor: "#dfe7ee", fillOpacity: 0.35 };
        },
        pointToLayer: function (feature, at) {
          return L.circleMarker(at, {
            radius: 4, color: "#2c6e9b", weight: 1, fillColor: "#2c6e9b", fillOpacity: 0.6,
            className: "known-address"
          });
        },
        onEachFeature: function (feature, item) {
          var props = feature.properties || {};
          if (!props.label) return;
          if (props.kind === "cell") {  // the cell's name in it, once zoomed in enough
            item.bindTooltip(props.name || props.label, {
              permanent: true, direction: "center", className: "cell-label"
            });
          } else {
            item.bindTooltip(props.label);
          }
        }
      }).addTo(map);
      layer.bringToBack();
      if (!placed && layer.getLayers().length) map.fitBounds(layer.getBounds());
      box.dataset.features = String(layer.getLayers().length);
      box.dataset.ready = "1";
    })
    .catch(function () {
      box.dataset.ready = "1";
    });

  function labels() {
    box.classList.toggle("labels-on", map.getZoom() >= LABEL_ZOOM);
  }
  map.on("zoomend", labels);
  labels();

  document.addEventListener("hotline:position", function (event) {
    setMarker(event.detail.lat, event.detail.lng);
  });
  if (box.dataset.pick) {
    map.on("click", function (event) {
      var where = { lat: event.latlng.lat, lng: event.latlng.lng };
      document.dispatchEvent(new CustomEvent("hotline:pick", { detail: where }));
    });
  }
})();
