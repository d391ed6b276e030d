// 外呼任务 (web/screens/campaigns.py): the results of a campaign's page polled every
// data-refresh seconds and redrawn in place (textContent only); on the new campaign
// form, 添加一题 adds an empty question block (10 at most, as the API allows).
(function () {
  "use strict";
  var MAX_QUESTIONS = 10;
  var add = document.getElementById("add-question");
  if (add) {
    add.addEventListener("click", function () {
      var blocks = document.querySelectorAll("#questions .question");
      if (blocks.length >= MAX_QUESTIONS) { add.disabled = true; return; }
      var last = blocks[blocks.length - 1];
      var copy = last.cloneNode(true);
      copy.querySelectorAll("input, textarea").forEach(function (el) { el.value = ""; });
      var label = copy.querySelector("label");
      label.firstChild.textContent = "第" + (blocks.length + 1) + "题 ";
      last.after(copy);
      add.disabled = blocks.length + 1 >= MAX_QUESTIONS;
    });
  }

  var board = document.getElementById("campaign-results");
  if (!board) { return; }
  var seconds = parseInt(board.dataset.refresh, 10) || 5;
  var status = document.getElementById("results-status");
  var state = document.getElementById("campaign-state");

  function pick(data, key) {
    return key.split(".").reduce(function (v, k) { return v == null ? v : v[k]; }, data);
  }
  function redraw(data) {
    var results = data.results;
    board.querySelectorAll("[data-key]").forEach(function (el) {
      var value = pick(results, el.dataset.key);
      el.textContent = value == null ? "—" : String(value);
    });
    board.querySelectorAll("progress[data-bar]").forEach(function (bar) {
      var path = bar.dataset.bar.split(".");
      var question = results.questions[parseInt(path[1], 10)];
      bar.max = question.answered || 1;
      bar.value = pick(results, bar.dataset.bar + ".count") || 0;
    });
    if (state) {
      state.textContent = data.state_label;
      state.className = "state s-campaign-" + data.state;
    }
    var pause = document.getElementById("campaign-pause");
    if (pause && data.state !== "running") { pause.closest("form").remove(); }
  }
  function poll() {
    fetch(board.dataset.results, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        redraw(data);
        status.textContent = "每 " + seconds + " 秒自动刷新,更新于 " + new Date().toLocaleTimeString("zh-CN", { hour12: false });
      })
      .catch(function () { status.textContent = "刷新失败,显示的是上次的结果"; })
      .then(function () { setTimeout(poll, seconds * 1000); });
  }
  setTimeout(poll, seconds * 1000);
})();
