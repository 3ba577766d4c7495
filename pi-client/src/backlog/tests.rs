//! The backlog's behaviour through its API, a state dir per test.

use super::*;
use cliser_protocol::Celsius;
use std::fs::OpenOptions;
use std::io::Write;

fn batch(n: usize) -> Vec<(SensorId, Value)> {
    (0..n)
        .map(|i| {
            let sensor = SensorId::new(&format!("28-00000000000{i}")).unwrap();
            (sensor, Value::Celsius(Celsius::from_millis(21_000 + i as i32).unwrap()))
        })
        .collect()
}

fn seqs(b: &Backlog) -> Vec<u64> {
    b.after(0, usize::MAX).iter().map(|r| r.seq.unwrap()).collect()
}

fn small() -> Limits {
    Limits { capacity: 1000, compact_min: 10, ack_every: DEFAULT_ACK_EVERY, durability: Durability::Sync }
}

/// The journal in a form the assertions can read: after the header, each record (its check verified)
/// as `sensor=value@wall_ms#seq`, `ack N` or `next N`; a line that fails its check as `DAMAGED`.
fn journal_text(dir: &Path) -> String {
    let raw = std::fs::read_to_string(dir.join(JOURNAL)).unwrap();
    let mut lines = raw.lines();
    assert_eq!(lines.next().map(|h| h.split(" *").next().unwrap()), Some(journal_format::HEADER), "{raw}");
    let mut out = String::new();
    for line in lines {
        let Some((body, crc)) = line.rsplit_once(" *") else {
            out.push_str("DAMAGED\n");
            continue;
        };
        if u32::from_str_radix(crc, 16).ok() != Some(crc32fast::hash(body.as_bytes())) {
            out.push_str("DAMAGED\n");
            continue;
        }
        let f: Vec<&str> = body.split(' ').collect();
        let text = match f[0] {
            "a" => format!("ack {}", f[1]),
            "n" => format!("next {}", f[1]),
            "r" => format!("{}@{}#{}", f[6], f[4], f[1]),
            _ => "DAMAGED".to_owned(),
        };
        out.push_str(&text);
        out.push('\n');
    }
    out
}

fn append_raw(dir: &Path, bytes: &[u8]) {
    OpenOptions::new().append(true).open(dir.join(JOURNAL)).unwrap().write_all(bytes).unwrap();
}

#[test]
fn seqs_go_up_by_one_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = Backlog::open(dir.path(), small()).unwrap();
        let r = b.record(batch(3));
        assert_eq!(r.iter().map(|r| r.seq.unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
        b.record(batch(2));
    }
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!(seqs(&b), [1, 2, 3, 4, 5]);
    assert_eq!(b.next_seq(), 6);
    b.ack(5);
    assert!(b.is_empty());
    b.close();
    drop(b);
    // All acked and maybe compacted away: the counter still continues.
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((b.len(), b.next_seq(), b.acked()), (0, 6, 5));
    assert_eq!(b.record(batch(1))[0].seq, Some(6));
}

#[test]
fn ack_trims_and_moves_the_counter_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let b = Backlog::open(dir.path(), small()).unwrap();
    b.record(batch(5));
    b.ack(2);
    assert_eq!(seqs(&b), [3, 4, 5]);
    b.ack(1); // an old ack changes nothing
    assert_eq!(seqs(&b), [3, 4, 5]);
    assert_eq!(b.after(3, 10).len(), 2);
    assert_eq!(b.after(3, 1)[0].seq, Some(4));
    b.ack(100); // the server knows of more than this state dir does
    assert!(b.is_empty());
    assert_eq!(b.next_seq(), 101);
    assert_eq!(b.record(batch(1))[0].seq, Some(101));
    drop(b);
    assert_eq!(Backlog::open(dir.path(), small()).unwrap().next_seq(), 102);
}

#[test]
fn an_ack_that_moves_the_counter_is_durable_at_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = Backlog::open(dir.path(), small()).unwrap();
        b.record(batch(2));
        b.ack(100);
        b.write_due_ack();
        // Dropped without close: a crash before any other write.
    }
    assert!(journal_text(dir.path()).ends_with("ack 100\n"), "{}", journal_text(dir.path()));
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((b.len(), b.acked(), b.next_seq()), (0, 100, 101));
    assert_eq!(b.record(batch(1))[0].seq, Some(101));
}

