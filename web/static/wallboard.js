// 大屏: poll /web/api/wallboard every data-refresh seconds and redraw the figures in
// place (textContent only). A failed poll keeps the last figures and says so.
(function () {
  "use strict";
  var board = document.getElementById("wallboard");
  if (!board) { return; }
  var seconds = parseInt(board.dataset.refresh, 10) || 15;

  function pick(data, key) {
    return key.split(".").reduce(function (v, k) { return v == null ? v : v[k]; }, data);
  }
  function show(value, format) {
    if (value === null || value === undefined) { return "—"; }
    if (format === "pct") { return (value * 100).toFixed(1) + "%"; }
    if (format === "time") { return String(value).slice(11, 19); }
    return String(value);
  }
  function cell(tag, text, cls) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (cls) { el.className = cls; }
    return el;
  }
  function pair(label, count, cls) {
    var li = cell("li", "", cls);
    li.appendChild(cell("span", label));
    li.appendChild(cell("b", String(count)));
    return li;
  }
  function fill(name, items, draw) {
    var list = board.querySelector('[data-list="' + name + '"]');
    if (!list) { return; }
    list.replaceChildren.apply(list, items.map(draw));
  }

  function redraw(data) {
    board.querySelectorAll("[data-key]").forEach(function (el) {
      el.textContent = show(pick(data, el.dataset.key), el.dataset.format);
    });
    var centre = data.callcenter;
    document.getElementById("wb-callcenter-off").hidden = !!centre;
    document.getElementById("wb-queues").hidden = !centre;
    document.getElementById("wb-agents").hidden = !centre;
    if (centre) {
      fill("queues", centre.queues, function (q) {
        var tr = document.createElement("tr");
        tr.appendChild(cell("td", q.queue));
        [q.waiting, q.longest_wait, q.available, q.busy].forEach(function (v) {
          tr.appendChild(cell("td", String(v), "num"));
        });
        return tr;
      });
      fill("agents", centre.agents, function (a) { return pair(a.label, a.count, "agent-" + a.state); });
    }
    var intake = data.intake.length ? data.intake : [{ name: "今日暂无受理", count: "" }];
    fill("intake", intake, function (r) { return pair(r.name, r.count, data.intake.length ? "" : "muted"); });
  }

  function poll() {
    fetch(board.dataset.wallboard, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok || resp.redirected) { throw new Error("wallboard " + resp.status); }
        return resp.json();
      })
      .then(function (data) {
        redraw(data);
        document.getElementById("wb-stale").hidden = true;
        board.dataset.updated = data.at;
      })
      .catch(function () { document.getElementById("wb-stale").hidden = false; });
  }
  setInterval(poll, seconds * 1000);
})();
