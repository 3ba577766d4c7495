// The chart panel (#chart) on uPlot, and the sensor rows' sparklines. One global, CliserChart
// (the interface is in the page's notes): open() fetches the readings of the sensors asked for,
// draws them in one chart with a hover readout, a legend of min / mean / max / last of the range
// shown, the sensors' limits as threshold lines, their firing periods shaded, gaps as gaps, range
// buttons and drag-to-zoom; append() extends it with live readings. Text is drawn by uPlot on a
// canvas at device pixels, so it never stretches; the panel follows its width.
"use strict";

window.CliserChart = (() => {
  const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3 };
  const RANGE_LABELS = { "1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d" };
  // Up to a day (and a bit, for a fitted range) the chart shows raw readings while a sensor has
  // at most RAW_POINTS_MAX of them in the range (an hour always: a line of a few thousand points
  // is still cheap), else 5-minute buckets made from them. Longer ranges read the hourly rollups.
  const RAW_SPAN_MAX = 26 * 3600e3;
  const RAW_ALWAYS_SPAN = 2 * 3600e3;
  const RAW_POINTS_MAX = 2500;
  const SHORT_BUCKETS = "5m";
  const ROLLUP = "1h";
  // A fitted range never reaches further back than the longest button.
  const FIT_MAX = RANGES["30d"];
  // Raw points further apart than this many keep-alive intervals (or of the series' own usual
  // step, for a client sampling less often) are an outage; buckets further apart than this many
  // bucket lengths are missing ones.
  const RAW_GAP_STEPS = 3;
  const BUCKET_GAP_STEPS = 2.5;
  // Live readings are drawn at most this often.
  const REDRAW_MS = 250;
  // Points a series keeps at most (it drops its oldest past this, and a fitted range then starts
  // at its first point): far more than a chart is pixels wide, so only a sensor reading far too
  // fast (a fault, or a client flooding) is thinned, and the page stays responsive however long it
  // is left open.
  const POINTS_MAX = 20000;
  const PALETTE = 8;

  let ctx = null;
  // Without init() (a test, or a page that does not call it), open() reads /api/nodes itself.
  const fallback = { nodes: new Map(), keepaliveMs: 10e3, skewMs: 0 };
  // The open chart (see open()), its uPlot, and a counter that tells a stale answer from the last.
  let view = null;
  let plot = null;
  let loadToken = 0;
  let redrawTimer = null;
  let resizer = null;

  // ---- small helpers ------------------------------------------------------------------------

  // The least and greatest of an array, with a loop: spreading an array into Math.min passes each
  // element as an argument, which throws past some 100,000 of them.
  function least(a) { let m = Infinity; for (const x of a) if (x < m) m = x; return m; }
  function greatest(a) { let m = -Infinity; for (const x of a) if (x > m) m = x; return m; }

  const nodes = () => (ctx ? ctx.nodes() : fallback.nodes);
  const keepaliveMs = () => (ctx ? ctx.keepaliveMs() : fallback.keepaliveMs) || 10e3;
  const serverNow = () => (ctx ? ctx.serverNow() : Date.now() + fallback.skewMs);
  const getJSON = (url) => (ctx ? ctx.getJSON(url) : fetchJSON(url));
  const keyOf = (s) => `${s.cid}/${s.sensor}`;

  async function fetchJSON(url) {
    const r = await fetch(url, { cache: "no-store" });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
    return body;
  }

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  /** A CSS custom property of the panel, read now (so a switch to dark mode is followed). */
  function cssVar(name, fallbackValue) {
    const host = document.getElementById("chart") || document.documentElement;
    return getComputedStyle(host).getPropertyValue(name).trim() || fallbackValue;
  }

  const seriesColour = (i) => cssVar(`--chart-s${(i % PALETTE) + 1}`, "#3274d9");
  // The same colour in HTML (legend, readout): a class, so that CSS follows the colour scheme.
  const swatchClass = (i) => `chart-c${(i % PALETTE) + 1}`;

  function withAlpha(colour, alpha) {
    const m = /^#([0-9a-f]{6})$/i.exec(colour);
    if (!m) return colour;
    const n = parseInt(m[1], 16);
    return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  /** `2026-12-05T16:40:35+01:00`: local time with its offset, for titles. */
  function isoLocal(ms) {
    const d = new Date(ms);
    const p = (n, w = 2) => String(Math.abs(n)).padStart(w, "0");
    const off = -d.getTimezoneOffset();
    const sign = off >= 0 ? "+" : "-";
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:` +
      `${p(d.getSeconds())}${sign}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  }

  const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
  const dateFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
  // 24-hour times, as the rest of the page writes them, in every locale.
  const minuteFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const secondFormat = new Intl.DateTimeFormat(undefined,
    { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const timeOfDay = (ms) => secondFormat.format(new Date(ms));

  /** The readout's time: the local time of day with seconds, and the day when it is not today. */
  function readoutTime(ms) {
    const d = new Date(ms);
    const today = new Date(serverNow()).toDateString() === d.toDateString();
    return today ? timeOfDay(ms) : `${dayFormat.format(d)} ${timeOfDay(ms)}`;
  }

  const fmtValue = (v, decimals = 3) => `${v.toFixed(decimals)} °C`;

  /** The time axis' labels: local time of day, with the date under the first tick of each day. */
  function timeTicks(u, splits, axisIdx, space, incr) {
    let lastDay = null;
    return splits.map((t) => {
      if (t === null || t === undefined) return null;
      const d = new Date(t);
      const day = d.toDateString();
      const newDay = day !== lastDay;
      lastDay = day;
      if (incr >= 86400e3) return dateFormat.format(d);
      const time = (incr < 60e3 ? secondFormat : minuteFormat).format(d);
      return newDay ? `${time}\n${dateFormat.format(d)}` : time;
    });
  }

  function degreeTicks(u, splits, axisIdx, space, incr) {
    const decimals = incr >= 1 ? 0 : incr >= 0.1 ? 1 : 2;
    return splits.map((v) => (v === null || v === undefined ? null : `${v.toFixed(decimals)} °C`));
  }

  /** The °C axis is as wide as its longest label (so "-18.5 °C" is never cut). */
  function axisWidth(u, values, axisIdx, cycle) {
    const axis = u.axes[axisIdx];
    if (cycle > 1) return axis._size;
    let size = (axis.ticks.show ? axis.ticks.size : 0) + axis.gap + 4;
    const longest = (values || []).reduce((a, v) => (v && v.length > a.length ? v : a), "");
    if (longest) {
      u.ctx.font = axis.font[0];
      size += u.ctx.measureText(longest).width / devicePixelRatio;
    }
    return Math.ceil(size);
  }

  // ---- the data -----------------------------------------------------------------------------

  /** The sensor as the page knows it (name, limits, first_seen), or a bare one. */
  function sensorInfo(cid, sensor) {
    const find = (map) => {
      const n = map.get(cid);
      const s = n && (n.sensors || []).find((x) => x.sensor === sensor);
      return s ? { node: n, sensor: s } : null;
    };
    return find(nodes()) || find(fallback.nodes) || { node: nodes().get(cid) || null, sensor: null };
  }

  /** Reads /api/nodes for what the page does not know (no init(), or not yet its first snapshot). */
  async function learnNodes() {
    try {
      const b = await fetchJSON("/api/nodes");
      fallback.nodes = new Map(b.nodes.map((n) => [n.cid, n]));
      fallback.keepaliveMs = b.keepalive_ms || fallback.keepaliveMs;
      fallback.skewMs = (b.now || Date.now()) - Date.now();
    } catch (e) { /* the chart still draws, without names and limits */ }
  }

  /** Each asked sensor as the chart draws it. A sensor of a `replaces` series (the API gives it
   *  `series`, its ids oldest first) is its series: one line, asked of the server as one
   *  (`series=true`: each id's readings up to the next one's first, cut where the store holds the
   *  swap), named as the series; `rank` is the newest id whose readings the line now takes. */
  function describe(series) {
    return series.map(({ cid, sensor }, i) => {
      const info = sensorInfo(cid, sensor);
      const s = info.sensor || {};
      const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
      const members = Array.isArray(s.series) && s.series.includes(sensor) ? s.series : [sensor];
      const rank = members.indexOf(sensor);
      // The series began with its first id's first reading on this node.
      const firsts = members.slice(0, rank + 1).map((m) => num(sensorInfo(cid, m).sensor?.first_seen)).filter((t) => t !== null);
      return {
        cid, sensor, key: keyOf({ cid, sensor }), colour: i,
        members, rank, whole: members.length > 1,
        ids: members.slice(0, rank + 1).join(" → "),
        name: s.name || null,
        label: s.name || sensor,
        min: num(s.min), max: num(s.max),
        firstSeen: (firsts.length ? least(firsts) : null) ?? num(info.node && info.node.first_seen),
      };
    });
  }

  /** Where the fitted range starts: the earliest first_seen, or (when the page does not know it)
   *  the first hourly rollup the store holds in the last 30 days. */
  async function firstSeen(series, now) {
    const known = series.map((s) => s.firstSeen);
    if (known.every((t) => t !== null)) return least(known);
    const since = new Date(now - FIT_MAX).toISOString();
    const firsts = await Promise.all(series.map(async (s) => {
      if (s.firstSeen !== null) return s.firstSeen;
      try {
        const body = await getJSON(`/api/readings?cid=${encodeURIComponent(s.cid)}&sensor=${encodeURIComponent(s.sensor)}` +
          `${s.whole ? "&series=true" : ""}&since=${encodeURIComponent(since)}&every=${ROLLUP}`);
        const points = (body.series[0] || {}).points || [];
        return points.length ? points[0][0] : now;
      } catch (e) {
        return now;
      }
    }));
    return least(firsts);
  }

  /** The window to fetch for `range` (a button's, or null: fitted to what is stored). */
  async function windowOf(series, range, now) {
    if (range && RANGES[range]) return { label: range, span: RANGES[range], fixedSince: null };
    const first = await firstSeen(series, now);
    if (now - first < RANGES["1h"]) return { label: "1h", span: RANGES["1h"], fixedSince: null };
    const since = Math.max(first, now - FIT_MAX);
    return { label: "fit", span: now - since, fixedSince: since };
  }

  /** A fitted range starts at the first point it holds (first_seen may be older than what is
   *  left, and the store's rollups only tell the hour); less than an hour of it shows an hour. */
  function fitToPoints(v) {
    const firsts = v.points.filter((p) => p.t.length).map((p) => p.t[0]);
    if (!firsts.length) return;
    const earliest = least(firsts);
    if (earliest <= v.since) return;
    if (v.until - earliest < RANGES["1h"]) {
      Object.assign(v, { range: "1h", span: RANGES["1h"], fixedSince: null, since: v.until - RANGES["1h"] });
    } else {
      Object.assign(v, { since: earliest, fixedSince: earliest, span: v.until - earliest });
    }
  }

  function readingsUrl(cid, sensor, since, until, every, format, whole = false) {
    let url = `/api/readings?cid=${encodeURIComponent(cid)}`;
    if (sensor) url += `&sensor=${encodeURIComponent(sensor)}`;
    if (sensor && whole) url += "&series=true";
    url += `&since=${encodeURIComponent(new Date(since).toISOString())}&until=${encodeURIComponent(new Date(until).toISOString())}`;
    if (every) url += `&every=${every}`;
    if (format) url += `&format=${format}`;
    return url;
  }

  /** The asked sensors grouped by node: one request per node (with `sensor=` when it is one). */
  function byNode(series) {
    const groups = new Map();
    for (const s of series) {
      if (!groups.has(s.cid)) groups.set(s.cid, []);
      groups.get(s.cid).push(s);
    }
    return groups;
  }

  /** The requests for `series`: one per node for its sensors in no series (with `sensor=` when it
   *  is one), and one per `replaces` series (`series=true`). */
  function requests(series) {
    const out = [...byNode(series.filter((s) => !s.whole))].map(([cid, list]) => ({ cid, list, whole: false }));
    for (const s of series.filter((x) => x.whole)) out.push({ cid: s.cid, list: [s], whole: true });
    return out;
  }

  const requestUrl = (r, since, until, every, format) =>
    readingsUrl(r.cid, r.list.length === 1 ? r.list[0].sensor : null, since, until, every, format, r.whole);

  async function fetchReadings(series, since, until, every) {
    const groups = requests(series);
    const answers = await Promise.all(groups.map((r) => getJSON(requestUrl(r, since, until, every))));
    // The server buckets a node's answer by itself when it holds too many readings: the others
    // are then asked again with the same buckets, so that every line in the chart is of one kind.
    const bucketed = answers.find((a) => a.kind === "buckets");
    if (bucketed && !every && answers.some((a) => a.kind !== "buckets")) {
      return fetchReadings(series, since, until, `${Math.round(bucketed.every_ms / 1000)}s`);
    }
    const points = series.map(() => ({ t: [], v: [], lo: [], hi: [], n: [] }));
    for (let g = 0; g < groups.length; g++) {
      const { cid, list, whole } = groups[g];
      for (const answer of answers[g].series || []) {
        // A series' answer is its one entry, named by the id in service (which may be newer than
        // the one the page has heard of).
        const i = whole ? series.indexOf(list[0])
          : series.findIndex((s) => s.cid === cid && s.sensor === answer.sensor && list.includes(s));
        if (i < 0) continue;
        const p = points[i];
        const raw = answer.columns[0] === "ts";
        for (const row of answer.points) {
          // An error reading has no temperature: no point (an outage shows by its length).
          const v = raw ? row[1] : row[2];
          if (v === null || v === undefined) continue;
          const last = p.t.length - 1;
          if (!raw && last >= 0 && p.t[last] === row[0]) {
            // The bucket holding a swap comes once per id of the series: one bucket of both.
            const n0 = p.n[last] || 0, n1 = row[4] || 0;
            p.v[last] = n0 + n1 > 0 ? (p.v[last] * n0 + v * n1) / (n0 + n1) : v;
            p.lo[last] = Math.min(p.lo[last], row[1]);
            p.hi[last] = Math.max(p.hi[last], row[3]);
            p.n[last] = n0 + n1;
            continue;
          }
          p.t.push(row[0]);
          p.v.push(v);
          if (!raw) { p.lo.push(row[1]); p.hi.push(row[3]); p.n.push(row[4]); }
        }
      }
    }
    const kind = bucketed ? "buckets" : "raw";
    return { kind, everyMs: bucketed ? bucketed.every_ms : 0, every: bucketed ? bucketed.every : null, points };
  }

  function medianStep(t) {
    if (t.length < 3) return 0;
    const steps = [];
    for (let i = 1; i < t.length; i++) steps.push(t[i] - t[i - 1]);
    steps.sort((a, b) => a - b);
    return steps[Math.floor(steps.length / 2)];
  }

  function gapOf(v, p) {
    if (v.kind === "buckets") return BUCKET_GAP_STEPS * v.everyMs;
    return RAW_GAP_STEPS * Math.max(keepaliveMs(), medianStep(p.t));
  }

  /** uPlot's data: one x column (the union of every series' times, the window's ends, and one
   *  point just after the start of each outage) and per series its values at those times:
   *  `undefined` where it has no point at that time (uPlot draws across), `null` at an outage
   *  (uPlot breaks the line there). Buckets give three columns per series: mean, max, min. */
  function table(v) {
    const xs = new Set([v.since, v.until]);
    // Each outage as its two readings' times; uPlot leaves the stretch between undrawn (see
    // outageGaps), and the null just after the first marks it in the data.
    v.outages = v.points.map((p, i) => {
      const found = [];
      for (let k = 1; k < p.t.length; k++) if (p.t[k] - p.t[k - 1] > v.gaps[i]) found.push([p.t[k - 1], p.t[k]]);
      for (const t of p.t) xs.add(t);
      for (const [a] of found) xs.add(a + 1);
      return found;
    });
    const x = [...xs].sort((a, b) => a - b);
    const index = new Map(x.map((t, i) => [t, i]));
    const columns = [x];
    v.points.forEach((p, i) => {
      const cols = v.kind === "buckets" ? [p.v, p.hi, p.lo] : [p.v];
      for (const values of cols) {
        const col = new Array(x.length).fill(undefined);
        for (let k = 0; k < p.t.length; k++) col[index.get(p.t[k])] = values[k];
        for (const [a] of v.outages[i]) col[index.get(a + 1)] = null;
        columns.push(col);
      }
    });
    return columns;
  }

  /** The canvas stretches uPlot must not draw series `i` across: from the last reading before
   *  each outage to the first after it. (uPlot's own reading of a null clips from the x before
   *  it to the x after it, and with several sensors that next x may be another's reading.) */
  function outageGaps(u, i) {
    const gaps = [];
    for (const [a, b] of (view && view.outages && view.outages[i]) || []) {
      uPlot.addGap(gaps, Math.round(u.valToPos(a, "x", true)), Math.round(u.valToPos(b, "x", true)));
    }
    return gaps;
  }

  /** uPlot's series index of the line of series `i`. */
  const lineIdx = (v, i) => 1 + i * (v.kind === "buckets" ? 3 : 1);

  /** min / mean / max / last of each series between `from` and `to`. A bucket counts with its
   *  number of readings in the mean, its min and max in the extremes. */
  function stats(v, from, to) {
    return v.points.map((p) => {
      let lo = Infinity, hi = -Infinity, sum = 0, n = 0, last = null;
      for (let k = 0; k < p.t.length; k++) {
        if (p.t[k] < from || p.t[k] > to) continue;
        const w = v.kind === "buckets" ? p.n[k] || 1 : 1;
        lo = Math.min(lo, v.kind === "buckets" ? p.lo[k] : p.v[k]);
        hi = Math.max(hi, v.kind === "buckets" ? p.hi[k] : p.v[k]);
        sum += p.v[k] * w;
        n += w;
        last = p.v[k];
      }
      return n === 0 ? null : { min: lo, mean: sum / n, max: hi, last };
    });
  }

  // ---- alerts: firing periods ---------------------------------------------------------------

  /** [{cid, sensor, kind, from, to}] from the alert history (fired .. resolved) and what fires now. */
  async function firingPeriods(series, since) {
    const cids = [...new Set(series.map((s) => s.cid))];
    const now = serverNow();
    const history = await Promise.all(cids.map((cid) =>
      getJSON(`/api/alerts/history?cid=${encodeURIComponent(cid)}&since=${encodeURIComponent(new Date(since).toISOString())}&limit=5000`)
        .then((b) => b.events || []).catch(() => [])));
    const firing = await getJSON("/api/alerts").then((b) => b.alerts || []).catch(() => []);
    // A series' alerts are kept under its first id.
    const wanted = (cid, sensor) => series.some((s) => s.cid === cid && (!sensor || s.members.includes(sensor)));
    const open = new Map();
    const periods = [];
    const events = history.flat().filter((e) => wanted(e.cid, e.sensor)).sort((a, b) => a.at - b.at || a.id - b.id);
    for (const e of events) {
      const key = `${e.kind}|${e.cid}|${e.sensor || ""}`;
      if (e.event === "fired") {
        if (!open.has(key)) open.set(key, { cid: e.cid, sensor: e.sensor || "", kind: e.kind, from: e.at });
      } else if (e.event === "resolved" || e.event === "forgotten") {
        const p = open.get(key) || { cid: e.cid, sensor: e.sensor || "", kind: e.kind, from: Math.min(e.since ?? e.at, e.at) };
        open.delete(key);
        periods.push({ ...p, to: e.at });
      }
    }
    for (const a of firing.filter((a) => wanted(a.cid, a.sensor))) {
      const key = `${a.kind}|${a.cid}|${a.sensor || ""}`;
      const p = open.get(key) || { cid: a.cid, sensor: a.sensor || "", kind: a.kind, from: a.since };
      open.delete(key);
      periods.push({ ...p, to: now, firing: true });
    }
    // A fired event with neither a resolution nor a firing alert: it ended unrecorded (a restart).
    for (const p of open.values()) periods.push({ ...p, to: now });
    return periods;
  }

  // ---- drawing on the canvas ----------------------------------------------------------------

  /** Firing periods: shaded behind the lines, full height. */
  function drawFiring(u) {
    if (!view || !view.periods.length) return;
    const { left, top, width, height } = u.bbox;
    const c = u.ctx;
    const drawn = [];
    c.save();
    const shade = cssVar("--chart-firing", "rgba(224, 47, 68, 0.14)");
    const mark = cssVar("--chart-limit", "#e02f44");
    for (const p of view.periods) {
      const x0 = Math.max(left, u.valToPos(p.from, "x", true));
      const x1 = Math.min(left + width, u.valToPos(p.to, "x", true));
      if (!(x1 > x0 - 1)) continue;
      const w = Math.max(x1 - x0, devicePixelRatio);
      c.fillStyle = shade;
      c.fillRect(x0, top, w, height);
      // A solid strip along the top says where the alert fired, even where lines cover the shade.
      c.fillStyle = mark;
      c.fillRect(x0, top, w, 3 * devicePixelRatio);
      drawn.push({ cid: p.cid, sensor: p.sensor, kind: p.kind, from: p.from, to: p.to });
    }
    c.restore();
    panel().dataset.firing = JSON.stringify(drawn);
  }

  /** Each series' min and max from [sensors]: dashed lines with a label at the right end. */
  function drawThresholds(u) {
    if (!view) return;
    const { left, top, width, height } = u.bbox;
    const c = u.ctx;
    const dpr = devicePixelRatio;
    const several = view.series.filter((s) => s.min !== null || s.max !== null).length > 1;
    const drawn = [];
    c.save();
    c.lineWidth = dpr;
    c.setLineDash([6 * dpr, 4 * dpr]);
    c.font = `${11 * dpr}px ${fontFamily()}`;
    c.textAlign = "right";
    view.series.forEach((s, i) => {
      if (!u.series[lineIdx(view, i)].show) return;
      for (const kind of ["min", "max"]) {
        const value = s[kind];
        if (value === null) continue;
        const y = u.valToPos(value, "y", true);
        const shown = y >= top - 0.5 && y <= top + height + 0.5;
        drawn.push({ series: s.key, kind, value, y: u.valToPos(value, "y"), shown });
        if (!shown) continue;
        const colour = several ? seriesColour(s.colour) : cssVar("--chart-limit", "#e02f44");
        c.strokeStyle = colour;
        c.beginPath();
        c.moveTo(left, Math.round(y) + 0.5);
        c.lineTo(left + width, Math.round(y) + 0.5);
        c.stroke();
        const label = `${several ? `${s.label} ` : ""}${kind} ${value.toFixed(1)} °C`;
        const above = kind === "max" || y + 14 * dpr > top + height;
        const textY = above ? y - 4 * dpr : y + 13 * dpr;
        const textW = c.measureText(label).width;
        // On a plate of the panel's colour, so that a line passing under it leaves it readable.
        c.globalAlpha = 0.8;
        c.fillStyle = cssVar("--chart-bg", "#fff");
        c.fillRect(left + width - 6 * dpr - textW, textY - 10 * dpr, textW + 4 * dpr, 13 * dpr);
        c.globalAlpha = 1;
        c.fillStyle = colour;
        c.fillText(label, left + width - 4 * dpr, textY);
      }
    });
    c.restore();
    panel().dataset.thresholds = JSON.stringify(drawn);
  }

  function fontFamily() {
    return getComputedStyle(panel()).fontFamily || "system-ui, sans-serif";
  }

  // ---- the panel ----------------------------------------------------------------------------

  function panel() {
    let p = document.getElementById("chart");
    if (!p) {
      p = el("section", { id: "chart", class: "chart-panel", hidden: true });
      (document.querySelector("main") || document.body).append(p);
    }
    return p;
  }

  /** The panel's frame for `v`: title, ranges, zoom reset, CSV, close; plot, legend, status. */
  function frame(v) {
    const p = panel();
    p.classList.add("chart-panel");
    const names = v.series.map((s) => s.label);
    const cids = [...new Set(v.series.map((s) => s.cid))];
    const title = el("h2", { class: "chart-title" }, names.join(" · "));
    const ids = el("span", { class: "chart-ids" },
      v.series.length === 1 ? `${v.series[0].cid} · ${v.series[0].ids}` : cids.join(" · "));
    const ranges = el("div", { class: "chart-ranges", role: "group", "aria-label": "Range" },
      ...Object.keys(RANGES).map((r) => {
        const b = el("button", { type: "button", "data-range": r }, RANGE_LABELS[r]);
        b.addEventListener("click", () => open(v.asked, r));
        return b;
      }));
    const reset = el("button", { type: "button", class: "chart-reset", hidden: true, title: "Back to the whole range (or double-click the chart)" }, "Reset zoom");
    reset.addEventListener("click", resetZoom);
    const csv = el("span", { class: "chart-csv" });
    const close = el("button", { type: "button", class: "chart-close", "aria-label": "Close the chart", title: "Close" }, "×");
    close.addEventListener("click", () => api.close());
    const head = el("div", { class: "chart-bar" },
      el("div", { class: "chart-heading" }, title, ids),
      el("div", { class: "chart-tools" }, ranges, reset, csv, close));
    const plotBox = el("div", { class: "chart-plot", "aria-label": `Chart of ${names.join(", ")}`, role: "img" });
    const legend = el("div", { class: "chart-legend-box" });
    const status = el("p", { class: "chart-status", role: "status" }, "Loading…");
    p.replaceChildren(head, plotBox, legend, status);
    p.onkeydown = (e) => { if (e.key === "Escape") api.close(); };
    return { plotBox, legend, status, reset, csv, ranges };
  }

  function setStatus(text) {
    if (view && view.dom) view.dom.status.textContent = text;
  }

  function pressRange(v) {
    for (const b of v.dom.ranges.querySelectorAll("button")) {
      b.setAttribute("aria-pressed", String(b.dataset.range === v.range));
    }
  }

  function legendTable(v) {
    const head = el("tr", {}, el("th", { scope: "col", class: "chart-legend-name" }, "Sensor"),
      ...["Min", "Mean", "Max", "Last"].map((h) => el("th", { scope: "col" }, h, el("span", { class: "chart-unit-head" }, " °C"))));
    const rows = v.series.map((s, i) => {
      const swatch = el("span", { class: `chart-swatch ${swatchClass(s.colour)}`, "aria-hidden": "true" });
      const toggle = el("button", { type: "button", class: "chart-toggle", "aria-pressed": "true", title: "Show or hide this line" },
        swatch, el("span", { class: "chart-legend-label" }, s.label));
      toggle.addEventListener("click", () => {
        if (!plot) return;
        const idx = lineIdx(v, i);
        const show = !plot.series[idx].show;
        plot.setSeries(idx, { show });
        if (v.kind === "buckets") { plot.setSeries(idx + 1, { show }); plot.setSeries(idx + 2, { show }); }
        toggle.setAttribute("aria-pressed", String(show));
        toggle.closest("tr").classList.toggle("chart-off", !show);
      });
      const idText = s.name || s.whole ? `${s.cid} · ${s.ids}` : s.cid;
      return el("tr", { "data-series": s.key, "data-idx": String(lineIdx(v, i)) },
        el("th", { scope: "row", class: "chart-legend-name" }, toggle, el("span", { class: "chart-legend-id" }, idText)),
        ...["min", "mean", "max", "last"].map((k) => el("td", { "data-stat": k }, "–")));
    });
    return el("table", { class: "chart-legend" }, el("thead", {}, head), el("tbody", {}, ...rows));
  }

  /** The legend's numbers for what the x axis shows now. */
  function updateLegend() {
    if (!view || !plot || !view.dom) return;
    const { min, max } = plot.scales.x;
    const all = stats(view, min, max);
    view.series.forEach((s, i) => {
      const row = view.dom.legend.querySelector(`tr[data-series="${CSS.escape(s.key)}"]`);
      if (!row) return;
      for (const k of ["min", "mean", "max", "last"]) {
        const cell = row.querySelector(`td[data-stat="${k}"]`);
        const value = all[i] ? all[i][k] : null;
        if (value === null) {
          cell.replaceChildren("–");
          delete cell.dataset.value;
        } else {
          cell.replaceChildren(el("span", { class: "chart-num" }, value.toFixed(2)), el("span", { class: "chart-unit" }, " °C"));
          cell.dataset.value = String(value);
        }
      }
    });
  }

  function updateCsv() {
    if (!view || !view.dom) return;
    const from = plot ? plot.scales.x.min : view.since;
    const to = plot ? plot.scales.x.max : view.until;
    const every = view.kind === "buckets" ? view.every : null;
    const all = requests(view.series);
    const links = all.map((r) => {
      const a = el("a", { class: "chart-csv-link", download: "", title: "The readings shown, as CSV" },
        all.length === 1 ? "Download CSV" : r.whole ? `CSV ${r.list[0].label}` : `CSV ${r.cid}`);
      a.href = requestUrl(r, Math.floor(from), Math.ceil(to), every, "csv");
      return a;
    });
    view.dom.csv.replaceChildren(...links);
  }

  // ---- the hover readout --------------------------------------------------------------------

  /** The series' point nearest in time to the cursor, within its gap length (none inside an outage). */
  function nearestIdx(u, si, idx, xVal) {
    if (si === 0 || !view) return idx;
    const ys = u.data[si], xs = u.data[0];
    const reach = view.gapOfIdx[si] || 0;
    let best = null, bestDist = Infinity;
    for (let j = idx; j >= 0 && xVal - xs[j] <= reach; j--) {
      if (ys[j] !== null && ys[j] !== undefined) { best = j; bestDist = Math.abs(xVal - xs[j]); break; }
    }
    for (let j = idx + 1; j < xs.length && xs[j] - xVal <= reach; j++) {
      if (ys[j] !== null && ys[j] !== undefined) { if (xs[j] - xVal < bestDist) best = j; break; }
    }
    return best;
  }

  function tooltip(u) {
    let tip = u.over.querySelector(".chart-tip");
    if (!tip) {
      tip = el("div", { class: "chart-tip", hidden: true });
      u.over.append(tip);
    }
    return tip;
  }

  function showReadout(u) {
    if (!view) return;
    const tip = tooltip(u);
    const { left, top } = u.cursor;
    if (left === null || left === undefined || left < 0) { tip.hidden = true; return; }
    const at = u.posToVal(left, "x");
    const rows = [];
    view.series.forEach((s, i) => {
      const si = lineIdx(view, i);
      if (!u.series[si].show) return;
      const j = u.cursor.idxs[si];
      if (j === null || j === undefined) return;
      const value = u.data[si][j];
      if (value === null || value === undefined) return;
      const row = { s, t: u.data[0][j], value };
      if (view.kind === "buckets") { row.hi = u.data[si + 1][j]; row.lo = u.data[si + 2][j]; }
      rows.push(row);
    });
    if (!rows.length) { tip.hidden = true; return; }
    const nearest = rows.reduce((a, r) => (Math.abs(r.t - at) < Math.abs(a.t - at) ? r : a));
    const t = nearest.t;
    const time = el("time", { class: "chart-tip-time", dateTime: isoLocal(t), title: isoLocal(t) },
      view.kind === "buckets" ? `${readoutTime(t)} – ${timeOfDay(t + view.everyMs)}` : readoutTime(t));
    const lines = rows.map((r) => {
      const swatch = el("span", { class: `chart-swatch ${swatchClass(r.s.colour)}`, "aria-hidden": "true" });
      const other = Math.abs(r.t - t) >= 1000 ? el("span", { class: "chart-tip-at" }, ` at ${timeOfDay(r.t)}`) : null;
      const range = r.lo !== undefined && r.lo !== null ? el("span", { class: "chart-tip-range" }, ` ${r.lo.toFixed(2)} – ${r.hi.toFixed(2)}`) : null;
      return el("div", { class: "chart-tip-row", "data-series": r.s.key, "data-ts": String(r.t), "data-value": String(r.value) },
        swatch, el("span", { class: "chart-tip-name" }, r.s.label), el("span", { class: "chart-tip-value" }, fmtValue(r.value)), range, other);
    });
    tip.replaceChildren(time, ...lines);
    tip.dataset.ts = String(t);
    tip.hidden = false;
    // Beside the cursor, on whichever side has room.
    const w = tip.offsetWidth, h = tip.offsetHeight;
    const plotW = u.over.clientWidth, plotH = u.over.clientHeight;
    const x = left + 14 + w > plotW ? Math.max(0, left - 14 - w) : left + 14;
    const y = Math.min(Math.max(0, top - h / 2), Math.max(0, plotH - h));
    tip.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  }

  // ---- uPlot --------------------------------------------------------------------------------

  function plotSize(box) {
    const width = Math.max(200, Math.floor(box.clientWidth));
    // A phone held upright gets a taller chart for its width than a desktop window.
    const height = Math.round(Math.min(380, Math.max(240, width * (width < 600 ? 0.62 : 0.42))));
    return { width, height };
  }

  function options(v, size) {
    const font = `12px ${fontFamily()}`;
    const axisText = () => cssVar("--chart-axis", "#6e7681");
    const grid = () => cssVar("--chart-grid", "rgba(120, 130, 150, 0.18)");
    const series = [{ label: "time" }];
    const bands = [];
    v.gapOfIdx = [0];
    v.series.forEach((s, i) => {
      const colour = () => seriesColour(s.colour);
      const gap = v.gaps[i];
      const single = v.series.length === 1 && v.kind === "raw";
      series.push({
        label: s.label, scale: "y", width: 1.5, stroke: colour, spanGaps: false, gaps: (u) => outageGaps(u, i),
        // One line alone gets Grafana's soft gradient under it; several stay plain lines.
        fill: single ? (u) => {
          const g = u.ctx.createLinearGradient(0, u.bbox.top, 0, u.bbox.top + u.bbox.height);
          g.addColorStop(0, withAlpha(colour(), 0.22));
          g.addColorStop(1, withAlpha(colour(), 0));
          return g;
        } : undefined,
        points: { show: (u, si, i0, i1) => (i1 - i0) < u.bbox.width / devicePixelRatio / 8, size: 4, fill: colour },
      });
      v.gapOfIdx.push(gap);
      if (v.kind === "buckets") {
        const edge = () => withAlpha(seriesColour(s.colour), 0.35);
        const band = { scale: "y", width: 0.5, stroke: edge, spanGaps: false, gaps: (u) => outageGaps(u, i), points: { show: false } };
        series.push({ ...band, label: `${s.label} max` }, { ...band, label: `${s.label} min` });
        v.gapOfIdx.push(gap, gap);
        const hi = series.length - 2, lo = series.length - 1;
        bands.push({ series: [hi, lo], fill: () => withAlpha(seriesColour(s.colour), 0.16) });
      }
    });
    const limits = v.series.flatMap((s) => [s.min, s.max]).filter((x) => x !== null);
    return {
      ...size,
      ms: 1,
      series,
      bands,
      legend: { show: false },
      // Room on the right for half of the last time label.
      padding: [12, 24, 0, 0],
      scales: {
        x: { time: true },
        y: {
          range: (u, lo, hi) => {
            if (lo === null || hi === null || !Number.isFinite(lo) || !Number.isFinite(hi)) {
              if (!limits.length) return [0, 1];
              lo = least(limits); hi = greatest(limits);
            }
            // A limit near the data is drawn; one far away would squash the lines flat.
            const span = Math.max(hi - lo, 1);
            for (const t of limits) if (t >= lo - 2 * span && t <= hi + 2 * span) { lo = Math.min(lo, t); hi = Math.max(hi, t); }
            if (hi - lo < 1) { const m = (hi + lo) / 2; lo = m - 0.5; hi = m + 0.5; }
            const pad = (hi - lo) * 0.08;
            return [lo - pad, hi + pad];
          },
        },
      },
      axes: [
        {
          font, stroke: axisText, values: timeTicks, space: (u) => (u.width < 600 ? 52 : 72), size: 44, gap: 6,
          grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1, size: 4 },
        },
        {
          font, stroke: axisText, values: degreeTicks, space: 36, size: axisWidth, gap: 6,
          grid: { stroke: grid, width: 1 }, ticks: { show: false },
        },
      ],
      cursor: {
        y: false,
        drag: { x: true, y: false, setScale: true },
        dataIdx: nearestIdx,
        points: {
          // A dot on each line at the cursor (none on a band's edges).
          size: 10,
          show: (u, si) => {
            if (view && view.kind === "buckets" && (si - 1) % 3 !== 0) return null;
            return el("div", { class: "chart-dot" });
          },
          fill: (u, si) => seriesColour(view ? view.series[view.kind === "buckets" ? Math.floor((si - 1) / 3) : si - 1].colour : 0),
          stroke: () => cssVar("--chart-bg", "#fff"),
        },
      },
      select: { show: true },
      hooks: {
        drawAxes: [drawFiring],
        draw: [drawThresholds, (u) => {
          const p = panel();
          p.dataset.drawn = String(Number(p.dataset.drawn || 0) + 1);
        }],
        setCursor: [showReadout],
        setScale: [(u, key) => {
          if (key !== "x" || !view) return;
          const { min, max } = u.scales.x;
          view.zoomed = min > view.since + 1 || max < view.until - 1;
          view.dom.reset.hidden = !view.zoomed;
          panel().dataset.zoomed = view.zoomed ? "1" : "0";
          updateLegend();
          updateCsv();
        }],
      },
    };
  }

  function destroyPlot() {
    if (resizer) { resizer.disconnect(); resizer = null; }
    if (plot) { plot.destroy(); plot = null; }
  }

  function draw(v) {
    destroyPlot();
    v.gaps = v.points.map((p) => gapOf(v, p));
    const box = v.dom.plotBox;
    box.replaceChildren();
    const data = table(v);
    v.dom.legend.replaceChildren(legendTable(v));
    plot = new uPlot(options(v, plotSize(box)), data, box);
    const empty = v.points.every((p) => p.t.length === 0);
    if (empty) box.append(el("div", { class: "chart-empty" }, "No temperatures in this range"));
    resizer = new ResizeObserver(() => {
      if (!plot) return;
      const size = plotSize(box);
      if (size.width !== plot.width || size.height !== plot.height) plot.setSize(size);
    });
    resizer.observe(box);
    updateLegend();
    updateCsv();
  }

  /** Redraws with the data as it is now (live readings), keeping a zoom the user made. */
  function redrawSoon() {
    if (redrawTimer) return;
    redrawTimer = setTimeout(() => {
      redrawTimer = null;
      if (!view || !plot) return;
      view.gaps = view.points.map((p) => gapOf(view, p));
      plot.setData(table(view), !view.zoomed);
      updateLegend();
      updateCsv();
      setStatus(statusText(view));
    }, REDRAW_MS);
  }

  function resetZoom() {
    if (plot && view) plot.setScale("x", { min: view.since, max: view.until });
  }

  function statusText(v) {
    const n = v.points.reduce((k, p) => k + p.t.length, 0);
    if (v.kind === "raw") return `${n.toLocaleString()} readings · drag across the chart to zoom`;
    return `${n.toLocaleString()} buckets of ${v.every} (line: mean, band: min to max) · drag across the chart to zoom`;
  }

  // ---- the interface ------------------------------------------------------------------------

  async function open(series, range = null) {
    if (!Array.isArray(series) || series.length === 0) return;
    const token = ++loadToken;
    const p = panel();
    const known = (map) => series.every(({ cid, sensor }) => (map.get(cid)?.sensors || []).some((x) => x.sensor === sensor));
    if (!ctx || !known(nodes())) {
      await learnNodes();
      if (token !== loadToken) return;
    }
    const asked = series.map(({ cid, sensor }) => ({ cid, sensor }));
    const described = describe(asked);
    const now = serverNow();
    const keep = view && view.dom && JSON.stringify(view.asked) === JSON.stringify(asked);
    const v = {
      asked, askedRange: range, series: described, range: range || "fit", span: 0, fixedSince: null,
      since: 0, until: now, kind: "raw", everyMs: 0, every: null,
      points: described.map(() => ({ t: [], v: [], lo: [], hi: [], n: [] })), gaps: [], periods: [],
      zoomed: false, dom: keep ? view.dom : null,
    };
    // The old chart goes at once: its hooks read `view`, which is the new one from here.
    destroyPlot();
    view = v;
    p.hidden = false;
    p.dataset.series = JSON.stringify(described.map((s) => s.key));
    p.dataset.loading = "1";
    if (!v.dom) v.dom = frame(v);
    setStatus("Loading…");
    try {
      const w = await windowOf(described, range, now);
      if (token !== loadToken) return;
      Object.assign(v, { range: w.label, span: w.span, fixedSince: w.fixedSince, since: now - w.span, until: now });
      p.dataset.range = v.range;
      pressRange(v);
      const every = v.span > RAW_SPAN_MAX ? ROLLUP : null;
      const periods = firingPeriods(described, v.since);
      let got = await fetchReadings(described, v.since, v.until, every);
      const most = greatest(got.points.map((q) => q.t.length));
      if (got.kind === "raw" && most > RAW_POINTS_MAX && v.span > RAW_ALWAYS_SPAN) {
        got = await fetchReadings(described, v.since, v.until, SHORT_BUCKETS);
      }
      if (token !== loadToken) return;
      Object.assign(v, got);
      if (v.range === "fit") fitToPoints(v);
      p.dataset.range = v.range;
      pressRange(v);
      p.dataset.kind = v.kind;
      draw(v);
      setStatus(statusText(v));
      delete p.dataset.loading;
      p.dataset.loaded = String(token);
      // The shading comes when the alert history has come; the lines do not wait for it.
      const found = await periods;
      if (token !== loadToken || !plot) return;
      v.periods = found;
      plot.redraw(false);
    } catch (e) {
      if (token !== loadToken) return;
      delete p.dataset.loading;
      setStatus(`Could not load the readings: ${e.message}`);
    }
  }

  function append(reading) {
    const v = view;
    if (!v || !plot || v.kind !== "raw" || !reading) return;
    const value = reading.value;
    if (value === null || value === undefined || !Number.isFinite(value)) return;
    const i = v.series.findIndex((s) => s.cid === reading.cid && s.members.includes(reading.sensor));
    if (i < 0) return;
    const s = v.series[i];
    const rank = s.members.indexOf(reading.sensor);
    // A replaced sensor left on the bus: its readings after the swap are not the series'. A newer
    // id of the series reporting (the swap while the chart is open) takes the line over.
    if (rank < s.rank) return;
    s.rank = rank;
    // The window moves on with the clock: a button's range keeps its length, a fitted one grows
    // (no further back than the longest button).
    const t = reading.ts;
    const now = Math.max(serverNow(), t);
    if (now > v.until) {
      v.until = now;
      v.since = v.fixedSince !== null ? Math.max(v.fixedSince, now - FIT_MAX) : now - v.span;
    }
    // A reading before the range shown would never be drawn.
    if (t < v.since) { trimAll(v); return; }
    const p = v.points[i];
    let k = p.t.length;
    while (k > 0 && p.t[k - 1] > t) k--;
    if (k > 0 && p.t[k - 1] === t) return;
    p.t.splice(k, 0, t);
    p.v.splice(k, 0, value);
    trimAll(v);
    redrawSoon();
  }

  /** Drops what fell out of the range shown, and each series' oldest past POINTS_MAX (then a
   *  fitted range starts at what is left, so what is shown is what is held). */
  function trimAll(v) {
    for (const q of v.points) {
      let drop = 0;
      while (drop < q.t.length && q.t[drop] < v.since) drop++;
      // In steps of a tenth: one splice per ~2,000 readings rather than one per reading.
      if (q.t.length - drop > POINTS_MAX) drop = q.t.length - Math.floor(POINTS_MAX * 0.9);
      if (drop) { q.t.splice(0, drop); q.v.splice(0, drop); }
    }
    if (v.fixedSince !== null) {
      const firsts = v.points.filter((q) => q.t.length).map((q) => q.t[0]);
      const first = least(firsts);
      if (Number.isFinite(first) && first > v.since && v.points.some((q) => q.t.length >= POINTS_MAX * 0.9)) {
        Object.assign(v, { since: first, fixedSince: first, span: v.until - first });
      }
    }
  }

  function close() {
    loadToken++;
    destroyPlot();
    if (redrawTimer) { clearTimeout(redrawTimer); redrawTimer = null; }
    view = null;
    const p = panel();
    p.hidden = true;
    p.replaceChildren();
    for (const k of ["series", "range", "kind", "loaded", "loading", "thresholds", "firing", "zoomed"]) delete p.dataset[k];
  }

  function current() {
    return view ? { series: view.asked.map((s) => ({ ...s })), range: view.askedRange } : null;
  }

  // ---- sparklines ---------------------------------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";

  /** A sparkline of `points` ([{t, v}], v null for no value) in `container`: a line broken at
   *  nulls and where points are further apart than `opts.gapMs`; no text, so the SVG may stretch. */
  function spark(container, points, opts = {}) {
    const pts = (points || []).filter((p) => p && Number.isFinite(p.t));
    const values = pts.filter((p) => p.v !== null && p.v !== undefined && Number.isFinite(p.v));
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "chart-spark");
    svg.setAttribute("viewBox", "0 0 100 20");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    svg.dataset.points = String(values.length);
    container.replaceChildren(svg);
    if (values.length < 2) return svg;
    const t0 = opts.t0 ?? values[0].t, t1 = Math.max(opts.t1 ?? values[values.length - 1].t, t0 + 1);
    const gapMs = opts.gapMs ?? Infinity;
    let lo = least(values.map((p) => p.v)), hi = greatest(values.map((p) => p.v));
    if (hi - lo < 0.5) { const m = (hi + lo) / 2; lo = m - 0.25; hi = m + 0.25; }
    const x = (t) => (((t - t0) / (t1 - t0)) * 100).toFixed(2);
    const y = (v) => (19 - ((v - lo) / (hi - lo)) * 18).toFixed(2);
    let d = "", prev = null;
    for (const p of pts) {
      if (p.v === null || p.v === undefined || !Number.isFinite(p.v)) { prev = null; continue; }
      const start = prev === null || p.t - prev > gapMs;
      // A point alone between gaps is a dot (a zero-length segment with round caps).
      d += start ? `M${x(p.t)},${y(p.v)}l0,0` : `L${x(p.t)},${y(p.v)}`;
      prev = p.t;
    }
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
    return svg;
  }

  // Dark mode switched while a chart is open: its colours are read at draw time.
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener?.("change", () => plot && plot.redraw(false));
  }

  const api = {
    init(c) { ctx = c; },
    open,
    append,
    close,
    current,
    spark,
    /** The uPlot instance of the open chart, for tests. */
    get _plot() { return plot; },
  };
  return api;
})();