#[test]
fn acks_ride_on_the_next_batch_without_a_write_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let b = Backlog::open(dir.path(), small()).unwrap();
    b.record(batch(3));
    let before = journal_text(dir.path());
    b.ack(2);
    b.write_due_ack();
    b.ack(3);
    b.write_due_ack();
    assert_eq!(journal_text(dir.path()), before, "an ack alone writes nothing");
    b.record(batch(1));
    let text = journal_text(dir.path());
    let tail: Vec<&str> = text.lines().rev().take(2).collect();
    assert!(tail[1] == "ack 3" && tail[0].ends_with("#4"), "{text}");
    drop(b);
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![4], 3, 5));
}

#[test]
fn an_idle_journal_gets_the_ack_after_ack_every_and_close_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let b = Backlog::open(dir.path(), Limits { ack_every: Duration::ZERO, ..small() }).unwrap();
    b.record(batch(3));
    b.ack(1);
    b.write_due_ack();
    assert!(journal_text(dir.path()).ends_with("ack 1\n"));
    drop(b);
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((seqs(&b), b.acked()), (vec![2, 3], 1));
    b.ack(2);
    b.close();
    assert!(journal_text(dir.path()).ends_with("ack 2\n"));
    b.ack(3); // closed: trims memory, writes nothing
    b.write_due_ack();
    assert!(journal_text(dir.path()).ends_with("ack 2\n"));
    drop(b);
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![3], 2, 4));
}

#[test]
fn an_ack_lost_before_it_was_synced_only_resends() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Never written: a crash before the next batch.
        let b = Backlog::open(dir.path(), small()).unwrap();
        b.record(batch(3));
        b.ack(2);
        b.write_due_ack();
    }
    {
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![1, 2, 3], 0, 4));
        // Written without a sync, and then lost with the page cache (a power cut).
        let len = std::fs::metadata(dir.path().join(JOURNAL)).unwrap().len();
        b.limits.ack_every = Duration::ZERO;
        b.ack(3);
        b.write_due_ack();
        assert!(journal_text(dir.path()).ends_with("ack 3\n"));
        drop(b);
        OpenOptions::new().write(true).open(dir.path().join(JOURNAL)).unwrap().set_len(len).unwrap();
    }
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![1, 2, 3], 0, 4));
    assert_eq!(b.record(batch(1))[0].seq, Some(4), "no seq is reused");
}

#[test]
fn a_torn_ack_line_is_dropped_and_appends_stay_clean() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = Backlog::open(dir.path(), small()).unwrap();
        b.record(batch(3));
    }
    append_raw(dir.path(), b"ack 3"); // "ack 3\n" cut short (or "ack 31\n")
    {
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![1, 2, 3], 0, 4));
        assert_eq!(b.record(batch(1))[0].seq, Some(4));
    }
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((seqs(&b), b.acked()), (vec![1, 2, 3, 4], 0));
    let text = journal_text(dir.path());
    assert!(text.lines().all(|l| !l.starts_with("ack 3")), "{text}");
}

#[test]
fn a_torn_last_line_is_dropped_and_appends_stay_clean() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = Backlog::open(dir.path(), small()).unwrap();
        b.record(batch(3));
    }
    append_raw(dir.path(), b"28-000000000000=21.5@1#");
    {
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!(seqs(&b), [1, 2, 3]);
        assert_eq!(b.record(batch(1))[0].seq, Some(4));
    }
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!(seqs(&b), [1, 2, 3, 4]);
    // The repair rewrote the journal: a `next 4` and `ack 0` header, then the four readings.
    let text = journal_text(dir.path());
    assert_eq!(text.lines().filter(|l| l.contains('#')).count(), 4, "{text}");
    assert!(text.starts_with("next 4\nnext 4\nack 0\n"), "{text}");
}

