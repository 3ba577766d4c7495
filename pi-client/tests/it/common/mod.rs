//! Test support for the client's integration tests: a fake server speaking the server's side of
//! protocol v1 line by line, and a way to start the real client binary.

use cliser_testkit::Proc;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Long enough for a loaded CI machine, short enough to keep each test well under 20 s.
pub const WAIT: Duration = Duration::from_secs(10);

/// A listener on 127.0.0.1:0 that the test drives by hand.
pub struct FakeServer {
    listener: TcpListener,
    pub addr: SocketAddr,
}

impl FakeServer {
    pub fn new() -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        FakeServer { listener, addr }
    }

    /// The next connection, or `None` after `timeout`.
    pub fn try_accept(&self, timeout: Duration) -> Option<FakeConn> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.listener.accept() {
                Ok((s, _)) => return Some(FakeConn::new(s)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    pub fn accept(&self) -> FakeConn {
        self.try_accept(WAIT).expect("the client to connect")
    }
}

/// One accepted client connection.
pub struct FakeConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl FakeConn {
    fn new(s: TcpStream) -> FakeConn {
        s.set_nonblocking(false).expect("blocking");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        FakeConn { reader: BufReader::new(s.try_clone().expect("clone")), writer: s }
    }

    pub fn send(&mut self, line: &str) {
        self.writer.write_all(format!("{line}\n").as_bytes()).expect("send to client");
    }

    /// The next line from the client (panics on timeout or EOF).
    pub fn recv(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("read from client");
        assert!(n > 0, "the client closed the connection");
        line.trim_end_matches(['\r', '\n']).to_owned()
    }

    /// Whether the client closes the connection (EOF) within the read timeout.
    pub fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(self.reader.read_line(&mut line), Ok(0))
    }

    /// 110/120/140 as the server does; returns (password, id).
    pub fn handshake(&mut self, ack: Option<u64>) -> (String, String) {
        self.send("110: qual a senha");
        let password = self.recv();
        self.send("120: qual o ID");
        let id = self.recv();
        match ack {
            Some(a) => self.send(&format!("140: Connected ack={a}")),
            None => self.send("140: Connected"),
        }
        (password, id)
    }

    /// Sends a keep-alive and returns the answer's readings' seqs and whether it said `more`.
    pub fn poll(&mut self, ack: Option<u64>) -> (Vec<u64>, bool) {
        match ack {
            Some(a) => self.send(&format!("100: keep alive ack={a}")),
            None => self.send("100: keep alive"),
        }
        let line = self.recv();
        let parsed = cliser_protocol::KeepAliveAnswer::parse(&line).expect("a 100 answer");
        assert!(parsed.rejected.is_empty(), "bad tokens in {line:?}");
        assert!(line.len() <= cliser_protocol::MAX_LINE);
        (parsed.answer.readings.iter().map(|r| r.seq.expect("seq")).collect(), parsed.answer.more)
    }
}

/// An address nobody listens on: a port bound, then released, so a connect there is refused.
pub fn dead_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr")
}

pub const PASSWORD: &str = "test-password-7f3a";

/// The real client binary against `server`, with its state dir and log in `dir`. The password is
/// in a 0600 file.
pub fn client(dir: &Path, server: SocketAddr, extra: &[&str]) -> Proc {
    client_of(dir, &server.to_string(), extra)
}

/// The real client binary with `--server servers` (a comma-separated list), as [`client`].
pub fn client_of(dir: &Path, servers: &str, extra: &[&str]) -> Proc {
    let pw = dir.join("client-password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).expect("password file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"));
    cmd.arg("--server")
        .arg(servers)
        .arg("--password-file")
        .arg(&pw)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env_remove("CLISER_PASSWORD")
        .env("RUST_LOG", "debug")
        .args(extra);
    Proc::spawn(cmd, &dir.join("client.log"))
}

/// Prints the tail of every log in `dir` if the test panics, so a failure shows what the processes said.
pub struct DumpLogsOnPanic<'a>(pub &'a Path);

impl Drop for DumpLogsOnPanic<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(self.0) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("----- {} (last 40 of {} lines)", p.display(), lines.len());
                for l in &lines[lines.len().saturating_sub(40)..] {
                    eprintln!("{l}");
                }
            }
        }
    }
}

/// A w1 sysfs tree as the kernel shows it, with `n` DS18B20s at 20.000, 20.001, ... °C.
pub fn fake_w1_with(dir: &Path, n: usize) -> std::path::PathBuf {
    let root = dir.join("w1");
    let master = root.join("w1_bus_master1");
    std::fs::create_dir_all(&master).expect("w1 dir");
    let ids: Vec<String> = (0..n).map(|i| format!("28-0000000000{i:02x}")).collect();
    std::fs::write(master.join("w1_master_slaves"), format!("{}\n", ids.join("\n"))).expect("slaves");
    for (i, id) in ids.iter().enumerate() {
        let d = root.join(id);
        std::fs::create_dir_all(&d).expect("sensor dir");
        let millis = 20_000 + i;
        std::fs::write(d.join("temperature"), format!("{millis}\n")).expect("temperature");
        std::fs::write(d.join("w1_slave"), w1_slave_text(millis as i32)).expect("w1_slave");
    }
    root
}

/// The kernel's `w1_slave` for a 12-bit DS18B20 at `millidegrees` (to the nearest 1/16 °C), with
/// its CRC, as `temperature` next to it would show: a client's first read of a start goes through
/// `w1_slave` (for the scratchpad's bytes), the later ones through `temperature`.
pub fn w1_slave_text(millidegrees: i32) -> String {
    let raw = (i64::from(millidegrees) * 16 + 500).div_euclid(1000) as i16;
    let [lsb, msb] = raw.to_le_bytes();
    let bytes =
        cliser_hal::scratchpad::with_crc([lsb, msb, 0x4B, 0x46, 0x7F, 0xFF, 0x10 - (lsb & 0x0F), 0x10]);
    let hex: String = bytes.iter().map(|b| format!("{b:02x} ")).collect();
    format!("{hex}: crc={:02x} YES\n{hex}t={millidegrees}\n", bytes[8])
}

/// The real client against a real server (`server`, its `password`) as `id`, state dir
/// `dir/<id>.state`, log `dir/<id>.log` at `rust_log`, run through `wrapper` (e.g. faketime and
/// its arguments) if any.
pub fn real_client(
    dir: &Path,
    server: SocketAddr,
    password: &str,
    id: &str,
    rust_log: &str,
    wrapper: &[&std::ffi::OsStr],
    extra: &[&str],
) -> Proc {
    let pw = dir.join(format!("{id}.password"));
    std::fs::write(&pw, format!("{password}\n")).expect("password file");
    let bin = std::ffi::OsStr::new(env!("CARGO_BIN_EXE_cliser-pi-client"));
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.arg("--server")
        .arg(server.to_string())
        .args(["--id", id, "--password-file"])
        .arg(&pw)
        .arg("--state-dir")
        .arg(dir.join(format!("{id}.state")))
        .args(extra)
        .env_remove("CLISER_PASSWORD")
        .env("RUST_LOG", rust_log);
    Proc::spawn(cmd, &dir.join(format!("{id}.log")))
}

/// `write_bytes` of `/proc/<pid>/io`: what the process caused to be written to storage.
pub fn write_bytes(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/PID/io");
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("write_bytes in /proc/PID/io")
}
