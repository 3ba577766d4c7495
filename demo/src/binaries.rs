//! Finds `cliser-server` and `cliser-pi-client` next to the demo's own executable, building them first
//! when the demo runs under cargo (so `cargo run --release --bin cliser-demo` works on a fresh clone).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The two programs the demo runs.
pub struct Binaries {
    /// `cliser-server`.
    pub server: PathBuf,
    /// `cliser-pi-client`.
    pub client: PathBuf,
}

/// Why the binaries are not there.
#[derive(Debug)]
pub enum FindError {
    /// The demo's own path is unknown.
    NoExe(std::io::Error),
    /// `cargo build` failed or could not run.
    Build(String),
    /// A binary is missing.
    Missing(PathBuf),
}

impl std::fmt::Display for FindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FindError::NoExe(e) => write!(f, "cannot find the demo's own executable: {e}"),
            FindError::Build(why) => write!(f, "building the server and client: {why}"),
            FindError::Missing(p) => write!(
                f,
                "{} is missing: build it first with `cargo build --release -p cliser-server -p cliser-pi-client`",
                p.display()
            ),
        }
    }
}

/// Locates the binaries; when `cargo` (the `CARGO` variable that cargo sets for what it runs) is
/// given, builds them first with the same profile and target dir as the demo itself.
pub fn find(cargo: Option<String>) -> Result<Binaries, FindError> {
    let exe = std::env::current_exe().map_err(FindError::NoExe)?;
    let dir = exe.parent().unwrap_or(Path::new(".")).to_path_buf();
    if let Some(cargo) = cargo {
        build(&cargo, &dir)?;
    }
    let found = |name: &str| {
        let p = dir.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(FindError::Missing(p))
        }
    };
    Ok(Binaries { server: found("cliser-server")?, client: found("cliser-pi-client")? })
}

fn build(cargo: &str, profile_dir: &Path) -> Result<(), FindError> {
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "cliser-server", "-p", "cliser-pi-client", "--manifest-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("Cargo.toml"));
    // The demo's directory is <target dir>/<profile>: build into the same place, same profile.
    let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if profile == "release" {
        cmd.arg("--release");
    }
    if matches!(profile, "release" | "debug") {
        if let Some(target_dir) = profile_dir.parent() {
            cmd.arg("--target-dir").arg(target_dir);
        }
    }
    let status = cmd.status().map_err(|e| FindError::Build(format!("cannot run {cargo}: {e}")))?;
    if !status.success() {
        return Err(FindError::Build(format!("cargo build failed: {status}")));
    }
    Ok(())
}
