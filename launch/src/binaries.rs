//! The workspace's binaries sit in the caller's own `<target dir>/<profile>`. Both callers build them
//! there first with cargo (same profile, same target dir), because cargo builds only the package at
//! hand: another package's binary may be missing, or stale from an older build.
//!
//! What differs between callers is kept explicit: where the caller's executable sits in that dir
//! ([`ProfileDir::of_program`], [`ProfileDir::of_test`]), whether and when to build (the demo only
//! when cargo runs it, the test kit once per test process), and whether cargo's output shows.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a binary cannot be had.
#[derive(Debug)]
pub enum FindError {
    /// The caller's own executable (and so the target dir) is unknown.
    NoExe(std::io::Error),
    /// `cargo build` failed or could not run.
    Build(String),
    /// A binary is missing.
    Missing {
        /// Where it should be.
        path: PathBuf,
        /// The command that builds what was asked for.
        hint: String,
    },
}

impl std::fmt::Display for FindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FindError::NoExe(e) => write!(f, "cannot find this program's own executable: {e}"),
            FindError::Build(why) => write!(f, "building the cliser binaries: {why}"),
            FindError::Missing { path, hint } => {
                write!(f, "{} is missing: build it first with `{hint}`", path.display())
            }
        }
    }
}

impl std::error::Error for FindError {}

/// Whether cargo's own output shows while it builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A person is waiting: show what cargo does.
    Shown,
    /// Inside a test run: only errors.
    Quiet,
}

/// `<target dir>/<profile>`, e.g. `target/release`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileDir {
    dir: PathBuf,
}

impl ProfileDir {
    /// For a program cargo built (`cargo run --bin ...`): it sits right in the profile dir.
    pub fn of_program() -> Result<ProfileDir, FindError> {
        let exe = std::env::current_exe().map_err(FindError::NoExe)?;
        Ok(ProfileDir::new(exe.parent().unwrap_or(Path::new("."))))
    }

    /// For a test executable: cargo puts those one level down, in `<profile>/deps/`.
    pub fn of_test() -> Result<ProfileDir, FindError> {
        let exe = std::env::current_exe().map_err(FindError::NoExe)?;
        let deps = exe.parent().unwrap_or(Path::new("."));
        Ok(ProfileDir::new(deps.parent().unwrap_or(Path::new("."))))
    }

    /// The profile dir at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> ProfileDir {
        ProfileDir { dir: dir.into() }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The cargo flags that select this dir's profile (`debug` is cargo's `dev`).
    fn profile_flags(&self) -> Vec<String> {
        match self.dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => vec![],
            Some("release") => vec!["--release".to_owned()],
            Some(custom) => vec!["--profile".to_owned(), custom.to_owned()],
        }
    }

    /// The cargo flags that build into this dir: its profile and its target dir.
    fn cargo_flags(&self) -> Vec<String> {
        let mut flags = self.profile_flags();
        if let Some(target_dir) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            flags.extend(["--target-dir".to_owned(), target_dir.display().to_string()]);
        }
        flags
    }

    /// Builds each named binary (each lives in the package of the same name) into this dir with
    /// `cargo` (cargo sets `CARGO` for what it runs; pass that).
    pub fn build(&self, cargo: &str, names: &[&str], progress: Progress) -> Result<(), FindError> {
        let mut cmd = self.build_command(cargo, names, progress);
        let status = cmd.status().map_err(|e| FindError::Build(format!("cannot run {cargo}: {e}")))?;
        if !status.success() {
            return Err(FindError::Build(format!("cargo build -p {} failed: {status}", names.join(" -p "))));
        }
        Ok(())
    }

    fn build_command(&self, cargo: &str, names: &[&str], progress: Progress) -> Command {
        let mut cmd = Command::new(cargo);
        // As from a person's shell: without what `cargo run`/`cargo test` set for the program that
        // calls us. Build scripts declare some of those (ring's: CARGO_PKG_NAME, CARGO_MANIFEST_DIR,
        // ...), so a nested build that inherits them runs those scripts again and recompiles all
        // above them (rustls, the exporters, the server), as a later `cargo build --release` does
        // again the other way round (issue 23: the demo's second build).
        for (key, _) in std::env::vars_os() {
            if key.to_str().is_some_and(set_by_cargo_for_its_program) {
                cmd.env_remove(key);
            }
        }
        cmd.arg("build");
        if progress == Progress::Quiet {
            cmd.arg("--quiet");
        }
        for name in names {
            cmd.args(["-p", name, "--bin", name]);
        }
        cmd.arg("--manifest-path").arg(workspace_manifest()).args(self.cargo_flags());
        cmd
    }

    /// The paths of the named binaries, which must all be there.
    pub fn find<const N: usize>(&self, names: [&str; N]) -> Result<[PathBuf; N], FindError> {
        let mut found = Vec::with_capacity(N);
        for name in names {
            let path = self.dir.join(name);
            if !path.is_file() {
                return Err(FindError::Missing { path, hint: self.build_hint(&names) });
            }
            found.push(path);
        }
        Ok(found.try_into().expect("one path per name"))
    }

    fn build_hint(&self, names: &[&str]) -> String {
        let mut hint = vec!["cargo".to_owned(), "build".to_owned()];
        hint.extend(self.profile_flags());
        for name in names {
            hint.extend(["-p".to_owned(), (*name).to_owned()]);
        }
        hint.join(" ")
    }
}

