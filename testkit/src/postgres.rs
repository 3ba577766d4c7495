//! A private PostgreSQL cluster for one test: `initdb` into a temp dir, a free loopback port, its
//! own socket dir, password authentication with a fresh password; stopped and removed on drop.
//!
//! PostgreSQL refuses to run as root: when the tests do, the cluster's commands run as the
//! `postgres` user (Debian's package creates it), else `nobody`, which then owns the temp dir.

use crate::free_password;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The environment variable that turns "PostgreSQL not found" from a skip into a failure (CI).
pub const REQUIRE_PG: &str = "CLISER_REQUIRE_PG";

/// How a [`PgCluster`] is set up.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Whether PostgreSQL fsyncs. `false` is faster, but a test of durability or of faults must
    /// keep `true` (the default).
    pub fsync: bool,
    /// More `postgresql.conf` lines, e.g. `shared_buffers = '256MB'`.
    pub settings: Vec<String>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions { fsync: true, settings: Vec::new() }
    }
}

/// A running private PostgreSQL cluster with one database; see the module docs.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    port: u16,
    password: String,
    running: bool,
    /// Where it listens: loopback, or its namespace's address.
    host: std::net::Ipv4Addr,
    /// The namespace it runs in (dropped after the cluster stops: fields drop after `drop`).
    netns: Option<crate::netns::NetNs>,
}

/// The superuser and the database the cluster is made with.
const USER: &str = "cliser";
const DB: &str = "cliser";

/// The directory holding `initdb` and `pg_ctl`: on PATH (symlinks followed, so the other tools
/// are found beside them), else the newest `/usr/lib/postgresql/<version>/bin`.
pub fn pg_bin_dir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
            if let Ok(real) = dir.join("initdb").canonicalize() {
                if let Some(parent) = real.parent() {
                    if parent.join("pg_ctl").is_file() {
                        return Some(parent.to_owned());
                    }
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The uid and gid to run PostgreSQL as: `None` when we are not root.
fn unprivileged_owner() -> Option<(u32, u32)> {
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    if me != 0 {
        return None;
    }
    for user in ["postgres", "nobody"] {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, user]).output().ok()?;
            out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())?
        };
        if let (Some(uid), Some(gid)) = (id("-u"), id("-g")) {
            return Some((uid, gid));
        }
    }
    panic!("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as");
}

use crate::parts::on_free_port;

impl PgCluster {
    /// [`start_with`](Self::start_with) the default options (fsync on).
    pub fn start() -> Option<PgCluster> {
        Self::start_with(PgOptions::default())
    }

    /// Makes and starts a cluster. Where PostgreSQL is not installed, prints
    /// `SKIPPED: PostgreSQL not found` and returns `None` — unless `CLISER_REQUIRE_PG=1` or
    /// `CLISER_REQUIRE_PARTS=1`, where it panics. Any other failure panics with what PostgreSQL said.
    pub fn start_with(opts: PgOptions) -> Option<PgCluster> {
        Self::start_inside(opts, None)
    }

    /// Makes and starts a cluster inside a network namespace of its own ([`NetNs`](crate::NetNs)),
    /// listening on the namespace's address only, so that [`cut`](Self::cut) can make its host
    /// vanish from the network. Skips (`None`, with `SKIPPED: ...`) where PostgreSQL or network
    /// namespaces are not available, unless parts are required.
    pub fn start_in_netns() -> Option<PgCluster> {
        if pg_bin_dir().is_none() {
            return Self::start_with(PgOptions::default()); // says SKIPPED, or panics
        }
        let netns = crate::netns::NetNs::create()?;
        Self::start_inside(PgOptions::default(), Some(netns))
    }

    /// With `cut`, packets between this side and a cluster made by
    /// [`start_in_netns`](Self::start_in_netns) vanish (no reset, no error from its side), as when
    /// a database host loses power or its network; `false` restores them. Panics for a cluster on
    /// loopback.
    pub fn cut(&self, cut: bool) {
        self.netns.as_ref().expect("a cluster started in a network namespace").cut(cut);
    }

    fn start_inside(opts: PgOptions, netns: Option<crate::netns::NetNs>) -> Option<PgCluster> {
        let Some(bin) = pg_bin_dir() else {
            if crate::parts::parts_required() {
                panic!("PostgreSQL not found (no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin) and {REQUIRE_PG}=1");
            }
            eprintln!("SKIPPED: PostgreSQL not found");
            return None;
        };
        let owner = unprivileged_owner();
        let dir = tempfile::Builder::new().prefix("cliser-pg-").tempdir().expect("temp dir");
        let host = netns.as_ref().map_or(std::net::Ipv4Addr::LOCALHOST, crate::netns::NetNs::addr);
        let mut cluster =
            PgCluster { dir, bin, owner, port: 0, password: free_password(), running: false, host, netns };
        cluster.init(&opts);
        if let Some(ns) = &cluster.netns {
            cluster.append_conf(&format!("listen_addresses = '{host}'\n"));
            // initdb allows loopback only; the server connects from this side of the link.
            let hba = cluster.data_dir().join("pg_hba.conf");
            let mut rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
            rules += &format!("host all all {}/32 scram-sha-256\n", ns.host_addr());
            std::fs::write(&hba, rules).expect("write pg_hba.conf");
        }
        on_free_port("PostgreSQL", |port| {
            cluster.port = port;
            cluster.write_port();
            cluster.pg_ctl_start()
        });
        cluster.running = true;
        let out = cluster.run(
            "createdb",
            &["-h", &cluster.socket_dir_str(), "-p", &cluster.port.to_string(), "-U", USER, DB],
        );
        assert!(out.status.success(), "createdb failed: {}", String::from_utf8_lossy(&out.stderr));
        Some(cluster)
    }

