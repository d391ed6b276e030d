// 网格员上报 and 市民诉求: fill the hidden latitude/longitude from the browser's geolocation
// (the inspector's form locates at once; a button with data-manual only when clicked) or
// from a click on the map (web/static/map.js), move the map's marker, and prefill the
// address from our own gazetteer (/web/api/geo/reverse) unless the person typed one.
var hotlineMessages = (function () {
  "use strict";
  var node = document.getElementById("js-messages");
  var table = {};
  try { table = node ? JSON.parse(node.textContent) : {}; } catch (e) { table = {}; }
  return function (text, params) {
    var out = table[text] || text;
    Object.keys(params || {}).forEach(function (key) { out = out.replace("{" + key + "}", params[key]); });
    return out;
  };
})();

(function () {
  "use strict";
  var t = hotlineMessages;
  var lat = document.getElementById("latitude");
  var lng = document.getElementById("longitude");
  var shown = document.getElementById("position");
  var button = document.getElementById("locate");
  var address = document.getElementById("address");
  var note = document.getElementById("address-note");
  if (!lat || !lng || !shown) return;
  var filled = "";  // the address we filled in ourselves (replaced when the place changes)

  function show(text, css) {
    shown.textContent = text;
    shown.className = "position " + (css || "");
  }

  function prefill(latitude, longitude) {
    if (!address) return;
    var params = new URLSearchParams({ lat: latitude, lng: longitude });
    fetch("/web/api/geo/reverse?" + params.toString(), { credentials: "same-origin" })
      .then(function (resp) { return resp.ok ? resp.json() : {}; })
      .then(function (answer) {
        var typed = address.value.trim();
        if (!answer.address || (typed && typed !== filled)) return;
        address.value = filled = answer.address;
        if (note) {
          note.textContent = t("已根据位置填写地址,请核对");
          note.hidden = false;
        }
        address.dispatchEvent(new Event("change"));  // e.g. the duplicate check
      })
      .catch(function () { /* no address: the person types it */ });
  }

  function place(latitude, longitude, accuracy) {
    lat.value = latitude.toFixed(6);
    lng.value = longitude.toFixed(6);
    var extra = accuracy ? t("(精度约 {m} 米)", { m: Math.round(accuracy) }) : "";
    show(t("已定位:") + lat.value + ", " + lng.value + extra, "ok");
    document.dispatchEvent(new CustomEvent("hotline:position", {
      detail: { lat: latitude, lng: longitude }
    }));
    prefill(lat.value, lng.value);
  }

  function locate() {
    if (!navigator.geolocation) {
      show(t("此浏览器不支持定位,请填写地址"), "error");
      return;
    }
    show(t("正在获取位置…"));
    navigator.geolocation.getCurrentPosition(
      function (pos) { place(pos.coords.latitude, pos.coords.longitude, pos.coords.accuracy); },
      function () {
        lat.value = lng.value = "";
        show(t("无法获取位置(请允许定位,或填写详细地址)"), "error");
      },
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 }
    );
  }

  if (button) button.addEventListener("click", locate);
  document.addEventListener("hotline:pick", function (event) {
    place(event.detail.lat, event.detail.lng);
  });
  if (lat.value && lng.value) show(t("已定位:") + lat.value + ", " + lng.value, "ok");
  else if (!(button && button.dataset.manual)) locate();
})();

// 网格员上报: warn when the same problem was already reported (the duplicate suggestions
// of /web/api/suggest, which for an inspector are their own earlier reports).
(function () {
  "use strict";
  var box = document.getElementById("duplicate-warning");
  var content = document.getElementById("content");
  var address = document.getElementById("address");
  if (!box || !content) return;
  var timer = null;
  var asked = 0;

  function render(duplicates) {
    box.textContent = "";
    if (!duplicates.length) {
      box.hidden = true;
      return;
    }
    var head = document.createElement("b");
    head.textContent = "疑似重复上报:您已上报过相似问题,请核对后再提交(确属新问题可继续上报)";
    box.appendChild(head);
    var list = document.createElement("ul");
    duplicates.forEach(function (d) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "/web/orders/" + encodeURIComponent(d.number);
      link.textContent = d.number;
      item.appendChild(link);
      var parts = [d.state_label, d.created_at, d.address, d.content].filter(Boolean);
      var pct = typeof d.similarity === "number" ? "相似度 " + Math.round(d.similarity * 100) + "%" : "";
      item.appendChild(document.createTextNode(" " + parts.concat(pct ? [pct] : []).join(" · ")));
      list.appendChild(item);
    });
    box.appendChild(list);
    box.hidden = false;
  }

  function check() {
    var text = content.value.trim();
    if (text.length < 4) {
      render([]);
      return;
    }
    var params = new URLSearchParams({ text: text, address: address ? address.value.trim() : "" });
    var ticket = ++asked;
    fetch("/web/api/suggest?" + params.toString(), { credentials: "same-origin" })
      .then(function (resp) { return resp.ok ? resp.json() : { duplicates: [] }; })
      .then(function (answer) {
        if (ticket === asked) render(answer.duplicates || []);
      })
      .catch(function () { /* a warning only: the report goes on without it */ });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(check, 500);
  }
  content.addEventListener("input", later);
  if (address) address.addEventListener("change", later);
  if (content.value.trim()) check();
})();
