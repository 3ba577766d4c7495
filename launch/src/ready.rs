//! The server's `--ready-file PATH`: once both its client listener and its console are bound, the
//! server writes `PATH.tmp` and renames it to `PATH`, one line of JSON:
//! `{"listen":"127.0.0.1:41234","console":"127.0.0.1:41235","pid":1234}`. The rename makes the file
//! whole whenever it exists, so a file that does not parse is an error, not a reason to read again.

use crate::Supervised;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

/// How often the file is looked for.
const POLL: Duration = Duration::from_millis(10);
/// How much of a failed child's log an error shows.
const TAIL_LINES: usize = 20;

/// What the server tells in its ready file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Ready {
    /// Where clients connect in clear; absent when the server runs with `--listen off`.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Where clients connect inside TLS, when the server has `--listen-tls`.
    #[serde(default)]
    pub listen_tls: Option<SocketAddr>,
    /// The admin console.
    pub console: SocketAddr,
    /// The web page, when the server serves it.
    #[serde(default)]
    pub http: Option<SocketAddr>,
    /// The server's process id.
    pub pid: u32,
}

impl Ready {
    /// Parses the file's content.
    pub fn parse(text: &str) -> Result<Ready, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// Why the server is not known to be ready.
#[derive(Debug)]
pub enum ReadyError {
    /// It exited first.
    Exited {
        /// The child's name.
        name: String,
        /// How it ended.
        status: ExitStatus,
        /// The end of its log.
        tail: String,
    },
    /// It did not write the file in time.
    TimedOut {
        /// The child's name.
        name: String,
        /// The file.
        path: PathBuf,
        /// How long it had.
        after: Duration,
    },
    /// The file is there but cannot be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file does not hold what the server writes.
    Malformed {
        /// The file.
        path: PathBuf,
        /// Its content.
        text: String,
        /// What is wrong with it.
        error: serde_json::Error,
    },
    /// The file was written by another process than the child waited for.
    WrongPid {
        /// The file.
        path: PathBuf,
        /// The pid in it.
        found: u32,
        /// The child's pid.
        expected: u32,
    },
}

impl std::fmt::Display for ReadyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadyError::Exited { name, status, tail } => {
                write!(f, "{name} exited before it was ready ({status}); the end of its log:\n{tail}")
            }
            ReadyError::TimedOut { name, path, after } => {
                write!(f, "{name} did not write its ready file {} within {after:?}", path.display())
            }
            ReadyError::Unreadable { path, error } => write!(f, "reading {}: {error}", path.display()),
            ReadyError::Malformed { path, text, error } => {
                write!(f, "{} is not a ready file ({error}): {text:?}", path.display())
            }
            ReadyError::WrongPid { path, found, expected } => {
                write!(f, "{} was written by pid {found}, not by the server (pid {expected})", path.display())
            }
        }
    }
}

impl std::error::Error for ReadyError {}

/// Where a server about to be started will say it is ready.
#[derive(Debug, Clone)]
pub struct ReadyFile {
    path: PathBuf,
}

