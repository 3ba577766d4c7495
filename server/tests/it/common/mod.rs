//! Shared by the server's integration tests: the real binary on loopback, a temp dir per test.

pub use cliser_testkit::{LineClient, Proc, ServerHandle};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Generous bound for anything that should happen "at once".
pub const T: Duration = Duration::from_secs(10);

/// A server in its own temp dir with the given extra flags. Keep the `TempDir` alive with it.
pub fn server(extra: &[&str]) -> (tempfile::TempDir, ServerHandle) {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = ServerHandle::start(dir.path(), extra);
    (dir, s)
}

/// A logged-in client; returns it with its 140 line. The poll the server sends right after `140`
/// is taken too (left unanswered), so what the test reads next is what it caused, or the next poll
/// one interval later. A test of that first poll logs in with [`LineClient::login`].
pub fn client(s: &ServerHandle, id: &str) -> (LineClient, String) {
    let mut c = LineClient::connect(s.addr);
    let l = c.login(&s.password, id);
    c.expect("100: keep alive", T);
    (c, l)
}

/// An admin console past its first prompt.
pub fn admin(s: &ServerHandle) -> LineClient {
    let mut a = LineClient::connect(s.console);
    a.recv_until("#> ", T);
    a
}

/// Sends an admin command; returns its output (without the following prompt).
pub fn ask(a: &mut LineClient, cmd: &str) -> String {
    a.send(cmd);
    a.recv_until("#> ", T).trim_end_matches('\n').to_owned()
}

/// A well-behaved client running in the background while a test attacks the server: it answers every
/// keep-alive with one reading and records the longest gap between polls.
pub struct GoodClient {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    polls: std::sync::Arc<std::sync::atomic::AtomicU64>,
    thread: Option<std::thread::JoinHandle<(Duration, u64)>>,
    pub id: String,
}

impl GoodClient {
    /// Logs in as `id` (from 127.0.0.1) and starts answering.
    pub fn start(s: &ServerHandle, id: &str) -> GoodClient {
        Self::start_with(LineClient::connect(s.addr), s, id)
    }

    /// The same over a connection the test made itself (e.g. from another source address).
    pub fn start_with(mut c: LineClient, s: &ServerHandle, id: &str) -> GoodClient {
        use std::sync::atomic::{AtomicBool, Ordering};
        c.login(&s.password, id);
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let polls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = polls.clone();
        let thread = std::thread::spawn(move || {
            let (mut seq, mut worst) = (0u64, Duration::ZERO);
            let mut last = std::time::Instant::now();
            while !flag.load(Ordering::SeqCst) {
                c.expect("100", Duration::from_secs(20));
                worst = worst.max(last.elapsed());
                last = std::time::Instant::now();
                seq += 1;
                counter.store(seq, Ordering::SeqCst);
                c.send(&format!("100 t=20.5#{seq}"));
            }
            (worst, seq)
        });
        GoodClient { stop, polls, thread: Some(thread), id: id.to_owned() }
    }

    /// Lets it answer at least three more keep-alives, then stops it; returns the longest gap
    /// between keep-alives and the readings it sent.
    pub fn finish(mut self) -> (Duration, u64) {
        use std::sync::atomic::Ordering;
        let target = self.polls.load(Ordering::SeqCst) + 3;
        cliser_testkit::wait_until(Duration::from_secs(20), "three more keep-alives", || {
            (self.polls.load(Ordering::SeqCst) >= target).then_some(())
        });
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.take().unwrap().join().expect("good client failed")
    }
}

/// Asserts that `id`'s readings 1..=n were each logged exactly once.
pub fn assert_logged_once(s: &ServerHandle, id: &str, n: u64) {
    let prefix = format!("reading cid={id} sensor=t ");
    // The last reading may still be on its way to the log.
    s.log().wait_for(&format!("{prefix}temp_c=20.500 ts=")[..], T);
    cliser_testkit::wait_until(T, "the last reading in the log", || {
        s.log().lines_with(&prefix).iter().any(|l| l.ends_with(&format!(" seq={n}"))).then_some(())
    });
    let mut counts = vec![0u32; n as usize + 1];
    for l in s.log().lines_with(&prefix) {
        let seq: usize = l.rsplit("seq=").next().unwrap().parse().unwrap();
        assert!(seq >= 1 && seq <= n as usize, "unexpected seq {seq}");
        counts[seq] += 1;
    }
    let wrong: Vec<_> = counts.iter().enumerate().skip(1).filter(|(_, &c)| c != 1).collect();
    assert!(wrong.is_empty(), "{id}: (seq, times logged) not once: {wrong:?}");
}

pub mod http;
pub mod proxy;
pub mod tls;

