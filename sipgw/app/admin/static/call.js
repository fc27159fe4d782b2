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

async function load() {
  const call = await getJson(base);
  if (!call) return;
  document.getElementById("call-title").textContent = callerLabel(call) + " → " + call.called;
  definitions(document.getElementById("summary"), [
    ["id", call.id], ["Call-ID", call.call_id], ["caller", callerLabel(call)], ["called", call.called],
    ["direction", call.direction], ["agent", call.agent ?? "—"],
    ["started", new Date(call.started * 1000).toLocaleString()],
    ["duration", call.duration_s === null ? "in progress" : formatDuration(call.duration_s)],
    ["outcome", call.outcome ?? "in progress"],
  ]);
  const quality = call.quality ?? {};
  definitions(document.getElementById("quality"), Object.entries(quality).map(
    ([key, value]) => [key, typeof value === "number" ? String(Math.round(value * 100) / 100) : String(value ?? "—")]));
  if (!call.quality) document.getElementById("quality").append(el("dd", "empty", "no media figures yet"));
  renderWaterfall(document.getElementById("turns"), call.turns);
  const list = document.getElementById("transcript");
  list.replaceChildren(...call.transcript.map(transcriptItem));
  if (call.recording) {
    document.getElementById("recording-section").hidden = false;
    document.getElementById("player").src = base + "/recording.wav";
    const peaks = await getJson(base + "/peaks");
    if (peaks) drawWaveform(document.getElementById("waveform"), peaks);
  }
  document.body.dataset.loaded = "true";
}

load().catch((error) => {
  document.getElementById("call-title").textContent = String(error.message);
  document.body.dataset.loaded = "error";
});
