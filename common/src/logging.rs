//! Log setup for every binary: `simple_logger`'s format (UTC timestamps, `RUST_LOG` honoured) behind a
//! guard that never lets a failing stderr take the process down.
//!
//! `simple_logger` writes with `eprintln!`, which panics when stderr cannot be written: `2>/dev/full`,
//! a full disk under a redirected log, or a pipe into `head -1` that has closed. A server must not die
//! of its log, so the guard contains that panic, counts the line as lost, stops trying for a second
//! (a closed pipe stays closed; one failed attempt a second costs nothing), and when stderr works
//! again says how many lines were lost.

use log::{LevelFilter, Log, Metadata, Record};
use simple_logger::SimpleLogger;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the guard waits after a failed write before trying stderr again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Installs the logger at `default` level (`RUST_LOG` overrides it, e.g. `RUST_LOG=debug`).
pub fn init(default: LevelFilter) -> Result<(), log::SetLoggerError> {
    let inner = SimpleLogger::new().with_level(default).env().with_utc_timestamps();
    let max = inner.max_level();
    log::set_boxed_logger(Box::new(Guarded::new(inner)))?;
    log::set_max_level(max);
    Ok(())
}

/// Log lines lost so far because stderr could not be written.
pub fn lost_lines() -> u64 {
    LOST.load(Ordering::Relaxed)
}

static LOST: AtomicU64 = AtomicU64::new(0);

/// A logger whose failures are counted instead of panicking.
struct Guarded<L> {
    inner: L,
    start: Instant,
    /// Milliseconds since `start` of the last failed write; 0 while writes succeed.
    failed_at: AtomicU64,
    /// Lines lost since the last successful write.
    lost_since: AtomicU64,
}

impl<L: Log> Guarded<L> {
    fn new(inner: L) -> Self {
        Guarded { inner, start: Instant::now(), failed_at: AtomicU64::new(0), lost_since: AtomicU64::new(0) }
    }

    fn write(&self, record: &Record) -> bool {
        catch_unwind(AssertUnwindSafe(|| self.inner.log(record))).is_ok()
    }

    fn lose(&self) {
        LOST.fetch_add(1, Ordering::Relaxed);
        self.lost_since.fetch_add(1, Ordering::Relaxed);
    }
}

impl<L: Log> Log for Guarded<L> {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        let now = (self.start.elapsed().as_millis() as u64).max(1);
        let failed_at = self.failed_at.load(Ordering::Relaxed);
        if failed_at != 0 && now.saturating_sub(failed_at) < RETRY_AFTER.as_millis() as u64 {
            self.lose();
            return;
        }
        if !self.write(record) {
            self.failed_at.store(now, Ordering::Relaxed);
            self.lose();
            return;
        }
        if failed_at != 0 {
            self.failed_at.store(0, Ordering::Relaxed);
            let lost = self.lost_since.swap(0, Ordering::Relaxed);
            let note = format!("{lost} log lines were lost while stderr could not be written");
            let _ = self.write(
                &Record::builder()
                    .args(format_args!("{note}"))
                    .level(log::Level::Warn)
                    .target(record.target())
                    .build(),
            );
        }
    }

    fn flush(&self) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.inner.flush()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;

    /// A logger whose writes fail (panic, as eprintln! does) while `broken` is set.
    #[derive(Default)]
    struct Flaky {
        broken: AtomicBool,
        written: Mutex<Vec<String>>,
    }

    impl Log for Flaky {
        fn enabled(&self, _: &Metadata) -> bool {
            true
        }
        fn log(&self, r: &Record) {
            if self.broken.load(Ordering::Relaxed) {
                panic!("failed printing to stderr: No space left on device (os error 28)");
            }
            self.written.lock().unwrap().push(r.args().to_string());
        }
        fn flush(&self) {}
    }

    fn line(g: &Guarded<Flaky>, text: &str) {
        g.log(&Record::builder().args(format_args!("{text}")).level(log::Level::Info).build());
    }

    #[test]
    fn a_failing_write_is_counted_not_fatal_and_the_loss_is_reported_when_writes_work_again() {
        let g = Guarded::new(Flaky::default());
        line(&g, "one");
        g.inner.broken.store(true, Ordering::Relaxed);
        let before = lost_lines();
        line(&g, "two");
        line(&g, "three");
        assert!(lost_lines() >= before + 2);
        g.inner.broken.store(false, Ordering::Relaxed);
        // Pretend the retry pause has passed.
        g.failed_at.store(1, Ordering::Relaxed);
        let g = Guarded { start: Instant::now() - RETRY_AFTER * 2, ..g };
        line(&g, "four");
        let written = g.inner.written.lock().unwrap().clone();
        assert_eq!(written, ["one", "four", "2 log lines were lost while stderr could not be written"]);
    }
}
