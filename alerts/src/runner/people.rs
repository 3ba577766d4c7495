//! What people do to alerts, on the alerts thread: the admin changes any process wrote to the
//! store (acknowledgements, silences, forgotten nodes), read each tick; the console's requests;
//! and, at start, what the history and the store say of the alerts that fired before.

use super::{Runner, Transition};
use crate::admin::{check_matcher, history_text, silences_text, Request, HISTORY_LINES};
use crate::alert::{label, utc, Alert, AlertKey, Kind, State};
use crate::gate::Recalled;
use cliser_store::{Ack, AdminChange, EventQuery, Silence, StoreError};
use std::collections::BTreeSet;

/// Events read back per alert at start: enough to reach its last `fired`.
const RECALL: usize = 100;

/// `node pi` or `sensor pi/28-x`.
fn what(cid: &str, sensor: Option<&str>) -> String {
    match sensor {
        None => format!("node {cid}"),
        Some(s) => format!("sensor {cid}/{s}"),
    }
}

impl Runner {
    /// At start: alerts of nodes or sensors forgotten while the server was down end as
    /// `forgotten`; the others are held or delivered as their history and the silences in force
    /// say (a held alert whose silence ended meanwhile is delivered now, once).
    pub(super) fn start_up(&mut self, now: i64) {
        if !self.acting {
            // A follower: the server that acts has done this; taking over does it again.
            return;
        }
        let firing: Vec<Alert> = self.engine.firing().cloned().collect();
        let mut forget = BTreeSet::new();
        for a in &firing {
            let was = self.recall(&a.key);
            match self.forgotten(&a.key) {
                Some(which) => {
                    self.gate.remember(&a.key, a.name.as_deref(), was);
                    forget.insert(which);
                }
                None => {
                    let t = Transition { state: State::Firing, alert: a.clone(), at_ms: now };
                    for step in self.gate.restore(&a.key, a.name.as_deref(), was, now) {
                        self.record(&step, &t);
                    }
                }
            }
        }
        for (cid, sensor) in forget {
            log::info!("alerts: {} was forgotten while the server was down", what(&cid, sensor.as_deref()));
            let t = self.engine.forget(&cid, sensor.as_deref(), now);
            self.health.forget(&cid, sensor.as_deref());
            self.apply(t);
        }
    }

    /// What the history says of a firing alert.
    pub(super) fn recall(&mut self, key: &AlertKey) -> Recalled {
        let q = EventQuery {
            cid: Some(key.cid.clone()),
            sensor: Some(key.sensor.clone()),
            kind: Some(key.kind.as_str().to_owned()),
            limit: RECALL,
            ..Default::default()
        };
        match self.store.alert_events(&q) {
            Ok(events) => {
                let mine: Vec<_> = events
                    .into_iter()
                    .filter(|e| e.kind == key.kind.as_str() && e.cid == key.cid && e.sensor == key.sensor)
                    .collect();
                Recalled::from_history(&mine)
            }
            Err(e) => {
                log::error!(
                    "alerts: cannot read the history of the firing {} alert of {} ({e}); taken as delivered",
                    key.kind,
                    key.cid
                );
                Recalled { told: true, silenced: false }
            }
        }
    }

    /// Which forgotten node or sensor the alert is about, if it is.
    fn forgotten(&mut self, key: &AlertKey) -> Option<(String, Option<String>)> {
        let node = self.store.is_forgotten(&key.cid, None);
        let sensor = match (&node, key.sensor.as_str()) {
            (Ok(false), s) if !s.is_empty() => self.store.is_forgotten(&key.cid, Some(s)),
            _ => Ok(false),
        };
        match (node, sensor) {
            (Ok(true), _) => Some((key.cid.clone(), None)),
            (_, Ok(true)) => Some((key.cid.clone(), Some(key.sensor.clone()))),
            (Err(e), _) | (_, Err(e)) => {
                log::error!("alerts: cannot ask the store whether {} is forgotten ({e})", key.cid);
                None
            }
            _ => None,
        }
    }

    /// Acts on the admin changes written since the last one acted on. A store error stops there:
    /// the same change is tried again once the store answers (logged once).
    pub(super) fn read_admin_changes(&mut self, now: i64) {
        const WHAT: &str = "read what people changed (acknowledgements, silences, forgotten nodes)";
        let changes = match self.store.admin_changes(self.admin_after) {
            Ok(c) => c,
            Err(e) => return self.admin_failed(WHAT, &e),
        };
        for (id, change) in changes {
            if let Err(e) = self.act_on(change, now) {
                return self.admin_failed(WHAT, &e);
            }
            self.admin_after = id;
        }
        self.admin_retry = None;
        self.admin_trouble.ok();
    }

    fn admin_failed(&mut self, what: &str, e: &StoreError) {
        self.admin_trouble.failed(what, e);
        self.admin_retry = Some(std::time::Instant::now() + super::ADMIN_RETRY);
    }

