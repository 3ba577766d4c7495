//! The final `key=value` block, one figure a line, for scripts to parse.

use crate::engine::Outcome;
use crate::snapshot::Snapshot;
use crate::usage;
use std::fmt::Write as _;
use std::time::Duration;

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.3}", d.as_secs_f64() * 1000.0))
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// Whether the run passed: no client failed and every reading sent was acknowledged.
pub fn passed(o: &Outcome) -> bool {
    let st = &o.ctx.stats;
    st.failed() == 0
        && st.sent == st.acked
        && st.registered == st.started
        && st.backlog.acked == st.backlog.readings
}

/// The report for a run of `clients` clients speaking `protocol`; with the server's `keepalive`,
/// how late its polls came.
pub fn render(protocol: &str, clients: usize, keepalive: Option<Duration>, o: &mut Outcome) -> String {
    let mut out = String::new();
    let mut kv = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{k}={v}");
    };
    let ok = passed(o);
    let (start, s0, s1, end) = (o.start, o.steady_start, o.steady_end, o.end);
    let st = &mut o.ctx.stats;
    kv("protocol", &protocol);
    kv("clients", &clients);
    kv("started", &st.started);
    kv("connected", &st.connected);
    kv("registered", &st.registered);
    kv("failures", &st.failed());
    kv("failure_kinds", &st.failure_kinds());
    kv("readings_sent", &st.sent);
    kv("readings_acked", &st.acked);
    kv("readings_unacked", &(st.sent - st.acked));
    kv("finished", &st.finished);
    if protocol == "cliser" {
        kv("polls", &st.polls);
        kv("acked_next_poll", &st.acked_next_poll);
        kv("acked_later", &st.acked_late);
        kv("poll_gap_max_ms", &ms(Some(st.max_poll_gap)));
        kv("poll_gap_p50_ms", &ms(st.poll_gaps.percentile(50.0)));
        kv("poll_gap_p99_ms", &ms(st.poll_gaps.percentile(99.0)));
        if let Some(interval) = keepalive {
            kv("keepalive_ms", &ms(Some(interval)));
            if let Some(late) = st.poll_lateness(interval) {
                kv("poll_gaps", &late.gaps);
                kv("poll_late_p99_ms", &ms(Some(late.p99)));
                kv("poll_late_max_ms", &ms(Some(late.max)));
                kv("polls_late_over_half_interval", &late.over_half);
            }
        }
    }
    if st.backlog.readings > 0 {
        let b = st.backlog.clone();
        kv("backlog_readings", &b.readings);
        kv("backlog_sent", &b.sent);
        kv("backlog_acked", &b.acked);
        kv("backlog_clients_done", &b.clients_done);
        kv("backlog_answers", &b.answers);
        let per_answer =
            if b.answers > 0 { format!("{:.1}", b.sent as f64 / b.answers as f64) } else { "-".into() };
        kv("backlog_readings_per_answer", &per_answer);
        // From the first backlog client's 140 to the ack of the last reading (so its commit).
        match (b.first_registered, b.last_done) {
            (Some(first), Some(last)) if b.acked == b.readings => {
                let took = last.saturating_sub(first);
                kv("backlog_first_registered_s", &secs(first));
                if let Some(sent) = b.last_sent {
                    kv("backlog_all_sent_s", &secs(sent.saturating_sub(first)));
                }
                // When each client was done: did they finish together or one after another?
                let mut done = b.done_at.clone();
                done.sort_unstable();
                let at = |q: usize| secs(done[(done.len() - 1) * q / 100].saturating_sub(first));
                kv("backlog_client_done_min_s", &at(0));
                kv("backlog_client_done_p50_s", &at(50));
                kv("backlog_s", &secs(took));
                kv(
                    "backlog_readings_per_s",
                    &format!("{:.0}", b.readings as f64 / took.as_secs_f64().max(1e-3)),
                );
            }
            _ => kv("backlog_s", &"-"),
        }
    }
    kv("handshake_p50_ms", &ms(st.handshake.percentile(50.0)));
    kv("handshake_p99_ms", &ms(st.handshake.percentile(99.0)));
    kv("handshake_max_ms", &ms(st.handshake.max()));
    kv("ack_p50_ms", &ms(st.ack_latency.percentile(50.0)));
    kv("ack_p99_ms", &ms(st.ack_latency.percentile(99.0)));
    kv("ack_max_ms", &ms(st.ack_latency.max()));
    kv("ramp_s", &secs(s0.at - start.at));
    kv("steady_s", &secs(s1.at - s0.at));
    kv("drain_s", &secs(end.at - s1.at));
    let steady_sent = s1.sent - s0.sent;
    kv("steady_readings_sent", &steady_sent);
    kv("steady_readings_acked", &(s1.acked - s0.acked));
    let steady_wall = (s1.at - s0.at).as_secs_f64();
    let own_steady = s1.own_cpu - s0.own_cpu;
    kv("load_cpu_s", &secs(end.own_cpu));
    kv("load_cpu_s_steady", &secs(own_steady));
    kv("load_cpu_pct_of_core_steady", &pct(own_steady.as_secs_f64(), steady_wall));
    kv("load_max_rss_kib", &usage::own_max_rss_kib());
    watched(&mut kv, clients, steady_sent, steady_wall, [start, s0, s1, end]);
    kv("result", &if ok { "ok" } else { "fail" });
    out
}

/// `part` as a percentage of `whole` seconds; `-` for a phase under a second, too short to mean much.
fn pct(part: f64, whole: f64) -> String {
    if whole >= 1.0 {
        format!("{:.1}", 100.0 * part / whole)
    } else {
        "-".into()
    }
}

fn watched(
    kv: &mut impl FnMut(&str, &dyn std::fmt::Display),
    clients: usize,
    steady_sent: u64,
    steady_wall: f64,
    snaps: [Snapshot; 4],
) {
    let [Some(start), Some(s0), Some(s1)] = [snaps[0].watched, snaps[1].watched, snaps[2].watched] else {
        return;
    };
    let hwm = snaps[3].watched.map_or(s1.hwm_kib, |e| e.hwm_kib.max(s1.hwm_kib));
    let tick = usage::clock_ticks_per_sec() as f64;
    let cpu = s1.cpu_ticks.saturating_sub(s0.cpu_ticks) as f64 / tick;
    kv("watch_rss_kib_start", &start.rss_kib);
    kv("watch_rss_kib_steady_start", &s0.rss_kib);
    kv("watch_rss_kib_steady_end", &s1.rss_kib);
    kv("watch_hwm_kib", &hwm);
    kv("watch_threads_start", &start.threads);
    kv("watch_threads_steady_end", &s1.threads);
    kv("watch_cpu_s_steady", &format!("{cpu:.2}"));
    kv("watch_cpu_pct_of_core_steady", &pct(cpu, steady_wall));
    let per_1000 =
        if steady_sent > 0 { format!("{:.4}", cpu * 1000.0 / steady_sent as f64) } else { "-".into() };
    kv("watch_cpu_s_per_1000_readings", &per_1000);
    let per_client = hwm.saturating_sub(start.rss_kib) as f64 / clients as f64;
    kv("watch_rss_per_client_kib", &format!("{per_client:.2}"));
    if let Some(e) = snaps[3].watched {
        kv("watch_threads_end", &e.threads);
    }
}
