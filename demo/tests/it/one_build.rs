//! The first command builds once (issue 23): `cargo build --release`, `cargo run --bin cliser-demo`
//! and the demo's own build of the server and the client must resolve every shared dependency with the
//! same features, or cargo compiles those dependencies (and all above them) again for each command.
//! `cargo tree` shows what each selection resolves, without building anything.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Each `name vX.Y.Z|features` line `cargo tree` resolves for the packages `selection` picks.
fn resolved(selection: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("Cargo.toml");
    let out = Command::new(&cargo)
        .args(["tree", "--locked", "--edges", "normal,build", "--prefix", "none", "--format", "{p}|{f}"])
        .arg("--manifest-path")
        .arg(&manifest)
        .args(selection)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(out.status.success(), "cargo tree {selection:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let (package, features) =
                line.replace(" (*)", "").split_once('|').map(|(p, f)| (p.to_owned(), f.to_owned()))?;
            // A workspace member reads `name v0.1.0 (/its/path)`: the path says nothing of features.
            let package = package.split(" (").next().unwrap_or(&package).trim().to_owned();
            Some(format!("{package}|{}", features.trim()))
        })
        .collect()
}

#[test]
fn the_demo_and_its_build_resolve_the_features_of_cargo_build_release() {
    let workspace = resolved(&["--workspace"]);
    for selection in [
        // `cargo run --release --bin cliser-demo`
        &["-p", "cliser-demo"][..],
        // what the demo builds before it starts them
        &["-p", "cliser-server", "-p", "cliser-pi-client"][..],
        // `cargo build --release -p cliser-server` (docs/raspberry-pi.md, deploy.sh). The client alone
        // is left out: it is built for the Pi (its own target dir), and pinning the server's
        // features on it would put the fleet CA's certificate generator in every Pi's binary.
        &["-p", "cliser-server"][..],
    ] {
        let differ: Vec<_> = resolved(selection).difference(&workspace).cloned().collect();
        assert!(
            differ.is_empty(),
            "`cargo build {}` resolves these unlike `cargo build --release` does, so it compiles them (and all \
             that depends on them) once more; add them to workspace-hack/Cargo.toml with the workspace's \
             features: {differ:#?}",
            selection.join(" ")
        );
    }
}