/// Starts the real `cliser-pi-client` with the simulated sensors (two of them), sampling every
/// `interval`, its state in `state`, its log in `log`.
pub fn pi_client(
    server: SocketAddr,
    password: &str,
    id: &str,
    state: &Path,
    log: &Path,
    extra: &[&str],
) -> Proc {
    let mut cmd = std::process::Command::new(cliser_testkit::bin("cliser-pi-client"));
    cmd.args(["--server", &server.to_string(), "--id", id, "--sensor", "sim", "--state-dir"])
        .arg(state)
        .args(extra)
        .env("CLISER_PASSWORD", password)
        // Debug: the client's line per reading (what `sampled_seqs` reads) is a debug line.
        .env("RUST_LOG", "debug");
    Proc::spawn(cmd, log)
}

/// The seqs a client logged as sampled (`reading sensor=.. seq=N`).
pub fn sampled_seqs(log: &cliser_testkit::LogFile) -> Vec<u64> {
    log.lines_with("reading sensor=")
        .iter()
        .filter_map(|l| l.rsplit("seq=").next()?.trim().parse().ok())
        .collect()
}

/// The seqs recorded for `cid`: each seq the store holds, plus one more copy for every time the
/// server's log shows it again (the store's unique key cannot hold a seq twice, so a reading
/// recorded twice would show in the log).
pub fn ledger_seqs(s: &ServerHandle, cid: &str) -> Vec<u64> {
    let mut seqs: Vec<u64> = s.stored_seqs(cid).into_keys().collect();
    let prefix = format!("reading cid={cid} ");
    let mut logged = std::collections::BTreeMap::<u64, usize>::new();
    for l in s.log().lines_with(&prefix) {
        if let Some(seq) = l.rsplit("seq=").next().and_then(|t| t.trim().parse().ok()) {
            *logged.entry(seq).or_default() += 1;
        }
    }
    for (seq, n) in logged {
        seqs.extend(std::iter::repeat_n(seq, n.saturating_sub(1)));
    }
    seqs
}

/// The seqs still waiting in a stopped client's backlog journal (`<state>/backlog.log`).
pub fn pending_seqs(state: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(state.join("backlog.log")).unwrap_or_default();
    // Journal v1: `r <seq> <boot> <boottime> <wall> <s|u> <sensor>=<value> *<crc>`.
    text.lines().filter_map(|l| l.strip_prefix("r ")?.split(' ').next()?.parse().ok()).collect()
}

/// Sampled vs logged vs duplicates for one client: every seq from 1 to the highest logged appears
/// exactly once in the ledger (seqs count up by one per reading, so a hole is a lost reading), and
/// every reading the client said it sampled is either logged or still waiting in its on-disk
/// backlog (`pending`, sampled after the last poll before it stopped). Prints the counts.
pub fn assert_exactly_once(what: &str, sampled: &[u64], logged: &[u64], pending: &[u64]) {
    let mut sorted = logged.to_vec();
    sorted.sort_unstable();
    let dupes = sorted.windows(2).filter(|w| w[0] == w[1]).count();
    sorted.dedup();
    let max = sorted.last().copied().unwrap_or(0);
    let holes = max as usize - sorted.len();
    let not_logged: Vec<u64> = sampled.iter().copied().filter(|s| sorted.binary_search(s).is_err()).collect();
    let lost: Vec<u64> = not_logged.iter().copied().filter(|s| !pending.contains(s)).take(10).collect();
    eprintln!(
        "{what}: sampled {} (seq up to {}), logged {} distinct (seq 1..={max}), duplicates {dupes}, holes {holes}, still in the client's backlog {}, lost {}",
        sampled.len(),
        sampled.iter().max().copied().unwrap_or(0),
        sorted.len(),
        not_logged.len(),
        lost.len()
    );
    assert_eq!(dupes, 0, "{what}: readings logged twice");
    assert_eq!(holes, 0, "{what}: seqs missing between 1 and {max}");
    assert!(lost.is_empty(), "{what}: sampled, never logged and not in the backlog: {lost:?}");
    assert!(!sampled.is_empty(), "{what}: nothing sampled");
}

/// Prints the tail of every log in the test's dir if the test fails, so CI shows what happened.
pub struct DumpLogsOnPanic<'a>(pub &'a Path);

impl Drop for DumpLogsOnPanic<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for entry in walk(self.0) {
            if entry.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&entry).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("--- last lines of {}:", entry.display());
                for l in tail.iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Reads until EOF (or a reset), whatever the server says on the way out; panics after `timeout`.
pub fn wait_closed(mut s: std::net::TcpStream, timeout: Duration) {
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match std::io::Read::read(&mut s, &mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("connection not closed: {e}"),
        }
    }
}

/// Two servers of a fleet on the database at `url`, named `server-a` and `server-b`, in `dir/a`
/// and `dir/b`, with the same password and `extra` flags each.
pub fn fleet_of_two(url: &str, dir: &Path, extra: &[&str]) -> (ServerHandle, ServerHandle) {
    let (dir_a, dir_b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let args = |name: &'static str| -> Vec<&str> {
        let mut v = vec!["--store", url, "--fleet-name", name];
        v.extend_from_slice(extra);
        v
    };
    let a = ServerHandle::start(&dir_a, &args("server-a"));
    let b = ServerHandle::start_with(&dir_b, &a.password, &args("server-b"));
    (a, b)
}
