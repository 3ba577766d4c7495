use cliser_launch::{ProfileDir, Progress};
use std::path::PathBuf;

/// The path of a workspace binary, brought up to date with `cargo build` once per test process: a
/// package's tests build only that package's own binaries, so another package's may be missing or
/// stale (left from an older build).
pub fn bin(name: &str) -> PathBuf {
    let dir = ProfileDir::of_test().unwrap_or_else(|e| panic!("{e}"));
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        dir.build(&cargo, &[name], Progress::Quiet).unwrap_or_else(|e| panic!("{e}"));
        built.push(name.to_owned());
    }
    let [path] = dir.find([name]).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// A fresh random password for one test run (never a fixed secret in the repo).
pub fn free_password() -> String {
    cliser_launch::random_password().expect("read /dev/urandom")
}
