// The campaigns page: the list with live progress (polled), a new campaign from a CSV
// file, pause / resume / cancel, the results CSV. Every value from the server goes into
// the page through textContent (common.js's el), never as HTML.
"use strict";

const COUNTS = ["total", "dialled", "person", "machine", "completed", "failed", "dnc", "left"];

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || String(response.status));
  return answer;
}

function actionButton(campaign, action) {
  const button = el("button", "", action);
  button.addEventListener("click", async () => {
    try { await post("/api/campaigns/" + campaign.id + "/" + action); } catch (err) { alert(err.message); }
    refresh();
  });
  return button;
}

function render(campaigns) {
  const body = document.querySelector("#campaigns tbody");
  body.replaceChildren();
  document.getElementById("no-campaigns").hidden = campaigns.length > 0;
  for (const campaign of campaigns) {
    const row = el("tr");
    row.append(el("td", "", campaign.id), el("td", "", campaign.settings.name),
               el("td", "outcome", campaign.state));
    for (const name of COUNTS) row.append(el("td", "", campaign.progress[name]));
    const actions = el("td");
    if (campaign.state === "running") actions.append(actionButton(campaign, "pause"));
    if (campaign.state === "paused") actions.append(actionButton(campaign, "resume"));
    if (campaign.state === "running" || campaign.state === "paused") {
      actions.append(actionButton(campaign, "cancel"));
    }
    const results = el("a", "", "results.csv");
    results.href = "/api/campaigns/" + campaign.id + "/results.csv";
    actions.append(results);
    row.append(actions);
    body.append(row);
  }
}

async function refresh() {
  const answer = await getJson("/api/campaigns");
  if (answer) render(answer.campaigns);
}

function numberOrNull(text) {
  return text === "" ? null : Number(text);
}

async function create(event) {
  event.preventDefault();
  const form = event.target;
  const data = new FormData(form);
  const error = document.getElementById("form-error");
  error.textContent = "";
  const body = {
    name: data.get("name"),
    csv: await data.get("file").text(),
    per_second: Number(data.get("per_second")),
    concurrency: Number(data.get("concurrency")),
    hours: data.get("hours"), days: data.get("days"), time_zone: data.get("time_zone"),
    max_attempts: Number(data.get("max_attempts")),
    retry: {
      busy: numberOrNull(data.get("retry_busy")),
      no_answer: numberOrNull(data.get("retry_no_answer")),
      failed: numberOrNull(data.get("retry_failed")),
      voicemail: numberOrNull(data.get("retry_voicemail")),
    },
  };
  for (const name of ["line", "agent", "caller_id", "amd", "amd_message"]) {
    if (data.get(name)) body[name] = data.get(name);
  }
  try {
    await post("/api/campaigns", body);
    form.reset();
  } catch (err) {
    error.textContent = err.message;  // names the row and field at fault
  }
  refresh();
}

document.getElementById("new-campaign").addEventListener("submit", create);
refresh();
setInterval(refresh, 2000);
