//! Log setup for every binary: `simple_logger` decides which lines are written (its levels,
//! `RUST_LOG` honoured) and this module writes them, in `simple_logger`'s format (UTC timestamps:
//! `2026-12-06T05:55:59.777Z INFO  [target] message`), behind a guard that never lets a failing
//! stderr take the process down.
//!
//! Why not `simple_logger`'s own output: it writes each line with `eprintln!`, two unbuffered
//! `write` calls and five allocations, and at a few thousand readings a second that was a tenth
//! of the sink thread's CPU. Here a line is formatted into one buffer and written with one call;
//! the lines a thread logs inside [`batch`] (the sink's readings of one commit) go into that
//! thread's buffer, kept between batches, and are written with one call for all of them.
//!
//! A write that fails (`2>/dev/full`, a full disk under a redirected log, a pipe into `head -1`
//! that has closed) counts the line as lost; the guard stops trying for a second (a closed pipe
//! stays closed; one failed attempt a second costs nothing), and when stderr works again says how
//! many lines were lost. A server must not die of its log.

use log::{LevelFilter, Log, Metadata, Record};
use simple_logger::SimpleLogger;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// How long the guard waits after a failed write before trying stderr again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A batch this large is written out before it grows further (a few hundred lines).
const BATCH_FLUSH_AT: usize = 64 * 1024;

/// Installs the logger at `default` level (`RUST_LOG` overrides it, e.g. `RUST_LOG=debug`).
pub fn init(default: LevelFilter) -> Result<(), log::SetLoggerError> {
    let filter = SimpleLogger::new().with_level(default).env().with_utc_timestamps();
    let max = filter.max_level();
    install(filter, max, stderr)
}

/// Installs `filter` (whose most verbose level is `max`) with lines going to `output`.
fn install(filter: impl Log + 'static, max: LevelFilter, output: Output) -> Result<(), log::SetLoggerError> {
    // Installed once per process: leaked, as `log` wants a `'static` logger.
    let guard: &'static Guarded = Box::leak(Box::new(Guarded::new(filter, output)));
    log::set_logger(guard)?;
    let _ = INSTALLED.set(guard);
    log::set_max_level(max);
    Ok(())
}

/// Runs `f` with the lines this thread logs collected, and writes them in one call when it
/// returns (or when they pass 64 KiB). Other threads' lines are written as usual meanwhile, so
/// the batch's lines may come after lines logged later by others: keep batches short.
pub fn batch<R>(f: impl FnOnce() -> R) -> R {
    struct Flush;
    impl Drop for Flush {
        fn drop(&mut self) {
            BATCH.with(|b| b.borrow_mut().open = false);
            flush_batch();
        }
    }
    BATCH.with(|b| b.borrow_mut().open = true);
    let _flush = Flush;
    f()
}

/// Log lines lost so far because stderr could not be written.
pub fn lost_lines() -> u64 {
    LOST.load(Ordering::Relaxed)
}

static LOST: AtomicU64 = AtomicU64::new(0);

/// This thread's lines of an open [`batch`].
#[derive(Default)]
struct Pending {
    open: bool,
    text: String,
    lines: u64,
}

thread_local! {
    static BATCH: RefCell<Pending> = const { RefCell::new(Pending { open: false, text: String::new(), lines: 0 }) };
}

/// Where finished text goes: stderr in one call, or a test's sink.
type Output = fn(&[u8]) -> io::Result<()>;

fn stderr(text: &[u8]) -> io::Result<()> {
    io::stderr().lock().write_all(text)
}

/// Writes out what an open batch holds (its lines are lost if the write fails).
fn flush_batch() {
    let Some(guard) = installed() else { return };
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        if b.lines > 0 {
            let lines = std::mem::take(&mut b.lines);
            guard.emit(b.text.as_bytes(), lines);
            b.text.clear();
        }
    });
}

/// The guard `init` installed, to flush batches through: `None` before, or in a process that
/// installed another logger.
fn installed() -> Option<&'static Guarded> {
    INSTALLED.get().copied()
}

static INSTALLED: OnceLock<&'static Guarded> = OnceLock::new();

/// `simple_logger`'s line: `{UTC time, ms} {level:<5} [{target}] {message}`; the target falls back
/// to the module path when empty, as there.
fn format_line(out: &mut String, at: SystemTime, record: &Record) {
    let target = match record.target() {
        "" => record.module_path().unwrap_or_default(),
        t => t,
    };
    let _ = writeln!(
        out,
        "{} {:<5} [{target}] {}",
        humantime::format_rfc3339_millis(at),
        record.level().as_str(),
        record.args()
    );
}

/// [`format_line`], whether it finished: a message whose formatting panics is a lost line, not
/// a panic in the caller, whose work has nothing to do with its log.
fn format_whole(out: &mut String, record: &Record) -> bool {
    catch_unwind(AssertUnwindSafe(|| format_line(out, SystemTime::now(), record))).is_ok()
}

