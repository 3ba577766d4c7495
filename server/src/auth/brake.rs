//! Password checking and the per-ip brake on failed logins.

use crate::auth::cidr::Cidr;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
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

/// The tables are swept at most this often: every accept and every request asks the brake, and a
/// sweep of the whole table on each would make a scan from many addresses slow everyone's logins.
pub const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// What the brake counts failures against: an IPv4 address, or the /64 of an IPv6 one. One host
/// is handed a whole /64 (SLAAC, privacy addresses), so counting its addresses one by one would let
/// it rotate through 2^64 of them and never be blocked.
pub fn brake_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
    }
}

/// How a [`brake_key`] reads in a log line: the address, or `prefix/64`.
fn key_text(key: IpAddr) -> String {
    match key {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{v6}/64"),
    }
}

/// Counts failed logins per [`brake_key`] (an IPv4 address, an IPv6 /64); a key with `limit`
/// failures within `window` is refused for `block`. The caller passes keys.
#[derive(Debug)]
pub struct FailureTracker {
    limit: usize,
    window: Duration,
    block: Duration,
    failures: HashMap<IpAddr, VecDeque<Instant>>,
    blocked_until: HashMap<IpAddr, Instant>,
    /// When the tables were last swept ([`prune_if_due`](Self::prune_if_due)).
    pruned_at: Option<Instant>,
    /// Sweeps done, for the tests that check they are not done per call.
    prunes: u64,
}

impl FailureTracker {
    /// The server's rule: 5 failures within 60 s block the ip for 60 s.
    pub fn standard() -> Self {
        Self::new(5, Duration::from_secs(60), Duration::from_secs(60))
    }

    /// A tracker with its own numbers.
    pub fn new(limit: usize, window: Duration, block: Duration) -> Self {
        FailureTracker {
            limit,
            window,
            block,
            failures: HashMap::new(),
            blocked_until: HashMap::new(),
            pruned_at: None,
            prunes: 0,
        }
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
        self.pruned_at = Some(now);
        self.prunes += 1;
    }

    /// [`prune`](Self::prune)s when the last sweep is [`PRUNE_EVERY`] old: the tables are bounded
    /// by what one second of failures can add, and a call costs a lookup, not a sweep.
    pub fn prune_if_due(&mut self, now: Instant) {
        if self.pruned_at.is_none_or(|at| now.saturating_duration_since(at) >= PRUNE_EVERY) {
            self.prune(now);
        }
    }
}

/// The brake's numbers (`--auth-max-failures`, `--auth-window`, `--auth-block`, `--auth-exempt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrakeSettings {
    /// Failures within `window` that block an address; 0 turns the brake off.
    pub max_failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long a blocked address is refused.
    pub block: Duration,
    /// Addresses never blocked (their failures are still logged and counted in the metrics).
    pub exempt: Vec<Cidr>,
}

impl Default for BrakeSettings {
    /// fail2ban's spirit: loopback is exempt, so a local proxy (stunnel, HAProxy) in front of the
    /// server, or a local test gone wrong, cannot lock out every client behind it.
    fn default() -> Self {
        BrakeSettings {
            max_failures: 5,
            window: Duration::from_secs(60),
            block: Duration::from_secs(60),
            exempt: Cidr::parse_list("127.0.0.0/8,::1").expect("the default parses"),
        }
    }
}

/// A duration in a log line: `60 s` for whole seconds (the words the block line always had), else as
/// it is written in a flag (`1s 500ms`).
fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        cliser_common::duration::format(d)
    }
}

impl std::fmt::Display for BrakeSettings {
    /// The start-up line's words.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.max_failures == 0 {
            return f.write_str("off (--auth-max-failures 0): failed logins never block an address");
        }
        let exempt = match self.exempt.as_slice() {
            [] => "none".to_owned(),
            all => all.iter().map(Cidr::to_string).collect::<Vec<_>>().join(", "),
        };
        write!(
            f,
            "{} failed logins within {} block an address for {}; exempt: {exempt}",
            self.max_failures,
            seconds(self.window),
            seconds(self.block)
        )
    }
}

/// The one brake of the server, shared by the Manager (client logins) and the web page (its Basic
/// auth): a failure on either counts for the ip on both.
#[derive(Debug)]
pub struct Brake {
    settings: BrakeSettings,
    tracker: Mutex<FailureTracker>,
}

impl Brake {
    /// The server's default rule ([`BrakeSettings::default`]).
    pub fn standard() -> Self {
        Self::new(BrakeSettings::default())
    }

