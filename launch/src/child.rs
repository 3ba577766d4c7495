//! A child process that never outlives its owner and whose last lines of output can be shown when it
//! fails.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a wait looks at the child again.
const POLL: Duration = Duration::from_millis(10);
/// How many of a piped child's last lines are kept for [`Supervised::log_tail`].
const KEPT_LINES: usize = 50;
/// How long, after the child exits, its last lines may take to come out of the pipe.
const DRAIN: Duration = Duration::from_secs(1);

/// Where a child's output goes.
pub enum Output {
    /// Its stdout and stderr are appended to this file (created if need be), for a test to read.
    File(PathBuf),
    /// Each line of its stderr goes to the callback, on a thread of its own (a person watches);
    /// its stdout is the caller's.
    Lines(Box<dyn FnMut(&str) + Send>),
}

impl Output {
    /// [`Output::Lines`] without the `Box`.
    pub fn lines(on_line: impl FnMut(&str) + Send + 'static) -> Output {
        Output::Lines(Box::new(on_line))
    }
}

/// A running child, with stdin closed. Dropping it kills (SIGKILL) and reaps it if it still runs.
pub struct Supervised {
    name: String,
    child: Child,
    /// Set once the child has been reaped: from then on its pid may belong to another process.
    status: Option<ExitStatus>,
    log: Log,
}

enum Log {
    File { path: PathBuf, start: u64 },
    Lines { tail: Arc<Tail>, pump: Option<JoinHandle<()>> },
}

/// The last lines from a pipe, and whether the pipe has closed.
#[derive(Default)]
struct Tail {
    state: Mutex<(VecDeque<String>, bool)>,
    closed: Condvar,
}

impl std::fmt::Debug for Supervised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervised").field("name", &self.name).field("pid", &self.child.id()).finish()
    }
}

impl Supervised {
    /// Spawns `cmd` (called `name` in messages) with stdin closed and its output sent to `output`.
    pub fn spawn(name: &str, mut cmd: Command, output: Output) -> std::io::Result<Supervised> {
        cmd.stdin(Stdio::null());
        match output {
            Output::File(path) => {
                let out = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
                // The file may hold an earlier run's output: this run's part starts here.
                let start = out.metadata()?.len();
                cmd.stdout(out.try_clone()?).stderr(out);
                let child = cmd.spawn()?;
                Ok(Supervised { name: name.to_owned(), child, status: None, log: Log::File { path, start } })
            }
            Output::Lines(on_line) => {
                cmd.stderr(Stdio::piped());
                let mut child = cmd.spawn()?;
                let stderr = child.stderr.take().expect("stderr is piped");
                let tail = Arc::new(Tail::default());
                let pump_tail = Arc::clone(&tail);
                let pump = std::thread::Builder::new()
                    .name(format!("{name}-log"))
                    .spawn(move || pump(stderr, on_line, &pump_tail));
                let pump = match pump {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(e);
                    }
                };
                Ok(Supervised {
                    name: name.to_owned(),
                    child,
                    status: None,
                    log: Log::Lines { tail, pump: Some(pump) },
                })
            }
        }
    }

    /// What it is called in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, if it has exited (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`). An error once it has been reaped: its pid is no longer
    /// its own.
    pub fn signal(&self, signal: libc::c_int) -> std::io::Result<()> {
        if let Some(status) = self.status {
            return Err(std::io::Error::other(format!("{} has already exited ({status})", self.name)));
        }
        let pid = libc::pid_t::try_from(self.child.id()).map_err(std::io::Error::other)?;
        // SAFETY: kill(2) on the pid of a child we have not reaped, so the pid is still ours.
        if unsafe { libc::kill(pid, signal) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Asks it to stop (SIGTERM) and waits up to `grace`; `None` if it still runs then.
    pub fn terminate(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exited() {
            return Some(status);
        }
        let _ = self.signal(libc::SIGTERM);
        self.wait_timeout(grace)
    }

    /// Kills it (SIGKILL) if it still runs, and reaps it.
    pub fn kill(&mut self) -> std::io::Result<ExitStatus> {
        if let Some(status) = self.exited() {
            return Ok(status);
        }
        // An error here means it exited meanwhile; wait() tells.
        let _ = self.child.kill();
        let status = self.child.wait()?;
        self.status = Some(status);
        Ok(status)
    }

    /// Its last `n` lines of output (from this run only, for a log file that is appended to). Once it
    /// has exited, waits briefly for a piped child's last lines to come through.
    pub fn log_tail(&self, n: usize) -> String {
        let lines: Vec<String> = match &self.log {
            Log::File { path, start } => {
                let bytes = std::fs::read(path).unwrap_or_default();
                let from = usize::try_from(*start).unwrap_or(usize::MAX).min(bytes.len());
                String::from_utf8_lossy(&bytes[from..]).lines().map(str::to_owned).collect()
            }
            Log::Lines { tail, .. } => {
                let mut state = tail.state.lock().unwrap_or_else(|e| e.into_inner());
                if self.status.is_some() {
                    let deadline = Instant::now() + DRAIN;
                    while !state.1 {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        state = tail.closed.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
                    }
                }
                state.0.iter().cloned().collect()
            }
        };
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Passes each stderr line on and keeps the last few. Lines need not be UTF-8: a child's stray byte
/// must not stop the pump, or the child would block on (or die of) a full pipe.
fn pump(stderr: ChildStderr, mut on_line: Box<dyn FnMut(&str) + Send>, tail: &Tail) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let line = text.trim_end_matches(['\n', '\r']);
                on_line(line);
                let mut state = tail.state.lock().unwrap_or_else(|e| e.into_inner());
                if state.0.len() == KEPT_LINES {
                    state.0.pop_front();
                }
                state.0.push_back(line.to_owned());
            }
        }
    }
    tail.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
    tail.closed.notify_all();
}

