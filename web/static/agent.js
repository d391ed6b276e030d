// 坐席工作台: live suggestions while the agent types (debounced); a KB answer or a 常用语
// fills the answer box for editing (直接答复 then asks for a confirming click, web.js);
// no direct answer for 投诉/举报; duplicates with 并入此工单; keyboard shortcuts.
(function () {
  "use strict";
  var form = document.getElementById("register-form");
  if (!form) { return; }
  var content = document.getElementById("content");
  var address = document.getElementById("address");
  var phone = document.getElementById("caller_phone");
  var hotline = document.getElementById("hotline");
  var typeSelect = document.getElementById("type");
  var status = document.getElementById("suggest-status");
  var urgencySelect = document.getElementById("urgency");
  var typeTouched = false, urgencyTouched = false, urgencyAuto = false;
  var timer = null, inflight = null;
  var DEBOUNCE_MS = 350;

  typeSelect.addEventListener("change", function () { typeTouched = true; syncAnswer(); });
  var answerText = document.getElementById("answer_text");
  var answerBox = document.getElementById("answer-box");
  var answerButton = document.getElementById("btn-answer");
  var noAnswer = (form.dataset.noAnswer || "").split(" ");

  // 投诉/举报 need a unit: no KB answer, no 直接答复 (the server refuses it too).
  function syncAnswer() {
    var allowed = noAnswer.indexOf(typeSelect.value) < 0;
    document.querySelectorAll("button.use-kb").forEach(function (b) { b.hidden = !allowed; });
    answerButton.disabled = !allowed;
    document.getElementById("answer-note").hidden = allowed;
  }

  function insertAnswer(text) {
    answerBox.open = true;
    var start = answerText.selectionStart, end = answerText.selectionEnd;
    var value = answerText.value;
    if (typeof start !== "number") { start = end = value.length; }
    answerText.value = value.slice(0, start) + text + value.slice(end);
    answerText.focus();
    answerText.setSelectionRange(start + text.length, start + text.length);
  }
  document.querySelectorAll("#canned button[data-phrase]").forEach(function (b) {
    b.addEventListener("click", function () { insertAnswer(b.dataset.phrase); });
  });
  urgencySelect.addEventListener("change", function () { urgencyTouched = true; });

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }
  function fill(id, nodes, empty) {
    var list = document.getElementById(id);
    list.replaceChildren();
    if (!nodes.length) { list.appendChild(el("li", empty, "muted")); return; }
    nodes.forEach(function (n) { list.appendChild(n); });
  }
  function pct(score) { return Math.round(score * 100) + "%"; }

  // 选定分类 / 建议派往: a suggestion chip toggles the hidden field it stands for and the
  // "分类:X" / "建议派往:X" line under the form; nothing chosen is fine too.
  function pick(field, box, name, list) {
    var byId = document.getElementById.bind(document);
    return { input: byId(field), box: byId(box), name: byId(name), list: byId(list) };
  }
  var picks = {
    category: pick("category", "category-pick", "category-name", "category-list"),
    unit: pick("proposed_unit", "unit-pick", "unit-name", "unit-list")
  };

  function choose(p, code, label) {
    p.input.value = code || "";
    p.name.textContent = code ? label : "";
    p.box.hidden = !code;
    p.list.querySelectorAll("button[data-code]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.code === p.input.value));
    });
  }
  function chip(p, code, label, score, noCode) {
    var li = el("li");
    var button = el("button", label + " " + score, "chip pick-chip");
    button.type = "button";
    if (!code) {
      button.disabled = true;
      button.title = noCode;
    } else {
      button.dataset.code = code;
      button.setAttribute("aria-pressed", String(p.input.value === code));
      button.addEventListener("click", function () {
        choose(p, p.input.value === code ? "" : code, label);
      });
    }
    li.appendChild(button);
    return li;
  }
  [["category-clear", picks.category], ["unit-clear", picks.unit]].forEach(function (pair) {
    document.getElementById(pair[0]).addEventListener("click", function () { choose(pair[1], "", ""); });
  });

  // The KB answer goes into the box to be edited; nothing is submitted from here.
  function answerFromKb(hit) {
    answerText.value = hit.answer;
    document.getElementById("kb_id").value = hit.id;
    answerBox.open = true;
    answerText.focus();
    status.textContent = "已填入知识库答案,请核对修改后点“登记并直接答复”并确认。";
  }

  function clip(text, size) {
    text = text || "";
    return text.length > size ? text.slice(0, size) + "…" : text;
  }
  // 疑似重复: what the other order is about (content, address, state, time, when the
  // suggestion service sends them), and 并入此工单: register this call and merge it there.
  function duplicate(d) {
    var li = el("li", null, "duplicate");
    var head = el("div");
    var a = el("a", d.number);
    a.href = "/web/orders/" + d.number;
    a.target = "_blank";
    head.appendChild(a);
    if (d.state_label || d.state) { head.appendChild(el("span", d.state_label || d.state, "state s-" + (d.state || ""))); }
    if (d.certain) { head.appendChild(el("span", "确定重复", "badge red")); }
    head.appendChild(el("span", " 相似度 " + pct(d.similarity) + (d.same_place ? " · 同一地点" : ""), "muted"));
    li.appendChild(head);
    if (d.content) { li.appendChild(el("p", clip(d.content, 60), "dup-content")); }
    var meta = [d.address, d.created_at].filter(Boolean).join(" · ");
    if (meta) { li.appendChild(el("p", meta, "muted small")); }
    if (d.mergeable !== false) {
      var merge = el("button", "并入此工单", "merge");
      merge.type = "submit";
      merge.setAttribute("form", "register-form");
      merge.name = "merge_parent";
      merge.value = d.number;
      merge.dataset.confirm = "确认登记并并入 " + d.number + "?再次点击";
      li.appendChild(merge);
    }
    return li;
  }

  function show(data) {
    fill("kb-list", (data.kb || []).map(function (hit) {
      var li = el("li", null, "kb-hit");
      li.appendChild(el("b", hit.title));
      li.appendChild(el("span", " 相关度 " + hit.score.toFixed(2), "muted"));
      li.appendChild(el("p", hit.answer, "answer"));
      var use = el("button", "采用此答案(填入答复框)", "use-kb");
      use.type = "button";
      use.addEventListener("click", function () { answerFromKb(hit); });
      li.appendChild(use);
      return li;
    }), "无匹配的知识库条目");
    fill("category-list", (data.category || []).map(function (c) {
      return chip(picks.category, c.code, c.label, pct(c.score), "派单目录中没有该分类");
    }), "暂无(未加载分类模型或无把握)");
    fill("unit-list", (data.unit || []).map(function (u) {
      return chip(picks.unit, u.unit, u.name || u.unit, pct(u.score), "");
    }), "暂无");
    fill("duplicate-list", (data.duplicates || []).map(duplicate), "无");
    var history = data.history ? data.history.items : [];
    fill("history-list", history.map(function (h) {
      var li = el("li");
      var a = el("a", h.number);
      a.href = "/web/orders/" + h.number;
      li.appendChild(a);
      li.appendChild(el("span", " " + h.created_at + " " + h.state + " " + h.content, "muted"));
      return li;
    }), phone.value.trim().length >= 3 ? "该号码无历史工单" : "输入来电号码后显示");
    var hint = document.getElementById("suggest-type");
    hint.textContent = data.type_label ? "系统判断诉求类型:" + data.type_label : "";
    if (data.type && !typeTouched) { typeSelect.value = data.type; }
    syncAnswer();
    showEmergency(data.urgency);
    status.textContent = "已根据当前输入更新推荐。";
  }

  // 紧急诉求: the banner names the danger, what in the text raised it and the line to
  // hand the caller over to; 紧急程度 follows unless the agent has set it by hand.
  function showEmergency(urgency) {
    var banner = document.getElementById("emergency");
    if (!urgency || !urgency.urgent) {
      banner.hidden = true;
      if (urgencyAuto && !urgencyTouched) { urgencySelect.value = "normal"; }
      urgencyAuto = false;
      return;
    }
    var evidence = (urgency.matched || []).map(function (m) { return "“" + m + "”"; }).join("、");
    var kind = urgency.type_label || "紧急情况";
    banner.textContent = "疑似" + kind + (evidence ? "(依据:" + evidence + ")" : "") +
      ":请立即转接 " + (urgency.linkage || "110 / 119 / 120") + " 联动处置,并确认紧急程度为“紧急”。";
    banner.hidden = false;
    // The suggested line's 转 button stands out (the bar shows while a call is up).
    document.querySelectorAll("[data-linkage]").forEach(function (button) {
      button.dataset.suggested = String(urgency.linkage || "").indexOf(button.dataset.linkage) >= 0 ? "1" : "";
    });
    if (!urgencyTouched) {
      urgencySelect.value = "urgent";
      urgencyAuto = true;
    }
  }

  function refresh() {
    var params = new URLSearchParams({
      text: content.value, address: address.value, phone: phone.value, hotline: hotline.value
    });
    if (inflight) { inflight.abort(); }
    inflight = new AbortController();
    status.textContent = "正在查询……";
    fetch("/web/api/suggest?" + params.toString(), {
      credentials: "same-origin", signal: inflight.signal, headers: { "Accept": "application/json" }
    }).then(function (resp) {
      if (resp.status === 401) { window.location.href = "/login?next=/web/agent"; return null; }
      if (!resp.ok) { throw new Error(resp.status); }
      return resp.json();
    }).then(function (data) { if (data) { show(data); } })
      .catch(function (err) {
        if (err.name !== "AbortError") { status.textContent = "推荐服务暂不可用,不影响登记。"; }
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, DEBOUNCE_MS);
  }
  [content, address, phone].forEach(function (input) { input.addEventListener("input", schedule); });
  hotline.addEventListener("change", schedule);
  if (content.value.trim()) { schedule(); }
  syncAnswer();

  // 快捷键 (the hint line under the form): Alt+S 登记, Alt+A 直接答复 (a second Alt+A
  // confirms), Alt+K the first KB answer, Alt+P the 常用语. `code`, not `key`: Alt
  // changes the character on some layouts.
  document.addEventListener("keydown", function (event) {
    if (!event.altKey || event.ctrlKey || event.metaKey) { return; }
    var target;
    if (event.code === "KeyS") {
      event.preventDefault();
      document.getElementById("btn-register").click();
    } else if (event.code === "KeyA") {
      event.preventDefault();
      answerBox.open = true;
      if (!answerButton.disabled) { answerButton.click(); }
    } else if (event.code === "KeyK") {
      event.preventDefault();
      (document.querySelector("#kb-list button.use-kb:not([hidden])") ||
        document.getElementById("kb-list")).focus();
    } else if (event.code === "KeyP") {
      event.preventDefault();
      answerBox.open = true;
      target = document.querySelector("#canned button");
      if (target) { target.focus(); }
    }
  });
})();

