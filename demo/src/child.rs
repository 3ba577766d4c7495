//! A child process whose stderr is pumped, line by line, to the demo's own stderr.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running child of the demo.
pub struct Running {
    /// What to call it in messages.
    pub name: String,
    child: Child,
    pump: Option<JoinHandle<()>>,
}

/// Spawns `cmd` with stdin closed and stderr piped. Each stderr line goes to `on_line` (which decides
/// what to print).
pub fn spawn(
    name: &str,
    mut cmd: Command,
    on_line: impl FnMut(&str) + Send + 'static,
) -> std::io::Result<Running> {
    cmd.stdin(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let pump =
        std::thread::Builder::new().name(format!("{name}-log")).spawn(move || pump(stderr, on_line))?;
    Ok(Running { name: name.to_owned(), child, pump: Some(pump) })
}

fn pump(stderr: ChildStderr, mut on_line: impl FnMut(&str)) {
    for line in BufReader::new(stderr).lines() {
        match line {
            Ok(l) => on_line(&l),
            Err(_) => return,
        }
    }
}

/// Writes a line to the demo's stderr; a closed terminal is not worth a panic.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

impl Running {
    /// The child's exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal` (e.g. SIGTERM) to the child.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the pid of a child we have not reaped yet, so the pid is still ours.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Waits up to `grace` for the child to exit after SIGTERM, then kills it. Returns its status.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exited() {
            return Some(status);
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        say(&format!("cliser-demo: {} did not stop within {grace:?}; killing it", self.name));
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Never leave a child behind, even when the demo fails half way.
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
    }
}
