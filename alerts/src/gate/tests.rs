use super::*;
use crate::alert::Kind;

const S: i64 = 1000;
const MIN: i64 = 60 * S;
const HOUR: i64 = 60 * MIN;

fn key(kind: Kind, cid: &str, sensor: &str) -> AlertKey {
    AlertKey { kind, cid: cid.into(), sensor: sensor.into() }
}

fn freezer() -> AlertKey {
    key(Kind::AboveMax, "garage", "28-f")
}

/// A silence made at `starts`, lasting until `ends`, with matcher `cid`/`sensor`/`kind`.
fn silence(id: i64, (cid, sensor, kind): (&str, &str, &str), starts: i64, ends: i64) -> Silence {
    Silence {
        id,
        cid: cid.into(),
        sensor: sensor.into(),
        kind: kind.into(),
        starts_ms: starts,
        ends_ms: ends,
        by: "alice".into(),
        comment: "defrosting".into(),
        ended_ms: None,
    }
}

fn ack() -> Ack {
    Ack { by: "bob".into(), note: "on it".into(), at_ms: 0 }
}

/// (event, delivered state) of each step.
fn brief(steps: &[Step]) -> Vec<(Event, Option<State>)> {
    steps.iter().map(|s| (s.event, s.deliver)).collect()
}

fn event(id: i64, event: Event, note: Option<&str>) -> AlertEvent {
    AlertEvent {
        id,
        at_ms: id * S,
        event: event.as_str().into(),
        kind: "above_max".into(),
        cid: "garage".into(),
        sensor: "28-f".into(),
        name: None,
        since_ms: 0,
        value: None,
        message: "m".into(),
        by: None,
        note: note.map(str::to_owned),
    }
}

#[test]
fn without_silences_everything_is_delivered() {
    let mut g = Gate::new();
    assert_eq!(brief(&g.fired(&freezer(), None, 0)), [(Event::Fired, Some(State::Firing))]);
    let a = g.acked(&freezer(), &ack()).unwrap();
    assert_eq!((a.event, a.deliver), (Event::Acknowledged, Some(State::Acknowledged)));
    assert_eq!((a.by.as_deref(), a.note.as_deref()), (Some("bob"), Some("on it")));
    assert!(g.check(HOUR).is_empty());
    let end = g.ended(&freezer(), State::Resolved);
    assert_eq!((end.event, end.deliver), (Event::Resolved, Some(State::Resolved)));
    assert!(g.acked(&freezer(), &ack()).is_none(), "no longer firing");
}

#[test]
fn an_alert_firing_under_a_silence_is_held_and_delivered_once_when_the_silence_expires() {
    let mut g = Gate::new();
    g.set_silences(vec![silence(3, ("garage", "*", "*"), 0, 2 * HOUR)]);
    let steps = g.fired(&freezer(), Some("freezer"), 10 * MIN);
    assert_eq!(brief(&steps), [(Event::Fired, None), (Event::Silenced, None)]);
    assert_eq!(steps[0].note.as_deref(), Some("held by silence 3"));
    assert_eq!(steps[1].by.as_deref(), Some("alice"));
    assert_eq!(steps[1].note.as_deref(), Some("silence 3: defrosting"));
    assert_eq!(g.silenced_by(&freezer()), Some(3));
    // Acknowledged while held: recorded, not delivered.
    let a = g.acked(&freezer(), &ack()).unwrap();
    assert_eq!((a.event, a.deliver), (Event::Acknowledged, None));
    assert!(g.check(2 * HOUR - 1).is_empty(), "still in force");
    let steps = g.check(2 * HOUR);
    assert_eq!(brief(&steps), [(Event::Unsilenced, Some(State::Firing))]);
    assert_eq!(g.silenced_by(&freezer()), None);
    assert!(g.check(2 * HOUR + S).is_empty(), "delivered once");
    assert!(g.check(3 * HOUR).is_empty());
    // Now told: its end is delivered, and so is an acknowledgement.
    assert_eq!(g.acked(&freezer(), &ack()).unwrap().deliver, Some(State::Acknowledged));
    assert_eq!(g.ended(&freezer(), State::Resolved).deliver, Some(State::Resolved));
}

