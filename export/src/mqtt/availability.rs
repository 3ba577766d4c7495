//! Each node's availability topic: what it should say, and whether that differs from what the broker
//! holds, so that Home Assistant never sees a node blink.
//!
//! Two rules keep a server restart invisible to Home Assistant. A node is published only when its
//! value differs from what the broker holds retained (learned on each connection by subscribing to
//! the availability topics: the broker sends what it holds before it acknowledges anything sent
//! after the subscription). And a node with no session is not called `offline` until a grace after
//! the server's start has passed, unless its session ended during this run: after a restart its Pi
//! reconnects within seconds, and `offline` meanwhile would make its entities unavailable for
//! nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// `online`: the node has a session.
pub const ONLINE: &str = "online";
/// `offline`: it has none.
pub const OFFLINE: &str = "offline";

/// The availability of every node, as it is and as the broker holds it.
#[derive(Debug)]
pub struct Availability {
    /// When this run began, and the grace after it.
    started: Instant,
    grace: Duration,
    /// Nodes with a session now.
    online: BTreeSet<String>,
    /// Nodes whose session ended during this run: known to be away, grace or not.
    ended: BTreeSet<String>,
    /// What the broker holds (retained), as learned on this connection and published since.
    held: BTreeMap<String, String>,
    /// Whether what the broker holds is learned on this connection (until then nothing is due:
    /// the comparison would be with nothing).
    learned: bool,
}

impl Availability {
    /// Nothing known yet; a node without a session is `offline` from `started + grace` on.
    pub fn new(started: Instant, grace: Duration) -> Availability {
        Availability {
            started,
            grace,
            online: BTreeSet::new(),
            ended: BTreeSet::new(),
            held: BTreeMap::new(),
            learned: false,
        }
    }

    /// A node's session began or ended.
    pub fn session(&mut self, cid: &str, online: bool) {
        if online {
            self.online.insert(cid.to_owned());
            self.ended.remove(cid);
        } else {
            self.online.remove(cid);
            self.ended.insert(cid.to_owned());
        }
    }

    /// A new connection to the broker: what it holds is to be learned again.
    pub fn connected(&mut self) {
        self.held.clear();
        self.learned = false;
    }

    /// The broker holds `payload` for `cid` (a retained message, while learning).
    pub fn held(&mut self, cid: &str, payload: &str) {
        if !self.learned {
            self.held.insert(cid.to_owned(), payload.to_owned());
        }
    }

    /// Everything the broker holds has arrived: from now on nodes are published when they differ.
    pub fn learned(&mut self) {
        self.learned = true;
    }

    /// Whether the grace after the start is over at `now`.
    pub fn grace_over(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) >= self.grace
    }

    /// What `cid` should say at `now`, if anything yet.
    pub fn wanted(&self, cid: &str, now: Instant) -> Option<&'static str> {
        if self.online.contains(cid) {
            Some(ONLINE)
        } else if self.ended.contains(cid) || self.grace_over(now) {
            Some(OFFLINE)
        } else {
            None
        }
    }

    /// What to publish for `cid` at `now`: its value when the broker holds another (or none).
    pub fn due(&self, cid: &str, now: Instant) -> Option<&'static str> {
        if !self.learned {
            return None;
        }
        let want = self.wanted(cid, now)?;
        (self.held.get(cid).map(String::as_str) != Some(want)).then_some(want)
    }

    /// `payload` was handed to the broker for `cid`.
    pub fn published(&mut self, cid: &str, payload: &str) {
        self.held.insert(cid.to_owned(), payload.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(30);

    #[test]
    fn nothing_is_due_before_what_the_broker_holds_is_learned() {
        let t0 = Instant::now();
        let mut a = Availability::new(t0, GRACE);
        a.session("pi", true);
        a.connected();
        assert_eq!(a.due("pi", t0), None);
        a.learned();
        assert_eq!(a.due("pi", t0), Some(ONLINE), "the broker holds nothing for it");
        a.published("pi", ONLINE);
        assert_eq!(a.due("pi", t0), None);
        a.connected();
        a.held("pi", OFFLINE);
        a.learned();
        assert_eq!(a.due("pi", t0), Some(ONLINE), "a new connection learns anew");
    }

    #[test]
    fn a_node_the_broker_holds_as_it_is_is_not_published() {
        let t0 = Instant::now();
        let mut a = Availability::new(t0, GRACE);
        a.connected();
        a.held("up", ONLINE);
        a.held("down", OFFLINE);
        a.learned();
        a.held("up", OFFLINE); // after learning: older than what is published since; ignored
        a.session("up", true);
        assert_eq!(a.due("up", t0), None);
        assert_eq!(a.due("down", t0 + GRACE), None);
    }

    #[test]
    fn a_node_without_a_session_is_offline_only_after_the_grace_unless_its_session_ended() {
        let t0 = Instant::now();
        let mut a = Availability::new(t0, GRACE);
        a.connected();
        a.held("away", ONLINE);
        a.held("back", ONLINE);
        a.held("left", ONLINE);
        a.learned();
        let soon = t0 + Duration::from_secs(2);
        assert_eq!(a.due("away", soon), None, "within the grace");
        a.session("back", true);
        assert_eq!(a.due("back", soon), None, "held online already");
        a.session("left", true);
        a.session("left", false);
        assert_eq!(a.due("left", soon), Some(OFFLINE), "its session ended during this run");
        assert_eq!(a.due("away", t0 + GRACE), Some(OFFLINE));
        assert_eq!(a.due("back", t0 + GRACE), None);
        assert_eq!(a.due("never-held", t0 + GRACE), Some(OFFLINE));
    }
}
