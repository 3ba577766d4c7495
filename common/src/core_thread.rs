//! The server's core threads (Manager, sink, acceptors, retention, alerts, exporters, web) are
//! each one of a kind: when one dies the server cannot do its job, however healthy it looks. Each
//! holds a [`Watch`] for its whole life; if the thread unwinds from a panic, the watch logs an
//! ERROR naming it and tells its owner, who stops the server with exit status 1 (systemd starts it
//! again; nothing acknowledged is lost, since an ack only ever covers a committed reading).
//!
//! Tests inject such a panic with the environment variable [`TEST_PANIC`], read once when a watch
//! is made (a thread's start): always compiled in, since the tests run the binary that ships, and
//! a variable nobody sets costs one lookup per core thread per run.

use std::sync::Arc;

/// Test-only: `CLISER_TEST_PANIC=<thread>` makes that core thread panic as it starts (e.g. `sink`,
/// `manager`, `web-live`, `export-mqtt`). Never set it in production.
pub const TEST_PANIC: &str = "CLISER_TEST_PANIC";

/// Told the name of a core thread that panicked.
pub type OnPanic = Arc<dyn Fn(&'static str) + Send + Sync>;

/// Held by a core thread from its first line to its last (see the module docs).
pub struct Watch {
    name: &'static str,
    on_panic: Option<OnPanic>,
}

impl Watch {
    /// Starts watching the calling thread, known as `name`; `on_panic` is told if it panics.
    /// Panics at once when [`TEST_PANIC`] names this thread.
    pub fn new(name: &'static str, on_panic: Option<OnPanic>) -> Watch {
        let watch = Watch { name, on_panic };
        if std::env::var_os(TEST_PANIC).is_some_and(|v| v == name) {
            panic!("{TEST_PANIC}={name}: a panic injected by a test");
        }
        watch
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            log::error!("the {} thread panicked: stopping the server (exit status 1)", self.name);
            if let Some(tell) = &self.on_panic {
                tell(self.name);
            }
        }
    }
}

/// Spawns a thread named `name` that holds a [`Watch`] while it runs `f`.
pub fn spawn<T: Send + 'static>(
    name: &'static str,
    on_panic: Option<OnPanic>,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new().name(name.into()).spawn(move || {
        let _watch = Watch::new(name, on_panic);
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn a_panic_is_told_with_the_threads_name_and_a_clean_end_is_not() {
        let (tx, rx) = channel();
        let tell = move |tx: std::sync::mpsc::Sender<&'static str>| -> OnPanic {
            let tx = std::sync::Mutex::new(tx);
            Arc::new(move |name| {
                let _ = tx.lock().unwrap().send(name);
            })
        };
        let ok = spawn("fine", Some(tell(tx.clone())), || 1).unwrap();
        assert_eq!(ok.join().unwrap(), 1);
        let bad = spawn("doomed", Some(tell(tx)), || panic!("intentional")).unwrap();
        assert!(bad.join().is_err());
        assert_eq!(rx.recv().unwrap(), "doomed");
        assert!(rx.recv().is_err(), "the clean end told nobody");
    }
}
