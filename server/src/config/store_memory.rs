//! The store's one memory budget (`--store-memory`): what SQLite's page caches of all the
//! connections this server opens may hold together, divided among them when each is opened.
//!
//! The sink's connection gets half: every commit touches the newest index pages of the sensors in
//! its group, and a miss there is a read on the reading path. The other half is shared equally by
//! the connections that only read or prune now and then: the page's pool (up to
//! [`cliser_web::store_pool::POOL_SIZE`]), the alerts, retention (unless `--retain-raw 0`) and each
//! exporter. With none of those, the sink has it all. A PostgreSQL server's cache is its own
//! business: its client connections hold little, so the budget is SQLite's.

use cliser_common::size::Size;
use cliser_store::OpenOptions;
use std::fmt;

/// The budget unless `--store-memory` says otherwise.
pub const DEFAULT_STORE_MEMORY: Size = Size::mib(64);
/// Less than this would leave the other connections below SQLite's useful minimum.
pub const MIN_STORE_MEMORY: Size = Size::mib(4);

/// Which connections the budget is divided among, and what each gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreMemory {
    /// The whole budget.
    pub budget: Size,
    /// The sink's connection.
    pub sink: OpenOptions,
    /// Each of the others.
    pub other: OpenOptions,
    /// How many others: the page's pool, alerts, retention, exporters.
    pub others: Others,
}

/// The connections beside the sink's, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Others {
    /// The page's pool (0 with `--http off`).
    pub page: usize,
    /// The alerts thread's (always 1).
    pub alerts: usize,
    /// Retention's (0 with `--retain-raw 0`).
    pub retention: usize,
    /// One per exporter.
    pub export: usize,
}

impl Others {
    /// All of them.
    pub fn total(&self) -> usize {
        self.page + self.alerts + self.retention + self.export
    }
}

impl StoreMemory {
    /// `budget` divided: half to the sink, the rest equally to `others` (all to the sink without
    /// others).
    pub fn split(budget: Size, others: Others) -> StoreMemory {
        let bytes = budget.bytes();
        let (sink, other) = match others.total() as u64 {
            0 => (bytes, 0),
            n => (bytes / 2, (bytes - bytes / 2) / n),
        };
        StoreMemory {
            budget,
            sink: OpenOptions::page_cache(sink),
            other: OpenOptions::page_cache(other),
            others,
        }
    }
}

impl fmt::Display for StoreMemory {
    /// `64MiB: sink 32MiB, 6 others 5461KiB each (page 4, alerts 1, retention 1, export 0)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kib = |o: &OpenOptions| Size(o.page_cache_bytes >> 10 << 10);
        let Others { page, alerts, retention, export } = self.others;
        write!(f, "{}: sink {}", self.budget, kib(&self.sink))?;
        if self.others.total() > 0 {
            write!(
                f,
                ", {} others {} each (page {page}, alerts {alerts}, retention {retention}, export {export})",
                self.others.total(),
                kib(&self.other)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_gets_half_and_the_others_share_the_rest() {
        let usual = Others { page: 4, alerts: 1, retention: 1, export: 0 };
        let m = StoreMemory::split(DEFAULT_STORE_MEMORY, usual);
        assert_eq!(m.sink.page_cache_bytes, 32 << 20);
        assert_eq!(m.other.page_cache_bytes, (32 << 20) / 6);
        assert!(m.sink.page_cache_bytes + 6 * m.other.page_cache_bytes <= 64 << 20);
        assert_eq!(
            m.to_string(),
            "64MiB: sink 32MiB, 6 others 5461KiB each (page 4, alerts 1, retention 1, export 0)"
        );
        let all = Others { page: 4, alerts: 1, retention: 1, export: 2 };
        assert_eq!(StoreMemory::split(Size::mib(16), all).other.page_cache_bytes, 1 << 20);
        let alone = StoreMemory::split(Size::mib(8), Others::default());
        assert_eq!((alone.sink.page_cache_bytes, alone.to_string()), (8 << 20, "8MiB: sink 8MiB".into()));
    }
}