    /// `postgres://cliser:PASSWORD@127.0.0.1:PORT/cliser` (the superuser, a fresh password; the
    /// namespace's address for a cluster in one).
    pub fn url(&self) -> String {
        self.url_for(DB)
    }

    /// As [`url`](Self::url) for another database of the cluster.
    pub fn url_for(&self, db: &str) -> String {
        format!("postgres://{USER}:{}@{}:{}/{db}", self.password, self.host, self.port)
    }

    /// Creates the database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        let out = self
            .run("createdb", &["-h", &self.socket_dir_str(), "-p", &self.port.to_string(), "-U", USER, name]);
        assert!(out.status.success(), "createdb {name} failed: {}", String::from_utf8_lossy(&out.stderr));
        self.url_for(name)
    }

    /// The TCP port on 127.0.0.1 (the same after [`start_again`](Self::start_again)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// PostgreSQL's own log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// Whether the cluster is running (as far as this handle knows).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Stops the cluster (fast shutdown: open connections are cut), waiting until it is down.
    pub fn stop(&mut self) {
        if self.running {
            let out = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]);
            assert!(out.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
            self.running = false;
        }
    }

    /// Starts the stopped cluster again on the same port, waiting until it accepts connections.
    pub fn start_again(&mut self) {
        if !self.running {
            if let Err(e) = self.pg_ctl_start() {
                panic!("PostgreSQL did not start again on port {}: {e}", self.port);
            }
            self.running = true;
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir_str(&self) -> String {
        self.dir.path().join("sock").display().to_string()
    }

    /// Runs one of PostgreSQL's programs as the cluster's owner, in the cluster's dir, without the
    /// PG* variables of the environment (they would point it elsewhere).
    fn run(&self, prog: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(self.bin.join(prog));
        cmd.args(args).current_dir(self.dir.path());
        for v in
            ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGDATA", "PGSERVICE", "PGOPTIONS"]
        {
            cmd.env_remove(v);
        }
        match (&self.netns, self.owner) {
            (Some(ns), owner) => enter(&mut cmd, ns, owner),
            (None, Some((uid, gid))) => {
                cmd.uid(uid).gid(gid);
            }
            (None, None) => {}
        }
        cmd.output().unwrap_or_else(|e| panic!("run {prog}: {e}"))
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        let data = self.data_dir().display().to_string();
        let mut all = vec!["-D", data.as_str()];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let log = self.log_path().display().to_string();
        let out = self.pg_ctl(&["-l", &log, "-w", "-t", "60", "start"]);
        if out.status.success() {
            return Ok(());
        }
        let tail: String = std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .join(" | ");
        Err(format!(
            "{} {} (log: {tail})",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }

    fn chown(&self, p: &Path) {
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(p, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
        }
    }

    fn init(&self, opts: &PgOptions) {
        let root = self.dir.path();
        self.chown(root);
        let sock = root.join("sock");
        std::fs::create_dir(&sock).expect("socket dir");
        self.chown(&sock);
        let pwfile = root.join("pwfile");
        std::fs::write(&pwfile, format!("{}\n", self.password)).expect("password file");
        self.chown(&pwfile);
        let data = self.data_dir().display().to_string();
        let pw_arg = format!("--pwfile={}", pwfile.display());
        // TCP needs the password; the socket, in a dir only the owner can enter, is trusted (createdb).
        let out = self.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                USER,
                &pw_arg,
                "-A",
                "scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let _ = std::fs::remove_file(&pwfile);
        assert!(
            out.status.success(),
            "initdb failed (as {:?}; its temp dir {} must be reachable by that user): {}",
            self.owner,
            root.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut conf = format!(
            "\n# cliser test cluster\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nmax_connections = 50\n",
            sock.display()
        );
        if !opts.fsync {
            conf += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
        }
        for s in &opts.settings {
            conf += s;
            conf += "\n";
        }
        self.append_conf(&conf);
    }

    fn write_port(&self) {
        self.append_conf(&format!("port = {}\n", self.port));
    }

    /// Appends to postgresql.conf (a later line wins, so a new port replaces the old one).
    fn append_conf(&self, text: &str) {
        use std::io::Write;
        let path = self.data_dir().join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("open postgresql.conf");
        f.write_all(text.as_bytes()).expect("write postgresql.conf");
    }
}

/// Makes `cmd` start inside `ns`, then (if given) as `owner`: joining a namespace needs root, so
/// it is done first, in the child, and the user is changed after it (std's `uid` would come first).
fn enter(cmd: &mut Command, ns: &crate::netns::NetNs, owner: Option<(u32, u32)>) {
    let path = format!("/var/run/netns/{}", ns.name());
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
    // SAFETY: only async-signal-safe calls between fork and exec; the file outlives the spawn
    // (it is moved into the closure, which the command keeps).
    unsafe {
        cmd.pre_exec(move || {
            use std::os::fd::AsRawFd;
            if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some((uid, gid)) = owner {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(gid) != 0
                    || libc::setuid(uid) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            // Immediate: nothing to keep, and the temp dir goes next.
            let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "30"]);
        }
    }
}
