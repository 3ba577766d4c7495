//! Opening a store as the roles a caller needs: [`open`](crate::open) gives every role, and a
//! single role is had from it by upcasting (`Box<dyn Store>` coerces to `Box<dyn History>`), but a
//! caller needing a few roles names them in a trait of its own, which `dyn Store` cannot coerce to.
//! [`open_as`] boxes the backend as that trait directly.

use crate::url::{self, Target};
use crate::{OpenOptions, PgStore, SinkStore, SqliteStore, Store, StoreError};

/// A trait object both backends can be boxed as: implement it for `dyn YourRoles` (each method is
/// `Box::new(store)`) to [`open_as`] a store of those roles.
pub trait OpenAs {
    /// The SQLite store, boxed as `Self`.
    fn sqlite(store: SqliteStore) -> Box<Self>;
    /// The PostgreSQL store, boxed as `Self`.
    fn postgres(store: PgStore) -> Box<Self>;
}

impl OpenAs for dyn Store {
    fn sqlite(store: SqliteStore) -> Box<Self> {
        Box::new(store)
    }
    fn postgres(store: PgStore) -> Box<Self> {
        Box::new(store)
    }
}

impl OpenAs for dyn SinkStore {
    fn sqlite(store: SqliteStore) -> Box<Self> {
        Box::new(store)
    }
    fn postgres(store: PgStore) -> Box<Self> {
        Box::new(store)
    }
}

/// [`open`](crate::open) boxing the store as `R`: the roles the caller needs.
pub fn open_as<R: OpenAs + ?Sized>(url: &str) -> Result<Box<R>, StoreError> {
    open_as_with(url, &OpenOptions::default())
}

/// [`open_as`] with `options`: the memory this connection may hold.
pub fn open_as_with<R: OpenAs + ?Sized>(url: &str, options: &OpenOptions) -> Result<Box<R>, StoreError> {
    Ok(match url::parse(url)? {
        Target::Sqlite(path) => R::sqlite(SqliteStore::open_with(&path, options)?),
        Target::Postgres(u) => R::postgres(PgStore::connect(&u)?),
    })
}
