// The live page's cluster section: with a database shared by several gateways
// (SIPGW_DATABASE_URL), the calls in progress on every gateway of the cluster, each with
// the gateway it is on, from GET /api/cluster/calls (the calls' index in the database),
// read every 2 s. Without a shared database that answers 404 and the section stays hidden.
"use strict";

const CLUSTER_EVERY_MS = 2000;

function clusterRow(call, here) {
  const row = el("tr", "cluster-call");
  row.dataset.id = call.id;
  row.dataset.gateway = call.gateway;
  row.append(el("td", "gateway", call.gateway === here ? call.gateway + " (this one)" : call.gateway));
  row.append(el("td", "started", new Date(call.started * 1000).toLocaleTimeString()));
  const who = el("td", "caller");
  if (call.gateway === here) {  // its own page is on this server
    const link = el("a", "", call.caller);
    link.href = "/dashboard/calls/" + encodeURIComponent(call.id);
    who.append(link);
  } else {
    who.textContent = call.caller;
  }
  row.append(who);
  row.append(el("td", "called", call.called));
  row.append(el("td", "direction", call.direction));
  row.append(el("td", "state state-" + call.state, call.state));
  return row;
}

async function refreshCluster() {
  let answer;
  try {
    const response = await fetch("/api/cluster/calls", { credentials: "same-origin" });
    if (response.status === 404) return false;  // no shared database: nothing to show
    if (!response.ok) return true;  // the database may be back at the next look
    answer = await response.json();
  } catch (err) {
    return true;
  }
  const section = document.getElementById("cluster");
  section.hidden = false;
  const body = document.querySelector("#cluster-calls tbody");
  body.replaceChildren(...answer.calls.map((call) => clusterRow(call, answer.this)));
  document.getElementById("cluster-count").textContent = String(answer.calls.length);
  document.getElementById("no-cluster-calls").hidden = answer.calls.length > 0;
  return true;
}

async function followCluster() {
  if (await refreshCluster()) setTimeout(followCluster, CLUSTER_EVERY_MS);
}

followCluster();
