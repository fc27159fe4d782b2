// The call page: the microphone to the agent over WebRTC, the agent's audio back, and the
// call's live transcript and turn timings (its own event stream). Every string from the
// call goes into the page through textContent. window.sipgwPhone keeps what the page heard
// of the agent (level and strongest frequency, every 50 ms) for tests and the level meter,
// and its rtpStats() the connection's RTP statistics (the gateway's receiver reports among
// them, as remote-inbound-rtp).
"use strict";

const query = new URLSearchParams(window.location.search);
const raw = query.get("audio") === "raw"; // no echo cancellation, noise suppression, gain control
const variables = {};
for (const [name, value] of query) if (name !== "audio") variables[name] = value;

const phone = { state: "idle", id: null, samples: [], transcript: [], turns: [], outcome: null };
window.sipgwPhone = phone;

let pc = null;
phone.rtpStats = async () => pc === null ? []
  : [...(await pc.getStats()).values()].filter((s) => s.type.endsWith("rtp"));
let microphone = null;
let events = null;
let sampler = null;
let context = null;

function setStatus(text, className) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = "status " + (className ?? "");
  phone.state = text;
  document.body.dataset.state = text;
}

function say(text) {
  document.getElementById("message").textContent = text;
}

function buttons(calling) {
  document.getElementById("call").disabled = calling;
  document.getElementById("hangup").disabled = !calling;
}

// aiortc does not trickle ICE: the offer goes once every candidate is in it.
function gathered(connection, within) {
  if (connection.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, within);
    connection.addEventListener("icegatheringstatechange", () => {
      if (connection.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
}

// The agent's audio: played, and measured (RMS level in dBFS, strongest frequency).
function listen(stream) {
  const audio = document.getElementById("remote");
  audio.srcObject = stream;
  audio.play().catch(() => {});
  const analyser = context.createAnalyser();
  analyser.fftSize = 2048;
  context.createMediaStreamSource(stream).connect(analyser);
  const wave = new Float32Array(analyser.fftSize);
  const spectrum = new Float32Array(analyser.frequencyBinCount);
  const level = document.getElementById("level");
  sampler = setInterval(() => {
    analyser.getFloatTimeDomainData(wave);
    analyser.getFloatFrequencyData(spectrum);
    let sum = 0;
    for (const value of wave) sum += value * value;
    const rms = Math.sqrt(sum / wave.length);
    const dbfs = rms > 0 ? 20 * Math.log10(rms) : -120;
    let peak = 1;
    for (let i = 2; i < spectrum.length; i++) if (spectrum[i] > spectrum[peak]) peak = i;
    phone.samples.push({ t: performance.now(), dbfs, hz: peak * context.sampleRate / analyser.fftSize });
    if (phone.samples.length > 6000) phone.samples.shift();
    level.style.width = Math.max(0, Math.min(100, (dbfs + 60) * 100 / 60)) + "%";
  }, 50);
}

function renderTranscript() {
  document.getElementById("transcript").replaceChildren(...phone.transcript.map(transcriptItem));
  renderWaterfall(document.getElementById("turns"), phone.turns);
}

// The call's own events: its transcript lines and turns as they come, and its end.
function follow(id) {
  events = new EventSource("/api/events?call=" + encodeURIComponent(id));
  events.addEventListener("snapshot", (message) => {
    const call = JSON.parse(message.data).call;
    phone.transcript = call.transcript;
    phone.turns = call.turns;
    renderTranscript();
  });
  events.addEventListener("transcript", (message) => {
    phone.transcript.push(JSON.parse(message.data));
    renderTranscript();
  });
  events.addEventListener("turn", (message) => {
    phone.turns.push(JSON.parse(message.data));
    renderTranscript();
  });
  events.addEventListener("call_ended", (message) => {
    phone.outcome = JSON.parse(message.data).outcome;
    finish("ended", "The call ended (" + phone.outcome + ").");
  });
}

function teardown() {
  if (events) { events.close(); events = null; }
  if (sampler) { clearInterval(sampler); sampler = null; }
  if (pc) { pc.close(); pc = null; }
  if (microphone) { for (const track of microphone.getTracks()) track.stop(); microphone = null; }
}

function finish(state, text) {
  teardown();
  buttons(false);
  setStatus(state, state === "failed" ? "down" : "");
  say(text);
}

async function call() {
  buttons(true);
  setStatus("calling");
  say("");
  context = context ?? new AudioContext(); // in the click: audio may play
  context.resume().catch(() => {});
  phone.samples = [];
  phone.transcript = [];
  phone.turns = [];
  phone.outcome = null;
  renderTranscript();
  try {
    const config = await getJson("/api/phone/config");
    if (!config) return;
    const processing = !raw;
    microphone = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing },
    });
    pc = new RTCPeerConnection({ iceServers: config.ice_servers });
    for (const track of microphone.getTracks()) pc.addTrack(track, microphone);
    pc.addEventListener("track", (event) => listen(event.streams[0] ?? new MediaStream([event.track])));
    const connection = pc;
    connection.addEventListener("connectionstatechange", () => {
      if (pc !== connection) return;
      if (connection.connectionState === "connected") setStatus("connected", "live");
      else if (connection.connectionState === "failed") finish("failed", "The connection to the gateway failed.");
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 3000);
    const response = await fetch("/api/phone/calls", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, variables }),
    });
    if (response.status === 401) { window.location.href = "/dashboard/login"; return; }
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error ?? "the gateway answered " + response.status);
    phone.id = answer.id;
    document.body.dataset.call = answer.id;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    follow(answer.id);
    setStatus("connecting");
  } catch (error) {
    finish("failed", "Could not call: " + (error.message ?? String(error)));
  }
}

async function hangUp() {
  const id = phone.id;
  finish("ended", "You hung up.");
  if (id === null) return;
  await fetch("/api/phone/calls/" + encodeURIComponent(id) + "/hangup", {
    method: "POST", credentials: "same-origin",
  }).catch(() => {});
}

document.getElementById("call").addEventListener("click", () => { call(); });
document.getElementById("hangup").addEventListener("click", () => { hangUp(); });
