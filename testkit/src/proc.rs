use crate::LogFile;
use cliser_launch::{Output, Supervised};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// A child process whose stdout and stderr go to a log file; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Option<Supervised>,
    /// Its stderr.
    pub log: LogFile,
}

impl Proc {
    /// Spawns `cmd` with stdin null, stdout and stderr appended to `log`.
    pub fn spawn(cmd: Command, log: &Path) -> Proc {
        let shown = format!("{cmd:?}");
        let name =
            Path::new(cmd.get_program()).file_name().unwrap_or_default().to_string_lossy().into_owned();
        let child = Supervised::spawn(&name, cmd, Output::File(log.to_path_buf()))
            .unwrap_or_else(|e| panic!("spawn {shown}: {e}"));
        Proc { child: Some(child), log: LogFile::new(log) }
    }

    fn running(&self) -> &Supervised {
        self.child.as_ref().expect("running")
    }

    /// The child itself, for the server's ready file.
    pub(crate) fn supervised(&mut self) -> &mut Supervised {
        self.child.as_mut().expect("running")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.running().pid()
    }

    /// Sends a signal (e.g. `libc`'s SIGTERM = 15, SIGINT = 2).
    pub fn signal(&self, sig: i32) {
        if let Err(e) = self.running().signal(sig) {
            panic!("kill -{sig} {}: {e}", self.pid());
        }
    }

    /// Kills with SIGKILL and reaps.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
        }
    }

    /// Waits for the process to exit, panicking after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let Some(status) = child.wait_timeout(timeout) else {
            panic!("timed out after {timeout:?} waiting for process exit");
        };
        self.child = None;
        status
    }

    /// Whether it has exited (without waiting).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            None => true,
            Some(c) => c.exited().is_some(),
        }
    }

    /// Waits until `ready` holds, checking every `every`; an error with its log if it exits first,
    /// or if `ready` does not hold within `within`.
    pub fn wait_ready(
        &mut self,
        within: Duration,
        every: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if self.has_exited() {
                return Err(format!("it exited: {}", self.log.text()));
            }
            if ready() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("not ready within {within:?}"));
            }
            std::thread::sleep(every);
        }
    }
}