#[test]
fn garbage_lines_are_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"a=1@5#1\n\0\0\0\0\nnot a reading\nack x\nack -1\nnext\nb=err:crc@6#2\nc=2@7#2\nd=3@8\n\xff\xfe\ne=4@9#7\n";
    std::fs::write(dir.path().join(JOURNAL), text).unwrap();
    let b = Backlog::open(dir.path(), small()).unwrap();
    // The repeated seq 2 and the seq-less line are refused as well.
    assert_eq!(seqs(&b), [1, 2, 7]);
    assert_eq!((b.acked(), b.next_seq()), (0, 8));
    assert_eq!(journal_text(dir.path()).lines().filter(|l| l.contains('#')).count(), 3);
}

#[test]
fn compaction_keeps_the_journal_proportional() {
    let dir = tempfile::tempdir().unwrap();
    let b = Backlog::open(dir.path(), small()).unwrap();
    for _round in 0..50u64 {
        b.record(batch(4));
        b.ack(b.next_seq() - 2);
        b.maintain();
    }
    assert_eq!(b.len(), 1);
    // Live 1, dead below 10 readings and ack lines, the three header lines.
    let lines = journal_text(dir.path()).lines().count();
    assert!(lines <= 3 + 10 + 4 + 1, "journal has {lines} lines");
    drop(b);
    // A crash: the last ack (199) had not reached the journal yet, the one before had.
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((seqs(&b), b.acked()), ((196..=200).collect(), 195));
    b.ack(199);
    b.close();
    drop(b);
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!(seqs(&b), [200]);
    assert_eq!(b.next_seq(), 201);
}

#[test]
fn compaction_keeps_the_counter_when_everything_is_acked() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = Backlog::open(dir.path(), Limits { compact_min: 4, ..small() }).unwrap();
        b.record(batch(5));
        b.ack(5); // 5 dead lines, none live: rewritten without a single reading
        b.maintain();
        let text = journal_text(dir.path());
        assert_eq!(text, "next 6\nnext 6\nack 5\n");
        // Dropped without close: nothing else reaches the journal.
    }
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((b.len(), b.acked(), b.next_seq()), (0, 5, 6));
    assert_eq!(b.record(batch(1))[0].seq, Some(6));
    drop(b);
    // Header lines are not dead lines: reopening does not rewrite again and again.
    let before = journal_text(dir.path());
    let _b = Backlog::open(dir.path(), Limits { compact_min: 2, ..small() }).unwrap();
    assert_eq!(journal_text(dir.path()), before);
}

#[test]
fn a_full_backlog_drops_the_oldest_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits { capacity: 10, compact_min: 4, ..small() };
    let b = Backlog::open(dir.path(), limits).unwrap();
    for _ in 0..5 {
        b.record(batch(3));
    }
    assert_eq!(seqs(&b), (6..=15).collect::<Vec<_>>());
    assert_eq!(b.dropped(), 5);
    drop(b);
    let b = Backlog::open(dir.path(), limits).unwrap();
    assert_eq!(seqs(&b), (6..=15).collect::<Vec<_>>());
    assert_eq!(b.next_seq(), 16);
    let lines = journal_text(dir.path()).lines().count();
    assert!(lines <= 3 + 10 + 10, "journal has {lines} lines");
    // Reopening with a smaller bound keeps the newest.
    drop(b);
    let b = Backlog::open(dir.path(), Limits { capacity: 3, ..limits }).unwrap();
    assert_eq!(seqs(&b), [13, 14, 15]);
}

#[test]
fn one_state_dir_one_client() {
    let dir = tempfile::tempdir().unwrap();
    let _b = Backlog::open(dir.path(), small()).unwrap();
    assert!(matches!(Backlog::open(dir.path(), small()), Err(StoreError::Locked(_))));
}

#[test]
fn closed_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let b = Backlog::open(dir.path(), small()).unwrap();
    b.close();
    assert!(b.record(batch(2)).is_empty());
    assert_eq!(b.next_seq(), 1);
}

/// A sync that, once shut, holds every caller until opened again: a disk as slow as a test needs.
#[derive(Default)]
struct Gate {
    /// Whether shut, and how many syncs are held.
    state: Mutex<(bool, usize)>,
    cv: std::sync::Condvar,
}

impl Gate {
    fn sync_fn(self: &std::sync::Arc<Self>) -> SyncFn {
        let gate = self.clone();
        std::sync::Arc::new(move |f: &File| {
            gate.pass();
            f.sync_data()
        })
    }

