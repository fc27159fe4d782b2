// One call's page: transcript, tool calls, turn timings, quality, recording.
"use strict";

const callId = decodeURIComponent(window.location.pathname.split("/").pop());
const base = "/api/recent/" + encodeURIComponent(callId);

function definitions(list, pairs) {
  list.replaceChildren();
  for (const [name, value] of pairs) {
    if (value === undefined || value === null) continue;
    list.append(el("dt", "", name));
    const dd = el("dd", "", value);
    dd.dataset.key = name;
    list.append(dd);
  }
}

function drawWaveform(canvas, peaks) {
  const context = canvas.getContext("2d");
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const rows = [["caller", "#2a7ab0"], ["agent", "#c0602a"]];
  const half = height / 2;
  rows.forEach(([name, colour], index) => {
    const values = peaks.channels[name] ?? [];
    const middle = half * index + half / 2;
    context.fillStyle = colour;
    const step = width / Math.max(1, values.length);
    values.forEach((peak, i) => {
      const h = Math.max(1, peak * (half / 2 - 2));
      context.fillRect(i * step, middle - h, Math.max(1, step - 0.5), 2 * h);
    });
  });
  canvas.dataset.buckets = String((peaks.channels.caller ?? []).length);
}

let current = null; // the call as shown: the snapshot, then the pushed events added
let clockOffset = 0; // server time - browser time, seconds

// Who answered a placed call (answering-machine detection), e.g. "voicemail (beep, 2.4 s) → message".
function answeredBy(amd) {
  if (!amd || !amd.kind) return "—";
  const seconds = typeof amd.elapsed_ms === "number" ? ", " + (amd.elapsed_ms / 1000).toFixed(1) + " s" : "";
  const action = amd.action && amd.action !== "none" ? " → " + amd.action : "";
  return amd.kind + " (" + (amd.reason ?? "") + seconds + ")" + action + (amd.final ? "" : " …");
}

function renderSummary(call) {
  document.getElementById("call-title").textContent = callerLabel(call) + " → " + call.called;
  const live = call.ended === null;
  const duration = live ? Date.now() / 1000 + clockOffset - call.started : call.duration_s;
  definitions(document.getElementById("summary"), [
    ["id", call.id], ["Call-ID", call.call_id], ["caller", callerLabel(call)], ["called", call.called],
    ["direction", call.direction], ["leg", call.leg], ["state", call.state],
    ["line", call.line || "—"], ["agent", call.agent ?? "—"],
    ["started", new Date(call.started * 1000).toLocaleString()],
    ["duration", formatDuration(duration ?? 0) + (live ? " (in progress)" : "")],
    ["outcome", call.outcome ?? "in progress"],
    ["answered by", answeredBy(call.amd)],
    ...(call.refusal ? [["refused", call.refusal]] : []),
  ]);
  document.body.dataset.state = call.state;
}

// The record's talk line (docs/quality.md, "What the caller lived through").
function renderTalk(list, talk) {
  if (!talk) {
    list.replaceChildren(el("dd", "empty", "when the call has ended"));
    return;
  }
  const seconds = (value) => (value === null || value === undefined ? "—" : `${value} s`);
  definitions(list, [
    ["first word", seconds(talk.first_word_s)],
    ["talk-over", seconds(talk.talk_over_s)],
    ["agent interrupted", String(talk.agent_interrupted)],
    ["caller cut off", String(talk.caller_cut_off)],
    ["dead air", `${talk.dead_air} (${seconds(talk.dead_air_s)})`],
    ["caller spoke", seconds(talk.caller_talk_s)],
    ["agent spoke", seconds(talk.agent_talk_s)],
  ]);
}

function render(call) {
  renderSummary(call);
  const quality = call.quality ?? {};
  definitions(document.getElementById("quality"), Object.entries(quality).map(
    ([key, value]) => [key, typeof value === "number" ? String(Math.round(value * 100) / 100) : String(value ?? "—")]));
  if (!call.quality) document.getElementById("quality").append(el("dd", "empty", "no media figures yet"));
  renderTalk(document.getElementById("talk"), call.talk);
  renderWaterfall(document.getElementById("turns"), call.turns);
  document.getElementById("transcript").replaceChildren(...call.transcript.map(transcriptItem));
}

async function showRecording(call) {
  if (!call.recording) return;
  document.getElementById("recording-section").hidden = false;
  document.getElementById("player").src = base + "/recording.wav";
  const peaks = await getJson(base + "/peaks");
  if (peaks) drawWaveform(document.getElementById("waveform"), peaks);
}

// An ended call is shown in full: outcome, quality figures, recording.
async function finish() {
  const call = await getJson(base);
  if (!call) return;
  current = call;
  render(call);
  await showRecording(call);
  document.body.dataset.loaded = "true";
  if (call.ended !== null) document.body.dataset.ended = "true";
}

function fail(error) {
  document.getElementById("call-title").textContent = String(error.message);
  document.body.dataset.loaded = "error";
}

// One EventSource for this call only: its snapshot, then its lines, turns and end.
function follow() {
  const source = new EventSource("/api/events?call=" + encodeURIComponent(callId));
  const status = document.getElementById("status");
  source.addEventListener("error", () => {
    if (current === null) { source.close(); finish().catch(fail); return; } // 401/404: say why
    if (current.ended === null) { status.textContent = "reconnecting"; status.className = "status down"; }
  });
  source.addEventListener("snapshot", (message) => {
    const data = JSON.parse(message.data);
    clockOffset = data.now - Date.now() / 1000;
    current = data.call;
    if (current.ended !== null) { source.close(); finish().catch(fail); return; }
    render(current);
    status.textContent = "live"; status.className = "status live";
    document.body.dataset.loaded = "true";
  });
  source.addEventListener("call_updated", (message) => {
    Object.assign(current, JSON.parse(message.data));
    renderSummary(current);
  });
  source.addEventListener("transcript", (message) => {
    const line = JSON.parse(message.data);
    current.transcript.push(line);
    const item = transcriptItem(line);
    item.dataset.live = "true"; // pushed while the page was open
    document.getElementById("transcript").append(item);
  });
  source.addEventListener("turn", (message) => {
    current.turns.push(JSON.parse(message.data));
    renderWaterfall(document.getElementById("turns"), current.turns);
  });
  // The agent's record closes after the call ends (its last words, the talk figures):
  // shown once more then, or after 10 s for an agent that keeps no record.
  const recordClosed = () => { source.close(); finish().catch(fail); };
  source.addEventListener("record_closed", recordClosed);
  source.addEventListener("call_ended", () => {
    status.textContent = "ended"; status.className = "status";
    finish().catch(fail);
    setTimeout(recordClosed, 10000);
  });
}

follow();
setInterval(() => { if (current !== null && current.ended === null) renderSummary(current); }, 1000);
