//! Counters and latency samples shared by every simulated client of a run.

use std::collections::BTreeMap;
use std::time::Duration;

/// Latency samples, kept whole (a 10,000-client minute is under a million of them, 4 bytes each) so
/// the percentiles are exact.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    micros: Vec<u32>,
    sorted: bool,
}

impl Samples {
    /// Adds one sample (saturating at about 71 minutes).
    pub fn record(&mut self, d: Duration) {
        self.micros.push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The nearest-rank percentile `p` (0 < p <= 100): the smallest sample that at least p % of the
    /// samples are at or below. `None` without samples.
    pub fn percentile(&mut self, p: f64) -> Option<Duration> {
        if self.micros.is_empty() {
            return None;
        }
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
        let n = self.micros.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        let i = rank.clamp(1, n) - 1;
        Some(Duration::from_micros(u64::from(self.micros[i])))
    }

    /// The largest sample.
    pub fn max(&mut self) -> Option<Duration> {
        self.percentile(100.0)
    }

    /// How many samples are longer than `d`.
    pub fn count_above(&self, d: Duration) -> usize {
        let limit = u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        self.micros.iter().filter(|&&m| m > limit).count()
    }
}

/// How late the server's polls came, against its keep-alive interval: a poll is due one interval
/// after the one before (the server schedules each from the last), so a gap of interval + x is a
/// poll x late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lateness {
    /// Gaps between two polls measured.
    pub gaps: usize,
    /// The 99th percentile of lateness (0 for a poll on time or early).
    pub p99: Duration,
    /// The latest poll.
    pub max: Duration,
    /// Polls more than half an interval late.
    pub over_half: usize,
}

/// One client's handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeTime {
    /// The client's number.
    pub client: u32,
    /// When its connect began, after the run's start.
    pub connect_at: Duration,
    /// Connect start -> registered.
    pub took: Duration,
}

/// Writes `times` as CSV (`client,connect_ms,handshake_ms`, a header first), by client number.
pub fn write_handshakes_csv(times: &[HandshakeTime], out: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut sorted = times.to_vec();
    sorted.sort_by_key(|t| t.client);
    writeln!(out, "client,connect_ms,handshake_ms")?;
    for t in sorted {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(out, "{},{:.3},{:.3}", t.client, ms(t.connect_at), ms(t.took))?;
    }
    Ok(())
}

/// What the simulated clients did, summed over all of them.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections attempted.
    pub started: u64,
    /// TCP connections established.
    pub connected: u64,
    /// Handshakes completed (cliser `140`, MQTT CONNACK accepted).
    pub registered: u64,
    /// Readings (or MQTT messages) sent.
    pub sent: u64,
    /// Readings acknowledged (cliser `ack=`, MQTT PUBACK).
    pub acked: u64,
    /// Readings acked by the first poll after the answer that carried them (cliser only).
    pub acked_next_poll: u64,
    /// Readings acked by a later poll (cliser only).
    pub acked_late: u64,
    /// Keep-alive polls received (cliser only; backlog clients' are not counted).
    pub polls: u64,
    /// Longest time between two polls to one client (cliser only; live clients, not backlog ones).
    pub max_poll_gap: Duration,
    /// Every time between two polls to one client (cliser only; live clients, not backlog ones).
    pub poll_gaps: Samples,
    /// Clients that closed cleanly at the end.
    pub finished: u64,
    /// Clients that failed, by kind.
    pub failures: BTreeMap<&'static str, u64>,
    /// Connect start -> registered.
    pub handshake: Samples,
    /// Every registration: which client, when its connect began, how long it took (for
    /// `--handshakes-csv`: slow handshakes that come in runs of consecutive clients are a stall).
    pub handshakes: Vec<HandshakeTime>,
    /// Reading written -> acknowledged.
    pub ack_latency: Samples,
    /// Backlog clients' readings (all of them, sent or not), acknowledged, sent, and the answers
    /// that carried them (`--backlog-clients`; none of these is in `sent` or `acked`).
    pub backlog: BacklogStats,
    /// Once a second: how far the run had come (`--timeline-csv`).
    pub timeline: Vec<TimelinePoint>,
}