    /// A brake with these numbers.
    pub fn new(settings: BrakeSettings) -> Self {
        let limit = settings.max_failures as usize;
        let tracker = Mutex::new(FailureTracker::new(limit, settings.window, settings.block));
        Brake { settings, tracker }
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, FailureTracker> {
        self.tracker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the brake leaves `ip` alone: it is off, or `ip` is exempt.
    fn ignores(&self, ip: IpAddr) -> bool {
        self.settings.max_failures == 0 || self.settings.exempt.iter().any(|c| c.contains(ip))
    }

    /// Records a failed login now; logs and returns true when this failure blocks the ip. An exempt
    /// address is not recorded at all, so it can never be blocked.
    pub fn record_failure(&self, ip: IpAddr) -> bool {
        if self.ignores(ip) {
            return false;
        }
        let key = brake_key(ip);
        let blocked = self.tracker().record_failure(key, Instant::now());
        if blocked {
            let s = &self.settings;
            log::warn!(
                "blocking {} for {}: {} failed logins within {}",
                key_text(key),
                seconds(s.block),
                s.max_failures,
                seconds(s.window)
            );
        }
        blocked
    }

    /// Whether `ip` (its /64 for IPv6) is refused now; the tables are swept on the way at most
    /// once per [`PRUNE_EVERY`].
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        if self.ignores(ip) {
            return false;
        }
        let now = Instant::now();
        let mut t = self.tracker();
        t.prune_if_due(now);
        t.is_blocked(brake_key(ip), now)
    }

    #[cfg(test)]
    fn prunes(&self) -> u64 {
        self.tracker().prunes
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

    fn brake(max_failures: u32, exempt: &str) -> Brake {
        let exempt = Cidr::parse_list(exempt).unwrap();
        Brake::new(BrakeSettings { max_failures, exempt, ..BrakeSettings::default() })
    }

    #[test]
    fn exempt_addresses_are_never_blocked_and_others_are() {
        let b = brake(2, "127.0.0.0/8,::1");
        for ip in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            let ip: IpAddr = ip.parse().unwrap();
            for _ in 0..10 {
                assert!(!b.record_failure(ip));
            }
            assert!(!b.is_blocked(ip), "{ip}");
        }
        let outside: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(!b.record_failure(outside));
        assert!(b.record_failure(outside));
        assert!(b.is_blocked(outside));
        // The same address seen through an IPv6 listener is the same address.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(b.is_blocked(mapped));
    }

    #[test]
    fn zero_failures_turns_the_brake_off_and_none_exempts_nothing() {
        let off = brake(0, "none");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..100 {
            assert!(!off.record_failure(ip));
        }
        assert!(!off.is_blocked(ip));
        let strict = brake(1, "none");
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(strict.record_failure(lo));
        assert!(strict.is_blocked(lo));
    }

    #[test]
    fn two_addresses_in_one_ipv6_64_share_a_count_and_block_together() {
        let b = brake(3, "none");
        let rotating = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"];
        for ip in rotating {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!b.is_blocked(ip), "{ip} before its /64 failed");
            b.record_failure(ip);
        }
        for ip in rotating.iter().chain(&["2001:db8:1:2:abcd::1"]) {
            assert!(b.is_blocked(ip.parse().unwrap()), "{ip}: its /64 failed 3 times");
        }
        let next_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(!b.is_blocked(next_64), "another /64 is another host");
        assert_eq!(brake_key("2001:db8:1:2:3:4:5:6".parse().unwrap()).to_string(), "2001:db8:1:2::");
        assert_eq!(key_text(brake_key("2001:db8::7".parse().unwrap())), "2001:db8::/64");
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(brake_key(v4), v4, "IPv4 is counted per address");
        assert_eq!(brake_key("::ffff:10.1.2.3".parse().unwrap()), v4);
    }

    #[test]
    fn the_tables_are_swept_at_most_once_a_second_not_per_call() {
        let b = brake(5, "none");
        let started = Instant::now();
        let mut calls = 0u64;
        for i in 0..10_000u32 {
            let ip = IpAddr::from([10, 9, (i >> 8) as u8, i as u8]);
            b.record_failure(ip);
            b.is_blocked(ip);
            calls += 1;
        }
        let seconds = started.elapsed().as_secs() + 1;
        assert!(b.prunes() <= seconds + 1, "{} sweeps for {calls} calls in under {seconds} s", b.prunes());
        let mut t = FailureTracker::standard();
        let t0 = Instant::now();
        t.record_failure("10.0.0.1".parse().unwrap(), t0);
        t.prune_if_due(t0);
        t.prune_if_due(t0 + Duration::from_millis(999));
        assert_eq!(t.prunes, 1);
        t.prune_if_due(t0 + Duration::from_secs(61));
        assert_eq!(t.prunes, 2);
        assert!(t.failures.is_empty(), "a due sweep forgets old failures");
    }

    #[test]
    fn the_settings_read_as_the_start_line_says_them() {
        assert_eq!(
            BrakeSettings::default().to_string(),
            "5 failed logins within 60 s block an address for 60 s; exempt: 127.0.0.0/8, ::1"
        );
        let s = BrakeSettings {
            block: Duration::from_millis(2500),
            exempt: Vec::new(),
            ..BrakeSettings::default()
        };
        assert!(s.to_string().ends_with("for 2s 500ms; exempt: none"), "{s}");
        assert!(BrakeSettings { max_failures: 0, ..s }.to_string().starts_with("off"));
    }
}
