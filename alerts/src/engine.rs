//! The alert rules as a pure state machine: readings, sessions and the clock in, transitions out.
//! No I/O and no clock of its own (every call says what time it is), so every rule is tested with
//! made-up times.
//!
//! - `above_max` / `below_min`: the first true (calibrated) value past the limit starts a pending
//!   alert; it fires once it has been pending for `for` (at that reading or at a tick); a value
//!   back inside by `deadband` ends it, pending or firing. A value hovering at the limit therefore
//!   fires once and resolves once.
//! - `sensor_error`: `error_after` error readings in a row fire; the next temperature resolves.
//! - `sensor_silent`: no reading (value or error) received for `silent_after` fires, unless its node
//!   is offline (that is `node_offline`'s news; once it is back, its sensors have `silent_after`
//!   from then to report); the next reading resolves.
//! - `node_offline`: a session that ended `offline_after` ago without a new one fires; the next
//!   registration resolves. Nodes the store knows count as offline since the engine started, so a Pi
//!   that does not come back after a server restart is noticed.
//!
//! What already fires (from the store, after a restart) is not fired again, only resolved.
//!
//! A sensor that replaced another (`replaces` in `[sensors]`) goes on with its series: the rules
//! track the series, under its first id ([`Settings::series_of`]), with the settings of the id in
//! service ([`Settings::series_settings`]). An alert that fires before a swap keeps firing after it
//! (no resolve and fire again), the old id going quiet is no `sensor_silent`, and once a newer id of
//! the series has been heard, readings of an older one still on the bus are heard but not judged.
//!
//! A forgotten node or sensor ([`Engine::forget`]) is dropped with its tracks; its firing alerts
//! end as `forgotten`. One that registers or reports again is tracked afresh.

use crate::alert::{label, Alert, AlertKey, Kind, State, Transition};
use cliser_common::sensors::{SensorSettings, Settings};
use cliser_protocol::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default)]
struct SensorTrack {
    /// When a reading was last received (server time).
    heard_ms: i64,
    /// The newest sample time whose value was judged (older ones from a backlog are not).
    judged_ms: Option<i64>,
    errors_in_row: u32,
    first_error_ms: i64,
    last_error: String,
    /// The newest id of the series heard, as its rank ([`Settings::series_rank`]).
    newest_rank: usize,
}

#[derive(Debug)]
struct NodeTrack {
    online: bool,
    /// When its last session ended (or the engine started, for a node not seen since).
    offline_since_ms: i64,
    /// When it last came online: its sensors' silence counts from then at the earliest, as a Pi
    /// back from an outage has not had the time to report yet.
    online_since_ms: i64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    since_ms: i64,
    value: f64,
}

