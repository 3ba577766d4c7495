//! One fleet view (issue 26 item 2): two servers on one private PostgreSQL, a real Pi client on
//! each. Either server's `/api/nodes`, `/api/fleet` and page show both Pis with the server holding
//! each; a killed server's Pi shows offline on the survivor once its lease expires. With SQLite,
//! `/api/fleet` says the server is alone and `/api/nodes` is as it always was.

use crate::common::http::get;
use crate::common::*;
use crate::web_page_kit::PAGE;
use cliser_testkit::{wait_until, Browser, PgCluster};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The lease TTL (`FleetSettings::default`) and the view's refresh, with room to spare.
const EXPIRY: Duration = Duration::from_secs(15);

/// A simulated Pi registered on `s` only.
fn pi_on(s: &ServerHandle, id: &str) -> Proc {
    let state = s.dir.join(format!("{id}-state"));
    pi_client(s.addr, &s.password, id, &state, &s.dir.join(format!("{id}.log")), &[])
}

/// `(online, server)` of each node in `s`'s `/api/nodes`, by client id.
fn seats(s: &ServerHandle) -> Vec<(String, bool, Value)> {
    let nodes = get(s.http.expect("the page is served"), "/api/nodes").json();
    let rows = nodes["nodes"].as_array().unwrap_or_else(|| panic!("no nodes in {nodes}"));
    rows.iter()
        .map(|n| (n["cid"].as_str().unwrap().to_owned(), n["online"].as_bool().unwrap(), n["server"].clone()))
        .collect()
}

fn fleet(s: &ServerHandle) -> Value {
    get(s.http.expect("the page is served"), "/api/fleet").json()
}

/// Waits until `s`'s `/api/nodes` says exactly `want` (cid, online, server name or null).
fn wait_seats(s: &ServerHandle, want: &[(&str, bool, Option<&str>)], within: Duration, what: &str) {
    let want: Vec<(String, bool, Value)> =
        want.iter().map(|(c, o, n)| (c.to_string(), *o, n.map_or(Value::Null, Value::from))).collect();
    let mut last = Vec::new();
    wait_until(within, what, || {
        last = seats(s);
        (last == want).then_some(())
    });
}

/// The server names of `/api/fleet`'s servers, sorted.
fn server_names(f: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        f["servers"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

/// JavaScript: each card as "cid online server" (server empty when none is shown).
const CARD_SEATS: &str = r#"[...document.querySelectorAll("section.node")].map((n) => {
    const s = n.querySelector(".server");
    return `${n.dataset.cid} ${n.dataset.online} ${s && !s.hidden ? s.textContent : ""}`;
}).sort().join(" | ")"#;

#[test]
fn every_server_shows_every_node_of_the_fleet_with_its_server_and_a_killed_servers_node_goes_offline() {
    let Some(pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let (mut a, b) = fleet_of_two(&pg.url(), d.path(), &[]);
    let _pi_a = pi_on(&a, "pi-on-a");
    let _pi_b = pi_on(&b, "pi-on-b");

    let both = [("pi-on-a", true, Some("server-a")), ("pi-on-b", true, Some("server-b"))];
    wait_seats(&b, &both, T, "B lists both Pis online, each with its server");
    wait_seats(&a, &both, T, "A lists both Pis online, each with its server");
    for (s, name) in [(&a, "server-a"), (&b, "server-b")] {
        // Each server's client count is read from the leases, renewed on their own schedule: the
        // wait covers it too.
        let f = wait_until(T, "both servers in /api/fleet, with one Pi each", || {
            let f = fleet(s);
            let one_each = f["servers"].as_array().is_some_and(|v| v.iter().all(|x| x["clients"] == 1));
            (server_names(&f) == ["server-a", "server-b"] && one_each).then_some(f)
        });
        assert_eq!(
            (f["mode"].as_str(), f["this"].as_str(), f["stale"].as_bool()),
            (Some("fleet"), Some(name), Some(false)),
            "{f}"
        );
        for server in f["servers"].as_array().unwrap() {
            assert_eq!(server["clients"], 1, "one Pi each: {f}");
            assert!(server["started_ms"].as_i64().unwrap() > 0, "{f}");
        }
    }

    // B's page: both Pis with their servers, the footer names this server and the fleet.
    let mut browser = Browser::launch();
    if let Some(browser) = browser.as_mut() {
        browser.navigate(&format!("http://{}/", b.http.unwrap()));
        let want = "pi-on-a true server-a | pi-on-b true server-b";
        browser.wait_for(
            &format!("{CARD_SEATS} === {want:?}"),
            PAGE,
            "B's page lists both Pis with their servers",
        );
        let footer = browser.wait_value(
            "(() => { const t = document.querySelector('#fleet-line').textContent; return t.includes('fleet: 2 servers') ? t : null; })()",
            PAGE,
            "the footer names the fleet",
        );
        assert!(
            footer.as_str().unwrap().starts_with("server server-b · fleet: 2 servers, leader "),
            "{footer}"
        );
        browser.screenshot(&crate::web_page_kit::web_dir().join("fleet-view-b.png"));
    }

    // A dies: its Pi (which knows only A) shows offline on B once A's lease expires.
    a.proc.kill9();
    let killed = Instant::now();
    wait_seats(
        &b,
        &[("pi-on-a", false, None), ("pi-on-b", true, Some("server-b"))],
        EXPIRY,
        "A's Pi offline on B after A's lease expired",
    );
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(12), "A's Pi showed offline {took:?} after the kill");
    wait_until(EXPIRY, "A gone from B's /api/fleet", || {
        (server_names(&fleet(&b)) == ["server-b"]).then_some(())
    });
    if let Some(browser) = browser.as_mut() {
        let want = "pi-on-a false  | pi-on-b true server-b";
        // The page learns it from the live stream (no reload): within the page's hold of an offline.
        browser.wait_for(
            &format!("{CARD_SEATS} === {want:?}"),
            T,
            "B's page shows A's Pi offline, no server",
        );
        browser.wait_for(
            "document.querySelector('#fleet-line').textContent.includes('fleet: 1 server,')",
            T,
            "the footer counts one server",
        );
    }
}

#[test]
fn on_sqlite_the_server_is_alone_and_the_nodes_have_no_server() {
    let (_dir, s) = server(&["--fleet-name", "solo"]);
    let (_c, _) = client(&s, "pi-solo");
    let http = s.http.expect("the page is served");
    let f = wait_until(T, "pi-solo counted", || {
        let f = get(http, "/api/fleet").json();
        (f["servers"][0]["clients"] == 1).then_some(f)
    });
    assert_eq!(f["mode"], "single", "{f}");
    assert_eq!(f["this"], "solo", "{f}");
    assert_eq!(server_names(&f), ["solo"], "{f}");
    assert_eq!((f["leader"]["name"].as_str(), f["stale"].as_bool()), (Some("solo"), Some(false)), "{f}");
    let nodes = get(http, "/api/nodes").json();
    let node = &nodes["nodes"][0];
    assert_eq!((node["cid"].as_str(), node["online"].as_bool()), (Some("pi-solo"), Some(true)), "{nodes}");
    assert!(node.get("server").is_none(), "no server field with SQLite: {nodes}");
}
