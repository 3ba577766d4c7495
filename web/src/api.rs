//! `GET /api/nodes`: every node with its sensors and their last readings; in a fleet on PostgreSQL,
//! every node of the fleet with the server holding it.

use crate::fleet_view::{seats, FleetSource};
use crate::json::node_json;
use crate::live::{Fleet, NodeState};
use cliser_common::sensors::Settings;
use cliser_protocol::ClientId;
use serde_json::{json, Value as Json};
use std::time::{SystemTime, UNIX_EPOCH};

/// The fleet as `/api/nodes` and the first live message give it: this server's view (`fleet`),
/// merged with the fleet's presence leases when `source` has a board (PostgreSQL).
pub fn nodes_json(fleet: &Fleet, keepalive_ms: u64, settings: &Settings, source: &FleetSource) -> Json {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let nodes: Vec<Json> = match &source.board {
        None => fleet.iter().map(|(cid, n)| node_json(cid, n, None, true, settings)).collect(),
        Some(board) => {
            let snapshot = board.latest();
            let unknown = NodeState::default();
            seats(fleet, &source.name, snapshot.as_deref())
                .iter()
                .filter_map(|(cid, seat)| {
                    let cid = ClientId::new(cid).ok()?;
                    let node = fleet.get(&cid).unwrap_or(&unknown);
                    Some(node_json(&cid, node, Some(seat), true, settings))
                })
                .collect()
        }
    };
    json!({ "now": now, "keepalive_ms": keepalive_ms, "nodes": nodes })
}