/// The rules' state.
#[derive(Debug)]
pub struct Engine {
    settings: Arc<Settings>,
    firing: BTreeMap<AlertKey, Alert>,
    pending: HashMap<AlertKey, Pending>,
    sensors: HashMap<(String, String), SensorTrack>,
    nodes: HashMap<String, NodeTrack>,
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn fmt_duration(ms: i64) -> String {
    // Whole seconds: "2m", "1h 5m", as durations are written in the config.
    cliser_common::duration::format(Duration::from_secs((ms.max(0) / 1000) as u64))
}

fn fmt_time(at_ms: i64) -> String {
    // A broken stamp stored before the sink refused them must not stop the alerts thread.
    let t =
        std::time::UNIX_EPOCH + Duration::from_millis(at_ms.clamp(0, cliser_common::when::LATEST_MS) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `node my-pi offline since 2026-12-05T16:40:35Z`: when its last session ended, once and in UTC.
/// How long that was before firing is `offline_after` (what `CLISER_ALERT_LIMIT` says), so it is not
/// repeated as if it were news; the page shows the time in the reader's own clock, and how long.
fn offline_message(cid: &str, since_ms: i64) -> String {
    format!("node {cid} offline since {}", fmt_time(since_ms))
}

impl Engine {
    /// An engine under `settings` that knows `firing` fires already (read from the store).
    pub fn new(settings: Arc<Settings>, firing: Vec<Alert>) -> Self {
        Engine {
            settings,
            firing: firing.into_iter().map(|a| (a.key.clone(), a)).collect(),
            pending: HashMap::new(),
            sensors: HashMap::new(),
            nodes: HashMap::new(),
        }
    }

    /// A node the store knows, not (yet) connected: offline since `now_ms` as far as this engine
    /// can tell.
    pub fn know_node(&mut self, cid: &str, now_ms: i64) {
        self.nodes.entry(cid.to_owned()).or_insert(NodeTrack {
            online: false,
            offline_since_ms: now_ms,
            online_since_ms: now_ms,
        });
    }

    /// A sensor the store knows, last heard at `heard_ms`.
    pub fn know_sensor(&mut self, cid: &str, sensor: &str, heard_ms: i64) {
        let rank = self.settings.series_rank(sensor);
        let t = self.sensors.entry(self.track_key(cid, sensor)).or_default();
        t.heard_ms = t.heard_ms.max(heard_ms);
        t.newest_rank = t.newest_rank.max(rank);
    }

    /// Readings of `cid`'s `sensor` are about to be given (a batch the store took): a newer id of
    /// a `replaces` series is heard before any of the batch is judged, so an older one's reading
    /// in the same batch (the old sensor still on the bus) is not judged either.
    pub fn arriving(&mut self, cid: &str, sensor: &str) {
        let rank = self.settings.series_rank(sensor);
        if rank > 0 {
            let t = self.sensors.entry(self.track_key(cid, sensor)).or_default();
            t.newest_rank = t.newest_rank.max(rank);
        }
    }

    /// The track of `cid`'s `sensor`: its series'.
    fn track_key(&self, cid: &str, sensor: &str) -> (String, String) {
        (cid.to_owned(), self.settings.series_of(sensor).to_owned())
    }

    /// What fires now.
    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.firing.values()
    }

    /// Puts new settings in force. Alerts whose rule is gone (a limit removed, silence no longer
    /// watched) resolve; pending ones start over under the new limits.
    pub fn reload(&mut self, settings: Arc<Settings>, now_ms: i64) -> Vec<Transition> {
        self.settings = settings;
        self.pending.clear();
        // A sensor that now replaces another joins its series' track (the series' first id is the
        // same before and after `replaces` is added to the new one, so the usual swap moves nothing).
        let tracks: Vec<((String, String), SensorTrack)> = self.sensors.drain().collect();
        for ((cid, sensor), t) in tracks {
            let rank = self.settings.series_rank(&sensor);
            let key = self.track_key(&cid, &sensor);
            let merged = self.sensors.entry(key).or_default();
            merged.heard_ms = merged.heard_ms.max(t.heard_ms);
            merged.judged_ms = merged.judged_ms.max(t.judged_ms);
            merged.newest_rank = merged.newest_rank.max(t.newest_rank).max(rank);
        }
        let mut out = Vec::new();
        // An alert that fired under an id that is no longer its series' first is told over by the
        // series from now on: it resolves here, and the series fires if it must.
        let moved: Vec<AlertKey> = self
            .firing
            .keys()
            .filter(|k| !k.sensor.is_empty() && self.settings.series_of(&k.sensor) != k.sensor)
            .cloned()
            .collect();
        for key in moved {
            let what = label(&key.cid, &key.sensor, self.settings.name(&key.sensor));
            let series = self.settings.series_of(&key.sensor).to_owned();
            let msg = format!("{what}: now part of the series of {series} (settings reloaded)");
            out.extend(self.resolve(&key, now_ms, None, msg));
        }
        let gone: Vec<AlertKey> = self
            .firing
            .keys()
            .filter(|k| {
                let s = self.settings.series_settings(&k.sensor);
                match k.kind {
                    Kind::AboveMax => s.max.is_none(),
                    Kind::BelowMin => s.min.is_none(),
                    Kind::SensorSilent => s.silent_after.is_none(),
                    Kind::SensorError | Kind::NodeOffline => false,
                }
            })
            .cloned()
            .collect();
        for key in gone {
            let what = label(&key.cid, &key.sensor, self.settings.name(&key.sensor));
            out.extend(self.resolve(
                &key,
                now_ms,
                None,
                format!("{what}: {} no longer watched (settings reloaded)", key.kind),
            ));
        }
        out
    }

    fn key(kind: Kind, cid: &str, sensor: &str) -> AlertKey {
        AlertKey { kind, cid: cid.to_owned(), sensor: sensor.to_owned() }
    }

    fn fire(
        &mut self,
        key: AlertKey,
        since_ms: i64,
        value: Option<f64>,
        limit: Option<f64>,
        message: String,
        at_ms: i64,
    ) -> Option<Transition> {
        if self.firing.contains_key(&key) {
            return None;
        }
        let name =
            (!key.sensor.is_empty()).then(|| self.settings.name(&key.sensor).map(str::to_owned)).flatten();
        let alert = Alert { key: key.clone(), name, since_ms, value, limit, message };
        self.firing.insert(key, alert.clone());
        Some(Transition { state: State::Firing, alert, at_ms })
    }

    fn resolve(
        &mut self,
        key: &AlertKey,
        at_ms: i64,
        value: Option<f64>,
        message: String,
    ) -> Option<Transition> {
        let mut alert = self.firing.remove(key)?;
        self.as_now(&mut alert);
        alert.value = value;
        alert.message = message;
        Some(Transition { state: State::Resolved, alert, at_ms })
    }

    /// The name and limit of `alert` under the settings in force now: a transition tells them as its
    /// message does (a reload may have renamed the sensor or moved the limit since it fired). A
    /// limit no longer set is none.
    fn as_now(&self, alert: &mut Alert) {
        let key = &alert.key;
        alert.name =
            (!key.sensor.is_empty()).then(|| self.settings.name(&key.sensor).map(str::to_owned)).flatten();
        let s = self.settings.series_settings(&key.sensor);
        alert.limit = match key.kind {
            Kind::AboveMax => s.max,
            Kind::BelowMin => s.min,
            Kind::SensorError => Some(f64::from(s.error_after)),
            Kind::SensorSilent => s.silent_after.map(|d| d.as_secs_f64()),
            Kind::NodeOffline => Some(self.settings.node(&key.cid).offline_after.as_secs_f64()),
        };
    }

    /// `n` error readings of `cid`'s `sensor`, the first sampled at `first_ms`, that came before
    /// the next one given to [`reading`](Self::reading) and were folded out while they waited:
    /// they count toward `error_after` as if each had been given.
    pub fn more_errors(&mut self, cid: &str, sensor: &str, n: u64, first_ms: i64) {
        let track = self.sensors.entry(self.track_key(cid, sensor)).or_default();
        if track.errors_in_row == 0 {
            track.first_error_ms = first_ms;
        }
        track.errors_in_row = track.errors_in_row.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// A reading the store took, `raw` as sent, received at `now_ms`.
    pub fn reading(
        &mut self,
        cid: &str,
        sensor: &str,
        raw: &Value,
        sampled_ms: i64,
        now_ms: i64,
    ) -> Vec<Transition> {
        let settings = self.settings.clone();
        let s = settings.series_settings(sensor);
        let what = label(cid, sensor, settings.name(sensor));
        let mut out = Vec::new();
        // The series' track and alerts: a replacement goes on where the sensor it replaced was.
        let series = settings.series_of(sensor);
        let rank = settings.series_rank(sensor);
        let track_key = (cid.to_owned(), series.to_owned());
        let track = self.sensors.entry(track_key.clone()).or_default();
        let silent_for = now_ms - track.heard_ms;
        track.heard_ms = track.heard_ms.max(now_ms);
        // A replaced sensor still on the bus once its replacement was heard: heard, not judged.
        let replaced = rank < track.newest_rank;
        track.newest_rank = track.newest_rank.max(rank);
        let stale = replaced || track.judged_ms.is_some_and(|j| sampled_ms < j);
        if !stale {
            track.judged_ms = Some(sampled_ms);
        }
        let silent = Self::key(Kind::SensorSilent, cid, series);
        let msg = format!("{what} reports again after {}", fmt_duration(silent_for));
        out.extend(self.resolve(&silent, now_ms, None, msg));
        if stale {
            // A backlog's older reading: heard, but the newest value is what the limits judge.
            return out;
        }
        let track = self.sensors.get_mut(&track_key).expect("inserted above");
        match raw {
            Value::Error(reason) => {
                if track.errors_in_row == 0 {
                    track.first_error_ms = sampled_ms;
                }
                track.errors_in_row += 1;
                track.last_error = reason.to_string();
                if track.errors_in_row >= s.error_after {
                    let (n, since, last) =
                        (track.errors_in_row, track.first_error_ms, track.last_error.clone());
                    let msg = format!("{what}: {n} error readings in a row (last: err:{last})");
                    let key = Self::key(Kind::SensorError, cid, series);
                    out.extend(self.fire(key, since, None, Some(f64::from(s.error_after)), msg, now_ms));
                }
            }
            Value::Celsius(c) => {
                track.errors_in_row = 0;
                let v = (settings.calibrate(sensor, *c).degrees() * 1000.0).round() / 1000.0;
                let key = Self::key(Kind::SensorError, cid, series);
                out.extend(self.resolve(&key, now_ms, Some(v), format!("{what} reads again: {v:.3}")));
                out.extend(self.judge(Kind::AboveMax, cid, series, s, &what, v, sampled_ms, now_ms));
                out.extend(self.judge(Kind::BelowMin, cid, series, s, &what, v, sampled_ms, now_ms));
            }
        }
        out
    }

    /// One limit against one value sampled at `t`.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &mut self,
        kind: Kind,
        cid: &str,
        sensor: &str,
        s: &SensorSettings,
        what: &str,
        v: f64,
        t: i64,
        now_ms: i64,
    ) -> Option<Transition> {
        let key = Self::key(kind, cid, sensor);
        let (limit, side) = match kind {
            Kind::AboveMax => (s.max, "above max"),
            _ => (s.min, "below min"),
        };
        let Some(limit) = limit else {
            self.pending.remove(&key);
            if !self.firing.contains_key(&key) {
                return None;
            }
            let msg = format!("{what}: no {} any more", if kind == Kind::AboveMax { "max" } else { "min" });
            return self.resolve(&key, now_ms, Some(v), msg);
        };
        let (crossed, cleared) = match kind {
            Kind::AboveMax => (v > limit, v < limit - s.deadband),
            _ => (v < limit, v > limit + s.deadband),
        };
        if self.firing.contains_key(&key) {
            if !cleared {
                return None;
            }
            let since = self.firing[&key].since_ms;
            let back = if kind == Kind::AboveMax { "back below max" } else { "back above min" };
            let msg =
                format!("{what} {back} {limit:.1}: {v:.3} (was {side} for {})", fmt_duration(t - since));
            return self.resolve(&key, now_ms, Some(v), msg);
        }
        if cleared {
            self.pending.remove(&key);
            return None;
        }
        let pending = match self.pending.get_mut(&key) {
            Some(p) => {
                p.value = v;
                *p
            }
            None if crossed => *self.pending.entry(key.clone()).or_insert(Pending { since_ms: t, value: v }),
            None => return None,
        };
        self.fire_if_due(&key, pending, t, now_ms)
    }

    fn fire_if_due(&mut self, key: &AlertKey, p: Pending, t: i64, now_ms: i64) -> Option<Transition> {
        let s = self.settings.series_settings(&key.sensor).clone();
        if t - p.since_ms < ms(s.for_) {
            return None;
        }
        self.pending.remove(key);
        let what = label(&key.cid, self.settings.current_of(&key.sensor), self.settings.name(&key.sensor));
        let (limit, side) = match key.kind {
            Kind::AboveMax => (s.max?, "above max"),
            _ => (s.min?, "below min"),
        };
        let lasted = if t - p.since_ms >= 1000 {
            format!(" for {}", fmt_duration(t - p.since_ms))
        } else {
            String::new()
        };
        let msg = format!("{what} {side} {limit:.1}: {:.3}{lasted}", p.value);
        self.fire(key.clone(), p.since_ms, Some(p.value), Some(limit), msg, now_ms)
    }

    /// Forgets node `cid` (`sensor` None: with all its sensors) or one of its sensors: no more
    /// alerts about it, pending ones dropped, and each firing one ends (state `forgotten`). A later
    /// registration or reading tracks it again from scratch.
    pub fn forget(&mut self, cid: &str, sensor: Option<&str>, now_ms: i64) -> Vec<Transition> {
        // A replaced sensor forgotten (the old one, gone from the bus) leaves its series alone:
        // that goes on in the sensor that replaced it. Any other id stands for its series.
        if sensor.is_some_and(|s| self.settings.replaced_by(s).is_some()) {
            return Vec::new();
        }
        let settings = self.settings.clone();
        let sensor = sensor.map(|s| settings.series_of(s));
        let about = |k: &AlertKey| k.cid == cid && sensor.is_none_or(|s| k.sensor == s);
        match sensor {
            None => {
                self.nodes.remove(cid);
                self.sensors.retain(|(c, _), _| c != cid);
            }
            Some(s) => {
                self.sensors.remove(&(cid.to_owned(), s.to_owned()));
            }
        }
        self.pending.retain(|k, _| !about(k));
        let gone: Vec<AlertKey> = self.firing.keys().filter(|k| about(k)).cloned().collect();
        gone.into_iter()
            .filter_map(|key| {
                let mut alert = self.firing.remove(&key)?;
                self.as_now(&mut alert);
                let what = match key.sensor.as_str() {
                    "" => format!("node {}", key.cid),
                    s => label(&key.cid, s, alert.name.as_deref()),
                };
                alert.value = None;
                alert.message = format!(
                    "{what} forgotten: its {} alert (since {}) ends",
                    key.kind,
                    fmt_time(alert.since_ms)
                );
                Some(Transition { state: State::Forgotten, alert, at_ms: now_ms })
            })
            .collect()
    }

    /// Whether the engine tracks node `cid` (for tests and the console).
    pub fn knows_node(&self, cid: &str) -> bool {
        self.nodes.contains_key(cid)
    }

    /// Whether the engine tracks sensor `sensor` of `cid`.
    pub fn knows_sensor(&self, cid: &str, sensor: &str) -> bool {
        self.sensors.contains_key(&self.track_key(cid, sensor))
    }

    /// A node registered.
    pub fn node_up(&mut self, cid: &str, now_ms: i64) -> Vec<Transition> {
        let node = self.nodes.entry(cid.to_owned()).or_insert(NodeTrack {
            online: false,
            offline_since_ms: now_ms,
            online_since_ms: now_ms,
        });
        if !node.online {
            node.online = true;
            node.online_since_ms = now_ms;
        }
        let since = node.offline_since_ms;
        let key = Self::key(Kind::NodeOffline, cid, "");
        let msg = format!("node {cid} back online after {}", fmt_duration(now_ms - since));
        self.resolve(&key, now_ms, None, msg).into_iter().collect()
    }

    /// A node's session ended.
    pub fn node_down(&mut self, cid: &str, now_ms: i64) {
        let node = self.nodes.entry(cid.to_owned()).or_insert(NodeTrack {
            online: false,
            offline_since_ms: now_ms,
            online_since_ms: now_ms,
        });
        if node.online {
            node.online = false;
            node.offline_since_ms = now_ms;
        }
    }

    /// What the clock alone decides: nodes gone long enough, sensors silent long enough, limits
    /// crossed for long enough without a new reading.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        let settings = self.settings.clone();
        let offline: Vec<(String, i64)> = self
            .nodes
            .iter()
            .filter(|(cid, n)| {
                !n.online && now_ms - n.offline_since_ms >= ms(settings.node(cid).offline_after)
            })
            .map(|(cid, n)| (cid.clone(), n.offline_since_ms))
            .collect();
        for (cid, since) in offline {
            let key = Self::key(Kind::NodeOffline, &cid, "");
            if self.firing.contains_key(&key) {
                continue;
            }
            let msg = offline_message(&cid, since);
            let limit = Some(settings.node(&cid).offline_after.as_secs_f64());
            out.extend(self.fire(key, since, None, limit, msg, now_ms));
        }
        let silent: Vec<(String, String, i64, Duration)> = self
            .sensors
            .iter()
            .filter_map(|((cid, sensor), t)| {
                let after = settings.series_settings(sensor).silent_after?;
                // Silence while its node was offline is the node's news, not the sensor's.
                let quiet_since = match self.nodes.get(cid) {
                    Some(n) if !n.online => return None,
                    Some(n) => t.heard_ms.max(n.online_since_ms),
                    None => t.heard_ms,
                };
                (now_ms - quiet_since >= ms(after)).then(|| (cid.clone(), sensor.clone(), t.heard_ms, after))
            })
            .collect();
        for (cid, sensor, heard, after) in silent {
            let key = Self::key(Kind::SensorSilent, &cid, &sensor);
            if self.firing.contains_key(&key) {
                continue;
            }
            let what = label(&cid, settings.current_of(&sensor), settings.name(&sensor));
            let msg = format!(
                "{what} silent for {} (last reading received {})",
                fmt_duration(now_ms - heard),
                fmt_time(heard)
            );
            out.extend(self.fire(key, heard, None, Some(after.as_secs_f64()), msg, now_ms));
        }
        let due: Vec<(AlertKey, Pending)> = self
            .pending
            .iter()
            .filter(|(k, p)| now_ms - p.since_ms >= ms(settings.series_settings(&k.sensor).for_))
            .map(|(k, p)| (k.clone(), *p))
            .collect();
        for (key, p) in due {
            out.extend(self.fire_if_due(&key, p, now_ms, now_ms));
        }
        out
    }
}

#[cfg(test)]
mod tests;