    fn pass(&self) {
        let mut g = relock(&self.state);
        g.1 += 1;
        self.cv.notify_all();
        while g.0 {
            g = self.cv.wait(g).unwrap();
        }
        g.1 -= 1;
    }

    fn shut(&self) {
        relock(&self.state).0 = true;
    }

    fn open(&self) {
        relock(&self.state).0 = false;
        self.cv.notify_all();
    }

    /// Returns once a sync is held at the gate.
    fn wait_for_a_sync(&self) {
        let deadline = Instant::now() + WAIT;
        let mut g = relock(&self.state);
        while !(g.0 && g.1 > 0) {
            let left = deadline.checked_duration_since(Instant::now()).expect("a sync to reach the gate");
            g = self.cv.wait_timeout(g, left).unwrap().0;
        }
    }
}

const WAIT: Duration = Duration::from_secs(10);

/// Runs `f` as the connection thread would, and fails if it does not return within [`WAIT`].
fn promptly<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("{what} waited for the disk"))
}

fn answer_seqs(b: &std::sync::Arc<Backlog>, sent: u64) -> (Vec<u64>, bool) {
    let (answer, _) = crate::session::answer(b, sent);
    (answer.readings.iter().map(|r| r.seq.unwrap()).collect(), answer.more)
}

#[test]
fn a_poll_is_answered_while_a_batch_is_synced_without_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let gate = std::sync::Arc::new(Gate::default());
    let limits = Limits { ack_every: Duration::ZERO, ..small() };
    let b =
        std::sync::Arc::new(Backlog::open_with(dir.path(), limits, gate.sync_fn(), system_clock()).unwrap());
    b.record(batch(3));
    gate.shut();
    let sampler = std::thread::spawn({
        let b = b.clone();
        move || b.record(batch(2))
    });
    gate.wait_for_a_sync();
    // The sampler holds the journal through its fdatasync. An ack, an idle-journal ack write (it
    // gives way to the batch) and an answer all go through; seqs 4 and 5 are not synced: not sent.
    let answered = promptly("an answer", {
        let b = b.clone();
        move || {
            b.ack(1);
            b.write_due_ack();
            answer_seqs(&b, 0)
        }
    });
    assert_eq!(answered, (vec![2, 3], false));
    gate.open();
    let recorded: Vec<u64> = sampler.join().unwrap().iter().map(|r| r.seq.unwrap()).collect();
    assert_eq!(recorded, [4, 5]);
    assert_eq!(answer_seqs(&b, 3), (vec![4, 5], false));
    b.write_due_ack();
    assert!(journal_text(dir.path()).ends_with("#5\nack 1\n"), "{}", journal_text(dir.path()));
}

#[test]
fn a_poll_is_answered_while_the_journal_is_compacted_and_a_batch_taken_meanwhile_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let gate = std::sync::Arc::new(Gate::default());
    let limits = Limits { compact_min: 4, ..small() };
    let b =
        std::sync::Arc::new(Backlog::open_with(dir.path(), limits, gate.sync_fn(), system_clock()).unwrap());
    b.record(batch(6));
    b.ack(5); // 5 dead lines, 1 live: due
    gate.shut();
    let compacting = std::thread::spawn({
        let b = b.clone();
        move || b.maintain()
    });
    gate.wait_for_a_sync();
    // The rewrite holds the journal while it syncs the new file; a batch waits for it.
    let sampler = std::thread::spawn({
        let b = b.clone();
        move || b.record(batch(1))
    });
    assert_eq!(
        promptly("an answer", {
            let b = b.clone();
            move || answer_seqs(&b, 0)
        }),
        (vec![6], false)
    );
    gate.open();
    compacting.join().unwrap();
    assert_eq!(sampler.join().unwrap()[0].seq, Some(7));
    let text = journal_text(dir.path());
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() == 5 && lines[..3] == ["next 7", "next 7", "ack 5"], "{text}");
    assert!(lines[3].ends_with("#6") && lines[4].ends_with("#7"), "{text}");
    drop(b);
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![6, 7], 5, 8));
}