/// The filter and the writer, whose failures are counted instead of ending the process.
struct Guarded {
    filter: Box<dyn Log>,
    output: Output,
    start: Instant,
    /// Milliseconds since `start` of the last failed write; 0 while writes succeed.
    failed_at: AtomicU64,
    /// Lines lost since the last successful write.
    lost_since: AtomicU64,
}

impl Guarded {
    fn new(filter: impl Log + 'static, output: Output) -> Self {
        Guarded {
            filter: Box::new(filter),
            output,
            start: Instant::now(),
            failed_at: AtomicU64::new(0),
            lost_since: AtomicU64::new(0),
        }
    }

    fn lose(&self, lines: u64) {
        LOST.fetch_add(lines, Ordering::Relaxed);
        self.lost_since.fetch_add(lines, Ordering::Relaxed);
    }

    /// Writes `text` (`lines` whole lines), unless a write failed less than a second ago.
    fn emit(&self, text: &[u8], lines: u64) {
        let now = (self.start.elapsed().as_millis() as u64).max(1);
        let failed_at = self.failed_at.load(Ordering::Relaxed);
        if failed_at != 0 && now.saturating_sub(failed_at) < RETRY_AFTER.as_millis() as u64 {
            self.lose(lines);
            return;
        }
        if (self.output)(text).is_err() {
            self.failed_at.store(now, Ordering::Relaxed);
            self.lose(lines);
            return;
        }
        if failed_at != 0 {
            self.failed_at.store(0, Ordering::Relaxed);
            let lost = self.lost_since.swap(0, Ordering::Relaxed);
            let mut note = String::new();
            format_line(
                &mut note,
                SystemTime::now(),
                &Record::builder()
                    .args(format_args!("{lost} log lines were lost while stderr could not be written"))
                    .level(log::Level::Warn)
                    .target(module_path!())
                    .build(),
            );
            let _ = (self.output)(note.as_bytes());
        }
    }

    fn log_line(&self, record: &Record) {
        let full = BATCH.with(|b| {
            let mut b = b.borrow_mut();
            if !b.open {
                return None;
            }
            let kept = b.text.len();
            if !format_whole(&mut b.text, record) {
                b.text.truncate(kept);
                self.lose(1);
                return Some(false);
            }
            b.lines += 1;
            Some(b.text.len() >= BATCH_FLUSH_AT)
        });
        match full {
            Some(true) => flush_batch(),
            Some(false) => {}
            // Outside a batch (rare lines: a session's start and end, warnings), a buffer of the
            // line's own: a buffer kept per thread would stay in every session thread's memory.
            None => {
                let mut line = String::with_capacity(160);
                if format_whole(&mut line, record) {
                    self.emit(line.as_bytes(), 1);
                } else {
                    self.lose(1);
                }
            }
        }
    }
}

