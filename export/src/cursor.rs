//! The store feed: the readings after an exporter's cursor, in the store's row order, and the
//! cursor saved in the store (`export_cursors`) once the far side accepted them.

use cliser_store::fleet::Fence;
use cliser_store::{ExportFeed, FeedLag, FeedRow, History, OpenAs, PgStore, SqliteStore, StoreError};

/// Where an exporter without a saved cursor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// From the first reading kept: a time-series database gets the history.
    Beginning,
    /// From the next reading stored: an MQTT state is about now.
    End,
}

/// What an exporter asks of the store: the feed and its cursor, and the nodes and sensors (MQTT's
/// discovery). Open one with `cliser_store::open_as::<dyn FeedStore>(url)`.
pub trait FeedStore: ExportFeed + History {}

impl<T: ExportFeed + History + ?Sized> FeedStore for T {}

impl OpenAs for dyn FeedStore {
    fn sqlite(store: SqliteStore) -> Box<Self> {
        Box::new(store)
    }
    fn postgres(store: PgStore) -> Box<Self> {
        Box::new(store)
    }
}

/// One exporter's place in the store.
pub struct Feed {
    store: Box<dyn FeedStore>,
    name: String,
    /// Saved: every reading up to here was accepted.
    saved: i64,
    /// Read (handed to the exporter, maybe not yet accepted) up to here.
    read: i64,
}

impl Feed {
    /// The feed of exporter `name` on `store` (its own connection), at the saved cursor or `start`.
    pub fn open(mut store: Box<dyn FeedStore>, name: &str, start: Start) -> Result<Feed, StoreError> {
        let saved = match store.cursor(name)? {
            Some(c) => c,
            None => {
                let c = match start {
                    Start::Beginning => 0,
                    Start::End => store.feed_lag(i64::MAX)?.last_id,
                };
                store.set_cursor(name, c)?;
                c
            }
        };
        Ok(Feed { store, name: name.into(), saved, read: saved })
    }

    /// The saved cursor.
    pub fn saved(&self) -> i64 {
        self.saved
    }

    /// At most `limit` readings after those already read.
    pub fn next(&mut self, limit: usize) -> Result<Vec<FeedRow>, StoreError> {
        let rows = self.store.feed(self.read, limit)?;
        if let Some(last) = rows.last() {
            self.read = last.id;
        }
        Ok(rows)
    }

    /// This server leads the fleet now, under `fence`: the cursor's writes go under it from now on
    /// (refused once another server leads), and the cursor is read again from the store, where
    /// the server that led before moved it.
    pub fn lead(&mut self, fence: Fence) -> Result<(), StoreError> {
        self.store.set_fence(Some(fence));
        if let Some(c) = self.store.cursor(&self.name)? {
            self.saved = c;
        }
        self.read = self.saved;
        Ok(())
    }

    /// Forgets what was read after the saved cursor: it is read again (the far side did not take it).
    pub fn rewind(&mut self) {
        self.read = self.saved;
    }

    /// Saves the cursor at `id`: everything up to it was accepted.
    pub fn save(&mut self, id: i64) -> Result<(), StoreError> {
        if id > self.saved {
            self.store.set_cursor(&self.name, id)?;
            self.saved = id;
        }
        Ok(())
    }

    /// How far the saved cursor is behind. When the store's newest readings were deleted since
    /// (the store emptied by retention), the cursor comes down to the newest id left, so readings
    /// stored later are not skipped if SQLite gives their ids out again.
    pub fn lag(&mut self) -> Result<FeedLag, StoreError> {
        let lag = self.store.feed_lag(self.saved)?;
        if lag.last_id < self.saved {
            log::warn!(
                "export {}: the store's newest reading is {} but the cursor was {}: readings were deleted; \
                 following from {}",
                self.name,
                lag.last_id,
                self.saved,
                lag.last_id
            );
            self.store.set_cursor(&self.name, lag.last_id)?;
            self.saved = lag.last_id;
            self.read = self.read.min(lag.last_id);
        }
        Ok(lag)
    }

    /// The store, for what else the exporter reads (nodes and sensors for discovery).
    pub fn store(&mut self) -> &mut dyn History {
        self.store.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_protocol::{Celsius, ClientId, SensorId, Value};
    use cliser_store::NewReading;

    fn reading(seq: u64) -> NewReading {
        NewReading {
            cid: ClientId::new("pi").unwrap(),
            sensor: SensorId::new("t").unwrap(),
            value: Value::Celsius(Celsius::new(20.0).unwrap()),
            sampled_ms: 1_000 + seq as i64,
            received_ms: 2_000 + seq as i64,
            seq: Some(seq),
            ts_quality: cliser_store::TsQuality::default(),
        }
    }

    /// The store in `dir`, as the roles asked for: the feed's, or a writer's.
    fn open<R: OpenAs + ?Sized>(dir: &tempfile::TempDir) -> Box<R> {
        cliser_store::open_as(&format!("sqlite:{}", dir.path().join("c.db").display())).unwrap()
    }

    #[test]
    fn resumes_after_the_saved_cursor_and_rereads_what_was_not_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer: Box<dyn cliser_store::Store> = open(&dir);
        writer.commit(&[reading(1), reading(2), reading(3)]).unwrap();
        let mut end = Feed::open(open(&dir), "mqtt", Start::End).unwrap();
        assert!(end.next(10).unwrap().is_empty(), "a new MQTT feed starts after what is stored");
        let mut f = Feed::open(open(&dir), "influx", Start::Beginning).unwrap();
        let first = f.next(2).unwrap();
        assert_eq!(first.iter().map(|r| r.reading.seq).collect::<Vec<_>>(), [Some(1), Some(2)]);
        f.rewind();
        assert_eq!(f.next(2).unwrap(), first, "not accepted: read again");
        f.save(first[1].id).unwrap();
        assert_eq!(f.lag().unwrap().readings, 1);
        drop(f);
        let mut again = Feed::open(open(&dir), "influx", Start::Beginning).unwrap();
        assert_eq!(again.next(10).unwrap().iter().map(|r| r.reading.seq).collect::<Vec<_>>(), [Some(3)]);
        writer.commit(&[reading(4)]).unwrap();
        assert_eq!(end.next(10).unwrap().iter().map(|r| r.reading.seq).collect::<Vec<_>>(), [Some(4)]);
    }

    #[test]
    fn a_cursor_past_the_newest_reading_comes_down_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer: Box<dyn cliser_store::Store> = open(&dir);
        writer.commit(&[reading(1), reading(2)]).unwrap();
        let mut f = Feed::open(open(&dir), "influx", Start::Beginning).unwrap();
        let rows = f.next(10).unwrap();
        f.save(rows[1].id).unwrap();
        // Retention emptied the table: SQLite hands out id 1 again.
        assert_eq!(writer.prune_raw(i64::MAX, 100).unwrap(), 2);
        assert_eq!(f.lag().unwrap().last_id, 0);
        writer.commit(&[reading(3)]).unwrap();
        assert_eq!(f.next(10).unwrap().iter().map(|r| r.reading.seq).collect::<Vec<_>>(), [Some(3)]);
    }
}
