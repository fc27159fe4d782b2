// The live page: one EventSource; a snapshot, then call and transcript events.
"use strict";

const calls = new Map(); // id -> {call, node, turns}
let clockOffset = 0; // server time - browser time, seconds

function nowServer() { return Date.now() / 1000 + clockOffset; }

function callCard(call) {
  const card = el("article", "call");
  card.dataset.id = call.id;
  const head = el("div", "call-head");
  const link = el("a", "caller", callerLabel(call));
  link.href = "/dashboard/calls/" + encodeURIComponent(call.id);
  head.append(link);
  head.append(el("span", "called", "→ " + call.called));
  head.append(el("span", "direction", call.direction));
  head.append(el("span", "leg leg-" + call.leg, call.leg));
  if (call.line) head.append(el("span", "line-name", "line " + call.line));
  head.append(el("span", "codec", call.codec ?? ""));  // G722: HD voice (docs/hd-voice.md)
  head.append(el("span", "state state-" + call.state, call.state));
  head.append(el("span", "agent", call.agent ?? "—"));
  head.append(el("span", "duration", "0:00"));
  card.append(head);
  card.append(el("div", "waterfall"));
  card.append(el("ol", "transcript"));
  return card;
}

function addCall(call) {
  if (calls.has(call.id)) return calls.get(call.id);
  const entry = { call, node: callCard(call), turns: [] };
  calls.set(call.id, entry);
  document.getElementById("active-calls").prepend(entry.node);
  for (const line of call.transcript ?? []) addLine(entry, line);
  for (const turn of call.turns ?? []) entry.turns.push(turn);
  renderWaterfall(entry.node.querySelector(".waterfall"), entry.turns);
  updateCount();
  return entry;
}

function addLine(entry, line) {
  const list = entry.node.querySelector(".transcript");
  list.append(transcriptItem(line));
  while (list.children.length > 200) list.firstChild.remove();
  list.scrollTop = list.scrollHeight;
}

function updateCount() {
  document.getElementById("active-count").textContent = String(calls.size);
  document.getElementById("no-active").hidden = calls.size > 0;
}

function recentRow(call) {
  const row = el("tr", "recent outcome-" + (call.outcome ?? "unknown"));
  row.dataset.id = call.id;
  row.append(el("td", "ended", call.ended ? new Date(call.ended * 1000).toLocaleTimeString() : ""));
  const who = el("td", "caller");
  const link = el("a", "", callerLabel(call));
  link.href = "/dashboard/calls/" + encodeURIComponent(call.id);
  who.append(link);
  row.append(who);
  row.append(el("td", "called", call.called));
  row.append(el("td", "direction", call.direction));
  row.append(el("td", "leg", call.leg));
  row.append(el("td", "line-name", call.line || "—"));
  row.append(el("td", "agent", call.agent ?? "—"));
  row.append(el("td", "duration", call.duration_s === null ? "" : formatDuration(call.duration_s)));
  const by = call.answered_by ? " (" + call.answered_by + ")" : "";
  const outcome = el("td", "outcome", (call.outcome ?? "") + by);
  // how the far end refused a call we placed, in its words (status, phrase, Reason, hint)
  if (call.refusal) outcome.append(el("div", "refusal", call.refusal));
  row.append(outcome);
  return row;
}

function addRecent(call, atTop) {
  const body = document.querySelector("#recent-calls tbody");
  body.querySelector('tr[data-id="' + CSS.escape(call.id) + '"]')?.remove();
  const row = recentRow(call);
  if (atTop) body.prepend(row); else body.append(row);
  while (body.children.length > 50) body.lastChild.remove();
}

function tick() {
  for (const entry of calls.values()) {
    entry.node.querySelector(".duration").textContent = formatDuration(nowServer() - entry.call.started);
  }
}

function connect() {
  const status = document.getElementById("status");
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => { status.textContent = "live"; status.className = "status live"; });
  source.addEventListener("error", () => { status.textContent = "reconnecting"; status.className = "status down"; });
  source.addEventListener("snapshot", (message) => {
    const data = JSON.parse(message.data);
    clockOffset = data.now - Date.now() / 1000;
    calls.clear();
    document.getElementById("active-calls").replaceChildren();
    for (const call of data.live) addCall(call);
    document.querySelector("#recent-calls tbody").replaceChildren();
    for (const call of data.recent) addRecent(call, false);
    updateCount();
    tick();
  });
  source.addEventListener("call_started", (message) => { addCall(JSON.parse(message.data)); tick(); });
  source.addEventListener("call_updated", (message) => {
    const call = JSON.parse(message.data);
    const entry = addCall(call);
    entry.call = Object.assign(entry.call, call);
    entry.node.querySelector(".agent").textContent = call.agent ?? "—";
    entry.node.querySelector(".codec").textContent = call.codec ?? "";
    const state = entry.node.querySelector(".state");
    state.textContent = call.state;
    state.className = "state state-" + call.state;
  });
  source.addEventListener("transcript", (message) => {
    const line = JSON.parse(message.data);
    const entry = calls.get(line.call);
    if (entry) addLine(entry, line);
  });
  source.addEventListener("turn", (message) => {
    const turn = JSON.parse(message.data);
    const entry = calls.get(turn.call);
    if (!entry) return;
    entry.turns.push(turn);
    renderWaterfall(entry.node.querySelector(".waterfall"), entry.turns.slice(-8));
  });
  source.addEventListener("call_ended", (message) => {
    const call = JSON.parse(message.data);
    calls.get(call.id)?.node.remove();
    calls.delete(call.id);
    updateCount();
    addRecent(call, true);
  });
}

connect();
setInterval(tick, 1000);