#[test]
fn a_failed_sync_keeps_the_batch_in_memory_and_upkeep_rewrites_the_journal() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let failing = std::sync::Arc::new(AtomicBool::new(false));
    let sync: SyncFn = {
        let failing = failing.clone();
        std::sync::Arc::new(move |f: &File| {
            if failing.load(Ordering::SeqCst) {
                return Err(io::Error::other("the disk is gone"));
            }
            f.sync_data()
        })
    };
    let b = Backlog::open_with(dir.path(), small(), sync, system_clock()).unwrap();
    b.record(batch(2));
    failing.store(true, Ordering::SeqCst);
    assert_eq!(b.record(batch(1))[0].seq, Some(3));
    // Kept, and sent, from memory.
    assert_eq!(seqs(&b), [1, 2, 3]);
    b.maintain(); // still failing: the journal stays closed
    failing.store(false, Ordering::SeqCst);
    b.maintain();
    assert!(journal_text(dir.path()).starts_with("next 4\nnext 4\nack 0\n"), "{}", journal_text(dir.path()));
    drop(b);
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!((seqs(&b), b.next_seq()), (vec![1, 2, 3], 4));
}

#[test]
fn an_ack_over_readings_never_sent_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = Backlog::open(dir.path(), small()).unwrap();
        b.record(batch(5));
        b.mark_sent(2);
        // Another client with our id had seqs up to 4: our 3 and 4 were never sent, yet are dropped.
        assert_eq!(b.ack(4), Some(NeverSent { count: 2, first: 3, last: 4 }));
        assert_eq!(seqs(&b), [5]);
        b.mark_sent(5);
        assert_eq!(b.ack(5), None, "an ack of what was sent is the normal case");
        b.record(batch(2));
    }
    // Readings read back from the journal may have gone out before a crash: no false alarm.
    let b = Backlog::open(dir.path(), small()).unwrap();
    assert_eq!(seqs(&b), [6, 7]);
    assert_eq!(b.ack(7), None);
}

fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock::new())
}

/// Clocks a test sets by hand.
#[derive(Debug)]
pub(crate) struct FakeClock {
    boot: Arc<str>,
    now: Mutex<crate::clock::Moment>,
}

impl FakeClock {
    pub(crate) fn new(boot: &str, boottime_ms: u64, wall_ms: u64, synced: bool) -> Arc<FakeClock> {
        Arc::new(FakeClock {
            boot: boot.into(),
            now: Mutex::new(crate::clock::Moment { boottime_ms, wall_ms, synced }),
        })
    }

    pub(crate) fn advance(&self, ms: u64) {
        let mut now = relock(&self.now);
        now.boottime_ms += ms;
        now.wall_ms += ms;
    }
}

impl Clock for FakeClock {
    fn boot_id(&self) -> Arc<str> {
        self.boot.clone()
    }

    fn now(&self) -> crate::clock::Moment {
        *relock(&self.now)
    }
}

#[test]
fn a_reading_of_this_boot_is_sent_with_its_age_one_of_an_earlier_boot_with_its_time() {
    use cliser_protocol::Stamp;
    let dir = tempfile::tempdir().unwrap();
    {
        let clock = FakeClock::new("boot-1", 5_000, 1_700_000_000_000, false);
        let b = Backlog::open_with_clock(dir.path(), small(), clock.clone()).unwrap();
        b.record(batch(1));
        clock.advance(1_500);
        b.record(batch(1));
        clock.advance(250);
        let stamps: Vec<_> = b.after(0, 9).iter().map(|r| r.stamp).collect();
        assert_eq!(stamps, [Some(Stamp::Age { ms: 1_750 }), Some(Stamp::Age { ms: 250 })]);
    }
    // The same journal after a reboot: wall-clock times, marked unsynchronised as they were.
    let clock = FakeClock::new("boot-2", 100, 1_600_000_000_000, true);
    let b = Backlog::open_with_clock(dir.path(), small(), clock).unwrap();
    let stamps: Vec<_> = b.after(0, 9).iter().map(|r| r.stamp).collect();
    assert_eq!(
        stamps,
        [
            Some(Stamp::At { unix_ms: 1_700_000_000_000, synced: false }),
            Some(Stamp::At { unix_ms: 1_700_000_001_500, synced: false })
        ]
    );
}
