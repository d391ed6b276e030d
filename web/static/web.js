// Shared page behaviour: live deadline countdowns anchored on the server's clock.
(function () {
  "use strict";
  var serverNow = Date.parse(document.body.dataset.serverNow || "");
  var loadedAt = Date.now();
  if (isNaN(serverNow)) { serverNow = loadedAt; }

  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60);
    var mins = minutes % 60;
    if (days) { return days + "天" + hours + "小时"; }
    if (hours) { return hours + "小时" + mins + "分"; }
    return mins + "分钟";
  }

  function tick() {
    var now = serverNow + (Date.now() - loadedAt);
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = Date.parse(el.dataset.due) - now;
      var out = el.querySelector(".left");
      if (!out || isNaN(left)) { return; }
      out.textContent = left >= 0 ? "剩余 " + span(left) : "已超期 " + span(left);
      if (left < 0) { el.classList.remove("ok", "warning"); el.classList.add("overdue"); }
    });
  }
  setInterval(tick, 30000);

  // Detail page: a suggested unit button selects that unit in the dispatch form.
  document.querySelectorAll("[data-pick-unit]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      document.querySelectorAll("select[name=unit]").forEach(function (sel) {
        sel.value = btn.dataset.pickUnit;
      });
    });
  });
})();
