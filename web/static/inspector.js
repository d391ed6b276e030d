// 网格员上报 and 市民诉求: fill the hidden latitude/longitude from the browser's geolocation
// (the inspector's form locates at once; a button with data-manual only when clicked).
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