#[test]
fn a_silence_ended_early_frees_a_held_alert_at_once() {
    let mut g = Gate::new();
    let mut s = silence(1, ("*", "*", "above_max"), 0, 2 * HOUR);
    g.set_silences(vec![s.clone()]);
    g.fired(&freezer(), None, MIN);
    s.ended_ms = Some(5 * MIN);
    g.set_silences(vec![s]);
    assert_eq!(brief(&g.check(5 * MIN)), [(Event::Unsilenced, Some(State::Firing))]);
    // The store no longer lists it at all: nothing more happens.
    g.set_silences(vec![]);
    assert!(g.check(6 * MIN).is_empty());
}

#[test]
fn a_held_alert_that_resolves_under_its_silence_is_recorded_but_never_delivered() {
    let mut g = Gate::new();
    g.set_silences(vec![silence(1, ("garage", "28-f", "*"), 0, HOUR)]);
    g.fired(&freezer(), None, MIN);
    let end = g.ended(&freezer(), State::Resolved);
    assert_eq!((end.event, end.deliver), (Event::Resolved, None));
    assert!(g.check(2 * HOUR).is_empty(), "nothing left to deliver when the silence ends");
    // Forgotten under a silence alike.
    g.set_silences(vec![silence(2, ("*", "*", "*"), 0, 3 * HOUR)]);
    g.fired(&freezer(), None, 2 * HOUR);
    let end = g.ended(&freezer(), State::Forgotten);
    assert_eq!((end.event, end.deliver), (Event::Forgotten, None));
}

#[test]
fn a_delivered_alert_that_gets_silenced_has_its_end_delivered_but_not_its_acknowledgement() {
    let mut g = Gate::new();
    assert_eq!(brief(&g.fired(&freezer(), None, 0)), [(Event::Fired, Some(State::Firing))]);
    g.set_silences(vec![silence(7, ("garage", "*", "*"), 10 * MIN, HOUR)]);
    assert!(g.check(5 * MIN).is_empty(), "not started yet");
    let steps = g.check(10 * MIN);
    assert_eq!(brief(&steps), [(Event::Silenced, None)]);
    assert_eq!(g.silenced_by(&freezer()), Some(7));
    assert_eq!(g.acked(&freezer(), &ack()).unwrap().deliver, None, "held by a silence");
    let end = g.ended(&freezer(), State::Resolved);
    assert_eq!((end.event, end.deliver), (Event::Resolved, Some(State::Resolved)), "told it fired");
}

#[test]
fn a_delivered_alert_whose_silence_ends_is_recorded_unsilenced_and_not_delivered_again() {
    let mut g = Gate::new();
    g.fired(&freezer(), None, 0);
    g.set_silences(vec![silence(7, ("*", "*", "*"), MIN, HOUR)]);
    assert_eq!(brief(&g.check(MIN)), [(Event::Silenced, None)]);
    assert_eq!(brief(&g.check(HOUR)), [(Event::Unsilenced, None)]);
}

#[test]
fn matchers_take_the_sensor_or_its_name_and_a_node_alert_only_under_a_star() {
    let mut g = Gate::new();
    g.set_silences(vec![
        silence(1, ("garage", "freezer", "above_max"), 0, HOUR),
        silence(2, ("garage", "28-x", "*"), 0, HOUR),
    ]);
    assert_eq!(brief(&g.fired(&freezer(), Some("freezer"), MIN))[0], (Event::Fired, None), "by name");
    let other = key(Kind::BelowMin, "garage", "28-f");
    assert_eq!(brief(&g.fired(&other, Some("freezer"), MIN))[0].1, Some(State::Firing), "other kind");
    let elsewhere = key(Kind::AboveMax, "attic", "28-f");
    assert_eq!(brief(&g.fired(&elsewhere, Some("freezer"), MIN))[0].1, Some(State::Firing), "other node");
    let node = key(Kind::NodeOffline, "garage", "");
    assert_eq!(brief(&g.fired(&node, None, MIN))[0].1, Some(State::Firing), "a sensor matcher misses a node");
    g.set_silences(vec![silence(3, ("garage", "*", "node_offline"), 0, HOUR)]);
    let node2 = key(Kind::NodeOffline, "garage", "");
    g.ended(&node, State::Resolved);
    assert_eq!(brief(&g.fired(&node2, None, MIN))[0], (Event::Fired, None));
}

