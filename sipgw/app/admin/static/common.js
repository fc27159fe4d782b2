// Shared by the dashboard's pages. Every string from a call (caller names,
// transcript text) goes into the page through textContent, never as HTML.
"use strict";

const STAGES = [
  "stt_end_of_turn", "llm_first_token", "tools", "tts_first_byte", "gateway_reply_path",
];
const STAGE_NAMES = {
  stt_end_of_turn: "STT end of turn",
  llm_first_token: "LLM first token",
  tools: "tools",
  tts_first_byte: "TTS first byte",
  gateway_reply_path: "gateway reply path",
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return m + ":" + String(s % 60).padStart(2, "0");
}

function callerLabel(call) {
  return call.caller_name ? call.caller_name + " <" + call.caller + ">" : call.caller;
}

function transcriptText(line) {
  switch (line.type) {
    case "user": return line.text;
    case "assistant": return line.text;
    case "speech": return line.text;
    case "suggestion": return line.text;
    case "tool_call": return line.name + "(" + (typeof line.arguments === "string" ? line.arguments : JSON.stringify(line.arguments ?? {})) + ")" +
      (line.result !== undefined ? " → " + (typeof line.result === "string" ? line.result : JSON.stringify(line.result)) : "");
    case "transfer": return "transfer to " + line.target + (line.accepted ? "" : " (refused)");
    case "dtmf": return "keypad " + (line.digits ?? "");
    case "barge_in": return bargeInText(line);
    case "failure": return line.decision + (line.line ? " (said " + line.line + ", " + line.source + ")" : "");
    default: return JSON.stringify(line);
  }
}

// A cut reply: the caller's barge-in, or the agent's own cut ("new turn", "notice": e.g. an
// opening held for answering-machine detection, cut by the voicemail message unheard).
function bargeInText(line) {
  const own = line.cause === "new turn" || line.cause === "notice";
  const what = own ? "agent stopped (" + line.cause + ")" : "caller interrupted";
  return line.heard === "" ? what + ": none of the reply was heard" : what;
}

// Who said a line: the caller, the agent, or a SIPREC recording's participant (its name,
// else its address, else its stream's label: docs/siprec.md).
function transcriptWho(line) {
  if (line.type === "user") return "caller";
  if (line.type === "assistant") return "agent";
  if (line.type === "speech") return line.name || line.aor || "stream " + line.label;
  if (line.type === "suggestion") return "assist";
  return line.type;
}

function transcriptItem(line) {
  const item = el("li", "line line-" + line.type);
  item.append(el("span", "who", transcriptWho(line)));
  item.append(el("span", "text", transcriptText(line)));
  return item;
}

// One row per turn: each stage a bar placed after the previous one (a waterfall),
// on a scale shared by all rows of the container.
function renderWaterfall(container, turns) {
  container.replaceChildren();
  let longest = 1000;
  for (const turn of turns) {
    let total = 0;
    for (const stage of STAGES) total += turn.stages_ms[stage] ?? 0;
    longest = Math.max(longest, total);
  }
  for (const turn of turns) {
    const row = el("div", "turn");
    row.append(el("span", "turn-label", "turn " + (turn.turn ?? "?")));
    const track = el("div", "track");
    let offset = 0;
    for (const stage of STAGES) {
      const ms = turn.stages_ms[stage];
      if (typeof ms !== "number") continue;
      const bar = el("div", "bar stage-" + stage);
      bar.style.left = (100 * offset / longest) + "%";
      bar.style.width = Math.max(0.5, 100 * ms / longest) + "%";
      bar.title = STAGE_NAMES[stage] + ": " + Math.round(ms) + " ms";
      bar.dataset.ms = String(ms);
      track.append(bar);
      offset += ms;
    }
    row.append(track);
    row.append(el("span", "turn-total", Math.round(offset) + " ms"));
    container.append(row);
  }
}

async function getJson(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (response.status === 401) { window.location.href = "/dashboard/login"; return null; }
  if (!response.ok) throw new Error(path + ": " + response.status);
  return response.json();
}
