// The page's alert side: the firing alerts (in words and local time, built from their fields), with
// Acknowledge and Silence; the silences with End; the alert history; forgetting a node or a sensor.
// Every change is a POST with a JSON body (the server refuses anything else); a refusal shows the
// server's own words. Uses what app.js puts in window.CliserPage, and registers itself there.
"use strict";

(() => {
  const P = window.CliserPage;
  const { el, setText, clock, iso, span, fmtTemp, getJSON, postJSON, KIND_TEXT } = P;
  const $ = (sel, root = document) => root.querySelector(sel);
  const WHO_KEY = "cliser.by";

  const admin = {
    alerts: [],
    silences: [],
    lines: [],          // [{ alert, text element }] for the once-a-second durations
    silenceLines: [],   // [{ silence, when element }]
    historyOpen: false,
  };

  // ---- words for an alert -----------------------------------------------------------------------

  const kindText = (k) => KIND_TEXT[k] || k;

  /** `freezer on garage` (named), `28-0316a2795aff on garage`, or the node alone. */
  function subject(a) {
    if (!a.sensor) return a.cid;
    return `${a.name || P.sensorLabel(a.cid, a.sensor)} on ${a.cid}`;
  }

  const degrees = (v) => (v === null || v === undefined ? "" : fmtTemp(Number(v)));

  /**
   * The server's words, as the log and the alert command have them, with the time in the page's one
   * clock: a time the message gives in UTC is shown in local time instead, else "since" is added.
   */
  function alertTitle(a) {
    const utc = new Date(a.since).toISOString().replace(/\.\d{3}Z$/, "Z");
    return a.message.includes(utc) ? a.message.replace(utc, iso(a.since)) : `${a.message}\nsince ${iso(a.since)}`;
  }

  /** "garage offline since 16:40 (3 min)", "freezer on garage above max -15 °C: -12.250 °C since ...". */
  function alertText(a) {
    const since = `since ${clock(a.since)} (${span(P.serverNow() - a.since)})`;
    switch (a.kind) {
      case "node_offline": return `${a.cid} offline ${since}`;
      case "above_max": return `${subject(a)} above max ${a.limit} °C: ${degrees(a.value)} ${since}`;
      case "below_min": return `${subject(a)} below min ${a.limit} °C: ${degrees(a.value)} ${since}`;
      case "sensor_error": return `${subject(a)}: sensor errors (${a.limit} in a row) ${since}`;
      case "sensor_silent": return `${subject(a)}: no reading ${since}`;
      default: return `${subject(a)}: ${kindText(a.kind)} ${since}`;
    }
  }

  function silenceOf(id) {
    return admin.silences.find((s) => s.id === id);
  }

  // ---- the alerts panel -------------------------------------------------------------------------

  /** Which alert's button has the keyboard focus, to give it back after the list is rebuilt. */
  function focusedAction() {
    const b = document.activeElement;
    const li = b?.closest?.("#alert-list li.alert");
    return li ? { kind: li.dataset.kind, cid: li.dataset.cid, sensor: li.dataset.sensor, cls: b.className } : null;
  }

  function renderAlerts() {
    const list = $("#alert-list");
    const focused = focusedAction();
    admin.lines = [];
    const items = admin.alerts.map((a) => {
      const text = el("span", { class: "alert-text" });
      const li = el("li", {
        class: "alert", "data-kind": a.kind, "data-cid": a.cid, "data-sensor": a.sensor,
        "data-acked": a.ack ? "1" : null, "data-silenced": a.silenced_by ?? null,
        title: alertTitle(a),
      }, text);
      admin.lines.push({ alert: a, text });
      if (a.ack) {
        li.append(el("span", { class: "alert-ack", title: iso(a.ack.at) },
          `acknowledged by ${a.ack.by} at ${clock(a.ack.at)}${a.ack.note ? `: ${a.ack.note}` : ""}`));
      }
      if (a.silenced_by !== null && a.silenced_by !== undefined) {
        const s = silenceOf(a.silenced_by);
        li.append(el("span", { class: "alert-silenced", title: s ? `until ${iso(s.ends)}` : "" },
          s ? `silenced until ${clock(s.ends)} by ${s.by}` : `silenced (#${a.silenced_by})`));
      }
      const actions = el("span", { class: "alert-actions" });
      if (!a.ack) {
        const ack = el("button", { type: "button", class: "ack" }, "Acknowledge");
        ack.addEventListener("click", () => openAck(a));
        actions.append(ack);
      }
      const sil = el("button", { type: "button", class: "silence" }, "Silence…");
      sil.addEventListener("click", () => openSilence({ cid: a.cid, sensor: a.sensor || "*", kind: a.kind }));
      actions.append(sil);
      li.append(actions);
      return li;
    });
    list.replaceChildren(...items);
    if (focused) {
      const li = [...list.children].find((l) => l.dataset.kind === focused.kind && l.dataset.cid === focused.cid
        && l.dataset.sensor === focused.sensor);
      (li?.querySelector(`button.${focused.cls}`) || li?.querySelector("button"))?.focus();
    }
    const n = admin.alerts.length;
    setText($("#alerts-title"), n === 0 ? "No alert firing" : n === 1 ? "1 alert firing" : `${n} alerts firing`);
    $("#alerts").dataset.firing = String(n);
    renderSilences();
    tick();
  }

  function renderSilences() {
    const list = $("#silence-list");
    const shown = admin.silences.slice().sort((a, b) => (b.active - a.active) || (a.ends - b.ends));
    admin.silenceLines = [];
    list.replaceChildren(...shown.map((s) => {
      const matcher = `${s.cid}/${s.sensor} · ${s.kind === "*" ? "any kind" : kindText(s.kind)}`;
      const when = el("span", { class: "silence-when" }, silenceWhen(s));
      admin.silenceLines.push({ silence: s, when });
      const li = el("li", { class: "silence", "data-id": s.id, "data-active": String(!!s.active),
        title: `#${s.id}: from ${iso(s.starts)} until ${iso(s.ends)}` },
        el("span", { class: "silence-what" }, matcher),
        when,
        el("span", { class: "silence-who" }, `${s.by}${s.comment ? `: ${s.comment}` : ""}`));
      if (s.active) {
        const end = el("button", { type: "button", class: "end" }, "End");
        end.addEventListener("click", () => endSilence(s, end));
        li.append(end);
      }
      return li;
    }));
    $("#silences").hidden = shown.length === 0;
    $("#alerts").hidden = admin.alerts.length === 0 && shown.length === 0;
  }

  function silenceWhen(s) {
    if (s.active) return `until ${clock(s.ends)} (${span(s.ends - P.serverNow())} left)`;
    return `ended ${clock(s.ended || s.ends)}`;
  }

  function tick() {
    for (const { alert, text } of admin.lines) setText(text, alertText(alert));
    for (const { silence, when } of admin.silenceLines) setText(when, silenceWhen(silence));
  }

  async function refreshSilences() {
    try {
      admin.silences = (await getJSON("/api/silences")).silences || [];
    } catch (e) {
      return;
    }
    renderAlerts();
  }

  async function endSilence(s, button) {
    button.disabled = true;
    try {
      await postJSON("/api/silences/end", { id: s.id });
      notice(`Silence #${s.id} ended.`);
    } catch (e) {
      notice(`Could not end silence #${s.id}: ${e.message}`, true);
      button.disabled = false;
    }
    refreshSilences();
  }

  // ---- notices ----------------------------------------------------------------------------------

  let noticeTimer = null;
  function notice(text, bad = false) {
    const n = $("#notice");
    n.textContent = text;
    n.dataset.bad = String(bad);
    n.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { n.hidden = true; }, bad ? 15e3 : 6e3);
  }

  // ---- dialogs ----------------------------------------------------------------------------------

  function who() {
    try { return localStorage.getItem(WHO_KEY) || ""; } catch (e) { return ""; }
  }

  function rememberWho(by) {
    try { if (by) localStorage.setItem(WHO_KEY, by); } catch (e) { /* private mode */ }
  }

  function showError(dialog, text) {
    const p = $(".dialog-error", dialog);
    p.textContent = text;
    p.hidden = !text;
  }

  /** A modal <dialog> (the rest of the page is inert, Escape closes it); `submit` does the work. */
  function wire(dialog, submit) {
    const form = $("form", dialog);
    $(".cancel", dialog).addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const button = $("button[type=submit]", form);
      button.disabled = true;
      showError(dialog, "");
      try {
        await submit(new FormData(form));
        dialog.close();
      } catch (err) {
        showError(dialog, err.message);
      } finally {
        button.disabled = false;
      }
    });
  }

  function show(dialog, focus) {
    showError(dialog, "");
    dialog.showModal();
    (focus || $("input, textarea, select, button", dialog)).focus();
  }

  let acking = null;
  function openAck(a) {
    acking = a;
    const d = $("#ack-dialog");
    setText($("#ack-what", d), alertText(a));
    const f = $("form", d);
    f.elements.by.value = who();
    f.elements.note.value = "";
    show(d, f.elements.by.value ? f.elements.note : f.elements.by);
  }

  async function submitAck(data) {
    const a = acking;
    const by = data.get("by").trim();
    rememberWho(by);
    const note = data.get("note").trim();
    await postJSON("/api/alerts/ack", { kind: a.kind, cid: a.cid, sensor: a.sensor, by, note });
    notice(`Acknowledged: ${alertText(a)}`);
    getJSON("/api/alerts").then((b) => P.applyAlerts(b.alerts)).catch(() => {});
  }

  function openSilence(m) {
    const d = $("#silence-dialog");
    const f = $("form", d);
    f.elements.cid.value = m.cid || "*";
    f.elements.sensor.value = m.sensor || "*";
    f.elements.kind.value = m.kind || "*";
    f.elements.by.value = who();
    f.elements.comment.value = "";
    f.elements.custom.value = "";
    for (const r of f.elements.duration) r.checked = r.value === "2h";
    f.elements.custom.disabled = true;
    show(d, f.elements.comment);
  }

  async function submitSilence(data) {
    let duration = data.get("duration");
    if (duration === "custom") {
      duration = (data.get("custom") || "").trim();
      if (!duration) throw new Error("custom: give a duration, e.g. 3d or 90m");
    }
    const by = data.get("by").trim();
    rememberWho(by);
    const body = {
      cid: data.get("cid").trim() || "*", sensor: data.get("sensor").trim() || "*", kind: data.get("kind"),
      duration, by, comment: data.get("comment").trim(),
    };
    const r = await postJSON("/api/silences", body);
    notice(`Silence #${r?.id ?? "?"} set for ${duration}: ${body.cid}/${body.sensor} · ${body.kind}`);
    refreshSilences();
  }

  let forgetting = null;
  function openForget(cid, sensor) {
    forgetting = { cid, sensor };
    const d = $("#forget-dialog");
    setText($("#forget-title", d), sensor ? "Forget this sensor?" : "Forget this node?");
    setText($("#forget-what", d), sensor
      ? `${P.sensorLabel(cid, sensor)}${P.sensorLabel(cid, sensor) !== sensor ? ` (${sensor})` : ""} of ${cid}`
      : `${cid} and its ${P.state.nodes.get(cid)?.sensors.length ?? 0} sensors`);
    show(d, $("button.cancel", d));
  }

  async function submitForget() {
    const { cid, sensor } = forgetting;
    await postJSON("/api/forget", { cid, sensor: sensor || null, delete_readings: false });
    P.applyForget({ cid, sensor: sensor || null });
    const what = sensor ? `${P.sensorLabel(cid, sensor)} of ${cid}` : cid;
    notice(`Forgot ${what}; it comes back if it reports again.`);
  }

  // ---- history ----------------------------------------------------------------------------------

  const EVENT_TEXT = {
    fired: "fired", resolved: "resolved", acknowledged: "acknowledged", silenced: "silenced",
    unsilenced: "unsilenced", forgotten: "forgotten",
  };

  function eventDetail(e) {
    const parts = [];
    const lasted = e.since && e.at >= e.since ? span(e.at - e.since) : null;
    if (e.event === "fired" && e.value !== null && e.value !== undefined) parts.push(degrees(e.value));
    // How long it had been firing.
    if ((e.event === "resolved" || e.event === "forgotten") && lasted) parts.push(`after ${lasted}`);
    if (e.by) parts.push(`by ${e.by}`);
    if (e.note) parts.push(e.note);
    return parts.join(" · ");
  }

  function renderHistory(events) {
    const list = $("#history-list");
    list.replaceChildren(...events.map((e) => {
      const what = e.sensor ? `${e.name || P.sensorLabel(e.cid, e.sensor)} on ${e.cid}` : e.cid;
      return el("li", { class: "event", "data-event": e.event, "data-kind": e.kind, "data-cid": e.cid,
        "data-sensor": e.sensor || "",
        title: [e.message, `at ${iso(e.at)}`, e.since ? `since ${iso(e.since)}` : ""].filter(Boolean).join("\n") },
        el("time", { class: "at", dateTime: iso(e.at) }, clock(e.at, true)),
        el("span", { class: "ev" }, EVENT_TEXT[e.event] || e.event),
        el("span", { class: "what" }, `${what} · ${kindText(e.kind)}`),
        el("span", { class: "detail" }, eventDetail(e)));
    }));
    const n = events.length;
    setText($("#history-note"), n === 0 ? "Nothing in this range." : `${n} events, newest first`);
  }

  async function loadHistory() {
    const f = $("#history-form");
    const q = new URLSearchParams();
    for (const k of ["cid", "sensor", "kind", "since"]) {
      const v = f.elements[k].value.trim();
      if (v) q.set(k, v);
    }
    q.set("limit", "500");
    setText($("#history-note"), "Loading…");
    try {
      renderHistory((await getJSON(`/api/alerts/history?${q}`)).events || []);
    } catch (e) {
      setText($("#history-note"), `Could not load the history: ${e.message}`);
    }
  }

  function setHistory(open) {
    admin.historyOpen = open;
    $("#history").hidden = !open;
    $("#history-toggle").setAttribute("aria-expanded", String(open));
    if (open) { loadHistory(); $("#history").scrollIntoView({ block: "nearest" }); }
  }

  // ---- start ------------------------------------------------------------------------------------

  function init() {
    wire($("#ack-dialog"), submitAck);
    wire($("#silence-dialog"), submitSilence);
    wire($("#forget-dialog"), submitForget);
    const f = $("#silence-form");
    for (const r of f.elements.duration) {
      r.addEventListener("change", () => {
        f.elements.custom.disabled = f.elements.duration.value !== "custom";
        if (!f.elements.custom.disabled) f.elements.custom.focus();
      });
    }
    $("#history-toggle").addEventListener("click", () => setHistory(!admin.historyOpen));
    $("#history-close").addEventListener("click", () => { setHistory(false); $("#history-toggle").focus(); });
    $("#history-form").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(); });
    setInterval(refreshSilences, 30e3);
  }

  P.admin = {
    init,
    alerts(list) {
      admin.alerts = list;
      renderAlerts();
      // A silence set elsewhere (the console, the CLI): its end time and who set it.
      if (list.some((a) => a.silenced_by !== null && a.silenced_by !== undefined && !silenceOf(a.silenced_by))) {
        refreshSilences();
      }
      // An open history follows the transitions (each changes the firing alerts).
      if (admin.historyOpen) {
        clearTimeout(admin.historyTimer);
        admin.historyTimer = setTimeout(loadHistory, 700);
      }
    },
    refresh: refreshSilences,
    tick() { tick(); },
    forget: openForget,
    silence: openSilence,
    alertText,
  };
})();