impl ReadyFile {
    /// The ready file at `path`. A file left there by an earlier run is removed now, before the
    /// server that is to write it starts.
    pub fn new(path: impl Into<PathBuf>) -> std::io::Result<ReadyFile> {
        let path = path.into();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(ReadyFile { path }),
        }
    }

    /// Where it is (give this to the server's `--ready-file`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits up to `timeout` for `server` to write the file; fails at once if `server` exits first.
    pub fn wait(&self, server: &mut Supervised, timeout: Duration) -> Result<Ready, ReadyError> {
        Ok(self.wait_unless(server, timeout, || false)?.expect("never interrupted"))
    }

    /// As [`wait`](Self::wait), but gives up with `None` as soon as `interrupted` says so (it is
    /// asked every few milliseconds), e.g. when the user pressed Ctrl-C.
    pub fn wait_unless(
        &self,
        server: &mut Supervised,
        timeout: Duration,
        mut interrupted: impl FnMut() -> bool,
    ) -> Result<Option<Ready>, ReadyError> {
        let deadline = Instant::now() + timeout;
        loop {
            // A server that is gone is not ready, whatever file it left.
            if let Some(status) = server.exited() {
                let tail = server.log_tail(TAIL_LINES);
                return Err(ReadyError::Exited { name: server.name().to_owned(), status, tail });
            }
            if let Some(ready) = self.read(server.pid())? {
                return Ok(Some(ready));
            }
            if interrupted() {
                return Ok(None);
            }
            if Instant::now() >= deadline {
                let (name, path) = (server.name().to_owned(), self.path.clone());
                return Err(ReadyError::TimedOut { name, path, after: timeout });
            }
            std::thread::sleep(POLL);
        }
    }

    /// The file's content, if it is there yet.
    fn read(&self, expected_pid: u32) -> Result<Option<Ready>, ReadyError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(ReadyError::Unreadable { path: self.path.clone(), error }),
        };
        let ready = Ready::parse(&text).map_err(|error| ReadyError::Malformed {
            path: self.path.clone(),
            text: text.clone(),
            error,
        })?;
        if ready.pid != expected_pid {
            return Err(ReadyError::WrongPid {
                path: self.path.clone(),
                found: ready.pid,
                expected: expected_pid,
            });
        }
        Ok(Some(ready))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Output;
    use std::process::Command;

    const T: Duration = Duration::from_secs(10);

    /// A stand-in server: `sh` runs `script` with the ready file's path as `$1`; `$$` is its pid
    /// (the child's own, as `exec` keeps it).
    fn fake_server(dir: &Path, script: &str) -> (ReadyFile, Supervised) {
        let ready = ReadyFile::new(dir.join("ready")).unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script, "fake-server"]).arg(ready.path());
        let child = Supervised::spawn("fake-server", cmd, Output::File(dir.join("log"))).unwrap();
        (ready, child)
    }

    /// Writes the file as the server does: whole, by rename; then stays up.
    const WRITES_AND_WAITS: &str = r#"
        echo starting >&2
        printf '{"listen":"127.0.0.1:41234","console":"127.0.0.1:41235","pid":%d}\n' $$ > "$1.tmp"
        mv "$1.tmp" "$1"
        exec sleep 30
    "#;

    #[test]
    fn parses_what_the_server_writes() {
        let r =
            Ready::parse("{\"listen\":\"127.0.0.1:41234\",\"console\":\"[::1]:7\",\"pid\":1234}\n").unwrap();
        assert_eq!(r.listen, Some("127.0.0.1:41234".parse().unwrap()));
        assert_eq!(r.console, "[::1]:7".parse().unwrap());
        assert_eq!(r.pid, 1234);
        assert!(Ready::parse("{\"listen\":\"nowhere\",\"console\":\"[::1]:7\",\"pid\":1}").is_err());
        let tls_only =
            Ready::parse("{\"listen_tls\":\"127.0.0.1:9\",\"console\":\"[::1]:7\",\"pid\":1}").unwrap();
        assert_eq!((tls_only.listen, tls_only.listen_tls), (None, Some("127.0.0.1:9".parse().unwrap())));
        assert!(Ready::parse("{\"listen\":\"127.0.0.1:1\",").is_err());
    }

    #[test]
    fn returns_the_addresses_once_the_file_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let (ready, mut server) = fake_server(dir.path(), WRITES_AND_WAITS);
        let r = ready.wait(&mut server, T).unwrap();
        assert_eq!(r.listen, Some("127.0.0.1:41234".parse().unwrap()));
        assert_eq!(r.console, "127.0.0.1:41235".parse().unwrap());
        assert_eq!(r.pid, server.pid());
    }

    #[test]
    fn a_server_that_exits_first_fails_at_once_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let (ready, mut server) = fake_server(dir.path(), "echo 'cannot bind: in use' >&2; exit 2");
        let start = Instant::now();
        let e = ready.wait(&mut server, Duration::from_secs(60)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(30), "did not fail at once");
        assert!(matches!(&e, ReadyError::Exited { status, .. } if status.code() == Some(2)), "{e}");
        assert!(e.to_string().contains("cannot bind: in use"), "{e}");
    }

    #[test]
    fn a_file_left_by_an_earlier_run_is_removed_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready");
        std::fs::write(&path, "{\"listen\":\"127.0.0.1:1\",\"console\":\"127.0.0.1:2\",\"pid\":1}").unwrap();
        let (ready, mut server) = fake_server(dir.path(), WRITES_AND_WAITS);
        assert_eq!(ready.wait(&mut server, T).unwrap().pid, server.pid());
    }

    #[test]
    fn a_file_from_another_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let script = r#"echo '{"listen":"127.0.0.1:1","console":"127.0.0.1:2","pid":1}' > "$1.tmp"
            mv "$1.tmp" "$1"; exec sleep 30"#;
        let (ready, mut server) = fake_server(dir.path(), script);
        let e = ready.wait(&mut server, T).unwrap_err();
        assert!(matches!(e, ReadyError::WrongPid { found: 1, .. }), "{e}");
    }

    #[test]
    fn gives_up_at_the_deadline_or_when_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let (ready, mut server) = fake_server(dir.path(), "exec sleep 30");
        let e = ready.wait(&mut server, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(e, ReadyError::TimedOut { .. }), "{e}");
        let mut asked = 0;
        let r = ready.wait_unless(&mut server, T, || {
            asked += 1;
            asked == 3
        });
        assert!(matches!(r, Ok(None)), "{r:?}");
    }
}
