// 坐席工作台: live suggestions while the agent types (debounced), one-click KB answers.
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

  typeSelect.addEventListener("change", function () { typeTouched = true; });
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

  function answerFromKb(hit) {
    document.getElementById("answer_text").value = hit.answer;
    document.getElementById("kb_id").value = hit.id;
    document.getElementById("answer-box").open = true;
    form.requestSubmit(document.getElementById("btn-answer"));
  }

  function show(data) {
    fill("kb-list", (data.kb || []).map(function (hit) {
      var li = el("li", null, "kb-hit");
      li.appendChild(el("b", hit.title));
      li.appendChild(el("span", " 相关度 " + hit.score.toFixed(2), "muted"));
      li.appendChild(el("p", hit.answer, "answer"));
      var use = el("button", "采用此答案直接办理", "use-kb");
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
    fill("duplicate-list", (data.duplicates || []).map(function (d) {
      var li = el("li");
      var a = el("a", d.number);
      a.href = "/web/orders/" + d.number;
      a.target = "_blank";
      li.appendChild(a);
      li.appendChild(el("span", " 相似度 " + pct(d.similarity) + (d.same_place ? " · 同一地点" : "") + (d.certain ? " · 确定重复" : ""), "muted"));
      if (d.content) {
        li.appendChild(el("div", (d.address ? d.address + ":" : "") + d.content, "muted"));
      }
      return li;
    }), "无");
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

  function showCall(call) {
    document.getElementById("call-caller").textContent = call.caller;
    document.getElementById("call-hotline").textContent = call.hotline;
    document.getElementById("call-queue").textContent = call.queue ? "(队列 " + call.queue + ")" : "";
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

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + window.location.host + "/web/ws/agent");
    ws.addEventListener("message", function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (err) { return; }
      if (event.type === "call") { showCall(event); }
      if (event.type === "conference") { showConference(event); }
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
