use crate::{bin, free_password, LogFile, Proc};
use cliser_launch::ReadyFile;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A running `cliser-server` on loopback with its own temp dir and password.
#[derive(Debug)]
pub struct ServerHandle {
    /// The process.
    pub proc: Proc,
    /// Where clients connect: in clear, or inside TLS when the server runs with `--listen off`.
    pub addr: SocketAddr,
    /// Where clients connect inside TLS, with `--listen-tls`.
    pub tls: Option<SocketAddr>,
    /// The admin console.
    pub console: SocketAddr,
    /// The web page (every test server serves it on a port of its own, unless `--http off`).
    pub http: Option<SocketAddr>,
    /// The client password.
    pub password: String,
    /// The test's temp dir (the log and any CSV live here).
    pub dir: PathBuf,
    args: Vec<String>,
    extra: Vec<String>,
    env: Vec<(String, String)>,
}

impl ServerHandle {
    /// Starts the server with `--listen 127.0.0.1:0 --console 127.0.0.1:0 --http 127.0.0.1:0`, the password in a file
    /// in `dir`, and `extra` flags; waits for its ready file, which tells the bound addresses.
    pub fn start(dir: &Path, extra: &[&str]) -> ServerHandle {
        let password = free_password();
        Self::start_with(dir, &password, extra)
    }

    /// As [`start`](Self::start) with a given password (to restart a server clients already know).
    pub fn start_with(dir: &Path, password: &str, extra: &[&str]) -> ServerHandle {
        Self::start_on(dir, password, "127.0.0.1:0", extra, &[])
    }

    /// As [`start`](Self::start) with variables added to the server's environment (kept on a
    /// [`restart`](Self::restart)).
    pub fn start_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> ServerHandle {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::start_on(dir, &free_password(), "127.0.0.1:0", extra, &env)
    }

    /// Kills this server with SIGKILL (if still running) and starts a new one on the same client
    /// address with the same password and flags; the log is appended to. (A `--listen-tls` on port 0
    /// gets a new port: `tls` says which.)
    pub fn restart(&mut self) {
        self.proc.kill9();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let listen = self.addr.to_string();
        let env = std::mem::take(&mut self.env);
        *self = Self::start_on(&self.dir.clone(), &self.password.clone(), &listen, &extra, &env);
    }

    fn start_on(
        dir: &Path,
        password: &str,
        listen: &str,
        extra: &[&str],
        env: &[(String, String)],
    ) -> ServerHandle {
        let pw_file = dir.join("server-password");
        // A restart writes it again.
        let _ = std::fs::remove_file(&pw_file);
        cliser_launch::write_secret(&pw_file, password).expect("write password file");
        // A test may give its own --listen (`off`, with --listen-tls).
        let mut args: Vec<String> = Vec::new();
        if !extra.contains(&"--listen") {
            args.extend(["--listen".into(), listen.into()]);
        }
        if !extra.contains(&"--console") {
            args.extend(["--console".into(), "127.0.0.1:0".into()]);
        }
        // Never the default 8080: tests run side by side.
        if !extra.contains(&"--http") {
            args.extend(["--http".into(), "127.0.0.1:0".into()]);
        }
        args.push("--password-file".into());
        args.push(pw_file.display().to_string());
        // Each test its own store, kept across restarts (never the working dir's default).
        if !extra.iter().any(|a| *a == "--store" || *a == "--data-dir") {
            args.extend(["--data-dir".into(), dir.join("data").display().to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let ready = ReadyFile::new(dir.join("server.ready")).expect("remove the last run's ready file");
        let mut cmd = Command::new(bin("cliser-server"));
        cmd.args(&args)
            .arg("--ready-file")
            .arg(ready.path())
            .env("RUST_LOG", std::env::var("CLISER_TEST_LOG").unwrap_or_else(|_| "debug".into()))
            .envs(env.iter().map(|(k, v)| (k, v)));
        // A restart appends to the same log.
        let mut proc = Proc::spawn(cmd, &dir.join("server.log"));
        let bound = ready.wait(proc.supervised(), Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}"));
        let addr = bound.listen.or(bound.listen_tls).expect("the ready file names a client listener");
        let console = bound.console;
        ServerHandle {
            proc,
            addr,
            tls: bound.listen_tls,
            console,
            http: bound.http,
            password: password.to_owned(),
            dir: dir.to_path_buf(),
            args,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env.to_vec(),
        }
    }

    /// The server's log.
    pub fn log(&self) -> &LogFile {
        &self.proc.log
    }

    /// The store's URL, as the server was told it (`--store`) or its default in `--data-dir`.
    pub fn store_url(&self) -> String {
        let after = |flag: &str| self.args.iter().position(|a| a == flag).and_then(|i| self.args.get(i + 1));
        match (after("--store"), after("--data-dir")) {
            (Some(url), _) => url.clone(),
            (None, Some(dir)) => format!("sqlite:{}", Path::new(dir).join("cliser.db").display()),
            (None, None) => panic!("the server has neither --store nor --data-dir"),
        }
    }

    /// How many times each seq of `cid` is stored (the store's unique key makes every count 1; a
    /// seq missing is a reading lost). Read through a connection of the test's own, as an operator's
    /// `cliser-server query` would, while the server runs or after it died.
    pub fn stored_seqs(&self, cid: &str) -> BTreeMap<u64, usize> {
        let mut store =
            cliser_store::open(&self.store_url()).unwrap_or_else(|e| panic!("open the store: {e}"));
        let q = cliser_store::ReadingQuery {
            cid: Some(cliser_protocol::ClientId::new(cid).expect("a valid client id")),
            ..Default::default()
        };
        let mut seqs = BTreeMap::new();
        for r in store.readings(&q).unwrap_or_else(|e| panic!("read the store: {e}")) {
            if let Some(seq) = r.seq {
                *seqs.entry(seq).or_insert(0) += 1;
            }
        }
        seqs
    }

    /// The flags this server was started with (for a restart on the same address), less the
    /// `--ready-file` that the test kit adds to every start.
    pub fn args(&self) -> &[String] {
        &self.args
    }
}
