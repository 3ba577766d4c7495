//! The demo's integration tests, one binary.

mod demo;
mod one_build;
