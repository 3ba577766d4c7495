// The cliser page: nodes and sensors from /api/nodes, live changes from /api/events (SSE),
// sparklines and charts from /api/readings, drawn as SVG by this file. No library, no network
// beyond this server.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
// Long ranges read hourly buckets (the store's rollups): a few hundred points, min/max bands.
const RANGE_EVERY = { "1h": "", "24h": "", "7d": "1h", "30d": "1h" };
const SPARK_SPAN = "6h";
const SPARK_EVERY = "5m";
const SPARK_REFRESH_MS = 5 * 60e3;

const state = {
  nodes: new Map(),      // cid -> node as /api/nodes gives it
  keepaliveMs: 10e3,
  skewMs: 0,             // server clock minus this browser's
  sparks: new Map(),     // cid -> { at, series: Map(sensor -> [[ts, v]]) }
  chart: null,           // { cid, sensor, range }
  valuesShown: false,
  alerts: [],            // firing alerts, as /api/alerts gives them
};

const $ = (sel, root = document) => root.querySelector(sel);
const serverNow = () => Date.now() + state.skewMs;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function ago(ms) {
  if (ms === null || ms === undefined) return "never";
  const s = Math.max(0, Math.round((serverNow() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function clock(ms) {
  if (ms === null || ms === undefined) return "–";
  const d = new Date(ms);
  const sameDay = new Date(serverNow()).toDateString() === d.toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

const fmtTemp = (v) => `${v.toFixed(3)} °C`;

// ---- the nodes ---------------------------------------------------------------------------------

function applySnapshot(snap) {
  state.keepaliveMs = snap.keepalive_ms || state.keepaliveMs;
  state.skewMs = snap.now - Date.now();
  state.nodes = new Map(snap.nodes.map((n) => [n.cid, n]));
  renderAll();
}

function applyNodes(changed) {
  for (const c of changed) {
    const n = state.nodes.get(c.cid) || { cid: c.cid, sensors: [] };
    Object.assign(n, c, { sensors: n.sensors });
    state.nodes.set(c.cid, n);
    renderNode(n);
  }
  renderSummary();
}

function applyReadings(readings) {
  const touched = new Set();
  for (const r of readings) {
    let n = state.nodes.get(r.cid);
    if (!n) { n = { cid: r.cid, online: true, sensors: [] }; state.nodes.set(r.cid, n); }
    let s = n.sensors.find((x) => x.sensor === r.sensor);
    if (!s) { s = { sensor: r.sensor, ts: 0 }; n.sensors.push(s); n.sensors.sort((a, b) => a.sensor.localeCompare(b.sensor)); }
    if (r.ts >= s.ts) {
      Object.assign(s, { ts: r.ts, value: r.value, raw: r.raw, error: r.error, seq: r.seq, name: r.name });
      if (r.value !== null) s.last_temp = { ts: r.ts, value: r.value };
    }
    n.last_seen = Math.max(n.last_seen || 0, r.ts);
    touched.add(n);
    if (state.chart && state.chart.cid === r.cid && state.chart.sensor === r.sensor) chartAppend(r);
  }
  for (const n of touched) renderNode(n);
  renderSummary();
}

function renderAll() {
  const root = $("#nodes");
  root.replaceChildren();
  if (state.nodes.size === 0) {
    root.append(el("p", { class: "empty" }, "No node has reported yet. Start a Pi client pointed at this server."));
  }
  for (const n of [...state.nodes.values()].sort((a, b) => a.cid.localeCompare(b.cid))) renderNode(n);
  renderSummary();
}

function nodeCard(cid) {
  let card = document.querySelector(`.node[data-cid="${CSS.escape(cid)}"]`);
  if (!card) {
    $(".empty", $("#nodes"))?.remove();
    card = el("section", { class: "node", "data-cid": cid });
    // Keep the cards in id order.
    const after = [...document.querySelectorAll(".node")].find((c) => c.dataset.cid.localeCompare(cid) > 0);
    $("#nodes").insertBefore(card, after || null);
  }
  return card;
}

function renderNode(n) {
  const card = nodeCard(n.cid);
  card.dataset.online = String(!!n.online);
  const nodeAlert = alertOf(n.cid, "");
  if (nodeAlert) card.dataset.alert = nodeAlert.kind; else delete card.dataset.alert;
  const recentMore = n.more_at && serverNow() - n.more_at < 3 * state.keepaliveMs;
  const head = el("div", { class: "node-head" },
    el("h2", {}, n.cid),
    el("span", { class: "status" }, n.online ? "online" : "offline"),
    recentMore ? el("span", { class: "backlog", title: "it answered with `more`: sending its backlog" }, "catching up") : null);
  const meta = el("div", { class: "meta" });
  const row = (k, v, cls) => meta.append(el("span", {}, k), el("span", { class: cls }, v));
  row("address", n.addr || "–");
  if (n.online) row("connected", clock(n.since));
  row("last seen", n.last_seen ? ago(n.last_seen) : "never", "seen");
  const sensors = el("div", { class: "sensors" });
  for (const s of n.sensors || []) sensors.append(sensorRow(n, s));
  card.replaceChildren(head, meta, sensors);
  card.dataset.lastSeen = n.last_seen || "";
  drawSpark(n.cid);
  maybeFetchSparks(n.cid);
  if (!state.valuesShown && card.querySelector(".value[data-has-value]")) {
    state.valuesShown = true;
    performance.mark("cliser-values-shown");
    document.body.dataset.valuesShown = "1";
  }
}

function sensorRow(n, s) {
  const isErr = s.value === null || s.value === undefined;
  const value = el("span", { class: isErr ? "value error" : "value", "data-has-value": isErr ? null : "1" },
    isErr ? `err:${s.error}` : fmtTemp(s.value));
  const age = el("span", { class: "age", "data-ts": s.ts }, ago(s.ts));
  if (isErr && s.last_temp) age.title = `last temperature ${fmtTemp(s.last_temp.value)}, ${ago(s.last_temp.ts)}`;
  const row = el("div", { class: "sensor", "data-sensor": s.sensor, "data-alert": alertOf(n.cid, s.sensor)?.kind, tabIndex: 0, role: "button",
    title: "Show the chart" },
    el("span", { class: "name" }, s.name || s.sensor, s.name ? el("span", { class: "id" }, s.sensor) : null,
      alertOf(n.cid, s.sensor) ? el("span", { class: "mark" }, alertOf(n.cid, s.sensor).kind.replace("_", " ")) : null),
    value,
    svg("svg", { class: "spark", viewBox: "0 0 100 20", preserveAspectRatio: "none", "aria-hidden": "true" }), age);
  const open = () => openChart(n.cid, s.sensor, state.chart?.range || "24h");
  row.addEventListener("click", open);
  row.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } });
  return row;
}

function renderSummary() {
  const all = [...state.nodes.values()];
  const up = all.filter((n) => n.online).length;
  const sensors = all.reduce((k, n) => k + (n.sensors || []).length, 0);
  $("#summary").textContent = `${up} of ${all.length} nodes online · ${sensors} sensors`;
}

function tickAges() {
  for (const a of document.querySelectorAll(".age[data-ts]")) {
    const ts = Number(a.dataset.ts);
    a.textContent = ago(ts);
    a.classList.toggle("stale", serverNow() - ts > 3 * state.keepaliveMs);
  }
  for (const card of document.querySelectorAll(".node")) {
    const seen = card.querySelector(".seen");
    if (seen && card.dataset.lastSeen) seen.textContent = ago(Number(card.dataset.lastSeen));
  }
}

// ---- alerts -------------------------------------------------------------------------------------

function alertOf(cid, sensor) {
  return state.alerts.find((a) => a.cid === cid && a.sensor === sensor);
}

function applyAlerts(alerts) {
  state.alerts = alerts;
  const box = $("#alerts");
  box.hidden = alerts.length === 0;
  box.replaceChildren(
    el("h2", {}, alerts.length === 1 ? "1 alert firing" : `${alerts.length} alerts firing`),
    el("ul", {}, ...alerts.map((a) => el("li", { "data-kind": a.kind, "data-cid": a.cid, "data-sensor": a.sensor },
      `${a.message} (since ${clock(a.since)})`))));
  for (const n of state.nodes.values()) renderNode(n);
}

function fetchAlerts() {
  getJSON("/api/alerts").then((b) => applyAlerts(b.alerts)).catch(() => {});
}

// ---- sparklines --------------------------------------------------------------------------------

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `${r.status}`);
  return body;
}

