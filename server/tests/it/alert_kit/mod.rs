//! Shared by the alerts tests (`alerts_*.rs`): a config file, a Pi scripted line by line, a command
//! that records each invocation's `CLISER_ALERT_*` environment to a file, and webhook receivers
//! (one that answers, one that accepts and never does) on the test's own loopback listener.

use crate::common::{LineClient, ServerHandle, T};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The server's keep-alive in these tests: fast, so simulated minutes pass in seconds.
pub const KEEPALIVE: &str = "200ms";

/// Now, Unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Writes `text` to `<dir>/server.toml`; its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("server.toml");
    // Through a rename: a reload never reads a half-written file.
    let tmp = dir.join("server.toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// A server in `dir` with the config file `text` (written to `dir`) and `extra` flags; the fast
/// keep-alive unless `extra` names one. A scripted Pi idles while the test looks at the log or asks
/// the console: its session is not declared dead for that (a dropped one still ends at once).
pub fn start(dir: &Path, text: &str, extra: &[&str]) -> ServerHandle {
    let config = write_config(dir, text);
    let mut args = vec!["--config", config.to_str().unwrap(), "--dead-after", "50"];
    if !extra.contains(&"--keepalive") {
        args.extend(["--keepalive", KEEPALIVE]);
    }
    args.extend_from_slice(extra);
    ServerHandle::start(dir, &args)
}

/// The `CLISER_ALERT_*` variable names docs/ALERTS.md lists, in its order.
pub fn documented_variables() -> Vec<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ALERTS.md")).unwrap();
    let mut names = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| `CLISER_ALERT_")) {
        let name = line.trim_start_matches("| `").split('`').next().unwrap().to_owned();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    assert!(names.len() >= 9, "docs/ALERTS.md lists fewer variables than expected: {names:?}");
    names
}

/// One reading to send: sensor, value (`None`: `err:crc`), sample time (`None`: the server stamps it).
#[derive(Debug, Clone)]
pub struct R(pub &'static str, pub Option<f64>, pub Option<i64>);

/// A Pi driven line by line: it answers each keep-alive with what the test gives it, numbering the
/// readings with its own seq.
pub struct Pi {
    pub c: LineClient,
    pub id: String,
    /// The seq of the last reading sent.
    pub seq: u64,
    /// The `ack=` of the last keep-alive (or of the 140 line).
    pub ack: Option<u64>,
}

fn ack_of(line: &str) -> Option<u64> {
    // `140: Connected ack=7 health=1`: the ack is the word after `ack=`, whatever follows it.
    line.split("ack=").nth(1)?.split_whitespace().next()?.parse().ok()
}

impl Pi {
    /// Logs in as `id`; its seqs go on from the server's ack.
    pub fn login(s: &ServerHandle, id: &str) -> Pi {
        let mut c = LineClient::connect(s.addr);
        let l = c.login(&s.password, id);
        let ack = ack_of(&l);
        Pi { c, id: id.to_owned(), seq: ack.unwrap_or(0), ack }
    }

    /// Waits for the next keep-alive (skipping nothing else: any other line panics) and answers it
    /// with `readings`; returns the keep-alive's ack.
    pub fn answer(&mut self, readings: &[R]) -> Option<u64> {
        let line = self.c.expect("100", T);
        self.ack = ack_of(&line).or(self.ack);
        let mut out = String::from("100");
        for R(sensor, value, at) in readings {
            self.seq += 1;
            match value {
                Some(v) => out.push_str(&format!(" {sensor}={v:.3}")),
                None => out.push_str(&format!(" {sensor}=err:crc")),
            }
            if let Some(ms) = at {
                out.push_str(&format!("@{ms}"));
            }
            out.push_str(&format!("#{}", self.seq));
        }
        self.c.send(&out);
        self.ack
    }

    /// Answers keep-alives (with nothing) until the server has stored every reading sent, and one
    /// more, so that the commit's report has reached the alerts thread.
    pub fn settle(&mut self) {
        let deadline = Instant::now() + T;
        while self.seq > 0 && self.answer(&[]) < Some(self.seq) {
            assert!(Instant::now() < deadline, "{}: seq {} not acked within {T:?}", self.id, self.seq);
        }
        self.answer(&[]);
    }

    /// Answers keep-alives with `readings(i)` (i counting from 0) until `done` says so.
    pub fn answer_until<X>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut readings: impl FnMut(u64) -> Vec<R>,
        mut done: impl FnMut() -> Option<X>,
    ) -> X {
        let deadline = Instant::now() + timeout;
        let mut i = 0;
        loop {
            if let Some(x) = done() {
                return x;
            }
            assert!(Instant::now() < deadline, "{}: timed out after {timeout:?} waiting for {what}", self.id);
            self.answer(&readings(i));
            i += 1;
        }
    }
}

/// The firing alerts as the console's `A` lists them. The alerts thread answers in turn, after
/// everything the sink reported before.
pub fn console_alerts(s: &ServerHandle) -> String {
    let mut a = crate::common::admin(s);
    crate::common::ask(&mut a, "A")
}

/// An alert command (a shell script) that writes each invocation's `CLISER_ALERT_*` variables to a
/// file of its own in `dir`. An invocation about sensor `28-stuck` first waits (up to 60 s) for
/// [`Recorder::release`], as a command that hangs would.
pub struct Recorder {
    pub script: PathBuf,
    pub dir: PathBuf,
}