    fn act_on(&mut self, change: AdminChange, now: i64) -> Result<(), StoreError> {
        match change {
            AdminChange::Acked { kind, cid, sensor } => {
                let Some(kind) = Kind::parse(&kind) else { return Ok(()) };
                let key = AlertKey { kind, cid, sensor };
                // Resolved since, or another server's alert: nothing to tell here.
                let Some(alert) = self.engine.firing().find(|a| a.key == key).cloned() else { return Ok(()) };
                let row = self
                    .store
                    .alerts_firing()?
                    .into_iter()
                    .find(|r| r.kind == key.kind.as_str() && r.cid == key.cid && r.sensor == key.sensor);
                let Some(ack) = row.and_then(|r| r.ack) else { return Ok(()) };
                self.acks.insert(key.clone(), ack.clone());
                if let Some(step) = self.gate.acked(&key, &ack) {
                    let t = Transition { state: State::Acknowledged, alert, at_ms: ack.at_ms };
                    self.record(&step, &t);
                }
                self.changed();
            }
            AdminChange::Silences => {
                let silences = self.store.silences(Some(now))?;
                let active = silences.iter().filter(|s| s.active(now)).count();
                log::info!(
                    "alerts: silences changed: {active} in force, {} to come",
                    silences.len() - active
                );
                self.gate.set_silences(silences);
                let steps = self.gate.check(now);
                self.record_all(steps, now);
                self.changed();
            }
            AdminChange::Forgot { cid, sensor } => {
                // Back already (a reading committed since clears the mark): nothing to forget.
                if !self.store.is_forgotten(&cid, sensor.as_deref())? {
                    return Ok(());
                }
                let t = self.engine.forget(&cid, sensor.as_deref(), now);
                log::info!(
                    "alerts: {} forgotten; {} firing alerts of it end",
                    what(&cid, sensor.as_deref()),
                    t.len()
                );
                self.health.forget(&cid, sensor.as_deref());
                self.apply(t);
                self.changed();
                (self.on_forget)(&cid, sensor.as_deref());
            }
        }
        Ok(())
    }

    /// The console's `H`, `S`, `S+`, `S-`, `F:` and `K`. A change is acted on at once (as any
    /// process's would be at the next tick).
    pub(super) fn console(&mut self, request: Request, now: i64) -> String {
        match self.try_console(request, now) {
            Ok(answer) => answer,
            Err(e) => format!("error: the store: {e}"),
        }
    }

    fn try_console(&mut self, request: Request, now: i64) -> Result<String, StoreError> {
        Ok(match request {
            Request::History => {
                let q = EventQuery { limit: HISTORY_LINES, ..Default::default() };
                history_text(&self.store.alert_events(&q)?)
            }
            Request::Silences => {
                let silences = self.store.silences(Some(now))?;
                silences_text(&silences, now)
            }
            Request::SilenceAdd { cid, sensor, kind, duration, by, comment } => {
                if let Err(why) = check_matcher(&cid, &sensor, &kind) {
                    return Ok(format!("error: {why}"));
                }
                let ends_ms = now.saturating_add(duration.as_millis().min(i64::MAX as u128) as i64);
                let s = Silence {
                    id: 0,
                    cid,
                    sensor,
                    kind,
                    starts_ms: now,
                    ends_ms,
                    by,
                    comment,
                    ended_ms: None,
                };
                let id = self.store.silence_add(&s)?;
                log::info!("alerts: silence {id} made on the console, until {}", utc(ends_ms));
                self.read_admin_changes(now);
                format!("ok: silence {id} until {}", utc(ends_ms))
            }
            Request::SilenceEnd(id) => match self.store.silence_end(id, now)? {
                true => {
                    log::info!("alerts: silence {id} ended on the console");
                    self.read_admin_changes(now);
                    format!("ok: silence {id} ended")
                }
                false => format!("error: no active silence {id}"),
            },
            Request::Forget { cid, sensor } => {
                let which = what(&cid, sensor.as_deref());
                match self.store.forget(&cid, sensor.as_deref(), false, now)?.known {
                    true => {
                        log::info!("alerts: {which} forgotten on the console");
                        self.read_admin_changes(now);
                        format!("ok: forgot {which} (its readings are kept)")
                    }
                    false => format!("error: no {which} known"),
                }
            }
            Request::Ack { kind, cid, sensor, by, note } => {
                let about = match sensor.as_str() {
                    "" => format!("node {cid}"),
                    s => label(&cid, s, None),
                };
                let ack = Ack { by, note, at_ms: now };
                match self.store.alert_ack(kind.as_str(), &cid, &sensor, &ack)? {
                    true => {
                        self.read_admin_changes(now);
                        format!("ok: acknowledged the {kind} alert of {about}")
                    }
                    false => format!("error: no {kind} alert firing for {about}"),
                }
            }
        })
    }
}
