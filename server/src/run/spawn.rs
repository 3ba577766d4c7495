//! Core threads: started named, and a panic in one stops the server (see
//! `cliser_common::core_thread`).

use crate::run::control::{Control, StopReason};
use crate::run::error::RunError;
use cliser_common::core_thread::OnPanic;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Spawns core thread `name`: if it panics, `on_panic` stops the server (see `core_thread`).
pub fn spawn<T: Send + 'static>(
    name: &'static str,
    on_panic: &OnPanic,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, RunError> {
    cliser_common::core_thread::spawn(name, Some(on_panic.clone()), f).map_err(RunError::Start)
}

/// A core thread's panic, as a stop request in the server thread's mailbox.
pub fn stop_on_panic(stop: &Sender<Control>) -> OnPanic {
    let stop = stop.clone();
    Arc::new(move |name| {
        let _ = stop.send(Control::Stop(StopReason::Died(name)));
    })
}
