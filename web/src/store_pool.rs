//! A few store connections shared by the request threads: opening one per request would cost a
//! PostgreSQL login each time, and one per connection thread would hold hundreds of them.

use crate::http::Response;
use cliser_store::{
    AdminLog, AlertStore, HealthLog, History, OpenAs, OpenOptions, PgStore, SqliteStore, StoreError,
};
use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// What the page asks of the store: the readings and nodes (history), the alerts with their
/// history and silences, forgetting nodes and sensors, and the sensors' bus health.
pub trait PageStore: History + AlertStore + AdminLog + HealthLog {}

impl<T: History + AlertStore + AdminLog + HealthLog + ?Sized> PageStore for T {}

impl OpenAs for dyn PageStore {
    fn sqlite(store: SqliteStore) -> Box<Self> {
        Box::new(store)
    }
    fn postgres(store: PgStore) -> Box<Self> {
        Box::new(store)
    }
}

/// At most this many store connections for the web side.
pub const POOL_SIZE: usize = 4;
/// A request waits at most this long for a free connection, then gets `503`.
const WAIT: Duration = Duration::from_secs(5);

/// Why no store connection was handed out.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// Opening a new connection failed.
    #[error("cannot open the store: {0}")]
    Open(#[source] StoreError),
    /// Every connection stayed in use for the whole wait.
    #[error("the store is busy; try again")]
    Busy,
}

/// Store connections opened on demand, at most [`POOL_SIZE`].
pub struct StorePool {
    url: String,
    options: OpenOptions,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    idle: Vec<Box<dyn PageStore>>,
    open: usize,
}

impl StorePool {
    /// A pool over the store at `url`, each connection opened with `options` (nothing is opened
    /// yet).
    pub fn new(url: &str, options: OpenOptions) -> Self {
        StorePool {
            url: url.to_owned(),
            options,
            state: Mutex::new(State { idle: Vec::new(), open: 0 }),
            freed: Condvar::new(),
        }
    }

    /// A connection, opened if none is idle and the pool has room; waits for one otherwise.
    pub fn get(&self) -> Result<Pooled<'_>, PoolError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(store) = state.idle.pop() {
                return Ok(Pooled { pool: self, store: Some(store) });
            }
            if state.open < POOL_SIZE {
                state.open += 1;
                drop(state);
                return match cliser_store::open_as_with::<dyn PageStore>(&self.url, &self.options) {
                    Ok(store) => Ok(Pooled { pool: self, store: Some(store) }),
                    Err(e) => {
                        self.release(None);
                        Err(PoolError::Open(e))
                    }
                };
            }
            let (next, timeout) = self.freed.wait_timeout(state, WAIT).unwrap_or_else(|e| e.into_inner());
            state = next;
            if timeout.timed_out() && state.idle.is_empty() && state.open >= POOL_SIZE {
                return Err(PoolError::Busy);
            }
        }
    }

    /// Runs `f` on a pooled connection. No free connection, or a store that fails, is a `503`
    /// (`what` names the work in the log); a failed connection is closed, not lent again.
    pub(crate) fn with<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut dyn PageStore) -> Result<T, StoreError>,
    ) -> Result<T, Response> {
        let mut store = self.get().map_err(|why| Response::error(503, &why.to_string(), None))?;
        f(&mut *store).map_err(|e| {
            log::warn!("web: {what}: {e}");
            store.poison();
            Response::error(503, &format!("the store failed: {e}"), None)
        })
    }

    fn release(&self, store: Option<Box<dyn PageStore>>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match store {
            Some(s) => state.idle.push(s),
            None => state.open -= 1,
        }
        self.freed.notify_one();
    }
}

/// A connection lent by the pool; back to it when dropped.
pub struct Pooled<'a> {
    pool: &'a StorePool,
    store: Option<Box<dyn PageStore>>,
}

impl Pooled<'_> {
    /// The connection failed: close it instead of lending it again (the next request opens a new
    /// one, so a restarted database is found again).
    pub fn poison(&mut self) {
        self.store = None;
    }
}

impl Deref for Pooled<'_> {
    type Target = dyn PageStore;
    fn deref(&self) -> &Self::Target {
        self.store.as_deref().expect("a pooled store is present until dropped")
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.store.as_deref_mut().expect("a pooled store is present until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        self.pool.release(self.store.take());
    }
}
