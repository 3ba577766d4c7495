//! Test support (filled in with the server).
