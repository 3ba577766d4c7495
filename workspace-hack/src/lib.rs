//! No code: this crate only pins the features of dependencies that the workspace's packages share, so
//! that `cargo build --release`, `cargo run --bin cliser-demo` and the demo's own build of the server
//! and the client compile them once (see its `Cargo.toml`).
#![deny(missing_docs)]
