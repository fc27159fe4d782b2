// The dashboard's charts over time: /api/charts (a point a minute for the last hour, or
// every ten minutes for the last day), drawn as plain SVG. No library: each chart is a
// few paths and rectangles, redrawn from the JSON every CHART_REFRESH_MS.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const CHART_REFRESH_MS = 15000;
const CHART_W = 360, CHART_H = 120, PAD_L = 34, PAD_R = 6, PAD_T = 8, PAD_B = 18;

// Each chart: its title, its kind (line: one path per series; bars: one rect per point and
// series, stacked) and how to read its series from a point.
const CHARTS = [
  { id: "calls", title: "Calls at once", kind: "line", unit: "",
    series: [{ name: "calls", value: (p) => p.calls }] },
  { id: "latency", title: "End of turn to first audio", kind: "line", unit: " ms",
    series: [{ name: "p50", value: (p) => p.p50_ms }, { name: "p95", value: (p) => p.p95_ms }] },
  { id: "barge_ins", title: "Barge-ins", kind: "bars", unit: "",
    series: [{ name: "barge_ins", value: (p) => p.barge_ins }] },
  { id: "outcomes", title: "Outcomes", kind: "bars", unit: "", series: null },
  { id: "mos", title: "MOS (calls ended)", kind: "line", unit: "", min: 1, max: 5,
    series: [{ name: "mos", value: (p) => p.mos }] },
  { id: "vendor_errors", title: "Vendor errors", kind: "bars", unit: "",
    series: [{ name: "vendor_errors", value: (p) => p.vendor_errors }] },
];

let chartWindow = "hour";

function svgEl(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes ?? {})) node.setAttribute(name, String(value));
  return node;
}

// The outcomes seen in the window, most frequent first, as series (at most six, then "other").
function outcomeSeries(points) {
  const totals = new Map();
  for (const p of points) for (const [name, n] of Object.entries(p.outcomes ?? {})) totals.set(name, (totals.get(name) ?? 0) + n);
  const names = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a));
  const shown = names.slice(0, 6);
  const series = shown.map((name) => ({ name, value: (p) => p.outcomes?.[name] ?? 0 }));
  if (names.length > shown.length) {
    const rest = new Set(names.slice(6));
    series.push({ name: "other", value: (p) => Object.entries(p.outcomes ?? {}).reduce((s, [k, n]) => s + (rest.has(k) ? n : 0), 0) });
  }
  return series;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function roundFigure(value) {
  if (value === null || value === undefined) return "—";
  return Math.abs(value) >= 100 ? String(Math.round(value)) : String(Math.round(value * 100) / 100);
}

