//! How much memory one connection may hold: the caller's share of a memory budget, given when the
//! connection is opened ([`open_with`](crate::open_with)), never a global.

/// What a connection is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// The most SQLite's page cache of this connection holds, in bytes (`PRAGMA cache_size`); at
    /// least [`OpenOptions::MIN_PAGE_CACHE`]. SQLite's connections do not memory-map the file
    /// (`mmap_size = 0`): mapped pages would count in the process's RSS beside this budget, as
    /// many as the file has, and no setting could bound them short of not mapping.
    /// PostgreSQL's client holds little of its own (a statement's rows while they are read): the
    /// setting does not apply to it.
    pub page_cache_bytes: u64,
}

impl OpenOptions {
    /// Below this a connection re-reads its tables' upper index pages for every statement.
    pub const MIN_PAGE_CACHE: u64 = 256 << 10;
    /// A connection opened on its own (a command such as `export` or `query`).
    pub const DEFAULT_PAGE_CACHE: u64 = 8 << 20;

    /// A page cache of `bytes` (raised to [`Self::MIN_PAGE_CACHE`]).
    pub fn page_cache(bytes: u64) -> OpenOptions {
        OpenOptions { page_cache_bytes: bytes.max(Self::MIN_PAGE_CACHE) }
    }

    /// The page cache in KiB, as `PRAGMA cache_size = -N` takes it.
    pub(crate) fn page_cache_kib(&self) -> u64 {
        self.page_cache_bytes.max(Self::MIN_PAGE_CACHE) >> 10
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::page_cache(Self::DEFAULT_PAGE_CACHE)
    }
}
