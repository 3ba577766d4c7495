//! A private Mosquitto broker for one test: a config of its own (anonymous, one loopback listener on
//! a free port, persistence in a temp dir), stopped on drop; it can be stopped and started again on
//! the same port and persistence file, for outage tests. And `mosquitto_sub` as a subscriber whose
//! messages (retained flag, topic, payload) are read back from its output file.

use crate::{find_part, on_free_port, LogFile, Proc};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A running `mosquitto`.
#[derive(Debug)]
pub struct Mosquitto {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    proc: Option<Proc>,
}

/// One message a [`Subscriber`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Whether the broker delivered it as retained (a message kept from before the subscription).
    pub retained: bool,
    /// Its topic.
    pub topic: String,
    /// Its payload (UTF-8; every cliser payload is).
    pub payload: String,
}

impl Mosquitto {
    /// Starts `mosquitto` on a free loopback port; `None` (the test then returns) where it is not
    /// installed.
    pub fn start() -> Option<Mosquitto> {
        let bin = find_part("Mosquitto", &["mosquitto", "/usr/sbin/mosquitto"])?;
        find_part("mosquitto_sub", &["mosquitto_sub"])?;
        let dir = tempfile::Builder::new().prefix("cliser-mosquitto-").tempdir().expect("temp dir");
        let mut me = Mosquitto { dir, bin, port: 0, proc: None };
        on_free_port("mosquitto", |port| {
            me.port = port;
            me.launch()
        });
        Some(me)
    }

    fn launch(&mut self) -> Result<(), String> {
        let d = self.dir.path();
        // Persistence keeps retained messages and a subscriber's session (and what was queued for
        // it) across a stop and start. No limit on queued messages: a test counts every one.
        let conf = format!(
            "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n\
             max_queued_messages 0\nmax_inflight_messages 0\nlog_dest stderr\nlog_type error\nlog_type warning\n\
             log_type notice\nlog_type information\n",
            self.port,
            d.display()
        );
        std::fs::write(d.join("mosquitto.conf"), conf).expect("write mosquitto.conf");
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-c").arg(d.join("mosquitto.conf"));
        let mut proc = Proc::spawn(cmd, &d.join("mosquitto.log"));
        let addr = self.addr();
        proc.wait_ready(Duration::from_secs(20), Duration::from_millis(20), || {
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        })?;
        self.proc = Some(proc);
        Ok(())
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr())
    }

    /// Stops it (SIGTERM: it saves its persistence file), waiting for the exit.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.signal(libc::SIGTERM);
            p.wait_exit(Duration::from_secs(30));
        }
    }

    /// Starts it again on the same port and persistence.
    pub fn start_again(&mut self) {
        if self.proc.is_none() {
            self.launch().unwrap_or_else(|e| panic!("mosquitto did not start again on {}: {e}", self.port));
        }
    }

    /// Publishes `payload` on `topic` with `mosquitto_pub` (QoS 1), waiting until it is sent.
    pub fn publish(&self, topic: &str, payload: &str) {
        let out = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q", "1", "-t", topic, "-m", payload])
            .output()
            .expect("run mosquitto_pub");
        assert!(out.status.success(), "mosquitto_pub: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts a subscriber to `filter` (QoS 1) with a session the broker keeps (`-c`, client id
    /// `id`): across a broker restart it gets every message, and it reconnects by itself.
    pub fn subscribe(&self, id: &str, filter: &str) -> Subscriber {
        let out = self.dir.path().join(format!("sub-{id}.txt"));
        let mut cmd = Command::new("mosquitto_sub");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q", "1", "-c", "-i", id, "-t", filter])
            // retained flag, topic, payload; one line each (cliser's payloads have no newline).
            .args(["-F", "%r %t %p"]);
        let proc = Proc::spawn(cmd, &out);
        Subscriber { proc, out: LogFile::new(&out) }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }
}

/// A running `mosquitto_sub`.
#[derive(Debug)]
pub struct Subscriber {
    /// The process.
    pub proc: Proc,
    out: LogFile,
}

impl Subscriber {
    /// Every message so far, in the order received.
    pub fn messages(&self) -> Vec<Message> {
        self.out
            .lines_with(" ")
            .into_iter()
            .filter_map(|l| {
                let (r, rest) = l.split_once(' ')?;
                let (topic, payload) = rest.split_once(' ').unwrap_or((rest, ""));
                let retained = match r {
                    "1" => true,
                    "0" => false,
                    _ => return None,
                };
                Some(Message { retained, topic: topic.to_owned(), payload: payload.to_owned() })
            })
            .collect()
    }
}
