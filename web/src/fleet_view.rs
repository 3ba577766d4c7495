//! The fleet as the page sees it when several servers share a PostgreSQL store: the server keeps a
//! [`FleetBoard`] fresh from its own thread (the live servers, the presence leases, the leader);
//! the page, `/api/nodes` and `/api/fleet` read the latest [`FleetSnapshot`] and never wait on the
//! database. With SQLite there is no board: one server, the page as it always was.
//!
//! Which server holds a node, and whether it is online ([`seats`]): a node this server's Manager
//! holds is online here (its lease was claimed before its `140`, and the Manager hears of its end
//! before the lease is released, so it is fresher than any snapshot); any other node is online
//! while a live lease of another server holds it.

use crate::live::{Fleet, NodeState};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A snapshot older than this is shown as stale: the server could not read the fleet lately
/// (PostgreSQL unreachable), so what it shows of other servers may be out of date.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// The duty whose holder the page and `/api/fleet` name as the fleet's leader.
pub const LEADER_DUTY: &str = "leader";

/// A live server of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerView {
    /// Its random per-process id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// When it started, Unix ms (PostgreSQL's clock).
    pub started_ms: i64,
    /// How many clients it holds a live lease on.
    pub clients: i64,
}

/// A live presence lease: which server holds a client now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    /// The holding server's id.
    pub server_id: String,
    /// Its name.
    pub server_name: String,
    /// Since when it holds the client, Unix ms (PostgreSQL's clock).
    pub since_ms: i64,
}

/// The holder of the [`LEADER_DUTY`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderView {
    /// Its name.
    pub name: String,
    /// Its fencing epoch.
    pub epoch: i64,
    /// Since when it leads, Unix ms (PostgreSQL's clock).
    pub since_ms: i64,
}

/// The fleet as read from PostgreSQL at one moment.
#[derive(Debug, Clone)]
pub struct FleetSnapshot {
    /// This server's id (its own leases are left to its Manager's fresher view).
    pub this_id: String,
    /// The live servers, oldest first.
    pub servers: Vec<ServerView>,
    /// The live presence leases by client id (expired ones are left out).
    pub leases: BTreeMap<String, LeaseView>,
    /// The live holder of the leader duty, if any.
    pub leader: Option<LeaderView>,
    /// When it was read.
    pub taken: Instant,
}

/// Where the server puts the newest [`FleetSnapshot`] and the web side takes it. Cheap clones
/// share it.
#[derive(Debug, Clone, Default)]
pub struct FleetBoard {
    latest: Arc<Mutex<Option<Arc<FleetSnapshot>>>>,
}

impl FleetBoard {
    /// An empty board (no snapshot yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the snapshot with a newer one.
    pub fn publish(&self, snapshot: FleetSnapshot) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(snapshot));
    }

    /// The newest snapshot, `None` before the first.
    pub fn latest(&self) -> Option<Arc<FleetSnapshot>> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Who this server is and, on a PostgreSQL store, where it reads the fleet from.
#[derive(Debug, Clone)]
pub struct FleetSource {
    /// This server's name (`--fleet-name`, or `host:port`).
    pub name: String,
    /// The board the server keeps fresh; `None` with SQLite (one server).
    pub board: Option<FleetBoard>,
    /// When this server started, Unix ms (SQLite's `/api/fleet` names it).
    pub started_ms: i64,
}

impl FleetSource {
    /// A server alone on its store (SQLite).
    pub fn single(name: impl Into<String>) -> Self {
        FleetSource { name: name.into(), board: None, started_ms: now_ms() }
    }
}

/// Where a node is registered now, as the API and the page show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    /// Registered on some server of the fleet.
    pub online: bool,
    /// That server's name, or `None` while it is registered nowhere.
    pub server: Option<String>,
    /// Since when, Unix ms: the session's start here, the lease's on another server.
    pub since_ms: Option<i64>,
}

/// Every node of the fleet and where it is registered: the nodes of this server's view (`fleet`:
/// the store's nodes and this server's sessions) and the nodes another server holds a live lease
/// on, which this server may not know yet. See [`seat`].
pub fn seats(fleet: &Fleet, this_name: &str, snapshot: Option<&FleetSnapshot>) -> BTreeMap<String, Seat> {
    let mut seats: BTreeMap<String, Seat> = fleet
        .iter()
        .filter_map(|(cid, node)| {
            Some((cid.to_string(), seat(cid.as_str(), Some(node), this_name, snapshot)?))
        })
        .collect();
    for cid in snapshot.map(|s| s.leases.keys()).into_iter().flatten() {
        if !seats.contains_key(cid) {
            if let Some(s) = seat(cid, None, this_name, snapshot) {
                seats.insert(cid.clone(), s);
            }
        }
    }
    seats
}

/// Where node `cid` is registered: a node this server holds (`node` online) is online here
/// whatever the snapshot says; another is online while another server's live lease holds it; the
/// rest are offline (registered nowhere). `None`: a node this server does not know
/// (`node` None) and no other server holds.
pub fn seat(
    cid: &str,
    node: Option<&NodeState>,
    this_name: &str,
    snapshot: Option<&FleetSnapshot>,
) -> Option<Seat> {
    let elsewhere = snapshot.and_then(|s| s.leases.get(cid).filter(|l| l.server_id != s.this_id));
    match (node, elsewhere) {
        (Some(n), _) if n.online => {
            Some(Seat { online: true, server: Some(this_name.to_owned()), since_ms: n.since_ms })
        }
        (_, Some(l)) => {
            Some(Seat { online: true, server: Some(l.server_name.clone()), since_ms: Some(l.since_ms) })
        }
        (Some(n), None) => Some(Seat { online: false, server: None, since_ms: n.since_ms }),
        (None, None) => None,
    }
}

