/**
 * The page of `sluice ui`: plain HTML, CSS and a small script, served as they are (no build step,
 * nothing fetched from the network). The script reads the JSON API and builds every element with
 * `textContent`/`setAttribute`, never `innerHTML`, so stream names and error texts are shown as
 * text whatever they contain. The charts are inline SVG drawn by the same script.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice: run history</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>sluice run history</h1>
  <span id="summary"></span>
  <button id="refresh" type="button">Refresh</button>
</header>
<p id="message" role="alert" hidden></p>
<main>
  <section id="chart-section" aria-labelledby="chart-title">
    <h2 id="chart-title">Rows and duration over time</h2>
    <div class="charts">
      <figure><figcaption>Rows per run</figcaption><svg id="rows-chart" viewBox="0 0 640 170" role="img" aria-label="Rows per run over time"></svg></figure>
      <figure><figcaption>Duration per run</figcaption><svg id="duration-chart" viewBox="0 0 640 170" role="img" aria-label="Duration per run over time"></svg></figure>
    </div>
  </section>
  <section id="runs-section" aria-labelledby="runs-title">
    <h2 id="runs-title">Runs</h2>
    <table id="runs">
      <thead><tr><th>Started</th><th>Status</th><th>State id</th><th class="num">Duration</th><th class="num">Rows</th><th class="num">Rows/s</th><th>Streams (rows, rows/s)</th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="no-runs" hidden>No runs yet: each <code>sluice run</code> is recorded here.</p>
  </section>
  <section id="run-detail" aria-live="polite" hidden></section>
  <section id="state-section" aria-labelledby="state-title">
    <h2 id="state-title">State</h2>
    <div id="states"></div>
  </section>
</main>
</body>
</html>
`;

export const PAGE_STYLE = `:root { color-scheme: light dark; --muted: #6b7280; --line: #d1d5db; --ok: #15803d; --bad: #b91c1c; --run: #1d4ed8; --off: #a16207; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 0 1.5rem 3rem; max-width: 1200px; }
header { display: flex; align-items: baseline; gap: 1rem; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.3rem; margin: 1rem 0 .6rem; }
#summary { color: var(--muted); flex: 1; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.run { cursor: pointer; }
tr.run:hover, tr.run:focus, tr.run.selected { background: rgba(100, 116, 139, .14); outline: none; }
.status { font-weight: 600; }
.status-success { color: var(--ok); fill: var(--ok); }
.status-failed { color: var(--bad); fill: var(--bad); }
.status-running { color: var(--run); fill: var(--run); }
.status-cancelled { color: var(--off); fill: var(--off); }
.stream { white-space: nowrap; }
.muted { color: var(--muted); }
pre { white-space: pre-wrap; word-break: break-word; background: rgba(100, 116, 139, .1); padding: .6rem .8rem; border-radius: 4px; margin: .3rem 0 .8rem; }
pre.error { border-left: 3px solid var(--bad); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .4rem 0 .8rem; }
dt { color: var(--muted); }
dd { margin: 0; }
#message { background: rgba(185, 28, 28, .12); border-left: 3px solid var(--bad); padding: .5rem .8rem; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; }
figure { margin: 0; }
figcaption { color: var(--muted); }
svg { width: 100%; height: auto; }
svg .axis { stroke: var(--line); }
svg .label { fill: var(--muted); font-size: 11px; }
svg .line { fill: none; stroke: var(--muted); stroke-width: 1.2; }
svg .point { cursor: pointer; stroke: Canvas; stroke-width: 1; }
.state h3 { font-size: .95rem; margin: .8rem 0 0; font-family: ui-monospace, monospace; }
`;

export const PAGE_SCRIPT = `"use strict";
(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STATUSES = ["success", "failed", "running", "cancelled"];
  const byId = (id) => document.getElementById(id);
  let runs = [];

  // Every value from the API enters the page through these two: as text nodes and plain attributes.
  function el(tag, attrs, ...children) {
    return fill(document.createElement(tag), attrs, children);
  }
  function svgEl(tag, attrs, ...children) {
    return fill(document.createElementNS(SVG_NS, tag), attrs, children);
  }
  function fill(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  const statusClass = (status) => "status status-" + (STATUSES.includes(status) ? status : "unknown");

  const count = (n) => (n === null || n === undefined ? "-" : Number(n).toLocaleString("en-US"));
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    if (seconds < 60) return seconds.toFixed(1) + " s";
    const m = Math.floor(seconds / 60);
    if (m < 60) return m + " min " + Math.round(seconds % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function bytes(n) {
    if (n === null || n === undefined) return "-";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
  }
  const time = (iso) => (iso ? iso.replace("T", " ").replace(/\\.\\d+Z$/, " UTC") : "-");

  async function getJson(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || path + ": HTTP " + response.status);
    return body;
  }

  function showMessage(text) {
    const message = byId("message");
    message.textContent = text || "";
    message.hidden = !text;
  }

  function renderRuns() {
    const tbody = byId("runs").tBodies[0];
    tbody.replaceChildren(
      ...runs.map((run) => {
        const streams = run.streams.map((s) =>
          el("div", { class: "stream" }, s.streamId + ": " + count(s.rows) + ", " + count(s.rowsPerSecond) + "/s"),
        );
        const row = el(
          "tr",
          { class: "run", tabindex: "0", "data-run-id": run.runId },
          el("td", {}, time(run.startedAt)),
          el("td", { class: statusClass(run.status) }, run.status),
          el("td", { class: "state-id" }, run.stateId),
          el("td", { class: "num" }, duration(run.durationSeconds)),
          el("td", { class: "num rows" }, count(run.rows)),
          el("td", { class: "num" }, count(run.rowsPerSecond)),
          el("td", { class: "streams" }, ...streams),
        );
        row.addEventListener("click", () => openRun(run.runId));
        row.addEventListener("keydown", (event) => {
          if (event.key === "Enter") openRun(run.runId);
        });
        return row;
      }),
    );
    byId("no-runs").hidden = runs.length > 0;
    const failed = runs.filter((r) => r.status === "failed").length;
    byId("summary").textContent = runs.length + " run(s) shown, " + failed + " failed";
  }

  const compact = (n) => Number(n).toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 1 });

  function drawChart(svg, value, format, axisFormat) {
    const width = 640, height = 170, left = 72, right = 16, top = 14, bottom = 28;
    const points = runs
      .filter((run) => value(run) !== null)
      .map((run) => ({ run, t: Date.parse(run.startedAt), v: value(run) }))
      .sort((a, b) => a.t - b.t);
    const children = [
      svgEl("line", { class: "axis", x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }),
      svgEl("line", { class: "axis", x1: left, y1: top, x2: left, y2: height - bottom }),
    ];
    if (points.length === 0) {
      children.push(svgEl("text", { class: "label", x: width / 2, y: height / 2, "text-anchor": "middle" }, "no runs yet"));
      svg.replaceChildren(...children);
      return;
    }
    const t0 = points[0].t, t1 = points[points.length - 1].t;
    const max = Math.max(...points.map((p) => p.v)) || 1;
    const x = (t) => (t1 === t0 ? (left + width - right) / 2 : left + ((t - t0) / (t1 - t0)) * (width - left - right));
    const y = (v) => height - bottom - (v / max) * (height - top - bottom);
    children.push(
      svgEl("text", { class: "label", x: left - 6, y: top + 4, "text-anchor": "end" }, axisFormat(max)),
      svgEl("text", { class: "label", x: left - 6, y: height - bottom, "text-anchor": "end" }, "0"),
      svgEl("text", { class: "label", x: left, y: height - 8 }, time(points[0].run.startedAt)),
    );
    if (t1 !== t0) {
      children.push(svgEl("text", { class: "label", x: width - right, y: height - 8, "text-anchor": "end" }, time(points[points.length - 1].run.startedAt)));
    }
    children.push(svgEl("polyline", { class: "line", points: points.map((p) => x(p.t) + "," + y(p.v)).join(" ") }));
    for (const p of points) {
      const circle = svgEl(
        "circle",
        { class: "point " + statusClass(p.run.status), cx: x(p.t), cy: y(p.v), r: 5, "data-run-id": p.run.runId },
        svgEl("title", {}, time(p.run.startedAt) + " " + p.run.stateId + " " + p.run.status + ": " + format(p.v)),
      );
      circle.addEventListener("click", () => openRun(p.run.runId));
      children.push(circle);
    }
    svg.replaceChildren(...children);
  }

  function renderCharts() {
    drawChart(byId("rows-chart"), (run) => run.rows, (v) => count(v) + " rows", compact);
    drawChart(byId("duration-chart"), (run) => run.durationSeconds, duration, duration);
  }

  function renderStates(states) {
    const list = byId("states");
    if (states.length === 0) {
      list.replaceChildren(el("p", { class: "muted" }, "No state stored yet."));
      return;
    }
    list.replaceChildren(
      ...states.map((s) =>
        el(
          "div",
          { class: "state", "data-state-id": s.stateId },
          el("h3", {}, s.stateId),
          el("span", { class: "muted" }, "updated " + time(s.updatedAt)),
          s.error === null
            ? el("pre", { class: "state-json" }, JSON.stringify(s.state, null, 2))
            : el("pre", { class: "error" }, s.error),
        ),
      ),
    );
  }

  function renderDetail(run) {
    const section = byId("run-detail");
    const facts = [
      ["Status", el("span", { class: statusClass(run.status) }, run.status)],
      ["State id", run.stateId],
      ["Pipeline", run.extractor + " \\u2192 " + run.loader],
      ["Started", time(run.startedAt)],
      ["Ended", time(run.endedAt)],
      ["Duration", duration(run.durationSeconds)],
      ["Rows", count(run.rows) + " (" + bytes(run.bytes) + ")"],
      ["Rows/s", count(run.rowsPerSecond)],
      ["Peak memory", bytes(run.peakRssBytes)],
      ["Process", run.hostname === null ? "-" : run.hostname + " pid " + run.pid],
    ];
    const streams = el(
      "table",
      { id: "run-streams" },
      el("thead", {}, el("tr", {}, ...["Stream", "Rows", "Bytes", "Seconds", "Rows/s"].map((h, i) => el("th", i ? { class: "num" } : {}, h)))),
      el(
        "tbody",
        {},
        ...run.streams.map((s) =>
          el(
            "tr",
            { "data-stream-id": s.streamId },
            el("td", {}, s.streamId),
            el("td", { class: "num" }, count(s.rows)),
            el("td", { class: "num" }, bytes(s.bytes)),
            el("td", { class: "num" }, s.seconds.toFixed(1)),
            el("td", { class: "num" }, count(s.rowsPerSecond)),
          ),
        ),
      ),
    );
    section.replaceChildren(
      el("h2", {}, "Run ", el("code", { id: "run-id" }, run.runId)),
      el("dl", {}, ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])),
      run.error === null ? el("p", { class: "muted" }, "No error.") : el("pre", { id: "run-error", class: "error" }, run.error),
      run.streams.length === 0 ? el("p", { class: "muted" }, "No stream finished.") : streams,
    );
    section.hidden = false;
    for (const row of byId("runs").tBodies[0].rows) row.classList.toggle("selected", row.dataset.runId === run.runId);
  }

  async function openRun(runId, scroll = true) {
    if (location.hash !== "#run=" + encodeURIComponent(runId)) {
      location.hash = "run=" + encodeURIComponent(runId);
      return; // hashchange loads it
    }
    try {
      const { run } = await getJson("/api/runs/" + encodeURIComponent(runId));
      renderDetail(run);
      showMessage("");
      if (scroll) byId("run-detail").scrollIntoView({ block: "nearest" });
    } catch (error) {
      showMessage(error.message);
    }
  }

  function runOfHash() {
    const match = /^#run=(.+)$/.exec(location.hash);
    return match ? decodeURIComponent(match[1]) : undefined;
  }

  let refreshTimer;
  async function load() {
    clearTimeout(refreshTimer);
    try {
      const [runsBody, stateBody] = await Promise.all([getJson("/api/runs"), getJson("/api/state")]);
      runs = runsBody.runs;
      renderRuns();
      renderCharts();
      renderStates(stateBody.states);
      const selected = runOfHash();
      if (selected) await openRun(selected, false);
      else showMessage("");
      document.body.dataset.loaded = "true";
      // Follow a run in progress until it ends.
      if (runs.some((run) => run.status === "running")) refreshTimer = setTimeout(load, 5000);
    } catch (error) {
      showMessage("Could not read run history: " + error.message);
    }
  }

  window.addEventListener("hashchange", () => {
    const selected = runOfHash();
    if (selected) openRun(selected);
    else byId("run-detail").hidden = true;
  });
  byId("refresh").addEventListener("click", load);
  load();
})();
`;
