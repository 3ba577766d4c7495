//! `GET /api/nodes`: every node with its sensors and their last readings.

use crate::json::node_json;
use crate::live::Fleet;
use cliser_common::sensors::Settings;
use serde_json::{json, Value as Json};
use std::time::{SystemTime, UNIX_EPOCH};

/// The fleet as `/api/nodes` and the first live message give it.
pub fn nodes_json(fleet: &Fleet, keepalive_ms: u64, settings: &Settings) -> Json {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    json!({
        "now": now,
        "keepalive_ms": keepalive_ms,
        "nodes": fleet.iter().map(|(cid, n)| node_json(cid, n, true, settings)).collect::<Vec<_>>(),
    })
}