/// What the backlog clients did, summed.
#[derive(Debug, Default, Clone)]
pub struct BacklogStats {
    /// Readings the backlog clients held at the start.
    pub readings: u64,
    /// Readings sent (once each: the load tool does not reconnect).
    pub sent: u64,
    /// Readings acknowledged (so stored: the server acks only what it committed).
    pub acked: u64,
    /// `100` answers that carried backlog readings.
    pub answers: u64,
    /// Clients whose whole backlog is acknowledged.
    pub clients_done: u64,
    /// When the first backlog client registered, after the run's start.
    pub first_registered: Option<Duration>,
    /// When the last backlog client's last reading was acknowledged, after the run's start.
    pub last_done: Option<Duration>,
    /// When each backlog client's last reading was acknowledged, after the run's start.
    pub done_at: Vec<Duration>,
    /// When the last backlog client sent its last reading, after the run's start. Its ack comes
    /// with the server's next regular poll (that line has no `more`), up to a keep-alive later.
    pub last_sent: Option<Duration>,
}

/// A point of the run's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelinePoint {
    /// After the run's start.
    pub at: Duration,
    /// Backlog readings acknowledged so far.
    pub backlog_acked: u64,
    /// Backlog clients done so far.
    pub backlog_clients_done: u64,
    /// Live readings acknowledged so far.
    pub acked: u64,
    /// Polls to live clients so far.
    pub polls: u64,
}

/// Writes `points` as CSV (`t_s,backlog_acked,backlog_clients_done,live_acked,live_polls`).
pub fn write_timeline_csv(points: &[TimelinePoint], out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(out, "t_s,backlog_acked,backlog_clients_done,live_acked,live_polls")?;
    for p in points {
        writeln!(
            out,
            "{:.3},{},{},{},{}",
            p.at.as_secs_f64(),
            p.backlog_acked,
            p.backlog_clients_done,
            p.acked,
            p.polls
        )?;
    }
    Ok(())
}

impl Stats {
    /// Counts one failed client.
    pub fn fail(&mut self, kind: &'static str) {
        *self.failures.entry(kind).or_default() += 1;
    }

    /// Failed clients, all kinds.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// Adds a point to the timeline, `at` after the run's start.
    pub fn mark_timeline(&mut self, at: Duration) {
        self.timeline.push(TimelinePoint {
            at,
            backlog_acked: self.backlog.acked,
            backlog_clients_done: self.backlog.clients_done,
            acked: self.acked,
            polls: self.polls,
        });
    }

    /// The polls' lateness against the keep-alive `interval`; `None` before two polls to a client.
    pub fn poll_lateness(&mut self, interval: Duration) -> Option<Lateness> {
        let late = |gap: Duration| gap.saturating_sub(interval);
        Some(Lateness {
            gaps: self.poll_gaps.len(),
            p99: late(self.poll_gaps.percentile(99.0)?),
            max: late(self.poll_gaps.max()?),
            over_half: self.poll_gaps.count_above(interval + interval / 2),
        })
    }

    /// A one-line summary, e.g. `connect:2,closed:1`, or `none`.
    pub fn failure_kinds(&self) -> String {
        if self.failures.is_empty() {
            return "none".into();
        }
        self.failures.iter().map(|(k, n)| format!("{k}:{n}")).collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        assert_eq!(s.percentile(50.0), None);
        for v in (1..=100).rev() {
            s.record(ms(v));
        }
        assert_eq!(s.percentile(50.0), Some(ms(50)));
        assert_eq!(s.percentile(99.0), Some(ms(99)));
        assert_eq!(s.percentile(99.5), Some(ms(100)));
        assert_eq!(s.percentile(0.001), Some(ms(1)));
        assert_eq!(s.max(), Some(ms(100)));
        s.record(ms(1000));
        assert_eq!(s.max(), Some(ms(1000)), "a sample after sorting is still seen");
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let mut s = Samples::default();
        s.record(Duration::from_micros(1500));
        assert_eq!(s.percentile(1.0), s.percentile(99.9));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn lateness_is_the_gap_past_the_interval() {
        let mut st = Stats::default();
        assert_eq!(st.poll_lateness(ms(1000)), None);
        for gap in [990, 1000, 1010, 1400, 1500, 1501, 2600] {
            st.poll_gaps.record(ms(gap));
        }
        let l = st.poll_lateness(ms(1000)).unwrap();
        assert_eq!(l, Lateness { gaps: 7, p99: ms(1600), max: ms(1600), over_half: 2 });
        assert_eq!(st.poll_gaps.count_above(ms(1000)), 5);
        let early = st.poll_lateness(ms(5000)).unwrap();
        assert_eq!((early.max, early.over_half), (Duration::ZERO, 0), "early polls are not late");
    }

    #[test]
    fn failures_summarise_by_kind() {
        let mut st = Stats::default();
        assert_eq!(st.failure_kinds(), "none");
        st.fail("closed");
        st.fail("connect");
        st.fail("closed");
        assert_eq!(st.failure_kinds(), "closed:2,connect:1");
        assert_eq!(st.failed(), 3);
    }
}
