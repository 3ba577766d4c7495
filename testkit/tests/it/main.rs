//! The test kit's own integration tests, one binary: against the real server and Chromium.

mod browser;
mod server_handle;
mod stored;