impl Log for Guarded {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if self.filter.enabled(record.metadata()) {
            self.log_line(record);
        }
    }

    fn flush(&self) {
        flush_batch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;
    use std::thread::ThreadId;

    /// Lets every line through.
    struct All;

    impl Log for All {
        fn enabled(&self, _: &Metadata) -> bool {
            true
        }
        fn log(&self, _: &Record) {}
        fn flush(&self) {}
    }

    fn record<'a>(args: std::fmt::Arguments<'a>, level: log::Level, target: &'a str) -> Record<'a> {
        Record::builder().args(args).level(level).target(target).module_path(Some("cliser::module")).build()
    }

    static BROKEN: AtomicBool = AtomicBool::new(false);
    static WRITTEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn flaky(text: &[u8]) -> io::Result<()> {
        if BROKEN.load(Ordering::Relaxed) {
            return Err(io::Error::from_raw_os_error(28));
        }
        WRITTEN.lock().unwrap().push(String::from_utf8_lossy(text).into_owned());
        Ok(())
    }

    fn message(line: &str) -> &str {
        line.trim_end().rsplit("] ").next().unwrap()
    }

    #[test]
    fn a_failing_write_is_counted_not_fatal_and_the_loss_is_reported_when_writes_work_again() {
        let g = Guarded::new(All, flaky);
        let line = |text: &str| g.log(&record(format_args!("{text}"), log::Level::Info, "t"));
        line("one");
        BROKEN.store(true, Ordering::Relaxed);
        let before = lost_lines();
        line("two");
        line("three");
        assert!(lost_lines() >= before + 2);
        BROKEN.store(false, Ordering::Relaxed);
        // Pretend the retry pause has passed.
        g.failed_at.store(1, Ordering::Relaxed);
        let g = Guarded { start: Instant::now() - RETRY_AFTER * 2, ..g };
        g.log(&record(format_args!("four"), log::Level::Info, "t"));
        let written = WRITTEN.lock().unwrap().clone();
        let messages: Vec<&str> = written.iter().map(|l| message(l)).collect();
        assert_eq!(messages, ["one", "four", "2 log lines were lost while stderr could not be written"]);
        assert!(written[2].contains(" WARN  [cliser_common::logging] "), "{}", written[2]);
    }

    /// A message whose formatting fails.
    struct Broken;

    impl std::fmt::Display for Broken {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            panic!("a Display that panics");
        }
    }

    #[test]
    fn a_message_whose_formatting_panics_is_a_lost_line_not_a_panic() {
        let g = Guarded::new(All, flaky);
        let before = lost_lines();
        g.log(&record(format_args!("{}", Broken), log::Level::Info, "t"));
        assert!(lost_lines() > before);
        BATCH.with(|b| b.borrow_mut().open = true);
        g.log(&record(format_args!("half {}", Broken), log::Level::Info, "t"));
        let pending = BATCH.with(|b| std::mem::take(&mut *b.borrow_mut()).text);
        assert_eq!(pending, "", "nothing of the broken line is kept in the batch");
    }

    static CALLS: Mutex<Vec<(ThreadId, String)>> = Mutex::new(Vec::new());

    fn calls(text: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(text).into_owned();
        CALLS.lock().unwrap().push((std::thread::current().id(), text));
        Ok(())
    }

    /// The only test that installs the logger in this process.
    #[test]
    fn a_batch_is_written_in_one_call_at_its_end_and_a_line_outside_one_in_a_call_of_its_own() {
        install(All, LevelFilter::Trace, calls).unwrap();
        let me = std::thread::current().id();
        let mine = || -> Vec<String> {
            CALLS.lock().unwrap().iter().filter(|(t, _)| *t == me).map(|(_, s)| s.clone()).collect()
        };
        log::info!(target: "t", "before");
        let inside = batch(|| {
            log::info!(target: "t", "a");
            log::warn!(target: "t", "b");
            log::info!(target: "t", "c");
            mine().len()
        });
        log::info!(target: "t", "after");
        assert_eq!(inside, 1, "nothing of the batch is written before it ends");
        let written = mine();
        assert_eq!(written.len(), 3, "{written:?}");
        assert_eq!(message(&written[0]), "before");
        let lines: Vec<&str> = written[1].lines().map(message).collect();
        assert_eq!(lines, ["a", "b", "c"]);
        assert!(written[1].lines().nth(1).unwrap().contains(" WARN  [t] b"));
        assert_eq!(message(&written[2]), "after");

        // A batch past 64 KiB is written out as it goes, in whole lines.
        let long = "x".repeat(1000);
        batch(|| (0..100).for_each(|_| log::info!(target: "t", "{long}")));
        let big = &mine()[3..];
        assert!(big.len() >= 2, "written in more than one call");
        assert!(big.iter().all(|t| t.ends_with('\n') && t.len() <= BATCH_FLUSH_AT + 1100));
        assert_eq!(big.iter().map(|t| t.lines().count()).sum::<usize>(), 100);
    }

    /// What the child below prints before each of our lines.
    const OURS: &str = "ours: ";

    #[test]
    fn the_lines_are_byte_for_byte_simple_loggers_but_for_the_time() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "logging::tests::child_writes_both_formats", "--nocapture", "--test-threads=1"])
            .env("CLISER_LOG_FORMAT_CHILD", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        // The harness's `test ... ` may start the first line.
        let ours: Vec<&str> = stdout.lines().filter_map(|l| Some(&l[l.find(OURS)? + OURS.len()..])).collect();
        // The harness writes nothing to stderr: these are simple_logger's lines.
        let theirs: Vec<&str> = stderr.lines().collect();
        assert_eq!(ours.len(), 4, "{stdout}");
        assert_eq!(theirs.len(), 4, "{stderr}");
        for (o, t) in ours.iter().zip(&theirs) {
            // `2026-12-06T05:55:59.777Z `: the same shape; then the same bytes.
            let shape = |l: &str| l.len() > 25 && l.as_bytes()[10] == b'T' && &l[23..25] == "Z ";
            assert!(shape(o) && shape(t), "{o}\n{t}");
            assert_eq!(o[25..], t[25..]);
        }
    }

    #[test]
    fn child_writes_both_formats() {
        if std::env::var_os("CLISER_LOG_FORMAT_CHILD").is_none() {
            return;
        }
        let theirs = SimpleLogger::new().with_level(LevelFilter::Trace).with_utc_timestamps();
        let lines = [
            (
                log::Level::Info,
                "cliser_server::readings::sink",
                "reading cid=pi-1 sensor=28-0316a2795aff temp_c=-18.250",
            ),
            (log::Level::Warn, "cliser_server::link", "naïve \"quoted\" ünïcode"),
            (log::Level::Error, "", "an empty target shows the module path"),
            (log::Level::Debug, "x", ""),
        ];
        for (level, target, text) in lines {
            theirs.log(&record(format_args!("{text}"), level, target));
            let mut ours = String::new();
            format_line(&mut ours, SystemTime::now(), &record(format_args!("{text}"), level, target));
            print!("{OURS}{ours}");
        }
    }
}
