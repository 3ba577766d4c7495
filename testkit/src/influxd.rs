//! A private InfluxDB 1.x for one test: its own config, data in a temp dir, a free loopback port;
//! stopped (and its files removed) on drop. It can be stopped and started again on the same port
//! and data, for outage tests. Found with [`find_part`](crate::find_part): skipped where InfluxDB
//! is not installed, unless parts are required.

use crate::{find_part, free_port, on_free_port, Proc};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A running `influxd`.
#[derive(Debug)]
pub struct InfluxD {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    proc: Option<Proc>,
}

impl InfluxD {
    /// Starts `influxd` with HTTP on a free loopback port and creates the database `db`; `None`
    /// (the test then returns) where InfluxDB is not installed.
    pub fn start(db: &str) -> Option<InfluxD> {
        let bin = find_part("InfluxDB 1.x", &["influxd", "/usr/bin/influxd"])?;
        let dir = tempfile::Builder::new().prefix("cliser-influx-").tempdir().expect("temp dir");
        let mut me = InfluxD { dir, bin, port: 0, proc: None };
        on_free_port("influxd", |port| {
            me.port = port;
            me.launch()
        });
        me.query("POST", &format!("CREATE DATABASE \"{db}\""), None);
        Some(me)
    }

    fn launch(&mut self) -> Result<(), String> {
        let d = self.dir.path();
        let rpc = free_port();
        let conf = format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{0}/meta\"\n  logging-enabled = false\n\
             [data]\n  dir = \"{0}/data\"\n  wal-dir = \"{0}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{1}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n",
            d.display(),
            self.port
        );
        std::fs::write(d.join("influxdb.conf"), conf).expect("write influxdb.conf");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-config").arg(d.join("influxdb.conf"));
        let mut proc = Proc::spawn(cmd, &d.join("influxd.log"));
        proc.wait_ready(Duration::from_secs(30), Duration::from_millis(50), || {
            self.http("GET", "/ping", "").is_some_and(|(code, _)| code == 204)
        })?;
        self.proc = Some(proc);
        Ok(())
    }

    /// Where it listens for HTTP.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The write URL of database `db`.
    pub fn write_url(&self, db: &str) -> String {
        format!("http://{}/write?db={db}", self.addr())
    }

    /// Stops it (SIGTERM, then waits for the exit): connections are refused until [`start_again`].
    ///
    /// [`start_again`]: Self::start_again
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.signal(libc::SIGTERM);
            p.wait_exit(Duration::from_secs(30));
        }
    }

    /// Starts it again on the same port and data.
    pub fn start_again(&mut self) {
        if self.proc.is_none() {
            self.launch().unwrap_or_else(|e| panic!("influxd did not start again on {}: {e}", self.port));
        }
    }

    /// Runs InfluxQL `q` (on database `db` if given) and returns the JSON answer.
    pub fn query(&self, method: &str, q: &str, db: Option<&str>) -> serde_json::Value {
        let mut target = format!("/query?q={}", encode(q));
        if let Some(db) = db {
            target.push_str(&format!("&db={}", encode(db)));
        }
        let (code, body) = self.http(method, &target, "").expect("influxd answers");
        assert!(code == 200, "influxd {q}: HTTP {code}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("influxd {q}: {e}: {body}"))
    }

    /// `count(field)` of `measurement` in `db` (0 when it holds none).
    pub fn count(&self, db: &str, measurement: &str, field: &str) -> u64 {
        let v = self.query("GET", &format!("SELECT count(\"{field}\") FROM \"{measurement}\""), Some(db));
        v["results"][0]["series"][0]["values"][0][1].as_u64().unwrap_or(0)
    }

    fn http(&self, method: &str, target: &str, body: &str) -> Option<(u16, String)> {
        let mut s = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let req = format!(
            "{method} {target} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let (head, body) = out.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, body.to_owned()))
    }
}

impl Drop for InfluxD {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
