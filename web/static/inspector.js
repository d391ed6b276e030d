// 网格员上报: fill the hidden latitude/longitude from the browser's geolocation.
(function () {
  "use strict";
  var lat = document.getElementById("latitude");
  var lng = document.getElementById("longitude");
  var shown = document.getElementById("position");
  var button = document.getElementById("locate");
  if (!lat || !lng || !shown) return;

  function show(text, css) {
    shown.textContent = text;
    shown.className = "position " + (css || "");
  }

  function locate() {
    if (!navigator.geolocation) {
      show("此浏览器不支持定位,请填写地址", "error");
      return;
    }
    show("正在获取位置…");
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        lat.value = pos.coords.latitude.toFixed(6);
        lng.value = pos.coords.longitude.toFixed(6);
        var accuracy = pos.coords.accuracy ? "(精度约 " + Math.round(pos.coords.accuracy) + " 米)" : "";
        show("已定位:" + lat.value + ", " + lng.value + accuracy, "ok");
      },
      function () {
        lat.value = lng.value = "";
        show("无法获取位置(请允许定位,或填写详细地址)", "error");
      },
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }
    );
  }

  if (button) button.addEventListener("click", locate);
  if (lat.value && lng.value) show("已定位:" + lat.value + ", " + lng.value, "ok");
  else locate();
})();
