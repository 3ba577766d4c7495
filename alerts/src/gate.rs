//! Who is told what, between the engine's transitions and the delivery: silences and
//! acknowledgements, as Alertmanager's. Pure, like the engine: silences, transitions and the time go
//! in, [`Step`]s (what to record in the history, and whether to deliver it) come out.
//!
//! - An alert that fires under a silence in force is recorded (`fired`, then `silenced`) but held:
//!   the command and the webhook are not told.
//! - When its silence ends (expired or ended early) and it still fires, it is delivered then, once
//!   (`unsilenced`, delivered as `firing`).
//! - A held alert that ends under the silence is recorded, not delivered: nobody was told it fired.
//! - An alert that was delivered and then got silenced is recorded `silenced`; its end IS
//!   delivered: a receiver told of a firing is always told of its end.
//! - An acknowledgement is delivered, unless a silence holds the alert now.
//! - After a restart, each firing alert's history says whether it was held ([`Recalled`]): one
//!   whose silence ended meanwhile is delivered then, once.

use crate::alert::{AlertKey, State};
use cliser_store::{Ack, AlertEvent, Silence};
use std::collections::BTreeMap;

/// The note of a `fired` event whose delivery a silence held: `held by silence 3`. A restart reads
/// it back ([`Recalled::from_history`]).
pub const HELD: &str = "held by silence ";

/// What the history records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// It started firing.
    Fired,
    /// It ended.
    Resolved,
    /// Someone acknowledged it.
    Acknowledged,
    /// A silence holds its notifications from now on.
    Silenced,
    /// Its silence ended while it fires.
    Unsilenced,
    /// Its node or sensor was forgotten.
    Forgotten,
}

impl Event {
    /// `fired`, `resolved`, `acknowledged`, `silenced`, `unsilenced`, `forgotten`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Fired => "fired",
            Event::Resolved => "resolved",
            Event::Acknowledged => "acknowledged",
            Event::Silenced => "silenced",
            Event::Unsilenced => "unsilenced",
            Event::Forgotten => "forgotten",
        }
    }
}

/// One thing that happened to an alert: to record in the history, and perhaps to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Which alert.
    pub key: AlertKey,
    /// What to record.
    pub event: Event,
    /// Who did it (the silence's maker, the acknowledger).
    pub by: Option<String>,
    /// The silence's id and comment, the acknowledger's note, or [`HELD`].
    pub note: Option<String>,
    /// Deliver it to the command and the webhook with this state; `None`: record and log only.
    pub deliver: Option<State>,
}

/// What the history says of an alert that fired before a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recalled {
    /// The receivers were told it fires.
    pub told: bool,
    /// A silence held it when the history was last written.
    pub silenced: bool,
}

