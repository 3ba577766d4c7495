//! The store's integration tests, one binary: each module was a test binary of its own. `common`
//! holds what they share (readings from short literals, a store of each backend in a place of its
//! own).

mod common;

mod behaviour;
mod display;
mod fleet;
mod fleet_store_fence;
mod postgres;
mod series;
mod sqlite_file;
