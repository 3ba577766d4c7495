use crate::LogFile;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The path of a workspace binary, brought up to date with `cargo build` once per test process: a
/// package's tests build only that package's own binaries, so another package's may be missing or
/// stale (left from an older build).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
    let path = profile_dir.join(name);
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        // Each of the workspace's binaries lives in the package of the same name.
        cmd.args(["build", "--quiet", "-p", name, "--bin", name]);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        if let Some(target_dir) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target_dir);
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p {name} failed");
        built.push(name.to_owned());
    }
    path
}

/// A fresh random password for one test run (never a fixed secret in the repo).
pub fn free_password() -> String {
    let mut bytes = [0u8; 16];
    let f =
        std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    f.expect("read /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A child process whose stderr goes to a log file; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    /// Its stderr.
    pub log: LogFile,
}

impl Proc {
    /// Spawns `cmd` with stdin null, stdout and stderr appended to `log`.
    pub fn spawn(mut cmd: Command, log: &Path) -> Proc {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open log");
        let err = out.try_clone().expect("clone log fd");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        Proc { child: Some(child), log: LogFile::new(log) }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal (e.g. `libc`'s SIGTERM = 15, SIGINT = 2) with kill(1).
    pub fn signal(&self, sig: i32) {
        let status = Command::new("kill").arg(format!("-{sig}")).arg(self.pid().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{sig} {}", self.pid());
    }

    /// Kills with SIGKILL and reaps.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit, panicking after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let status = crate::wait_until(timeout, "process exit", || child.try_wait().expect("try_wait"));
        self.child = None;
        status
    }

    /// Whether it has exited (without waiting).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            None => true,
            Some(c) => c.try_wait().expect("try_wait").is_some(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A running `cliser-server` on loopback with its own temp dir and password.
#[derive(Debug)]
pub struct ServerHandle {
    /// The process.
    pub proc: Proc,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The admin console.
    pub backdoor: SocketAddr,
    /// The client password.
    pub password: String,
    /// The test's temp dir (the log and any CSV live here).
    pub dir: PathBuf,
    args: Vec<String>,
    extra: Vec<String>,
}

impl ServerHandle {
    /// Starts the server with `--listen 127.0.0.1:0 --backdoor 127.0.0.1:0`, the password in a file
    /// in `dir`, and `extra` flags; waits for it to log its bound addresses.
    pub fn start(dir: &Path, extra: &[&str]) -> ServerHandle {
        let password = free_password();
        Self::start_with(dir, &password, extra)
    }

    /// As [`start`](Self::start) with a given password (to restart a server clients already know).
    pub fn start_with(dir: &Path, password: &str, extra: &[&str]) -> ServerHandle {
        Self::start_on(dir, password, "127.0.0.1:0", extra)
    }

    /// Kills this server with SIGKILL (if still running) and starts a new one on the same client
    /// address with the same password and flags; the log is appended to.
    pub fn restart(&mut self) {
        self.proc.kill9();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let listen = self.addr.to_string();
        *self = Self::start_on(&self.dir.clone(), &self.password.clone(), &listen, &extra);
    }

    fn start_on(dir: &Path, password: &str, listen: &str, extra: &[&str]) -> ServerHandle {
        let pw_file = dir.join("server-password");
        std::fs::write(&pw_file, format!("{password}\n")).expect("write password file");
        let mut args: Vec<String> = vec!["--listen".into(), listen.into()];
        if !extra.contains(&"--backdoor") {
            args.extend(["--backdoor".into(), "127.0.0.1:0".into()]);
        }
        args.push("--password-file".into());
        args.push(pw_file.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = dir.join("server.log");
        // A restart appends to the same log; remember where this run starts.
        let before = LogFile::new(&log).text().len();
        let mut cmd = Command::new(bin("cliser-server"));
        cmd.args(&args).env("RUST_LOG", std::env::var("CLISER_TEST_LOG").unwrap_or_else(|_| "debug".into()));
        let mut proc = Proc::spawn(cmd, &log);
        let mut addr_after = |needle: &str| -> SocketAddr {
            crate::wait_until(Duration::from_secs(20), &format!("server to log {needle:?}"), || {
                let text = proc.log.text();
                if proc.has_exited() {
                    panic!("cliser-server exited at start:\n{}", &text[before.min(text.len())..]);
                }
                let line = text[before.min(text.len())..].lines().find(|l| l.contains(needle))?.to_owned();
                line.split(needle).nth(1)?.split_whitespace().next()?.parse().ok()
            })
        };
        let addr = addr_after("listening on ");
        let backdoor = addr_after("backdoor on ");
        ServerHandle {
            proc,
            addr,
            backdoor,
            password: password.to_owned(),
            dir: dir.to_path_buf(),
            args,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The server's log.
    pub fn log(&self) -> &LogFile {
        &self.proc.log
    }

    /// The flags this server was started with (for a restart on the same address).
    pub fn args(&self) -> &[String] {
        &self.args
    }
}
