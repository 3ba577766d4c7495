//! The real programs some tests start (Chromium, Prometheus, promtool, ...): found on PATH, or the
//! test prints `SKIPPED: <part> not found` and passes, unless `CLISER_REQUIRE_PARTS=1` (which
//! `.ci/run` sets, after installing every part) makes a missing part a failure.

use std::path::PathBuf;

/// Set to `1`, a missing part fails the test instead of skipping it.
pub const REQUIRE_PARTS: &str = "CLISER_REQUIRE_PARTS";

/// Whether missing parts fail (`CLISER_REQUIRE_PARTS=1`, or the older `CLISER_REQUIRE_PG=1`).
pub fn parts_required() -> bool {
    [REQUIRE_PARTS, crate::REQUIRE_PG].iter().any(|v| std::env::var(v).is_ok_and(|v| v == "1"))
}

/// The first of `programs` found on PATH (or given as an absolute path that exists). Where none is,
/// prints `SKIPPED: <part> not found` and returns `None`, or panics when parts are required.
pub fn find_part(part: &str, programs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = programs.iter().find_map(|p| {
        let p = std::path::Path::new(p);
        if p.is_absolute() {
            return p.is_file().then(|| p.to_path_buf());
        }
        std::env::split_paths(&path).map(|dir| dir.join(p)).find(|c| c.is_file())
    });
    if found.is_none() {
        if parts_required() {
            panic!("{part} not found (looked for {programs:?} on PATH) and {REQUIRE_PARTS}=1");
        }
        eprintln!("SKIPPED: {part} not found");
    }
    found
}

/// A loopback port free a moment ago, for programs that cannot listen on port 0 and say which port
/// they got (Prometheus, PostgreSQL). Another process may take it first: start such a program in a
/// loop of a few attempts.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Starts `part` with `launch` on a port from [`free_port`], trying anew on another port up to three
/// times (another process may take the port between the probe and the part's bind); panics with the
/// last error. Returns the port it started on.
pub fn on_free_port(part: &str, mut launch: impl FnMut(u16) -> Result<(), String>) -> u16 {
    let mut attempt = 1;
    loop {
        let port = free_port();
        match launch(port) {
            Ok(()) => return port,
            Err(e) if attempt < 3 => eprintln!("{part} did not start on port {port} ({e}); another port"),
            Err(e) => panic!("{part} did not start: {e}"),
        }
        attempt += 1;
    }
}