function timeLabel(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function drawChart(figure, spec, data) {
  const points = data.points;
  const series = spec.series ?? outcomeSeries(points);
  const svg = svgEl("svg", { viewBox: `0 0 ${CHART_W} ${CHART_H}`, role: "img", class: "chart-svg" });
  const plotW = CHART_W - PAD_L - PAD_R, plotH = CHART_H - PAD_T - PAD_B;
  const n = points.length;
  const slot = plotW / Math.max(1, n);
  let top = spec.max ?? 0;
  if (spec.max === undefined) {
    for (let i = 0; i < n; i++) {
      if (spec.kind === "bars") top = Math.max(top, series.reduce((s, one) => s + (one.value(points[i]) ?? 0), 0));
      else for (const one of series) top = Math.max(top, one.value(points[i]) ?? 0);
    }
    top = niceMax(top);
  }
  const bottom = spec.min ?? 0;
  const y = (v) => PAD_T + plotH - ((v - bottom) / (top - bottom)) * plotH;
  const x = (i) => PAD_L + slot * i + slot / 2;
  svg.append(svgEl("line", { class: "axis", x1: PAD_L, y1: PAD_T + plotH, x2: CHART_W - PAD_R, y2: PAD_T + plotH }));
  for (const value of [bottom, top]) {
    const label = svgEl("text", { class: "tick", x: PAD_L - 4, y: y(value) + 4, "text-anchor": "end" });
    label.textContent = String(value);
    svg.append(label);
  }
  for (const i of [0, n - 1]) {
    if (n === 0) break;
    const label = svgEl("text", { class: "tick", x: x(i), y: CHART_H - 4, "text-anchor": i === 0 ? "start" : "end" });
    label.textContent = timeLabel(points[i].t);
    svg.append(label);
  }
  let drawn = 0;
  if (spec.kind === "line") {
    series.forEach((one, index) => {
      let d = "", pen = false, count = 0;
      const dots = [];
      for (let i = 0; i < n; i++) {
        const v = one.value(points[i]);
        if (v === null || v === undefined) { pen = false; continue; }
        const px = x(i).toFixed(1), py = y(Math.min(top, Math.max(bottom, v))).toFixed(1);
        d += (pen ? " L" : " M") + px + " " + py;
        // a dot too: a point between two gaps (a minute with the only MOS) is no line
        const dot = svgEl("circle", { class: "dot dot-" + index, cx: px, cy: py, r: 1.6 });
        const tip = svgEl("title");
        tip.textContent = timeLabel(points[i].t) + " " + one.name + ": " + v + spec.unit;
        dot.append(tip);
        dots.push(dot);
        pen = true; count++;
      }
      const path = svgEl("path", { class: "series series-" + index, d: d.trim(), "data-series": one.name, "data-points": count });
      svg.append(path, ...dots);
      drawn += count;
    });
  } else {
    const width = Math.max(1, slot - 1);
    for (let i = 0; i < n; i++) {
      let base = 0;
      series.forEach((one, index) => {
        const v = one.value(points[i]) ?? 0;
        if (v <= 0) return;
        const rect = svgEl("rect", {
          class: spec.id === "outcomes" ? "bar-outcome outcome-" + index : "bar-count",
          x: (PAD_L + slot * i).toFixed(1), y: y(base + v).toFixed(1), width: width.toFixed(1),
          height: (y(base) - y(base + v)).toFixed(1), "data-series": one.name, "data-value": v,
        });
        const tip = svgEl("title");
        tip.textContent = timeLabel(points[i].t) + " " + one.name + ": " + v;
        rect.append(tip);
        svg.append(rect);
        base += v;
        drawn++;
      });
    }
  }
  figure.dataset.drawn = String(drawn);
  figure.querySelector("svg")?.remove();
  const legend = figure.querySelector(".chart-legend");
  legend.before(svg);
  legend.replaceChildren();
  series.forEach((one, index) => {
    const kind = spec.id === "outcomes" ? "outcome-" + index : spec.kind === "line" ? "series-" + index : "count";
    legend.append(el("span", "key key-" + kind, one.name));
  });
  const latest = [...points].reverse().find((p) => series.some((one) => one.value(p) !== null && one.value(p) !== undefined && (spec.kind === "line" || one.value(p) > 0)));
  figure.querySelector(".chart-now").textContent = latest && spec.kind === "line"
    ? series.map((one) => (series.length > 1 ? one.name + " " : "") + roundFigure(one.value(latest)) + spec.unit).join(", ")
    : spec.kind === "bars" ? String(points.reduce((s, p) => s + series.reduce((t, one) => t + (one.value(p) ?? 0), 0), 0)) + " in all" : "—";
}

function chartFigures() {
  const box = document.getElementById("charts");
  if (box.children.length) return;
  for (const spec of CHARTS) {
    const figure = el("figure", "chart");
    figure.dataset.chart = spec.id;
    const caption = el("figcaption", "");
    caption.append(el("span", "chart-title", spec.title));
    caption.append(el("span", "chart-now", "—"));
    figure.append(caption);
    figure.append(el("div", "chart-legend"));
    box.append(figure);
  }
}

async function refreshCharts() {
  chartFigures();
  let data;
  try {
    const response = await fetch("/api/charts?window=" + chartWindow, { credentials: "same-origin" });
    if (!response.ok) return;
    data = await response.json();
  } catch (error) {
    return; // the next refresh tries again
  }
  for (const spec of CHARTS) {
    drawChart(document.querySelector('figure[data-chart="' + spec.id + '"]'), spec, data);
  }
  document.getElementById("charts").dataset.window = data.window;
}

function chooseWindow(name) {
  chartWindow = name;
  for (const button of document.querySelectorAll("#chart-window button")) {
    button.setAttribute("aria-pressed", String(button.dataset.window === name));
  }
  refreshCharts();
}

for (const button of document.querySelectorAll("#chart-window button")) {
  button.addEventListener("click", () => chooseWindow(button.dataset.window));
}
chooseWindow("hour");
setInterval(refreshCharts, CHART_REFRESH_MS);
