//! `/metrics` against the real Prometheus tools: `promtool check metrics` accepts the exposition of
//! a server with registered clients that sent readings, and a real Prometheus on loopback scrapes
//! it and answers a query for their temperatures with the right labels and values. Where promtool
//! or Prometheus is not installed the test prints `SKIPPED: ...` and passes, unless
//! `CLISER_REQUIRE_PARTS=1`.

use crate::common;
use cliser_testkit::{find_part, free_port, wait_until, LineClient};
use common::*;
use serde_json::Value as Json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SENSOR: &str = "28-000000000001";
/// The two Pis and the temperature each reports.
const PIS: [(&str, &str); 2] = [("pi-a", "21.5"), ("pi-b", "19.25")];
const LONG: Duration = Duration::from_secs(60);

/// A Pi driven by the test: answers every keep-alive with its temperature, plus a CRC error of a
/// second sensor and a health report (200 reads, 10 CRC errors, 12 retries, 2.4 s of reads) in its first
/// answer, until stopped.
struct Pi {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pi {
    fn start(s: &ServerHandle, id: &str, celsius: &str) -> Pi {
        let mut c = LineClient::connect(s.addr);
        c.login(&s.password, id);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let celsius = celsius.to_owned();
        let thread = std::thread::spawn(move || {
            let mut seq = 0u64;
            while !flag.load(Ordering::SeqCst) {
                c.expect("100", Duration::from_secs(20));
                seq += 1;
                let mut answer = format!("100 {SENSOR}={celsius}#{seq}");
                if seq == 1 {
                    seq += 1;
                    answer.push_str(&format!(" 28-000000000002=err:crc#{seq}"));
                    answer.push_str(&format!(" h:{SENSOR}=200,10,0,1,0,12,2400/60000~0#{seq}"));
                }
                c.send(&answer);
            }
        });
        Pi { stop, thread: Some(thread) }
    }
}

impl Drop for Pi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let joined = t.join();
            if !std::thread::panicking() {
                joined.expect("the Pi's thread failed");
            }
        }
    }
}

/// `GET path` over HTTP/1.0 (the answer ends when the peer closes: no chunks, no keep-alive);
/// returns the status and the body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((status, body.to_owned()))
}

/// A server in `dir` with both Pis registered and their first answers stored.
fn server_with_pis(dir: &Path) -> (ServerHandle, Vec<Pi>) {
    let s = ServerHandle::start(dir, &["--keepalive", "300ms"]);
    let pis: Vec<Pi> = PIS.iter().map(|(id, c)| Pi::start(&s, id, c)).collect();
    let http = s.http.expect("the server serves its page");
    // Two answers each at least (the first carries the error reading too).
    wait_until(LONG, "both Pis' readings in /metrics", || {
        let (_, body) = get(http, "/metrics").ok()?;
        let stored: u64 =
            body.lines().find_map(|l| l.strip_prefix("cliser_readings_total ")?.parse().ok())?;
        let all = PIS.iter().all(|(id, c)| {
            body.contains(&format!(
                "cliser_temperature_celsius{{cid=\"{id}\",sensor=\"{SENSOR}\",name=\"\"}} {c}\n"
            ))
        });
        (all && stored >= 6).then_some(())
    });
    (s, pis)
}

#[test]
fn promtool_accepts_the_exposition() {
    let Some(promtool) = find_part("promtool", &["promtool"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(dir.path());
    let (s, pis) = server_with_pis(dir.path());
    let (status, body) = get(s.http.unwrap(), "/metrics").unwrap();
    assert_eq!(status, 200, "{body}");
    for (id, _) in PIS {
        let line = format!(
            "cliser_reading_errors_total{{cid=\"{id}\",sensor=\"28-000000000002\",reason=\"crc\"}} 1"
        );
        assert!(body.contains(&line), "no {line:?} in\n{body}");
        assert!(body.contains(&format!("cliser_node_up{{cid=\"{id}\"}} 1\n")), "{id} up in\n{body}");
        for line in [
            format!("cliser_sensor_reads_total{{cid=\"{id}\",sensor=\"{SENSOR}\"}} 200\n"),
            format!("cliser_sensor_errors_total{{cid=\"{id}\",sensor=\"{SENSOR}\",reason=\"crc\"}} 10\n"),
            format!("cliser_sensor_errors_total{{cid=\"{id}\",sensor=\"{SENSOR}\",reason=\"reset\"}} 1\n"),
            format!("cliser_sensor_errors_total{{cid=\"{id}\",sensor=\"{SENSOR}\",reason=\"empty\"}} 0\n"),
            format!("cliser_sensor_retries_total{{cid=\"{id}\",sensor=\"{SENSOR}\"}} 12\n"),
            format!("cliser_sensor_read_seconds{{cid=\"{id}\",sensor=\"{SENSOR}\"}} 0.012\n"),
        ] {
            assert!(body.contains(&line), "no {line:?} in\n{body}");
        }
    }
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}\nthe exposition:\n{body}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(pis);
}

/// Prometheus on a free loopback port, scraping `target` every second; `None` if the port was
/// taken (another process got it first), so the caller tries another.
fn start_prometheus(bin: &Path, dir: &Path, target: SocketAddr, attempt: u32) -> Option<(Proc, SocketAddr)> {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: cliser\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join(format!("tsdb-{attempt}")).display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--log.level=info");
    let log = dir.join(format!("prometheus-{attempt}.log"));
    let mut proc = Proc::spawn(cmd, &log);
    let ready = wait_until(LONG, "Prometheus ready or exited", || {
        if proc.has_exited() {
            return Some(false);
        }
        matches!(get(addr, "/-/ready"), Ok((200, _))).then_some(true)
    });
    if ready {
        return Some((proc, addr));
    }
    let text = proc.log.text();
    assert!(text.contains("address already in use"), "Prometheus did not start:\n{text}");
    None
}

/// The value of each `cliser_temperature_celsius` series Prometheus has now, by (cid, sensor).
fn temperatures(prometheus: SocketAddr) -> Vec<(String, String, String)> {
    let Ok((200, body)) = get(prometheus, "/api/v1/query?query=cliser_temperature_celsius") else {
        return Vec::new();
    };
    let j: Json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(j["status"], "success", "{body}");
    let mut out: Vec<_> = j["data"]["result"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let label = |k: &str| r["metric"][k].as_str().unwrap_or_default().to_owned();
            (label("cid"), label("sensor"), r["value"][1].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn prometheus_scrapes_the_temperatures() {
    let Some(prometheus) = find_part("Prometheus", &["prometheus"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(dir.path());
    let (s, pis) = server_with_pis(dir.path());
    let pdir = dir.path().join("prometheus");
    std::fs::create_dir_all(&pdir).unwrap();
    let (mut proc, addr) = (1..=5)
        .find_map(|attempt| start_prometheus(&prometheus, &pdir, s.http.unwrap(), attempt))
        .expect("Prometheus started in 5 attempts");
    let want: Vec<_> =
        PIS.iter().map(|(id, c)| (id.to_string(), SENSOR.to_string(), c.to_string())).collect();
    let deadline = Instant::now() + LONG;
    loop {
        let got = temperatures(addr);
        if got == want {
            break;
        }
        assert!(Instant::now() < deadline, "Prometheus's answer after {LONG:?}: {got:?}, want {want:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The target is healthy in Prometheus's own view too.
    let (_, targets) = get(addr, "/api/v1/targets").unwrap();
    assert!(targets.contains("\"health\":\"up\""), "{targets}");
    proc.signal(libc::SIGTERM);
    proc.wait_exit(Duration::from_secs(20));
    drop(pis);
}