impl Recalled {
    /// Reads one alert's history, newest first: what happened since it last fired. Without a
    /// `fired` event (history from before there was one, or pruned) it counts as told and not
    /// silenced: it is not delivered again.
    pub fn from_history(newest_first: &[AlertEvent]) -> Recalled {
        let Some(fired) = newest_first.iter().position(|e| e.event == Event::Fired.as_str()) else {
            return Recalled { told: true, silenced: false };
        };
        let since = &newest_first[..=fired];
        let held = newest_first[fired].note.as_deref().is_some_and(|n| n.starts_with(HELD));
        let unsilenced = since.iter().any(|e| e.event == Event::Unsilenced.as_str());
        let last = since
            .iter()
            .find(|e| e.event == Event::Silenced.as_str() || e.event == Event::Unsilenced.as_str());
        Recalled {
            told: !held || unsilenced,
            silenced: last.is_some_and(|e| e.event == Event::Silenced.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
struct Tracked {
    name: Option<String>,
    /// The receivers were told it fires.
    told: bool,
    /// The silence that holds it now (kept whole: it may have left the list when it ends).
    silenced_by: Option<Silence>,
}

/// The silences in force and, for each firing alert, whether it was told and what holds it.
#[derive(Debug, Default)]
pub struct Gate {
    silences: Vec<Silence>,
    alerts: BTreeMap<AlertKey, Tracked>,
}

fn silence_note(s: &Silence) -> String {
    match s.comment.is_empty() {
        true => format!("silence {}", s.id),
        false => format!("silence {}: {}", s.id, s.comment),
    }
}

impl Gate {
    /// No silences, no alerts.
    pub fn new() -> Gate {
        Gate::default()
    }

    /// The silences as the store has them now (ended and expired ones may be left out); takes
    /// effect at the next [`check`](Self::check).
    pub fn set_silences(&mut self, silences: Vec<Silence>) {
        self.silences = silences;
    }

    /// The silences known (in force, to come, or over).
    pub fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// The silence in force at `now_ms` matching the alert; of several, the one that lasts longest.
    fn covering(&self, key: &AlertKey, name: Option<&str>, now_ms: i64) -> Option<&Silence> {
        self.silences
            .iter()
            .filter(|s| s.active(now_ms) && s.matches(key.kind.as_str(), &key.cid, &key.sensor, name))
            .max_by_key(|s| (s.ends_ms, -s.id))
    }

    fn step(key: &AlertKey, event: Event, deliver: Option<State>) -> Step {
        Step { key: key.clone(), event, by: None, note: None, deliver }
    }

    fn silence_step(key: &AlertKey, event: Event, s: &Silence, deliver: Option<State>) -> Step {
        Step { by: Some(s.by.clone()), note: Some(silence_note(s)), ..Self::step(key, event, deliver) }
    }

    /// The alert (named `name`) fired at `now_ms`.
    pub fn fired(&mut self, key: &AlertKey, name: Option<&str>, now_ms: i64) -> Vec<Step> {
        let holder = self.covering(key, name, now_ms).cloned();
        let tracked =
            Tracked { name: name.map(str::to_owned), told: holder.is_none(), silenced_by: holder.clone() };
        self.alerts.insert(key.clone(), tracked);
        match holder {
            None => vec![Self::step(key, Event::Fired, Some(State::Firing))],
            Some(s) => vec![
                Step { note: Some(format!("{HELD}{}", s.id)), ..Self::step(key, Event::Fired, None) },
                Self::silence_step(key, Event::Silenced, &s, None),
            ],
        }
    }

    /// The alert ended with `state` ([`State::Resolved`] or [`State::Forgotten`]): delivered when
    /// the receivers were told it fired.
    pub fn ended(&mut self, key: &AlertKey, state: State) -> Step {
        let told = self.alerts.remove(key).is_none_or(|t| t.told);
        let event = if state == State::Forgotten { Event::Forgotten } else { Event::Resolved };
        Self::step(key, event, told.then_some(state))
    }

    /// Someone acknowledged the firing alert: delivered unless a silence holds it. `None` when
    /// the alert is not firing.
    pub fn acked(&self, key: &AlertKey, ack: &Ack) -> Option<Step> {
        let t = self.alerts.get(key)?;
        let deliver = (t.told && t.silenced_by.is_none()).then_some(State::Acknowledged);
        Some(Step {
            by: Some(ack.by.clone()),
            note: Some(ack.note.clone()),
            ..Self::step(key, Event::Acknowledged, deliver)
        })
    }

    /// Silences that started or ended by `now_ms` (expired, ended early, made): `silenced` for
    /// each alert one now holds, `unsilenced` (delivered if it was held) for each one freed.
    pub fn check(&mut self, now_ms: i64) -> Vec<Step> {
        let mut out = Vec::new();
        let keys: Vec<AlertKey> = self.alerts.keys().cloned().collect();
        for key in keys {
            let t = &self.alerts[&key];
            let now = self.covering(&key, t.name.as_deref(), now_ms).cloned();
            let t = self.alerts.get_mut(&key).expect("listed above");
            match (&t.silenced_by, now) {
                (None, Some(s)) => {
                    out.push(Self::silence_step(&key, Event::Silenced, &s, None));
                    t.silenced_by = Some(s);
                }
                (Some(_), Some(s)) => t.silenced_by = Some(s),
                (Some(old), None) => {
                    let deliver = (!t.told).then_some(State::Firing);
                    out.push(Self::silence_step(&key, Event::Unsilenced, old, deliver));
                    t.told = true;
                    t.silenced_by = None;
                }
                (None, None) => {}
            }
        }
        out
    }

    /// An alert that fired before this start, with what its history says: held on if a silence
    /// in force covers it (`silenced` recorded if the history did not say so), delivered now if it
    /// was held and no silence covers it any more.
    pub fn restore(&mut self, key: &AlertKey, name: Option<&str>, was: Recalled, now_ms: i64) -> Vec<Step> {
        let holder = self.covering(key, name, now_ms).cloned();
        let mut out = Vec::new();
        let mut told = was.told;
        match &holder {
            Some(s) if !was.silenced => out.push(Self::silence_step(key, Event::Silenced, s, None)),
            Some(_) => {}
            None if !was.told || was.silenced => {
                let deliver = (!was.told).then_some(State::Firing);
                let mut step = Self::step(key, Event::Unsilenced, deliver);
                step.note = Some("its silence ended while the server was down".into());
                out.push(step);
                told = true;
            }
            None => {}
        }
        self.alerts.insert(key.clone(), Tracked { name: name.map(str::to_owned), told, silenced_by: holder });
        out
    }

    /// An alert that fired before this start and ends at once (its node was forgotten meanwhile):
    /// tracked as its history says, so that its end is delivered only if it was told, and nothing
    /// recorded for its silence.
    pub fn remember(&mut self, key: &AlertKey, name: Option<&str>, was: Recalled) {
        self.alerts.insert(
            key.clone(),
            Tracked { name: name.map(str::to_owned), told: was.told, silenced_by: None },
        );
    }

    /// The id of the silence that holds the alert now, if one does.
    pub fn silenced_by(&self, key: &AlertKey) -> Option<i64> {
        self.alerts.get(key)?.silenced_by.as_ref().map(|s| s.id)
    }
}

#[cfg(test)]
mod tests;
