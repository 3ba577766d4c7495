//! Acting on alerts, or following: in a fleet only the server that holds the alerts duty keeps
//! alerts in the store, records their history and delivers them; the others' engines see the
//! same inputs, so the one that takes over starts warm.

use super::{Runner, Transition};
use crate::alert::{Alert, AlertKey, Kind, State};
use cliser_store::{Ack, EventQuery};
use std::collections::BTreeSet;

/// At most this many transitions left undelivered by the server that acted before are delivered
/// again on taking over (the newest; an outage that long is told by the alerts firing now).
const PENDING_MAX: usize = 1000;

/// The state a history event was delivered with; `None` for one never delivered.
fn delivered_as(event: &str) -> Option<State> {
    match event {
        "fired" | "unsilenced" => Some(State::Firing),
        "resolved" => Some(State::Resolved),
        "acknowledged" => Some(State::Acknowledged),
        "forgotten" => Some(State::Forgotten),
        _ => None,
    }
}

impl Runner {
    /// Delivers again, oldest first and under their transition ids, the transitions the server
    /// that acted before recorded to deliver but did not see every target take (it died, or was
    /// cut off, with them in flight): at least once, and a receiver can drop a repeat by its id.
    fn deliver_pending(&mut self) {
        let q = EventQuery { pending_delivery: true, limit: PENDING_MAX, ..EventQuery::default() };
        let mut pending = match self.store.alert_events(&q) {
            Ok(events) => events,
            Err(e) => {
                log::error!("alerts: taking over, cannot read the transitions left to deliver ({e})");
                return;
            }
        };
        pending.reverse();
        for e in pending {
            let (Some(state), Some(kind)) = (delivered_as(&e.event), Kind::parse(&e.kind)) else { continue };
            let alert = Alert {
                key: AlertKey { kind, cid: e.cid.clone(), sensor: e.sensor.clone() },
                name: e.name.clone(),
                since_ms: e.since_ms,
                value: e.value,
                limit: None,
                message: e.message.clone(),
            };
            let ack = (state == State::Acknowledged).then(|| Ack {
                by: e.by.clone().unwrap_or_default(),
                note: e.note.clone().unwrap_or_default(),
                at_ms: e.at_ms,
            });
            log::info!("alerts: delivering transition {} again (not confirmed before the takeover)", e.id);
            self.delivery.deliver(&Transition { state, alert, at_ms: e.at_ms }, ack.as_ref(), Some(e.id));
        }
    }

    /// Starts or stops acting on alerts ([`Input::Acting`](super::Input::Acting)). Starting, it
    /// takes what the store says over from the server that acted before: the acknowledgements and
    /// silences in force; an alert firing in both the store and this engine is held or delivered as
    /// its history says (as at start); one firing only here fires now, one firing only in the store
    /// resolves now (each recorded and delivered).
    pub(super) fn set_acting(&mut self, acting: bool, now: i64) {
        if acting == self.acting {
            return;
        }
        self.acting = acting;
        if !acting {
            log::info!("alerts: another server acts on alerts now; this one follows");
            return;
        }
        self.deliver_pending();
        let stored = match self.store.alerts_firing() {
            Ok(rows) => rows.into_iter().filter_map(super::from_row).collect::<Vec<_>>(),
            Err(e) => {
                // Acting on what this engine knows: the store is asked again at each change.
                log::error!(
                    "alerts: taking over, cannot read the firing alerts ({e}); acting on this server's view"
                );
                Vec::new()
            }
        };
        match self.store.silences(Some(now)) {
            Ok(silences) => self.gate.set_silences(silences),
            Err(e) => log::error!("alerts: taking over, cannot read the silences ({e})"),
        }
        self.acks = stored.iter().filter_map(|(a, ack)| Some((a.key.clone(), ack.clone()?))).collect();
        let in_store: BTreeSet<AlertKey> = stored.iter().map(|(a, _)| a.key.clone()).collect();
        let firing: Vec<Alert> = self.engine.firing().cloned().collect();
        let here: BTreeSet<AlertKey> = firing.iter().map(|a| a.key.clone()).collect();
        let mut told = Vec::new();
        for a in firing {
            if in_store.contains(&a.key) {
                let was = self.recall(&a.key);
                let t = Transition { state: State::Firing, alert: a.clone(), at_ms: now };
                for step in self.gate.restore(&a.key, a.name.as_deref(), was, now) {
                    self.record(&step, &t);
                }
            } else {
                told.push(Transition { state: State::Firing, alert: a, at_ms: now });
            }
        }
        for (a, _) in stored.into_iter().filter(|(a, _)| !here.contains(&a.key)) {
            told.push(Transition { state: State::Resolved, alert: a, at_ms: now });
        }
        log::info!("alerts: this server acts on alerts now ({} firing, {} to tell)", here.len(), told.len());
        self.apply(told);
        self.changed();
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Input, Runner, RunnerStore};
    use crate::deliver::Delivery;
    use cliser_common::sensors::Settings;
    use std::sync::Arc;