// 来电弹屏: the call centre pushes {"type": "call", ...} when a call is bridged to this
// agent; the panel shows the caller and their previous orders and pre-fills the form.
// Without a call (or without WebSockets) the console works as before.
(function () {
  "use strict";
  var panel = document.getElementById("call-panel");
  if (!panel || !window.WebSocket) { return; }
  var RETRY_MS = 5000;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }

  // 通话计时: from the screen pop (the call is bridged to this agent) on, mm:ss.
  var timerBox = document.getElementById("call-timer");
  var timerTick = null;
  function startTimer() {
    var started = Date.now();
    clearInterval(timerTick);
    function show() {
      var s = Math.floor((Date.now() - started) / 1000);
      var mm = Math.floor(s / 60), ss = s % 60;
      timerBox.textContent = "通话 " + (mm < 10 ? "0" : "") + mm + ":" + (ss < 10 ? "0" : "") + ss;
      timerBox.dataset.seconds = String(s);
    }
    show();
    timerTick = setInterval(show, 1000);
  }

  function showCall(call) {
    document.getElementById("call-caller").textContent = call.caller;
    document.getElementById("call-hotline").textContent = call.hotline;
    document.getElementById("call-queue").textContent = call.queue ? "(队列 " + call.queue + ")" : "";
    var language = document.getElementById("call-language");
    var foreign = call.language && call.language !== "zh";
    language.textContent = foreign ? "语种: " + call.language_label : "";
    language.hidden = !foreign;
    var list = document.getElementById("call-orders");
    list.replaceChildren();
    (call.orders || []).forEach(function (o) {
      var li = el("li");
      var a = el("a", o.number);
      a.href = "/web/orders/" + o.number;
      a.target = "_blank";
      li.appendChild(a);
      li.appendChild(el("span", " " + o.created + " " + o.state_label + " " + o.content, "muted"));
      list.appendChild(li);
    });
    if (!list.children.length) { list.appendChild(el("li", "无历史工单", "muted")); }
    status.textContent = "";
    confState.hidden = true;
    confEnd.hidden = true;
    panel.hidden = false;
    linkageState.hidden = true;
    document.getElementById("linkage-bar").hidden = false;
    startTimer();
    var stateLabel = document.getElementById("agent-state-label");
    if (stateLabel) { stateLabel.textContent = "通话中"; }
    var phone = document.getElementById("caller_phone");
    phone.value = call.caller;
    document.getElementById("call_id").value = call.call_id;
    var hotline = document.getElementById("hotline");
    if (hotline.querySelector('option[value="' + call.hotline + '"]')) {
      hotline.value = call.hotline;
    }
    var channel = document.querySelector('select[name="channel"]');
    if (channel && channel.querySelector('option[value="phone"]')) { channel.value = "phone"; }
    phone.dispatchEvent(new Event("input"));  // the history list of the suggestions
  }

  var csrf = document.querySelector('input[name="csrf_token"]');
  var status = document.getElementById("call-status");

  function callAction(path, fields, done) {
    var callId = document.getElementById("call_id").value;
    if (!callId) { status.textContent = "当前没有通话"; return; }
    fields.csrf_token = csrf ? csrf.value : "";
    fetch("/web/api/calls/" + callId + "/" + path, {
      method: "POST", credentials: "same-origin", body: new URLSearchParams(fields),
      headers: { "Accept": "application/json" }
    }).then(function (resp) {
      return resp.json().then(function (data) {
        status.textContent = resp.ok ? done : ((data.error && data.error.message) || "操作失败");
      });
    }).catch(function () { status.textContent = "网络异常,请重试"; });
  }
  document.getElementById("call-emergency").addEventListener("click", function () {
    callAction("emergency", {}, "已标记为紧急转接,请按规定联动 110/119/120。");
  });
  document.getElementById("call-transfer").addEventListener("click", function () {
    var agent = document.getElementById("transfer-agent").value.trim();
    var queue = document.getElementById("transfer-queue").value;
    var fields = agent ? { agent: agent } : { queue: queue };
    callAction("transfer", fields, "已转接" + (agent ? "给坐席 " + agent : "到队列") + "。");
  });

  // 三方通话: the unit's phone is called; its leg's state comes back over the socket.
  var confState = document.getElementById("conference-state");
  var confEnd = document.getElementById("conference-end");
  document.getElementById("conference-add").addEventListener("click", function () {
    var uri = document.getElementById("conference-uri").value.trim();
    if (!uri) { status.textContent = "请填写承办单位的 SIP 地址"; return; }
    var unit = document.getElementById("conference-unit").value.trim();
    callAction("conference", { uri: uri, unit: unit }, "正在呼叫承办单位……");
  });
  confEnd.addEventListener("click", function () {
    callAction("conference/end", {}, "正在结束三方通话……");
  });
  function showConference(event) {
    if (event.call_id !== document.getElementById("call_id").value) { return; }
    var live = event.state === "ringing" || event.state === "connected";
    confState.textContent = event.label + (event.unit ? "(" + event.unit + ")" : "");
    confState.hidden = false;
    confState.dataset.state = event.state;
    confEnd.hidden = !live;
    status.textContent = event.label;
  }

  // 应急联动: 转110/119/120/122 after a confirmation; the gateway leg's state comes back
  // over the socket (`type: linkage`).
  var linkageState = document.getElementById("linkage-state");
  document.querySelectorAll("[data-linkage]").forEach(function (button) {
    button.addEventListener("click", function () {
      var service = button.dataset.linkage;
      var mode = document.getElementById("linkage-mode").value;
      var how = mode === "transfer" ? "转接(您将退出通话)" : mode === "conference" ? "三方通话" : "联动";
      if (!window.confirm("确认将当前来电" + how + "至 " + service + "?")) { return; }
      callAction("linkage", { service: service, mode: mode }, "正在呼叫 " + service + "……");
    });
  });
  function showLinkage(event) {
    if (event.call_id !== document.getElementById("call_id").value) { return; }
    linkageState.textContent = event.label;
    linkageState.dataset.state = event.state;
    linkageState.hidden = false;
    status.textContent = event.label;
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + window.location.host + "/web/ws/agent");
    ws.addEventListener("message", function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (err) { return; }
      if (event.type === "call") { showCall(event); }
      if (event.type === "conference") { showConference(event); }
      if (event.type === "linkage") { showLinkage(event); }
    });
    ws.addEventListener("open", function () { panel.dataset.connected = "1"; });
    ws.addEventListener("close", function () {
      panel.dataset.connected = "";
      setTimeout(connect, RETRY_MS);
    });
  }
  connect();
})();