/// One invocation's variables.
pub type Env = BTreeMap<String, String>;

impl Recorder {
    /// Writes the script to `<root>/alert-command.sh` and its output dir `<root>/invocations`.
    pub fn new(root: &Path) -> Recorder {
        let dir = root.join("invocations");
        std::fs::create_dir_all(&dir).unwrap();
        let script = root.join("alert-command.sh");
        let text = format!(
            r#"#!/bin/sh
dir='{dir}'
if [ "$CLISER_ALERT_SENSOR" = "28-stuck" ]; then
    : > "$dir/stuck.started"
    i=0
    while [ ! -e "$dir/release" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
fi
f=$(mktemp "$dir/partial.XXXXXX")
env | grep '^CLISER_ALERT_' > "$f"
mv "$f" "$f.env"
"#,
            dir = dir.display()
        );
        let tmp = root.join("alert-command.sh.tmp");
        std::fs::write(&tmp, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, &script).unwrap();
        Recorder { script, dir }
    }

    /// The finished invocations so far (in no particular order: commands run side by side).
    pub fn invocations(&self) -> Vec<Env> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "env") {
                let text = std::fs::read_to_string(&path).unwrap();
                let env: Env = text
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                out.push(env);
            }
        }
        out
    }

    /// Waits until at least `n` invocations have finished; returns them all.
    pub fn wait_count(&self, n: usize, timeout: Duration) -> Vec<Env> {
        cliser_testkit::wait_until(timeout, &format!("{n} alert command invocations"), || {
            let all = self.invocations();
            (all.len() >= n).then_some(all)
        })
    }

    /// Whether the invocation about `28-stuck` has started (and waits).
    pub fn stuck_started(&self) -> bool {
        self.dir.join("stuck.started").exists()
    }

    /// Lets a waiting `28-stuck` invocation end.
    pub fn release(&self) {
        let _ = std::fs::write(self.dir.join("release"), "");
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // A command still waiting ends now rather than outliving the test by a minute.
        self.release();
    }
}

/// The invocations whose `CLISER_ALERT_<key>` is `value`.
pub fn with<'a>(all: &'a [Env], key: &str, value: &str) -> Vec<&'a Env> {
    all.iter().filter(|e| e.get(&format!("CLISER_ALERT_{key}")).map(String::as_str) == Some(value)).collect()
}

/// A webhook receiver on a loopback port of its own: either answers every POST with 204 and keeps
/// its JSON body, or accepts connections and never answers.
pub struct Hook {
    pub url: String,
    posts: Arc<Mutex<Vec<Post>>>,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
}

/// One request the receiver read.
#[derive(Debug, Clone)]
pub struct Post {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub json: serde_json::Value,
}

impl Hook {
    /// A receiver that answers.
    pub fn answering() -> Hook {
        Self::start(true)
    }

    /// A receiver that accepts each connection and never answers (nor closes it).
    pub fn silent() -> Hook {
        Self::start(false)
    }

    /// A receiver that reads the first post and never answers it (its sender dies with it in
    /// flight), then answers every later one; every post read is kept.
    pub fn silent_to_the_first() -> Hook {
        Self::start_with(|n| n > 0, true)
    }

    fn start(answer: bool) -> Hook {
        Self::start_with(move |_| answer, false)
    }

    /// `answer(n)` says whether to answer the `n`-th connection (from 0); `read_unanswered`
    /// whether to read and keep the posts it does not answer.
    fn start_with(answer: impl Fn(usize) -> bool + Send + 'static, read_unanswered: bool) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let posts = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (p, a) = (posts.clone(), accepted.clone());
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                if answer(n) {
                    if let Some(post) = serve_one(stream, true) {
                        p.lock().unwrap().push(post);
                    }
                } else if read_unanswered {
                    let held = stream.try_clone().unwrap();
                    if let Some(post) = serve_one(stream, false) {
                        p.lock().unwrap().push(post);
                    }
                    a.lock().unwrap().push(held);
                } else {
                    a.lock().unwrap().push(stream);
                }
            }
        });
        Hook { url, posts, accepted }
    }

    /// The posts received so far.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// Waits until at least `n` posts have arrived.
    pub fn wait_posts(&self, n: usize, timeout: Duration) -> Vec<Post> {
        cliser_testkit::wait_until(timeout, &format!("{n} webhook posts"), || {
            let all = self.posts();
            (all.len() >= n).then_some(all)
        })
    }

    /// How many connections a silent receiver holds.
    pub fn connections(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

/// Reads one HTTP request (head and `Content-Length` body) and, if `answer`, answers 204 and
/// closes.
fn serve_one(mut stream: TcpStream, answer: bool) -> Option<Post> {
    stream.set_read_timeout(Some(T)).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers.iter().find(|(k, _)| k == "content-length")?.1.parse().ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    if answer {
        stream
            .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .ok()?;
    }
    let json = serde_json::from_slice(&body).ok()?;
    Some(Post { request_line: request_line.trim_end().to_owned(), headers, json })
}

/// `GET path` on the server's web side; the status and body.
pub fn http_get(s: &ServerHandle, path: &str) -> (u16, String) {
    let addr = s.http.expect("the test server serves the web page");
    let mut stream = TcpStream::connect_timeout(&addr, T).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
