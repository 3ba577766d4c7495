//! Running the server: start and stop, the controls, the ready file, the errors.

pub mod control;
pub mod error;
pub mod ready_file;
pub mod server;