function seriesPoints(series) {
  // Raw points are [ts, value, error]; buckets [start, min, mean, max, count, errors].
  const raw = series.columns[0] === "ts";
  return series.points.map((p) => raw ? { t: p[0], v: p[1] } : { t: p[0], v: p[2], lo: p[1], hi: p[3] });
}

function maybeFetchSparks(cid) {
  const have = state.sparks.get(cid);
  if (have && (have.loading || Date.now() - have.at < SPARK_REFRESH_MS)) return;
  state.sparks.set(cid, { at: Date.now(), loading: true, series: have?.series || new Map() });
  getJSON(`/api/readings?cid=${encodeURIComponent(cid)}&since=${SPARK_SPAN}&every=${SPARK_EVERY}`)
    .then((body) => {
      const series = new Map(body.series.map((s) => [s.sensor, seriesPoints(s)]));
      state.sparks.set(cid, { at: Date.now(), loading: false, series });
      drawSpark(cid);
    })
    .catch(() => state.sparks.set(cid, { at: Date.now(), loading: false, series: have?.series || new Map() }));
}

function drawSpark(cid) {
  const spark = state.sparks.get(cid);
  if (!spark) return;
  const card = nodeCard(cid);
  for (const row of card.querySelectorAll(".sensor")) {
    const pts = (spark.series.get(row.dataset.sensor) || []).filter((p) => p.v !== null);
    const box = row.querySelector(".spark");
    box.replaceChildren();
    if (pts.length < 2) continue;
    const t0 = serverNow() - 6 * 3600e3, t1 = serverNow();
    let lo = Math.min(...pts.map((p) => p.v)), hi = Math.max(...pts.map((p) => p.v));
    if (hi - lo < 0.5) { const m = (hi + lo) / 2; lo = m - 0.25; hi = m + 0.25; }
    const x = (t) => ((t - t0) / (t1 - t0)) * 100, y = (v) => 19 - ((v - lo) / (hi - lo)) * 18;
    box.append(svg("path", { d: pathOf(pts, x, y, 15 * 60e3) }));
  }
}