// 坐席状态: 签入 with the softphone's SIP URI, 示忙 / 示闲, 签出 (POST /web/api/agent-state).
(function () {
  "use strict";
  var box = document.getElementById("agent-state");
  if (!box) { return; }
  var label = document.getElementById("agent-state-label");
  var uri = document.getElementById("agent-sip-uri");
  var error = document.getElementById("agent-state-error");
  var csrf = document.querySelector('input[name="csrf_token"]');

  function show(state) {
    label.textContent = state.state_label + (state.pause_reason && state.state === "paused" ? "(" + state.pause_reason + ")" : "");
    box.dataset.state = state.state;
    if (state.sip_uri && !uri.value) { uri.value = state.sip_uri; }
  }
  function fail(message) { error.textContent = message; error.hidden = false; }

  function send(action) {
    error.hidden = true;
    var body = new URLSearchParams({ action: action, sip_uri: uri.value, csrf_token: csrf ? csrf.value : "" });
    fetch("/web/api/agent-state", {
      method: "POST", credentials: "same-origin", body: body, headers: { "Accept": "application/json" }
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) { fail((data.error && data.error.message) || "操作失败"); return; }
        show(data);
      });
    }).catch(function () { fail("网络异常,请重试"); });
  }
  box.querySelectorAll("[data-agent-action]").forEach(function (button) {
    button.addEventListener("click", function () { send(button.dataset.agentAction); });
  });
  fetch("/web/api/agent-state", { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (resp) { return resp.ok ? resp.json() : null; })
    .then(function (data) { if (data) { show(data); } })
    .catch(function () { /* the console works without it */ });
})();