    fn settings() -> Arc<Settings> {
        let doc: toml::Value = "[nodes]\noffline_after = \"1s\"\n".parse().unwrap();
        Arc::new(Settings::from_toml(&doc).unwrap())
    }

    fn runner(dir: &tempfile::TempDir) -> Runner {
        let url = format!("sqlite:{}", dir.path().join("a.db").display());
        let store = cliser_store::open_as::<dyn RunnerStore>(&url).unwrap();
        let s = settings();
        Runner::new(store, s.clone(), Delivery::new(&s.alerts), Box::new(|_| {})).unwrap()
    }

    fn firing_in_store(dir: &tempfile::TempDir) -> Vec<(String, String)> {
        let url = format!("sqlite:{}", dir.path().join("a.db").display());
        let mut store = cliser_store::open(&url).unwrap();
        store.alerts_firing().unwrap().into_iter().map(|a| (a.kind, a.cid)).collect()
    }

    #[test]
    fn a_follower_keeps_nothing_and_on_taking_over_tells_what_fires_and_what_ended() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = runner(&dir);
        r.handle(Input::Acting(false));
        // Offline since long ago: fires in the follower's engine, not in the store.
        r.handle(Input::NodeUp("pi-a".into()));
        r.handle(Input::NodeDownAt("pi-a".into(), 0));
        r.tick(super::super::now_ms());
        assert_eq!(r.engine.firing().count(), 1, "the follower's engine sees it");
        assert!(firing_in_store(&dir).is_empty(), "a follower keeps nothing");
        // Taking over: fired now (kept in the store).
        r.handle(Input::Acting(true));
        assert_eq!(firing_in_store(&dir), [("node_offline".to_owned(), "pi-a".to_owned())]);
        // Following again, the node comes back: the store still says firing until the next
        // server to act reconciles; that is this one again, which resolves it.
        r.handle(Input::Acting(false));
        r.handle(Input::NodeUp("pi-a".into()));
        assert_eq!(r.engine.firing().count(), 0);
        assert_eq!(firing_in_store(&dir).len(), 1);
        r.handle(Input::Acting(true));
        assert!(firing_in_store(&dir).is_empty(), "resolved on taking over");
    }

    #[test]
    fn taking_over_delivers_again_what_was_left_pending_and_then_marks_it_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("a.db").display());
        let mut before = cliser_store::open(&url).unwrap();
        let event = cliser_store::AlertEvent {
            id: 0,
            at_ms: 1_000,
            event: "fired".into(),
            kind: "node_offline".into(),
            cid: "pi-a".into(),
            sensor: String::new(),
            name: None,
            since_ms: 500,
            value: None,
            message: "pi-a is offline".into(),
            by: None,
            note: None,
        };
        let id = before.alert_event_add_to_deliver(&event).unwrap();
        let pending = cliser_store::EventQuery { pending_delivery: true, ..Default::default() };
        let mut r = runner(&dir);
        r.handle(Input::Acting(false));
        r.tick(super::super::now_ms());
        assert_eq!(before.alert_events(&pending).unwrap().len(), 1, "a follower leaves it pending");
        r.handle(Input::Acting(true));
        r.tick(super::super::now_ms());
        let left: Vec<i64> = before.alert_events(&pending).unwrap().iter().map(|e| e.id).collect();
        assert!(
            left.is_empty(),
            "transition {id} delivered again (to the log only here) and marked: {left:?}"
        );
    }
}