/** An SVG path through the points, broken where two points are further apart than `gap` ms. */
function pathOf(pts, x, y, gap) {
  let d = "", prev = null;
  for (const p of pts) {
    if (p.v === null || p.v === undefined) { prev = null; continue; }
    d += `${prev === null || p.t - prev > gap ? "M" : "L"}${x(p.t).toFixed(2)},${y(p.v).toFixed(2)}`;
    prev = p.t;
  }
  return d;
}

// ---- the chart ---------------------------------------------------------------------------------

async function openChart(cid, sensor, range) {
  state.chart = { cid, sensor, range, points: [], kind: "raw", everyMs: 0, since: 0, until: 0 };
  const panel = $("#chart");
  panel.hidden = false;
  panel.dataset.cid = cid;
  panel.dataset.sensor = sensor;
  panel.dataset.range = range;
  const named = state.nodes.get(cid)?.sensors?.find((x) => x.sensor === sensor)?.name;
  $("#chart-title").textContent = named ? `${named} · ${cid} · ${sensor}` : `${cid} · ${sensor}`;
  for (const b of document.querySelectorAll(".ranges button")) b.setAttribute("aria-pressed", String(b.dataset.range === range));
  $("#chart-note").textContent = "Loading…";
  const every = RANGE_EVERY[range];
  const url = `/api/readings?cid=${encodeURIComponent(cid)}&sensor=${encodeURIComponent(sensor)}&since=${range}` +
    (every ? `&every=${every}` : "");
  try {
    const body = await getJSON(url);
    if (!state.chart || state.chart.cid !== cid || state.chart.sensor !== sensor || state.chart.range !== range) return;
    const s = body.series[0];
    Object.assign(state.chart, {
      points: s ? seriesPoints(s) : [], kind: body.kind, everyMs: body.every_ms || 0,
      since: body.since, until: body.until,
    });
    const n = state.chart.points.length;
    $("#chart-note").textContent = body.kind === "raw"
      ? `${n} readings`
      : `${n} buckets of ${body.every} (line: mean, band: min to max)${body.bucketed ? ` · ${body.bucketed}` : ""}`;
    drawChart();
  } catch (e) {
    $("#chart-note").textContent = `Could not load the readings: ${e.message}`;
  }
  panel.scrollIntoView({ block: "nearest" });
}

function chartAppend(r) {
  const c = state.chart;
  if (c.kind !== "raw" || r.value === null) return;
  c.points.push({ t: r.ts, v: r.value });
  c.until = Math.max(c.until, serverNow());
  c.since = c.until - RANGES[c.range];
  drawChart();
  $("#chart-note").textContent = `${c.points.filter((p) => p.t >= c.since).length} readings`;
}

