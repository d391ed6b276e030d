// Shared page behaviour: live deadline countdowns anchored on the server's clock, the
// confirm step of irreversible buttons, the unit pickers, the queue's auto-refresh.
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
        var box = document.querySelector('input.unit-filter[data-filter="#' + sel.id + '"]');
        if (box && box.value) { box.value = ""; box.dispatchEvent(new Event("input")); }
        sel.value = btn.dataset.pickUnit;
      });
    });
  });

  // 交办单: the print button of the print view.
  document.querySelectorAll("[data-print]").forEach(function (btn) {
    btn.addEventListener("click", function () { window.print(); });
  });

  // 单位筛选: a filter box over a unit list (a select's options or the 协办 chips).
  // Typing hides what does not match (a ticked chip stays) and selects the first match
  // if the current choice is hidden; Enter or ↓ moves into the list.
  document.querySelectorAll("input.unit-filter").forEach(function (box) {
    var target = document.querySelector(box.dataset.filter);
    if (!target) { return; }
    var isSelect = target.tagName === "SELECT";
    var items = isSelect
      ? Array.prototype.filter.call(target.options, function (o) { return o.value; })
      : Array.prototype.slice.call(target.querySelectorAll("label.chip-check"));
    function code(item) { return isSelect ? item.value : item.querySelector("input").value; }
    function apply() {
      var q = box.value.trim().toLowerCase(), first = null;
      items.forEach(function (item) {
        var match = !q || (item.textContent + " " + code(item)).toLowerCase().indexOf(q) >= 0;
        item.hidden = !match && !(!isSelect && item.querySelector("input").checked);
        if (match && !first) { first = item; }
      });
      if (isSelect && first && (!target.value || target.selectedOptions[0].hidden)) {
        target.value = first.value;
      }
      return first;
    }
    box.addEventListener("input", apply);
    box.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" && event.key !== "ArrowDown") { return; }
      event.preventDefault();  // Enter here picks, it does not post the form
      var first = apply();
      if (isSelect) {
        if (first && event.key === "Enter") { target.value = first.value; }
        target.focus();
      } else if (first) {
        first.querySelector("input").focus();
      }
    });
  });
})();

// 确认: a submit button with data-confirm asks once more before its form is posted. The
// first click only turns it into the question (“确认退单?再次点击提交”); the second click
// posts; after CONFIRM_MS or on leaving the button it goes back. Delegated, so buttons
// drawn later by a script (the console's 并入此工单) get it too.
(function () {
  "use strict";
  var CONFIRM_MS = 8000;
  function disarm(btn) {
    if (!btn.dataset.armed) { return; }
    btn.textContent = btn.dataset.label;
    delete btn.dataset.armed;
    btn.classList.remove("armed");
    btn.removeAttribute("aria-describedby");
  }
  document.addEventListener("click", function (event) {
    var btn = event.target.closest ? event.target.closest("button[data-confirm]") : null;
    if (!btn || btn.disabled) { return; }
    if (btn.dataset.armed) { return; }  // the confirming click: the form is posted
    if (btn.form && !btn.form.reportValidity()) { event.preventDefault(); return; }
    event.preventDefault();
    btn.dataset.label = btn.textContent;
    btn.dataset.armed = "1";
    btn.classList.add("armed");
    btn.textContent = btn.dataset.confirm;
    setTimeout(function () { disarm(btn); }, CONFIRM_MS);
  }, true);
  document.addEventListener("focusout", function (event) {
    var btn = event.target;
    if (btn && btn.dataset && btn.dataset.armed) {
      setTimeout(function () { if (document.activeElement !== btn) { disarm(btn); } }, 200);
    }
  });
})();

// 派单队列: reload every data-auto-refresh seconds, but never over a form being filled in:
// not while a field has the focus, not once any field was changed (ticked, typed, chosen).
(function () {
  "use strict";
  var marker = document.querySelector("[data-auto-refresh]");
  if (!marker) { return; }
  var seconds = parseInt(marker.dataset.autoRefresh, 10);
  if (!(seconds > 0)) { return; }
  var dirty = false;
  document.addEventListener("input", function () { dirty = true; }, true);
  document.addEventListener("change", function () { dirty = true; }, true);
  function busy() {
    var el = document.activeElement;
    return dirty || (el && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName));
  }
  setInterval(function () {
    if (busy()) {
      marker.dataset.paused = "1";
      return;
    }
    window.location.reload();
  }, seconds * 1000);

  // 全选 of a bulk form's tick boxes
  document.querySelectorAll("[data-select-all]").forEach(function (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name=numbers][form="' + all.dataset.selectAll + '"]')
        .forEach(function (box) { box.checked = all.checked; });
    });
  });
})();
