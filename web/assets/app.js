// The cliser page: the fleet from the live stream (/api/events: a snapshot, then changes), shown as
// cards or as a compact table, names first, filtered by a box, with sparklines of the last hour
// (raw readings from /api/readings, extended by the live ones) drawn by chart.js (CliserChart).
// admin.js adds the alerts panel, silences, history and forgetting; it uses what this file puts in
// window.CliserPage. Times are shown in this browser's local time, ISO 8601 in tooltips.
//
// 200 nodes stay cheap: each card and table row is built once and keeps references to the elements
// that change; live changes only mark what they touch, and one flush per animation frame writes it.
"use strict";

(() => {
  const KIND_TEXT = {
    above_max: "above max", below_min: "below min", sensor_error: "sensor error",
    sensor_silent: "sensor silent", node_offline: "node offline",
  };
  const SPARK_SPAN_MS = 3600e3;
  /** Sparkline fetches in flight at once (a page of 200 nodes must not open 200 requests). */
  const SPARK_FETCHES = 3;
  /** A dropped stream reconnects within ~2 s (the server's `retry`); only a longer loss is news. */
  const BANNER_AFTER_MS = 3000;
  /** How often the sensors' bus health (/api/health: hourly reports) is read again. */
  const HEALTH_EVERY_MS = 60e3;

  const state = {
    nodes: new Map(),        // cid -> node as /api/nodes gives it (sensors sorted names first)
    keepaliveMs: 10e3,
    skewMs: 0,               // the server's clock minus this browser's
    alerts: [],              // firing, as /api/alerts gives them
    lostAt: null,            // server-clock ms when the server was lost; null while it is there
    stoppedAt: null,         // when the server said it was stopping (an SSE `stopping`); null otherwise
    bannerShown: false,
    view: "cards",           // or "table"
    q: "",                   // the filter, lower case
    picked: new Set(),       // "cid/sensor" ticked for "compare"
    sparks: new Map(),       // cid -> { status: idle|loading|ready, series: Map(sensor -> [{t, v}]) }
    valuesShown: false,
    es: null,
    fleet: null,             // /api/fleet: this server, and in a fleet (PostgreSQL) the servers and leader
    health: new Map(),       // "cid/sensor" -> /api/health's figures of the last hour
  };

  // ---- small helpers ----------------------------------------------------------------------------

  const $ = (sel, root = document) => root.querySelector(sel);
  const serverNow = () => Date.now() + state.skewMs;
  const keyOf = (cid, sensor) => `${cid}/${sensor}`;
  /** chart.js's CliserChart; without it (it failed to load) the page shows values, not charts. */
  const chart = () => window.CliserChart || null;

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
    return e;
  }

  /** Sets an element's text only when it changed (a tick over 400 rows writes little). */
  function setText(e, text) {
    if (e.textContent !== text) e.textContent = text;
  }

  const pad = (n) => String(n).padStart(2, "0");
  const HM = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const HMS = new Intl.DateTimeFormat(undefined,
    { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const DAY = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

  /** Local time: `16:40` today, `Dec 5, 16:40` another day. */
  function clock(ms, withSeconds = false) {
    if (ms === null || ms === undefined) return "–";
    const d = new Date(ms);
    const t = (withSeconds ? HMS : HM).format(d);
    return d.toDateString() === new Date(serverNow()).toDateString() ? t : `${DAY.format(d)}, ${t}`;
  }

  /** ISO 8601 in local time with its offset: `2026-12-05T17:40:35+01:00`. */
  function iso(ms) {
    if (ms === null || ms === undefined) return "";
    const d = new Date(ms);
    const off = -d.getTimezoneOffset();
    const sign = off >= 0 ? "+" : "-";
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:` +
      `${pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(Math.floor(Math.abs(off) / 60))}:` +
      `${pad(Math.abs(off) % 60)}`;
  }

  /** How long: `45 s`, `3 min`, `2 h 5 min`, `3 d 4 h`. */
  function span(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
    const d = Math.floor(h / 24);
    return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
  }

  const ago = (ms) => (ms === null || ms === undefined ? "never" : `${span(serverNow() - ms)} ago`);
  const fmtTemp = (v) => `${v.toFixed(3)} °C`;

  /** A GET's JSON, or an Error in the server's own words. A failed connection is a lost server. */
  async function getJSON(url) {
    let r;
    try {
      r = await fetch(url, { cache: "no-store" });
    } catch (e) {
      fetchFailed();
      throw new Error("the server is unreachable");
    }
    return answerOf(r, false);
  }

  /** POSTs `body` as JSON (the server refuses any other type); the answer's JSON or an Error. */
  async function postJSON(url, body) {
    let r;
    try {
      r = await fetch(url,
        { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    } catch (e) {
      fetchFailed();
      throw new Error("the server is unreachable");
    }
    return answerOf(r, true);
  }

  /** The answer's JSON; else an Error with the server's text (and, refusing a change, why that is). */
  async function answerOf(r, changing) {
    const text = await r.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (r.ok) return body;
    let why = (body && body.error) || text.trim() || `HTTP ${r.status}`;
    if (changing && (r.status === 401 || r.status === 403)) {
      why = `changing state needs the admin password / from this machine only (${r.status}: ${why})`;
    }
    const err = new Error(why);
    err.status = r.status;
    throw err;
  }

  // ---- the model --------------------------------------------------------------------------------

  /** Named sensors first, by name; then the others by id. */
  function sensorOrder(a, b) {
    if (!!a.name !== !!b.name) return a.name ? -1 : 1;
    return (a.name || "").localeCompare(b.name || "", undefined, { numeric: true }) ||
      a.sensor.localeCompare(b.sensor, undefined, { numeric: true });
  }

  const nodeOrder = (a, b) => a.cid.localeCompare(b.cid, undefined, { numeric: true });
  const sortedNodes = () => [...state.nodes.values()].sort(nodeOrder);

  function findSensor(cid, sensor) {
    return state.nodes.get(cid)?.sensors.find((s) => s.sensor === sensor);
  }

  /** What people call a sensor: its name, else its id. */
  function sensorLabel(cid, sensor) {
    return findSensor(cid, sensor)?.name || sensor;
  }

  // A replaced sensor ([sensors] `replaces`) and the one that replaced it are one series: the API
  // gives each of their ids `series`, the ids oldest first. The node's list shows the series as one
  // sensor: a replaced id is folded into a later id of its series once that one has reported on
  // the node (before that, it is the sensor in service there).

  /** The ids of `s`'s series, oldest first; `[s.sensor]` for a sensor in none. */
  const membersOf = (s) => (Array.isArray(s.series) && s.series.length > 1 ? s.series : [s.sensor]);

  /** Whether `s` is folded into a later id of its series that has reported on node `n`. */
  function folded(n, s) {
    const ids = membersOf(s);
    const later = ids.slice(ids.indexOf(s.sensor) + 1);
    return later.length > 0 && n.sensors.some((x) => later.includes(x.sensor));
  }

  /** The sensors node `n`'s list shows: all but the folded ones. */
  const shownSensors = (n) => n.sensors.filter((s) => !folded(n, s));

  /** The ids a shown sensor stands for besides its own: those of its series before it. */
  const replacedOf = (s) => membersOf(s).slice(0, Math.max(0, membersOf(s).indexOf(s.sensor)));

  function applySnapshot(snap) {
    // The snapshot is the truth now; a change held from before it is not.
    dropHeldOffline();
    state.keepaliveMs = snap.keepalive_ms || state.keepaliveMs;
    state.skewMs = snap.now - Date.now();
    state.nodes = new Map(snap.nodes.map((n) => {
      n.sensors = (n.sensors || []).slice().sort(sensorOrder);
      return [n.cid, n];
    }));
    for (const k of [...state.picked]) if (!findSensor(...k.split("/"))) state.picked.delete(k);
    // Readings may have been missed while the stream was away: fetch the sparklines again (the old
    // lines stay until the new ones come).
    for (const [cid, sp] of state.sparks) {
      if (!state.nodes.has(cid)) state.sparks.delete(cid);
      else if (sp.status === "ready") sp.status = "idle";
    }
    serverBack();
    renderView();
  }

  /**
   * A stopping server says so (`stopping`) and sends no "offline" for the sessions it ends; one
   * that does not (an older cliser) would end every session first, each node "offline". That is
   * the server going, not the fleet, so a node going offline is held this long and dropped if the
   * stream breaks meanwhile.
   */
  const OFFLINE_HOLD_MS = 1500;
  const heldOffline = new Map(); // cid -> timer

  function applyNodes(changed) {
    for (const c of changed) {
      const n = state.nodes.get(c.cid);
      clearTimeout(heldOffline.get(c.cid));
      heldOffline.delete(c.cid);
      if (n && n.online && !c.online) {
        heldOffline.set(c.cid, setTimeout(() => { heldOffline.delete(c.cid); applyNode(c); }, OFFLINE_HOLD_MS));
      } else {
        applyNode(c);
      }
    }
  }

  function dropHeldOffline() {
    for (const t of heldOffline.values()) clearTimeout(t);
    heldOffline.clear();
  }

  function applyNode(c) {
    const n = state.nodes.get(c.cid);
    if (n) {
      Object.assign(n, c, { sensors: n.sensors });
      dirty.nodes.add(c.cid);
    } else {
      state.nodes.set(c.cid, Object.assign({}, c, { sensors: [] }));
      dirty.structure.add(c.cid);
    }
    dirty.summary = true;
    schedule();
  }

  function applyReadings(readings) {
    const now = serverNow();
    for (const r of readings) {
      let n = state.nodes.get(r.cid);
      if (!n) {
        n = { cid: r.cid, online: true, sensors: [], first_seen: r.ts };
        state.nodes.set(r.cid, n);
        dirty.structure.add(r.cid);
      }
      let s = n.sensors.find((x) => x.sensor === r.sensor);
      if (!s) {
        s = { sensor: r.sensor, name: r.name, series: r.series, ts: 0, first_seen: r.ts, min: null, max: null };
        n.sensors.push(s);
        n.sensors.sort(sensorOrder);
        dirty.structure.add(r.cid);
        refreshLimits();
      }
      // Only a newer reading is news: one at the same time is a copy of what the snapshot gave
      // (a new stream's first readings may have been made before its snapshot, with the names of
      // before a reload).
      if (r.ts > s.ts) {
        if ((s.name || null) !== (r.name || null)) dirty.structure.add(r.cid);
        // A reload that made (or unmade) a series: the list folds (or unfolds) its rows.
        if (JSON.stringify(membersOf(s)) !== JSON.stringify(membersOf(r))) dirty.structure.add(r.cid);
        Object.assign(s, { ts: r.ts, value: r.value, raw: r.raw, error: r.error, seq: r.seq, name: r.name,
          series: r.series });
        if (r.value !== null) s.last_temp = { ts: r.ts, value: r.value };
        dirty.sensors.add(keyOf(r.cid, r.sensor));
      }
      n.last_seen = Math.max(n.last_seen || 0, Math.min(r.ts, now));
      dirty.nodes.add(r.cid);
      sparkAppend(r);
      chart()?.append(r);
    }
    dirty.summary = true;
    schedule();
  }

  /**
   * A sensor new to the page came with a reading, which carries no limits: its `min`, `max` and
   * `first_seen` (for its chart) are read from /api/nodes, once for a burst of new sensors.
   */
  let limitsTimer = null;
  function refreshLimits() {
    clearTimeout(limitsTimer);
    limitsTimer = setTimeout(async () => {
      let body;
      try { body = await getJSON("/api/nodes"); } catch (e) { return; }
      for (const fresh of body.nodes) {
        const n = state.nodes.get(fresh.cid);
        if (!n) continue;
        if (n.first_seen === undefined) n.first_seen = fresh.first_seen;
        for (const f of fresh.sensors || []) {
          const s = n.sensors.find((x) => x.sensor === f.sensor);
          if (!s) continue;
          const changed = s.min !== (f.min ?? null) || s.max !== (f.max ?? null);
          Object.assign(s, { min: f.min ?? null, max: f.max ?? null, first_seen: f.first_seen ?? s.first_seen });
          if (changed) dirty.structure.add(fresh.cid);
        }
      }
      schedule();
    }, 300);
  }

  /** The SSE `forget` event (and a forget done from this page): the node or sensor leaves the page. */
  function applyForget({ cid, sensor }) {
    const n = state.nodes.get(cid);
    if (!n) return;
    if (sensor) {
      n.sensors = n.sensors.filter((s) => s.sensor !== sensor);
      state.picked.delete(keyOf(cid, sensor));
      state.sparks.get(cid)?.series.delete(sensor);
      dirty.structure.add(cid);
    } else {
      state.nodes.delete(cid);
      for (const k of [...state.picked]) if (k.startsWith(`${cid}/`)) state.picked.delete(k);
      state.sparks.delete(cid);
      dirty.removed.add(cid);
    }
    dirty.summary = true;
    renderPicked();
    schedule();
  }

  function applyAlerts(alerts) {
    state.alerts = alerts || [];
    for (const cid of state.nodes.keys()) dirty.marks.add(cid);
    schedule();
    admin()?.alerts(state.alerts);
  }

  const alertOf = (cid, sensor) => state.alerts.find((a) => a.cid === cid && a.sensor === sensor);

  /** The alert on a sensor's row: the alerts keep a series under its first id, so any id of the
   *  row's series (the row stands for them all). */
  function rowAlertOf(cid, sensor) {
    const s = findSensor(cid, sensor);
    const ids = s ? membersOf(s) : [sensor];
    return state.alerts.find((a) => a.cid === cid && a.sensor && ids.includes(a.sensor));
  }

  // ---- batched rendering ------------------------------------------------------------------------

  const dirty = {
    structure: new Set(), // cids whose card / rows are built again (a sensor came, a name changed)
    removed: new Set(),   // cids forgotten
    nodes: new Set(),     // cids whose state (online, last seen) changed
    sensors: new Set(),   // "cid/sensor" with a new reading
    sparks: new Set(),    // "cid/sensor" whose sparkline is drawn again
    marks: new Set(),     // cids whose alert marks are set again
    summary: false,
  };
  let scheduled = false;

  /** One flush per animation frame; a timer as well, as frames stop in a hidden tab. */
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(flush);
    setTimeout(flush, 250);
  }

  function flush() {
    if (!scheduled) return;
    scheduled = false;
    const { structure, removed, nodes, sensors, sparks, marks } = dirty;
    for (const cid of removed) removeNode(cid);
    let reordered = false;
    for (const cid of structure) {
      if (removed.has(cid) || !state.nodes.has(cid)) continue;
      buildNode(state.nodes.get(cid));
      reordered = true;
    }
    if (reordered) placeNodes();
    for (const cid of nodes) if (!structure.has(cid)) updateNode(cid);
    for (const k of sensors) {
      const [cid, sensor] = splitKey(k);
      if (!structure.has(cid)) updateSensor(cid, sensor);
    }
    for (const cid of marks) if (!structure.has(cid)) updateMarks(cid);
    for (const k of sparks) drawSpark(...splitKey(k));
    if (reordered || removed.size) applyFilter();
    if (dirty.summary || reordered || removed.size) renderSummary();
    for (const s of [structure, removed, nodes, sensors, sparks, marks]) s.clear();
    dirty.summary = false;
    noteValuesShown();
  }

  function splitKey(k) {
    const i = k.indexOf("/");
    return [k.slice(0, i), k.slice(i + 1)];
  }

  function noteValuesShown() {
    if (state.valuesShown || !document.querySelector(".value[data-has-value]")) return;
    state.valuesShown = true;
    performance.mark("cliser-values-shown");
    document.body.dataset.valuesShown = "1";
  }

  // ---- the views: refs to what changes ----------------------------------------------------------

  // cid -> { card, status, offFor, seen, addr, backlog, sensors: Map(sensor -> row refs) }
  const cards = new Map();
  // cid -> { rows: [tr], sensors: Map(sensor -> row refs) }
  const tableRows = new Map();

  /** Builds the current view from the model, whole (a snapshot, a switch of view). */
  function renderView() {
    cards.clear();
    tableRows.clear();
    sparkObserver?.disconnect();
    const nodesRoot = $("#nodes"), body = $("#fleet-rows");
    nodesRoot.replaceChildren();
    body.replaceChildren();
    $("#nodes").hidden = state.view !== "cards";
    $("#table-view").hidden = state.view !== "table";
    for (const b of document.querySelectorAll(".views button")) {
      b.setAttribute("aria-pressed", String(b.dataset.view === state.view));
    }
    if (state.nodes.size === 0) {
      nodesRoot.append(
        el("p", { class: "empty" }, "No node has reported yet. Start a Pi client pointed at this server."));
    }
    for (const n of sortedNodes()) buildNode(n);
    placeNodes();
    applyFilter();
    renderSummary();
    renderCids();
    noteValuesShown();
  }

  function buildNode(n) {
    if (state.view === "cards") buildCard(n); else buildRows(n);
  }

  function removeNode(cid) {
    const c = cards.get(cid);
    if (c) { sparkObserver?.unobserve(c.card); c.card.remove(); cards.delete(cid); }
    const t = tableRows.get(cid);
    if (t) { for (const tr of t.rows) tr.remove(); tableRows.delete(cid); }
    renderCids();
  }

  /** Puts the cards (or rows) in node order; new ones are appended where they belong. */
  function placeNodes() {
    const order = sortedNodes();
    if (state.view === "cards") {
      const root = $("#nodes");
      if (order.length) $(".empty", root)?.remove();
      let prev = null;
      for (const n of order) {
        const c = cards.get(n.cid);
        if (!c) continue;
        const want = prev ? prev.nextSibling : root.firstChild;
        if (c.card !== want) root.insertBefore(c.card, want);
        prev = c.card;
      }
    } else {
      const body = $("#fleet-rows");
      let prev = null;
      for (const n of order) {
        const t = tableRows.get(n.cid);
        if (!t) continue;
        for (const tr of t.rows) {
          const want = prev ? prev.nextSibling : body.firstChild;
          if (tr !== want) body.insertBefore(tr, want);
          prev = tr;
        }
      }
    }
    renderCids();
  }

  function nodeTitle(n) {
    const parts = [`client id ${n.cid}`];
    if (n.server) parts.push(`registered on server ${n.server}`);
    if (n.addr) parts.push(`address ${n.addr}`);
    if (n.online && n.since) parts.push(`connected since ${iso(n.since)}`);
    if (n.last_seen) parts.push(`last heard ${iso(n.last_seen)}`);
    return parts.join("\n");
  }

  /** "online" or "offline for 3 min" (how long since it was last heard, not a threshold). */
  function offlineFor(n) {
    if (n.online) return "";
    return n.last_seen ? `for ${span(serverNow() - n.last_seen)}` : "never heard";
  }

  function menu(label, items) {
    return el("details", { class: "menu" },
      el("summary", { "aria-label": label, title: label }, "⋯"),
      el("div", { class: "menu-items" }, ...items));
  }

  /** A button that does `act` (and closes its menu, if it is in one). */
  function button(attrs, label, act) {
    const b = el("button", Object.assign({ type: "button" }, attrs), label);
    b.addEventListener("click", () => { closeMenus(); act(); });
    return b;
  }

  const admin = () => CliserPage.admin;

  function buildCard(n) {
    const old = cards.get(n.cid);
    const refs = { sensors: new Map() };
    refs.status = el("span", { class: "status" });
    refs.offFor = el("span", { class: "off-for" });
    refs.backlog =
      el("span", { class: "backlog", title: "it answered with `more`: sending its backlog" }, "catching up");
    refs.seen = el("span", { class: "seen" });
    refs.server = el("span", { class: "server", hidden: true });
    const sensorsOf = () => {
      const now = state.nodes.get(n.cid);
      return now ? shownSensors(now).map((s) => ({ cid: n.cid, sensor: s.sensor })) : [];
    };
    const chartAll = button({ class: "chart-all", title: `Chart all of ${n.cid}'s sensors together` }, "Chart all",
      () => openChart(sensorsOf()));
    const silence = button({ class: "silence", "data-act": "silence-node" }, "Silence node…",
      () => admin()?.silence({ cid: n.cid, sensor: "*", kind: "*" }));
    const forget = button({ class: "forget", "data-act": "forget-node" }, "Forget node…",
      () => admin()?.forget(n.cid, null));
    refs.card = el("section", { class: "node", "data-cid": n.cid, "aria-label": `node ${n.cid}` },
      el("div", { class: "node-head" },
        el("h2", { class: "node-name" }, n.cid),
        refs.status, refs.offFor, refs.backlog, refs.server,
        el("div", { class: "node-actions" }, chartAll, menu(`More for ${n.cid}`, [silence, forget]))),
      el("p", { class: "meta" }, refs.seen),
      refs.list = el("ul", { class: "sensors" }));
    if (n.sensors.length === 0) refs.list.append(el("li", { class: "no-sensors" }, "no sensor reported yet"));
    const shown = shownSensors(n);
    for (const s of shown) {
      const r = buildSensorRow(n, s);
      refs.sensors.set(s.sensor, r);
      refs.list.append(r.row);
    }
    if (old) { sparkObserver?.unobserve(old.card); old.card.replaceWith(refs.card); }
    cards.set(n.cid, refs);
    updateNode(n.cid);
    updateMarks(n.cid);
    for (const s of shown) { updateSensor(n.cid, s.sensor); drawSpark(n.cid, s.sensor); }
    sparkObserver?.observe(refs.card);
  }

  function pickBox(cid, s) {
    const box = el("input", { type: "checkbox", class: "pick", checked: state.picked.has(keyOf(cid, s.sensor)),
      "aria-label": `Compare ${s.name || s.sensor} (${cid})`, title: "Pick for compare" });
    box.addEventListener("change", () => {
      const k = keyOf(cid, s.sensor);
      if (box.checked) state.picked.add(k); else state.picked.delete(k);
      renderPicked();
    });
    return box;
  }

  /** The sensor's name big and its id small beneath; an unnamed sensor's id is its headline. A
   *  sensor that replaced others says so beneath (its row stands for them: one series). */
  function sensorLabelEl(s) {
    const replaced = replacedOf(s);
    return el("span", { class: "label" },
      el("span", { class: "name" }, s.name || s.sensor),
      s.name ? el("span", { class: "id" }, s.sensor) : null,
      replaced.length ? el("span", { class: "replaces", title: "One series: its chart and alerts go on from the sensor it replaced" },
        `replaces ${replaced.join(", ")}`) : null);
  }

  function limitsText(s) {
    const p = [];
    if (s.min !== null && s.min !== undefined) p.push(`min ${s.min}`);
    if (s.max !== null && s.max !== undefined) p.push(`max ${s.max}`);
    return p.join(" · ");
  }

  function buildSensorRow(n, s) {
    const r = {};
    r.value = el("span", { class: "value" });
    r.age = el("span", { class: "age" });
    r.spark = el("span", { class: "spark", "aria-hidden": "true" });
    r.mark = el("span", { class: "mark" });
    r.health = el("span", { class: "health", hidden: true });
    r.facts = el("span", { class: "facts", hidden: true });
    const limits = limitsText(s);
    const open = button({ class: "open", title: `Chart of ${s.name || s.sensor}` }, sensorLabelEl(s),
      () => openChart([{ cid: n.cid, sensor: s.sensor }]));
    open.append(r.value, r.spark,
      el("span", { class: "under" }, limits ? el("span", { class: "limits" }, limits) : null, r.mark, r.health,
        r.age), r.facts);
    // A series' alerts are kept under its first id: the silence must name that one to hold.
    const silence = button({ class: "silence", "data-act": "silence-sensor" }, "Silence sensor…",
      () => admin()?.silence({ cid: n.cid, sensor: membersOf(s)[0], kind: "*" }));
    const forget = button({ class: "forget", "data-act": "forget-sensor" }, "Forget sensor…",
      () => admin()?.forget(n.cid, s.sensor));
    r.pick = pickBox(n.cid, s);
    r.row = el("li", { class: "sensor", "data-sensor": s.sensor },
      r.pick, open, menu(`More for ${s.name || s.sensor}`, [silence, forget]));
    return r;
  }

  function buildRows(n) {
    const old = tableRows.get(n.cid);
    const refs = { rows: [], sensors: new Map() };
    // The node's id in each of its rows (a filtered table may show any one), dimmed after the first.
    const nodeCell = () => {
      const server = el("span", { class: "t-server", hidden: true });
      refs.servers = refs.servers || [];
      refs.servers.push(server);
      return el("td", { class: refs.rows.length ? "t-node repeat" : "t-node", title: nodeTitle(n) }, n.cid, server);
    };
    // "online" / "offline for 3 min", and beneath it the alert firing, if one is.
    const stateCell = () => {
      const c = el("td", { class: "t-state" }, el("span", { class: "t-up" }), el("span", { class: "t-alert" }));
      refs.states = refs.states || [];
      refs.states.push(c);
      return c;
    };
    if (n.sensors.length === 0) {
      refs.rows.push(el("tr", { "data-cid": n.cid, "data-sensor": "" },
        nodeCell(), el("td", { class: "t-sensor dim" }, "no sensor yet"), el("td"), el("td"), stateCell()));
    }
    const shown = shownSensors(n);
    for (const s of shown) {
      const r = { value: el("td", { class: "value" }), age: el("td", { class: "age", "data-short": "1" }),
        health: el("span", { class: "health", hidden: true }), facts: el("span", { class: "facts", hidden: true }) };
      const open = button({ class: "open", title: `Chart of ${s.name || s.sensor}` }, sensorLabelEl(s),
        () => openChart([{ cid: n.cid, sensor: s.sensor }]));
      r.pick = pickBox(n.cid, s);
      r.state = stateCell();
      r.row = el("tr", { "data-cid": n.cid, "data-sensor": s.sensor },
        nodeCell(), el("td", { class: "t-sensor" }, el("div", { class: "t-sensor-in" }, r.pick, open), r.health, r.facts),
        r.value, r.age, r.state);
      refs.sensors.set(s.sensor, r);
      refs.rows.push(r.row);
    }
    if (old) {
      const anchor = old.rows[0];
      for (const tr of refs.rows) anchor.before(tr);
      for (const tr of old.rows) tr.remove();
    } else {
      $("#fleet-rows").append(...refs.rows);
    }
    tableRows.set(n.cid, refs);
    updateNode(n.cid);
    updateMarks(n.cid);
    for (const s of shown) updateSensor(n.cid, s.sensor);
  }

  function updateNode(cid) {
    const n = state.nodes.get(cid);
    if (!n) return;
    const online = String(!!n.online);
    const c = cards.get(cid);
    if (c) {
      c.card.dataset.online = online;
      setText(c.status, n.online ? "online" : "offline");
      setText(c.offFor, offlineFor(n));
      c.offFor.hidden = !!n.online;
      c.status.title = nodeTitle(n);
      c.backlog.hidden = !(n.more_at && serverNow() - n.more_at < 3 * state.keepaliveMs);
      c.seen.dataset.ts = n.last_seen || "";
      c.seen.title = n.last_seen ? iso(n.last_seen) : "";
      setText(c.seen, seenText(n));
      setText(c.server, n.server || "");
      c.server.title = n.server ? `registered on server ${n.server}` : "";
      c.server.hidden = !n.server;
    }
    const t = tableRows.get(cid);
    if (t) {
      for (const tr of t.rows) { tr.dataset.online = online; tr.dataset.server = n.server || ""; }
      for (const s of t.servers || []) { setText(s, n.server || ""); s.hidden = !n.server; }
      updateMarks(cid);
    }
  }

  function seenText(n) {
    const parts = [`last heard ${n.last_seen ? ago(n.last_seen) : "never"}`];
    if (n.online && n.since) parts.push(`connected ${clock(n.since)}`);
    if (n.addr) parts.push(n.addr);
    return parts.join(" · ");
  }

  function updateSensor(cid, sensor) {
    const s = findSensor(cid, sensor);
    if (!s) return;
    const isErr = s.value === null || s.value === undefined;
    const text = isErr ? (s.error ? `err:${s.error}` : "–") : fmtTemp(s.value);
    let tip = `sampled ${iso(s.ts)}`;
    if (isErr && s.last_temp) tip += `\nlast temperature ${fmtTemp(s.last_temp.value)} at ${iso(s.last_temp.ts)}`;
    if (s.raw !== null && s.raw !== undefined && s.raw !== s.value) tip += `\nas sent: ${fmtTemp(s.raw)}`;
    for (const r of [cards.get(cid)?.sensors.get(sensor), tableRows.get(cid)?.sensors.get(sensor)]) {
      if (!r) continue;
      setText(r.value, text);
      r.value.classList.toggle("error", isErr);
      if (isErr) delete r.value.dataset.hasValue; else r.value.dataset.hasValue = "1";
      r.value.title = tip;
      r.age.dataset.ts = s.ts || "";
      r.age.title = s.ts ? iso(s.ts) : "";
      tickAge(r.age);
      showHealth(r, cid, sensor);
    }
  }

  // ---- bus health -------------------------------------------------------------------------------

  function applyHealth(body) {
    state.health = new Map((body.sensors || []).map((h) => [keyOf(h.cid, h.sensor), h]));
    for (const [cid, c] of cards) for (const [sensor, r] of c.sensors) showHealth(r, cid, sensor);
    for (const [cid, t] of tableRows) for (const [sensor, r] of t.sensors) showHealth(r, cid, sensor);
  }

  const percent = (h) => `${(h.error_rate * 100).toFixed(1)} %`;

  /** "5.0 % errors in the last hour (crc 10 of 200); 20 reads retried" (the retries when any). */
  function healthTitle(h) {
    const by = [["crc", h.crc], ["empty", h.empty], ["reset", h.reset], ["other", h.other]]
      .filter(([, n]) => n > 0).map(([reason, n]) => `${reason} ${n}`);
    const retried = h.retries > 0 ? `; ${h.retries} reads retried` : "";
    return `${percent(h)} errors in the last hour (${by.join(", ")} of ${h.reads})${retried}`;
  }

  /** The small mark of a sensor whose reads failed more than 1 % of the time in the last hour. */
  function showHealth(r, cid, sensor) {
    const h = state.health.get(keyOf(cid, sensor));
    const marked = !!(h && h.marked);
    r.health.hidden = !marked;
    setText(r.health, marked ? `${percent(h)} errors` : "");
    r.health.title = marked ? healthTitle(h) : "";
    if (marked) r.row.dataset.health = "above"; else delete r.row.dataset.health;
    showFacts(r, h);
  }

  /**
   * What the sensor's Pi said of it (power, resolution, clone kind, its bus): shown when worth a
   * look (parasite power, a clone, the bus of a Pi with more than one: /api/health names it only
   * then), all of it in the tooltip.
   */
  function showFacts(r, h) {
    const shown = [];
    if (h?.bus) shown.push(`on ${h.bus}`);
    if (h?.power === "parasite") shown.push("parasite power");
    if (h?.clone) shown.push(`clone? ${h.clone}`);
    r.facts.hidden = shown.length === 0;
    setText(r.facts, shown.join(" · "));
    const all = [];
    if (h?.power) all.push(`${h.power} power`);
    if (h?.bits) all.push(`${h.bits} bits`);
    if (h?.bus) all.push(`on ${h.bus}`);
    if (h?.clone) all.push(`looks like a clone (kind ${h.clone}); never refused, only reported`);
    r.facts.title = all.join(", ");
  }

  function refreshHealth() {
    getJSON("/api/health").then(applyHealth).catch(() => {});
  }

  function updateMarks(cid) {
    const n = state.nodes.get(cid);
    if (!n) return;
    const nodeAlert = alertOf(cid, "");
    const c = cards.get(cid);
    if (c) {
      if (nodeAlert) c.card.dataset.alert = nodeAlert.kind; else delete c.card.dataset.alert;
      for (const [sensor, r] of c.sensors) {
        const a = rowAlertOf(cid, sensor);
        if (a) r.row.dataset.alert = a.kind; else delete r.row.dataset.alert;
        setText(r.mark, a ? KIND_TEXT[a.kind] || a.kind : "");
        r.mark.hidden = !a;
      }
    }
    const t = tableRows.get(cid);
    if (t) {
      const base = n.online ? "online" : `offline ${offlineFor(n)}`;
      const show = (cell, a) => {
        setText(cell.firstChild, base);
        setText(cell.lastChild, a ? KIND_TEXT[a.kind] || a.kind : "");
      };
      for (const [sensor, r] of t.sensors) {
        const a = rowAlertOf(cid, sensor) || nodeAlert;
        show(r.state, a);
        if (a) r.row.dataset.alert = a.kind; else delete r.row.dataset.alert;
      }
      if (t.sensors.size === 0) for (const c of t.states || []) show(c, nodeAlert);
    }
  }

  function tickAge(e) {
    const ts = Number(e.dataset.ts);
    if (!ts) { setText(e, "never"); return; }
    setText(e, e.dataset.short ? span(serverNow() - ts) : ago(ts));
    e.classList.toggle("stale", state.lostAt === null && serverNow() - ts > 3 * state.keepaliveMs);
  }

  /** Once a second: ages, how long offline, firing durations. */
  function tick() {
    for (const e of document.querySelectorAll(".age[data-ts]")) tickAge(e);
    for (const [cid, c] of cards) {
      const n = state.nodes.get(cid);
      if (!n) continue;
      setText(c.seen, seenText(n));
      if (!n.online) setText(c.offFor, offlineFor(n));
    }
    if (state.view === "table") for (const cid of tableRows.keys()) updateMarks(cid);
    admin()?.tick();
  }

  function renderSummary() {
    const all = [...state.nodes.values()];
    const up = all.filter((n) => n.online).length;
    const sensors = all.reduce((k, n) => k + shownSensors(n).length, 0);
    let text = `${up} of ${all.length} nodes online · ${sensors} sensors`;
    if (state.bannerShown) text += ` · as of ${clock(state.lostAt)}`;
    setText($("#summary"), text);
  }

  /** The node box of the history filter offers the known ids. */
  function renderCids() {
    const list = $("#cids");
    const want = sortedNodes().map((n) => n.cid);
    if (list.children.length === want.length && [...list.children].every((o, i) => o.value === want[i])) return;
    list.replaceChildren(...want.map((cid) => el("option", { value: cid })));
  }

  // ---- the filter -------------------------------------------------------------------------------

  function matches(text) {
    return text && text.toLowerCase().includes(state.q);
  }

  /** Hides the cards, sensors and rows the filter does not match (a node's id shows all of it). */
  function applyFilter() {
    const q = state.q;
    let shown = 0;
    for (const n of state.nodes.values()) {
      const nodeHit = !q || matches(n.cid);
      const sensorHit = (s) => nodeHit || matches(s.name) || membersOf(s).some(matches);
      const any = nodeHit || n.sensors.some(sensorHit);
      if (any) shown += 1;
      const c = cards.get(n.cid);
      if (c) {
        c.card.hidden = !any;
        for (const s of n.sensors) { const r = c.sensors.get(s.sensor); if (r) r.row.hidden = !sensorHit(s); }
      }
      const t = tableRows.get(n.cid);
      if (t) {
        if (t.sensors.size === 0) for (const tr of t.rows) tr.hidden = !any;
        for (const s of n.sensors) { const r = t.sensors.get(s.sensor); if (r) r.row.hidden = !sensorHit(s); }
      }
    }
    $("#filter-empty").hidden = !(q && shown === 0 && state.nodes.size > 0);
    document.body.dataset.filtered = q ? String(shown) : "";
  }

  function setFilter(text) {
    state.q = text.trim().toLowerCase();
    writeUrl();
    applyFilter();
  }

  function setView(view) {
    if (view === state.view) return;
    state.view = view;
    writeUrl();
    renderView();
  }

  function readUrl() {
    const p = new URLSearchParams(location.search);
    state.view = p.get("view") === "table" ? "table" : "cards";
    const q = p.get("q") || "";
    $("#filter").value = q;
    state.q = q.trim().toLowerCase();
  }

  function writeUrl() {
    const p = new URLSearchParams(location.search);
    if (state.view === "table") p.set("view", "table"); else p.delete("view");
    const q = $("#filter").value.trim();
    if (q) p.set("q", q); else p.delete("q");
    const s = p.toString();
    history.replaceState(null, "", s ? `?${s}` : location.pathname);
  }

  // ---- charts and compare -----------------------------------------------------------------------

  function openChart(series) {
    if (!series.length) return;
    chart()?.open(series, null);
  }

  function renderPicked() {
    const b = $("#compare");
    const n = state.picked.size;
    b.disabled = n === 0;
    b.textContent = n ? `Compare ${n}` : "Compare";
    for (const c of document.querySelectorAll("input.pick")) {
      const row = c.closest("[data-sensor]");
      const cid = c.closest("[data-cid]")?.dataset.cid;
      if (row && cid) c.checked = state.picked.has(keyOf(cid, row.dataset.sensor));
    }
  }

  // ---- sparklines -------------------------------------------------------------------------------

  let sparkObserver = null;
  const sparkQueue = [];
  let sparkActive = 0;
  const visibleCards = new Set();

  function requestSpark(cid) {
    let sp = state.sparks.get(cid);
    if (!sp) { sp = { status: "idle", series: new Map() }; state.sparks.set(cid, sp); }
    if (sp.status !== "idle" || sparkQueue.includes(cid)) return;
    sparkQueue.push(cid);
    pumpSparks();
  }

  function pumpSparks() {
    while (sparkActive < SPARK_FETCHES && sparkQueue.length) {
      const cid = sparkQueue.shift();
      const sp = state.sparks.get(cid);
      if (!sp || sp.status !== "idle" || !state.nodes.has(cid)) continue;
      sparkActive += 1;
      sp.status = "loading";
      sp.live = [];
      getJSON(`/api/readings?cid=${encodeURIComponent(cid)}&since=1h`)
        .then((body) => {
          const series = new Map();
          for (const s of body.series) {
            const raw = s.columns[0] === "ts";
            series.set(s.sensor, s.points.map((p) => ({ t: p[0], v: raw ? p[1] : p[2] })));
          }
          // Live readings that came while the answer was on its way.
          for (const r of sp.live) pushPoint(series, r);
          Object.assign(sp, { status: "ready", series, live: [] });
          for (const sensor of series.keys()) dirty.sparks.add(keyOf(cid, sensor));
          schedule();
        })
        .catch(() => { sp.status = "idle"; })
        .finally(() => { sparkActive -= 1; pumpSparks(); });
    }
  }

  function pushPoint(series, r) {
    let pts = series.get(r.sensor);
    if (!pts) { pts = []; series.set(r.sensor, pts); }
    const last = pts[pts.length - 1];
    if (last && r.ts <= last.t) {
      if (pts.some((p) => p.t === r.ts)) return;
      pts.push({ t: r.ts, v: r.value });
      pts.sort((a, b) => a.t - b.t);
    } else {
      pts.push({ t: r.ts, v: r.value });
    }
    const cut = serverNow() - SPARK_SPAN_MS;
    let drop = 0;
    while (drop < pts.length && pts[drop].t < cut) drop += 1;
    if (drop) pts.splice(0, drop);
  }

  function sparkAppend(r) {
    const sp = state.sparks.get(r.cid);
    if (!sp) return;
    if (sp.status === "loading") sp.live.push(r);
    if (sp.status === "loading" || (sp.status === "idle" && !sp.series.size)) return;
    pushPoint(sp.series, r);
    dirty.sparks.add(keyOf(r.cid, r.sensor));
  }

  function medianStep(pts) {
    if (pts.length < 3) return 0;
    const steps = [];
    for (let i = 1; i < pts.length; i++) steps.push(pts[i].t - pts[i - 1].t);
    steps.sort((a, b) => a - b);
    return steps[Math.floor(steps.length / 2)];
  }

  /** A row's points: its sensor's, and for one that replaced others theirs before, each up to
   *  the first point of the next (one line, as the chart draws the series). */
  function sparkPoints(sp, cid, sensor) {
    const s = findSensor(cid, sensor);
    const ids = s ? membersOf(s) : [sensor];
    let out = [];
    let end = Infinity;
    for (let i = ids.indexOf(sensor); i >= 0; i--) {
      const pts = (sp.series.get(ids[i]) || []).filter((p) => p.t < end);
      if (pts.length) { out = pts.concat(out); end = pts[0].t; }
    }
    return out;
  }

  function drawSpark(cid, sensor) {
    const r = cards.get(cid)?.sensors.get(sensor);
    const sp = state.sparks.get(cid);
    if (!r || !sp || !visibleCards.has(cid)) return;
    const now = serverNow();
    const pts = sparkPoints(sp, cid, sensor).filter((p) => p.t >= now - SPARK_SPAN_MS);
    const n = pts.filter((p) => p.v !== null && p.v !== undefined).length;
    r.spark.dataset.points = String(n);
    if (n < 2) { r.spark.replaceChildren(); return; }
    // A young sensor's line spans the box: its trend, not a dot at the right edge of an hour. The
    // right edge is now, or the last reading while it is not yet stale (readings arrive a poll
    // late: a line of 30 s would otherwise stop short by a few percent).
    const last = pts[pts.length - 1].t;
    const t0 = Math.max(now - SPARK_SPAN_MS, pts[0].t);
    const t1 = Math.max(last, now - 3 * state.keepaliveMs);
    const gapMs = Math.max(3 * state.keepaliveMs, 3 * medianStep(pts));
    try {
      chart()?.spark(r.spark, pts, { t0, t1, gapMs });
    } catch (e) {
      console.error("sparkline", cid, sensor, e);
    }
  }

  function startSparkObserver() {
    if (!window.IntersectionObserver) return;
    sparkObserver = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const cid = e.target.dataset.cid;
        if (e.isIntersecting) {
          visibleCards.add(cid);
          requestSpark(cid);
          const sp = state.sparks.get(cid);
          if (sp) for (const sensor of sp.series.keys()) dirty.sparks.add(keyOf(cid, sensor));
          schedule();
        } else {
          visibleCards.delete(cid);
        }
      }
    }, { rootMargin: "200px" });
  }

  /** The window slides: every 30 s the visible sparklines are drawn again, stale ones fetched. */
  function slideSparks() {
    for (const cid of visibleCards) {
      const sp = state.sparks.get(cid);
      if (!sp) continue;
      if (sp.status === "idle") requestSpark(cid);
      for (const sensor of sp.series.keys()) dirty.sparks.add(keyOf(cid, sensor));
    }
    schedule();
  }

  // ---- the server's link ------------------------------------------------------------------------

  function setLink(s, text) {
    const l = $("#link");
    l.dataset.state = s;
    setText(l, text);
  }

  /** The server is gone (not the fleet): say so after a moment, grey the values, keep the states. */
  function serverLost() {
    setLink("lost", "reconnecting…");
    dropHeldOffline();
    if (state.lostAt !== null) return;
    state.lostAt = serverNow();
    setTimeout(showBanner, BANNER_AFTER_MS);
  }

  function showBanner() {
    if (state.lostAt === null) return;
    const b = $("#server-banner");
    b.textContent = state.stoppedAt !== null
      ? `server stopped at ${clock(state.stoppedAt)} — values as of then`
      : `server unreachable since ${clock(state.lostAt)} — values as of then`;
    b.title = `since ${iso(state.lostAt)}; the nodes' own state is unknown until it is back`;
    b.hidden = false;
    state.bannerShown = true;
    document.body.dataset.server = "lost";
    renderSummary();
  }

  function serverBack() {
    state.lostAt = null;
    state.stoppedAt = null;
    state.bannerShown = false;
    $("#server-banner").hidden = true;
    document.body.dataset.server = "live";
    setLink("live", "live");
  }

  function fetchFailed() {
    if (!state.es || state.es.readyState !== EventSource.OPEN) serverLost();
  }

  /** The footer: this server, and in a fleet how many servers there are and which one leads. */
  function applyFleet(f) {
    state.fleet = f;
    let text = `server ${f.this}`;
    if (f.mode === "fleet") {
      const n = f.servers.length;
      text += ` · fleet: ${n} server${n === 1 ? "" : "s"}, leader ${f.leader ? f.leader.name : "none"}`;
      if (f.stale) text += " (not read lately)";
    }
    const line = $("#fleet-line");
    line.dataset.mode = f.mode;
    line.dataset.stale = String(!!f.stale);
    line.title = f.servers.map((s) => `${s.name}: ${s.clients} client${s.clients === 1 ? "" : "s"}`).join("\n");
    setText(line, `${text} · `);
  }

  function connect() {
    if (!window.EventSource) { poll(); return; }
    const es = new EventSource("/api/events");
    state.es = es;
    es.addEventListener("snapshot", (e) => {
      applySnapshot(JSON.parse(e.data));
      getJSON("/api/alerts").then((b) => applyAlerts(b.alerts)).catch(() => {});
      getJSON("/api/fleet").then(applyFleet).catch(() => {});
      refreshHealth();
      admin()?.refresh();
    });
    es.addEventListener("alerts", (e) => applyAlerts(JSON.parse(e.data)));
    es.addEventListener("nodes", (e) => applyNodes(JSON.parse(e.data)));
    es.addEventListener("fleet", (e) => applyFleet(JSON.parse(e.data)));
    es.addEventListener("readings", (e) => applyReadings(JSON.parse(e.data)));
    es.addEventListener("forget", (e) => applyForget(JSON.parse(e.data)));
    // The server says it is stopping: the banner at once, with when (the stream's end follows).
    es.addEventListener("stopping", (e) => {
      state.stoppedAt = JSON.parse(e.data).at;
      serverLost();
      showBanner();
    });
    es.addEventListener("error", () => {
      serverLost();
      // EventSource retries a lost connection by itself, but gives up on an HTTP error answer.
      if (es.readyState === EventSource.CLOSED && state.es === es) setTimeout(connect, 2000);
    });
  }

  async function poll() {
    try {
      applySnapshot(await getJSON("/api/nodes"));
      applyAlerts((await getJSON("/api/alerts")).alerts);
      applyFleet(await getJSON("/api/fleet"));
      refreshHealth();
      setLink("live", "polling");
    } catch (e) {
      serverLost();
    }
    setTimeout(poll, state.keepaliveMs);
  }

  // ---- menus ------------------------------------------------------------------------------------

  function closeMenus(except) {
    for (const d of document.querySelectorAll("details.menu[open]")) if (d !== except) d.open = false;
  }

  // ---- start ------------------------------------------------------------------------------------

  function init() {
    chart()?.init({
      nodes: () => state.nodes,
      keepaliveMs: () => state.keepaliveMs,
      serverNow,
      getJSON,
    });
    readUrl();
    startSparkObserver();
    const filter = $("#filter");
    let pending = false;
    filter.addEventListener("input", () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; setFilter(filter.value); });
    });
    for (const b of document.querySelectorAll(".views button")) {
      b.addEventListener("click", () => setView(b.dataset.view));
    }
    $("#compare").addEventListener("click", () => openChart([...state.picked].map((k) => {
      const [cid, sensor] = splitKey(k);
      return { cid, sensor };
    })));
    document.addEventListener("toggle", (e) => {
      if (e.target.matches?.("details.menu") && e.target.open) closeMenus(e.target);
    }, true);
    document.addEventListener("click", (e) => { if (!e.target.closest("details.menu")) closeMenus(); });
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      const open = document.querySelector("details.menu[open]");
      if (open) { open.open = false; open.querySelector("summary").focus(); }
    });
    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(slideSparks, 150);
    });
    admin()?.init();
    renderView();
    setInterval(tick, 1000);
    setInterval(slideSparks, 30e3);
    setInterval(refreshHealth, HEALTH_EVERY_MS);
    connect();
  }

  window.CliserPage = {
    state, el, setText, clock, iso, span, ago, fmtTemp, getJSON, postJSON, sensorLabel, findSensor,
    serverNow, applyForget, applyAlerts, KIND_TEXT, admin: null,
  };

  document.addEventListener("DOMContentLoaded", init);
})();
