//! Password checking and the per-ip brake on failed logins.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// A secret read from a file or the environment. Its `Debug` never shows it, so it cannot leak into a
/// log line by accident.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    /// Compares `candidate` with the secret in time that depends only on the secret's length, never on
    /// how much of the candidate matches.
    pub fn matches(&self, candidate: &str) -> bool {
        let secret = self.0.as_bytes();
        let cand = candidate.as_bytes();
        let mut padded = vec![0u8; secret.len()];
        let n = cand.len().min(secret.len());
        padded[..n].copy_from_slice(&cand[..n]);
        let same_len = (secret.len() as u64).ct_eq(&(cand.len() as u64));
        bool::from(padded.ct_eq(secret) & same_len)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Counts failed logins per ip; an ip with `limit` failures within `window` is refused for `block`.
#[derive(Debug)]
pub struct FailureTracker {
    limit: usize,
    window: Duration,
    block: Duration,
    failures: HashMap<IpAddr, VecDeque<Instant>>,
    blocked_until: HashMap<IpAddr, Instant>,
}

impl FailureTracker {
    /// The server's rule: 5 failures within 60 s block the ip for 60 s.
    pub fn standard() -> Self {
        Self::new(5, Duration::from_secs(60), Duration::from_secs(60))
    }

    /// A tracker with its own numbers.
    pub fn new(limit: usize, window: Duration, block: Duration) -> Self {
        FailureTracker { limit, window, block, failures: HashMap::new(), blocked_until: HashMap::new() }
    }

    /// Records a failed login; returns true when this failure blocks the ip.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> bool {
        let window = self.window;
        let times = self.failures.entry(ip).or_default();
        times.push_back(now);
        while times.front().is_some_and(|&t| now.duration_since(t) >= window) {
            times.pop_front();
        }
        if times.len() >= self.limit {
            self.failures.remove(&ip);
            self.blocked_until.insert(ip, now + self.block);
            return true;
        }
        false
    }

    /// Whether connections from `ip` are refused now.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.blocked_until.get(&ip).is_some_and(|&until| now < until)
    }

    /// Forgets what no longer matters, so a scan from many addresses cannot grow the tables forever.
    pub fn prune(&mut self, now: Instant) {
        let window = self.window;
        self.blocked_until.retain(|_, until| now < *until);
        self.failures.retain(|_, times| times.back().is_some_and(|&t| now.duration_since(t) < window));
    }
}

/// The one brake of the server, shared by the Manager (client logins) and the web page (its Basic
/// auth): a failure on either counts for the ip on both.
#[derive(Debug)]
pub struct Brake(Mutex<FailureTracker>);

impl Brake {
    /// The server's rule ([`FailureTracker::standard`]).
    pub fn standard() -> Self {
        Brake(Mutex::new(FailureTracker::standard()))
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, FailureTracker> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a failed login now; logs and returns true when this failure blocks the ip.
    pub fn record_failure(&self, ip: IpAddr) -> bool {
        let blocked = self.tracker().record_failure(ip, Instant::now());
        if blocked {
            log::warn!("blocking {ip} for 60 s: 5 failed logins within 60 s");
        }
        blocked
    }

    /// Whether `ip` is refused now (forgetting what no longer matters on the way).
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut t = self.tracker();
        t.prune(now);
        t.is_blocked(ip, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_matches_only_itself() {
        let s = Secret::new("hunter2".into());
        assert!(s.matches("hunter2"));
        assert!(!s.matches("hunter"));
        assert!(!s.matches("hunter22"));
        assert!(!s.matches(""));
        assert!(!s.matches("Hunter2"));
        assert_eq!(format!("{s:?}"), "Secret(..)");
    }

    #[test]
    fn five_failures_in_the_window_block_for_the_block_time() {
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let other: IpAddr = "10.0.0.10".parse().unwrap();
        let t0 = Instant::now();
        let mut t = FailureTracker::standard();
        for i in 0..4 {
            assert!(!t.record_failure(ip, t0 + Duration::from_secs(i)));
        }
        assert!(!t.is_blocked(ip, t0 + Duration::from_secs(4)));
        assert!(t.record_failure(ip, t0 + Duration::from_secs(4)));
        assert!(t.is_blocked(ip, t0 + Duration::from_secs(5)));
        assert!(!t.is_blocked(other, t0 + Duration::from_secs(5)));
        assert!(t.is_blocked(ip, t0 + Duration::from_secs(63)));
        assert!(!t.is_blocked(ip, t0 + Duration::from_secs(64)));
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_block() {
        let ip: IpAddr = "::1".parse().unwrap();
        let t0 = Instant::now();
        let mut t = FailureTracker::standard();
        for i in 0..10 {
            assert!(!t.record_failure(ip, t0 + Duration::from_secs(i * 20)));
        }
        t.prune(t0 + Duration::from_secs(1000));
        assert!(t.failures.is_empty() && t.blocked_until.is_empty());
    }
}