function drawChart() {
  const c = state.chart;
  const W = 800, H = 260, L = 48, R = 8, T = 10, B = 24;
  // data-range and data-kind say which answer this drawing is of (the panel's data-range changes
  // as soon as a range is picked, before its readings arrive).
  const box = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
    "data-range": c.range, "data-kind": c.kind });
  const pts = c.points.filter((p) => p.v !== null && p.v !== undefined && p.t >= c.since);
  box.setAttribute("aria-label", `${c.cid} ${c.sensor}: ${pts.length} points`);
  if (pts.length === 0) {
    const t = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" });
    t.textContent = "No temperatures in this range";
    box.append(t);
    $("#chart-body").replaceChildren(box);
    return;
  }
  let lo = Math.min(...pts.map((p) => p.lo ?? p.v)), hi = Math.max(...pts.map((p) => p.hi ?? p.v));
  if (hi - lo < 1) { const m = (hi + lo) / 2; lo = m - 0.5; hi = m + 0.5; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const t0 = c.since, t1 = c.until;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    box.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    const t = svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end" });
    t.textContent = v.toFixed(1);
    box.append(t);
  }
  for (const [tt, anchor] of [[t0, "start"], [t1, "end"]]) {
    const t = svg("text", { x: x(tt), y: H - 6, "text-anchor": anchor });
    t.textContent = clock(tt);
    box.append(t);
  }
  const gap = c.kind === "raw" ? Math.max(3 * state.keepaliveMs, 3 * medianStep(pts)) : 2.5 * c.everyMs;
  if (c.kind !== "raw") {
    // The band: min to max of each bucket, broken where buckets are missing.
    let d = "", run = [];
    const flush = () => {
      if (run.length === 0) return;
      d += `M${run.map((p) => `${x(p.t).toFixed(1)},${y(p.hi).toFixed(1)}`).join("L")}`;
      d += `L${run.slice().reverse().map((p) => `${x(p.t).toFixed(1)},${y(p.lo).toFixed(1)}`).join("L")}Z`;
      run = [];
    };
    let prev = null;
    for (const p of pts) { if (prev !== null && p.t - prev > gap) flush(); run.push(p); prev = p.t; }
    flush();
    box.append(svg("path", { class: "band", d }));
  }
  box.append(svg("path", { class: "line", d: pathOf(pts, x, y, gap), "data-points": String(pts.length) }));
  $("#chart-body").replaceChildren(box);
}

function medianStep(pts) {
  if (pts.length < 3) return 60e3;
  const steps = [];
  for (let i = 1; i < pts.length; i++) steps.push(pts[i].t - pts[i - 1].t);
  steps.sort((a, b) => a - b);
  return steps[Math.floor(steps.length / 2)];
}

// ---- live --------------------------------------------------------------------------------------

function setLink(s, text) {
  const l = $("#link");
  l.dataset.state = s;
  l.textContent = text;
}

function connect() {
  if (!window.EventSource) { poll(); return; }
  const es = new EventSource("/api/events");
  es.addEventListener("open", () => setLink("live", "live"));
  es.addEventListener("snapshot", (e) => { applySnapshot(JSON.parse(e.data)); setLink("live", "live"); fetchAlerts(); });
  es.addEventListener("alerts", (e) => applyAlerts(JSON.parse(e.data)));
  es.addEventListener("nodes", (e) => applyNodes(JSON.parse(e.data)));
  es.addEventListener("readings", (e) => applyReadings(JSON.parse(e.data)));
  // EventSource reconnects by itself; its first message then is a fresh snapshot.
  es.addEventListener("error", () => setLink("lost", "reconnecting…"));
}

async function poll() {
  try {
    applySnapshot(await getJSON("/api/nodes"));
    fetchAlerts();
    setLink("live", "polling");
  } catch (e) {
    setLink("lost", "server unreachable");
  }
  setTimeout(poll, state.keepaliveMs);
}

function init() {
  for (const b of document.querySelectorAll(".ranges button")) {
    b.addEventListener("click", () => state.chart && openChart(state.chart.cid, state.chart.sensor, b.dataset.range));
  }
  $("#chart-close").addEventListener("click", () => { state.chart = null; $("#chart").hidden = true; });
  setInterval(tickAges, 1000);
  setInterval(() => { for (const cid of state.nodes.keys()) maybeFetchSparks(cid); }, 60e3);
  connect();
}

init();
