//! Reconnection delays: exponential from 1 s to 60 s, with jitter so that a fleet of Pis that lost
//! the same server does not come back in lockstep.

use std::time::Duration;

/// An exponential backoff schedule with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// The schedule the issue asks for: 1 s doubling to 60 s.
    pub fn standard() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(60))
    }

    /// A schedule starting at `base` and doubling up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max, attempt: 0 }
    }

    /// The delay before attempt number `attempt` (0-based) before jitter.
    pub fn nominal(&self, attempt: u32) -> Duration {
        // 2^20 s is far past any sane max; capping the shift keeps the multiplication from overflowing.
        let factor = 1u32 << attempt.min(20);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The next delay, with jitter, and moves the schedule on.
    pub fn next_delay(&mut self) -> Duration {
        let d = jitter(self.nominal(self.attempt), fastrand::f64());
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the start of the schedule (after a connection that worked).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Spreads `nominal` over `[nominal/2, nominal]` with `r` in `[0, 1)`: never longer than the schedule
/// says, never so short that a failing server is hammered.
pub fn jitter(nominal: Duration, r: f64) -> Duration {
    nominal.mul_f64(0.5 + 0.5 * r.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_and_caps_at_sixty() {
        let b = Backoff::standard();
        let secs: Vec<u64> = (0..9).map(|a| b.nominal(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(b.nominal(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        let n = Duration::from_secs(8);
        assert_eq!(jitter(n, 0.0), Duration::from_secs(4));
        assert!(jitter(n, 0.999_999) <= n);
        let mut b = Backoff::standard();
        for attempt in 0..50 {
            let nominal = b.nominal(attempt);
            let d = b.next_delay();
            assert!(d >= nominal / 2 && d <= nominal, "attempt {attempt}: {d:?} vs {nominal:?}");
        }
        assert_eq!(b.attempts(), 50);
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::standard();
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}