#[test]
fn of_two_silences_the_longer_holds_and_the_alert_stays_held_until_both_end() {
    let mut g = Gate::new();
    g.set_silences(vec![silence(1, ("*", "*", "*"), 0, HOUR), silence(2, ("garage", "*", "*"), 0, 2 * HOUR)]);
    g.fired(&freezer(), None, MIN);
    assert_eq!(g.silenced_by(&freezer()), Some(2));
    assert!(g.check(HOUR).is_empty());
    assert_eq!(brief(&g.check(2 * HOUR)), [(Event::Unsilenced, Some(State::Firing))]);
}

#[test]
fn the_history_says_whether_an_alert_was_held() {
    // Newest first.
    let fired = event(1, Event::Fired, None);
    let held = event(1, Event::Fired, Some("held by silence 3"));
    let silenced = event(2, Event::Silenced, Some("silence 3: defrosting"));
    let unsilenced = event(3, Event::Unsilenced, Some("silence 3: defrosting"));
    let acked = event(4, Event::Acknowledged, Some("on it"));
    let told = |told, silenced| Recalled { told, silenced };
    assert_eq!(Recalled::from_history(&[]), told(true, false), "no history: not delivered again");
    assert_eq!(Recalled::from_history(std::slice::from_ref(&fired)), told(true, false));
    assert_eq!(Recalled::from_history(&[silenced.clone(), held.clone()]), told(false, true));
    assert_eq!(Recalled::from_history(&[acked.clone(), silenced.clone(), held.clone()]), told(false, true));
    assert_eq!(
        Recalled::from_history(&[unsilenced.clone(), silenced.clone(), held.clone()]),
        told(true, false)
    );
    assert_eq!(Recalled::from_history(&[silenced.clone(), fired.clone()]), told(true, true));
    // Only what happened since it last fired counts.
    let resolved = event(0, Event::Resolved, None);
    let old = [fired.clone(), resolved, silenced.clone(), held.clone()];
    assert_eq!(Recalled::from_history(&old), told(true, false));
}

#[test]
fn after_a_restart_a_held_alert_stays_held_under_its_silence_and_is_delivered_once_it_ended() {
    let held = Recalled { told: false, silenced: true };
    // Still in force: held, nothing new recorded.
    let mut g = Gate::new();
    g.set_silences(vec![silence(3, ("*", "*", "*"), 0, 2 * HOUR)]);
    assert!(g.restore(&freezer(), None, held, HOUR).is_empty());
    assert_eq!(g.silenced_by(&freezer()), Some(3));
    assert_eq!(brief(&g.check(2 * HOUR)), [(Event::Unsilenced, Some(State::Firing))]);
    // It ended while the server was down: delivered at start, once.
    let mut g = Gate::new();
    g.set_silences(vec![]);
    assert_eq!(
        brief(&g.restore(&freezer(), None, held, 3 * HOUR)),
        [(Event::Unsilenced, Some(State::Firing))]
    );
    assert!(g.check(3 * HOUR + S).is_empty());
    assert_eq!(g.ended(&freezer(), State::Resolved).deliver, Some(State::Resolved));
}

#[test]
fn after_a_restart_a_silence_made_meanwhile_is_recorded_and_one_ended_meanwhile_too() {
    let told = Recalled { told: true, silenced: false };
    let mut g = Gate::new();
    g.set_silences(vec![silence(4, ("garage", "*", "*"), 0, HOUR)]);
    assert_eq!(brief(&g.restore(&freezer(), None, told, MIN)), [(Event::Silenced, None)]);
    assert_eq!(g.ended(&freezer(), State::Resolved).deliver, Some(State::Resolved), "it was told");
    let mut g = Gate::new();
    let was = Recalled { told: true, silenced: true };
    assert_eq!(brief(&g.restore(&freezer(), None, was, MIN)), [(Event::Unsilenced, None)]);
    assert!(g.restore(&key(Kind::BelowMin, "a", "b"), None, told, MIN).is_empty());
}