/// The variables cargo sets for the program it runs (`cargo run`, `cargo test`), not for itself.
fn set_by_cargo_for_its_program(key: &str) -> bool {
    key.starts_with("CARGO_PKG_")
        || matches!(
            key,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// The workspace's `Cargo.toml`, so that the build works from any working directory.
fn workspace_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("Cargo.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_and_target_dir_follow_the_directory_name() {
        let flags = |d: &str| ProfileDir::new(d).cargo_flags().join(" ");
        assert_eq!(flags("/t/debug"), "--target-dir /t");
        assert_eq!(flags("/t/release"), "--release --target-dir /t");
        assert_eq!(flags("/t/profiling"), "--profile profiling --target-dir /t");
    }

    #[test]
    fn the_nested_build_does_not_inherit_what_cargo_set_for_this_program() {
        // `cargo test` set these for this test process, as `cargo run` does for the demo.
        assert!(
            std::env::var_os("CARGO_PKG_NAME").is_some() && std::env::var_os("CARGO_MANIFEST_DIR").is_some()
        );
        let cmd = ProfileDir::new("/t/release").build_command("cargo", &["cliser-server"], Progress::Quiet);
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        for key in ["CARGO_PKG_NAME", "CARGO_PKG_VERSION_MAJOR", "CARGO_MANIFEST_DIR"] {
            assert!(removed.iter().any(|k| k == key), "{key} is passed on: {removed:?}");
        }
        assert!(!removed.iter().any(|k| k == "CARGO_HOME" || k == "CARGO_TARGET_DIR"), "{removed:?}");
    }

    #[test]
    fn a_test_executable_sits_one_level_below_its_profile_dir() {
        let exe = std::env::current_exe().unwrap();
        assert_eq!(exe.parent().unwrap().file_name().unwrap(), "deps");
        assert_eq!(ProfileDir::of_test().unwrap().path(), exe.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn a_missing_binary_names_the_command_that_builds_all_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let release = dir.path().join("release");
        std::fs::create_dir(&release).unwrap();
        std::fs::write(release.join("one"), "").unwrap();
        let e = ProfileDir::new(&release).find(["one", "two"]).unwrap_err().to_string();
        assert!(e.contains("two is missing"), "{e}");
        assert!(e.ends_with("`cargo build --release -p one -p two`"), "{e}");
        let [one] = ProfileDir::new(&release).find(["one"]).unwrap();
        assert_eq!(one, release.join("one"));
    }
}