/// Whether `snapshot` is too old to be trusted as the fleet now.
pub(crate) fn is_stale(snapshot: Option<&FleetSnapshot>) -> bool {
    snapshot.is_none_or(|s| s.taken.elapsed() > STALE_AFTER)
}

/// `GET /api/fleet`: the servers and the leader. `online_here` counts this server's registered
/// clients (SQLite's one server).
pub(crate) fn fleet_json(source: &FleetSource, online_here: usize) -> Json {
    let Some(board) = &source.board else {
        let this = json!({"name": source.name, "started_ms": source.started_ms, "clients": online_here});
        return json!({
            "mode": "single",
            "this": source.name,
            "servers": [this],
            "leader": {"name": source.name, "epoch": null, "since_ms": source.started_ms},
            "stale": false,
        });
    };
    let snapshot = board.latest();
    let snapshot = snapshot.as_deref();
    let servers: Vec<Json> = snapshot
        .map(|s| &s.servers[..])
        .unwrap_or_default()
        .iter()
        .map(|s| json!({"name": s.name, "started_ms": s.started_ms, "clients": s.clients}))
        .collect();
    let leader = snapshot
        .and_then(|s| s.leader.as_ref())
        .map(|l| json!({"name": l.name, "epoch": l.epoch, "since_ms": l.since_ms}));
    json!({
        "mode": "fleet",
        "this": source.name,
        "servers": servers,
        "leader": leader,
        "stale": is_stale(snapshot),
    })
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_protocol::ClientId;

    fn lease(server: &str, since_ms: i64) -> LeaseView {
        LeaseView { server_id: format!("id-{server}"), server_name: server.to_owned(), since_ms }
    }

    fn snapshot(leases: &[(&str, LeaseView)]) -> FleetSnapshot {
        FleetSnapshot {
            this_id: "id-b".to_owned(),
            servers: Vec::new(),
            leases: leases.iter().map(|(c, l)| (c.to_string(), l.clone())).collect(),
            leader: None,
            taken: Instant::now(),
        }
    }

    fn node(online: bool, since_ms: Option<i64>) -> NodeState {
        NodeState { online, since_ms, ..NodeState::default() }
    }

    fn seat(online: bool, server: Option<&str>, since_ms: Option<i64>) -> Seat {
        Seat { online, server: server.map(str::to_owned), since_ms }
    }

    #[test]
    fn store_nodes_and_the_leases_merge_into_one_row_per_node_with_its_server() {
        let mut fleet = Fleet::new();
        let cid = |s: &str| ClientId::new(s).unwrap();
        fleet.insert(cid("pi-here"), node(true, Some(10)));
        fleet.insert(cid("pi-on-a"), node(false, Some(5)));
        fleet.insert(cid("pi-gone"), node(false, Some(3)));
        fleet.insert(cid("pi-released"), node(false, Some(4)));
        let snap = snapshot(&[
            ("pi-here", lease("b", 9)),
            ("pi-on-a", lease("a", 20)),
            ("pi-new-on-a", lease("a", 30)),
            // This server's own lease on a node its Manager no longer holds (being released).
            ("pi-released", lease("b", 8)),
        ]);
        let seats = seats(&fleet, "b", Some(&snap));
        let want: BTreeMap<String, Seat> = [
            ("pi-gone", seat(false, None, Some(3))),
            ("pi-here", seat(true, Some("b"), Some(10))),
            ("pi-new-on-a", seat(true, Some("a"), Some(30))),
            ("pi-on-a", seat(true, Some("a"), Some(20))),
            ("pi-released", seat(false, None, Some(4))),
        ]
        .into_iter()
        .map(|(c, s)| (c.to_owned(), s))
        .collect();
        assert_eq!(seats, want);
    }

    #[test]
    fn without_a_snapshot_the_nodes_of_this_server_are_all_there_is() {
        let mut fleet = Fleet::new();
        fleet.insert(ClientId::new("pi-here").unwrap(), node(true, Some(10)));
        fleet.insert(ClientId::new("pi-off").unwrap(), node(false, None));
        let seats = seats(&fleet, "b", None);
        assert_eq!(seats["pi-here"], seat(true, Some("b"), Some(10)));
        assert_eq!(seats["pi-off"], seat(false, None, None));
        assert_eq!(seats.len(), 2);
    }

    #[test]
    fn fleet_json_says_single_on_sqlite_and_stale_without_a_fresh_snapshot() {
        let single = fleet_json(&FleetSource { name: "x:1".into(), board: None, started_ms: 7 }, 2);
        assert_eq!(single["mode"], "single");
        assert_eq!(single["servers"], json!([{"name": "x:1", "started_ms": 7, "clients": 2}]));
        assert_eq!(single["leader"]["name"], "x:1");
        assert_eq!(single["stale"], false);

        let board = FleetBoard::new();
        let source = FleetSource { name: "b".into(), board: Some(board.clone()), started_ms: 7 };
        let empty = fleet_json(&source, 0);
        assert_eq!((empty["mode"].as_str(), empty["stale"].as_bool()), (Some("fleet"), Some(true)));
        let mut snap = snapshot(&[]);
        snap.servers = vec![ServerView { id: "id-a".into(), name: "a".into(), started_ms: 1, clients: 3 }];
        snap.leader = Some(LeaderView { name: "a".into(), epoch: 4, since_ms: 2 });
        board.publish(snap);
        let fresh = fleet_json(&source, 0);
        assert_eq!(fresh["stale"], false);
        assert_eq!(fresh["servers"], json!([{"name": "a", "started_ms": 1, "clients": 3}]));
        assert_eq!(fresh["leader"], json!({"name": "a", "epoch": 4, "since_ms": 2}));
    }
}