impl Drop for Supervised {
    fn drop(&mut self) {
        // Never leave a child behind, even when the owner fails half way.
        let _ = self.kill();
        if let Log::Lines { pump, .. } = &mut self.log {
            if let Some(p) = pump.take() {
                let _ = p.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn a_file_log_tail_is_this_runs_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::write(&log, "an earlier run\n").unwrap();
        let mut c = Supervised::spawn(
            "t",
            sh("echo out; for i in 1 2 3; do echo $i >&2; done"),
            Output::File(log.clone()),
        )
        .unwrap();
        assert!(c.wait_timeout(Duration::from_secs(10)).unwrap().success());
        assert_eq!(c.log_tail(2), "2\n3");
        assert_eq!(c.log_tail(100), "out\n1\n2\n3");
        assert!(std::fs::read_to_string(&log).unwrap().starts_with("an earlier run\n"));
    }

    #[test]
    fn piped_lines_reach_the_callback_and_the_tail() {
        let (tx, rx) = mpsc::channel();
        let script = "printf 'a\\nb\\377\\nc' >&2; exit 3";
        let mut c =
            Supervised::spawn("t", sh(script), Output::lines(move |l| tx.send(l.to_owned()).unwrap()))
                .unwrap();
        let status = c.wait_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(c.log_tail(2), "b\u{fffd}\nc");
        drop(c);
        assert_eq!(rx.iter().collect::<Vec<_>>(), ["a", "b\u{fffd}", "c"]);
    }

    #[test]
    fn terminate_stops_a_child_that_honours_sigterm() {
        let mut c = Supervised::spawn("t", sh("exec sleep 30"), Output::lines(|_| {})).unwrap();
        let status = c.terminate(Duration::from_secs(10)).expect("stopped");
        assert!(!status.success());
        assert!(c.signal(libc::SIGTERM).is_err(), "a reaped child's pid is not signalled");
    }

    #[test]
    fn dropping_kills_the_child() {
        let c = Supervised::spawn("t", sh("exec sleep 30"), Output::lines(|_| {})).unwrap();
        let pid = c.pid() as libc::pid_t;
        drop(c);
        // SAFETY: signal 0 only checks whether the pid exists.
        assert_ne!(unsafe { libc::kill(pid, 0) }, 0, "pid {pid} still exists");
    }
}
