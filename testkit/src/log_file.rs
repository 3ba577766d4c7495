use std::path::{Path, PathBuf};
use std::time::Duration;

/// A log file that a child process writes its stderr to, read back by the test.
#[derive(Debug, Clone)]
pub struct LogFile {
    path: PathBuf,
}

impl LogFile {
    /// The log at `path` (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LogFile { path: path.into() }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole log so far (lossy UTF-8).
    pub fn text(&self) -> String {
        std::fs::read(&self.path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// The complete lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        let text = self.text();
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        complete.lines().filter(|l| l.contains(needle)).map(str::to_owned).collect()
    }

    /// How many complete lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines_with(needle).len()
    }

    /// Waits until a complete line contains `needle`; returns the first such line.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        crate::wait_until(
            timeout,
            &format!("log line containing {needle:?} in {}", self.path.display()),
            || self.lines_with(needle).into_iter().next(),
        )
    }

    /// Waits until at least `n` complete lines contain `needle`.
    pub fn wait_count(&self, needle: &str, n: usize, timeout: Duration) -> Vec<String> {
        crate::wait_until(timeout, &format!("{n} log lines containing {needle:?}"), || {
            let lines = self.lines_with(needle);
            (lines.len() >= n).then_some(lines)
        })
    }
}
