//! One series over the sensors that replaced one another (the server's `[sensors]` `replaces`):
//! each sensor's readings from its own first reading up to the next one's first reading, asked of
//! any backend as one query per sensor and joined in time order. Nothing is written for it: a
//! replacement is the config's to say, and the moment it happened is read from the readings.
//!
//! The moment a sensor took over is its first stored reading (on the node asked about, when one
//! is). The old sensor's readings from then on (it may still be on the bus) are left out, so the
//! series never has two values at once.

use crate::{Bucket, BucketSource, History, ReadingQuery, StoreError, StoredReading};
use cliser_protocol::SensorId;
use std::time::Duration;

/// The query of each sensor of `members` (oldest first) over its part of `q`'s range; sensors
/// with no reading there are left out.
pub fn series_parts(
    h: &mut dyn History,
    members: &[SensorId],
    q: &ReadingQuery,
) -> Result<Vec<ReadingQuery>, StoreError> {
    let mut took_over: Vec<Option<i64>> = vec![None];
    for id in members.iter().skip(1) {
        let first = ReadingQuery {
            cid: q.cid.clone(),
            sensor: Some(id.clone()),
            limit: Some(1),
            ..Default::default()
        };
        took_over.push(h.readings(&first)?.first().map(|r| r.sampled_ms));
    }
    let mut parts = Vec::new();
    for (i, id) in members.iter().enumerate() {
        let start = match (i, took_over[i]) {
            (0, _) => None,
            (_, Some(t)) => Some(t),
            // Never reported: it has no part.
            (_, None) => continue,
        };
        // Up to the first later sensor that took over (a later one may have come before a middle
        // one reported at all).
        let end = took_over[i + 1..].iter().flatten().copied().min();
        let since = match (q.since_ms, start) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let until = match (q.until_ms, end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let (Some(s), Some(u)) = (since, until) {
            if s >= u {
                continue;
            }
        }
        parts.push(ReadingQuery { sensor: Some(id.clone()), since_ms: since, until_ms: until, ..q.clone() });
    }
    Ok(parts)
}

/// The raw readings of the series of `members` (oldest first) matching `q` (its sensor is not
/// looked at), in time order; `q`'s limit counts the whole series.
pub fn series_readings(
    h: &mut dyn History,
    members: &[SensorId],
    q: &ReadingQuery,
) -> Result<Vec<StoredReading>, StoreError> {
    if let [one] = members {
        return h.readings(&ReadingQuery { sensor: Some(one.clone()), ..q.clone() });
    }
    let mut out = Vec::new();
    for mut part in series_parts(h, members, q)? {
        if let Some(limit) = q.limit {
            if out.len() >= limit {
                break;
            }
            part.limit = Some(limit - out.len());
        }
        out.extend(h.readings(&part)?);
    }
    Ok(out)
}

/// The buckets of the series of `members`, each sensor's over its part, the older sensor's first.
/// A bucket that holds the moment of a replacement is there once per sensor, each with its own
/// readings; one summarised from the hourly rollups is the whole hour's.
pub fn series_buckets(
    h: &mut dyn History,
    members: &[SensorId],
    q: &ReadingQuery,
    every: Duration,
    source: BucketSource,
) -> Result<Vec<Bucket>, StoreError> {
    if let [one] = members {
        return h.buckets_from(&ReadingQuery { sensor: Some(one.clone()), ..q.clone() }, every, source);
    }
    let mut out = Vec::new();
    for part in series_parts(h, members, q)? {
        out.extend(h.buckets_from(&part, every, source)?);
    }
    if let Some(limit) = q.limit {
        out.truncate(limit);
    }
    Ok(out)
}
