//! The fleet's news between servers on one PostgreSQL store (a private cluster per test): a
//! commit and a registration on one server reach the other's live view (`/api/events`), shown
//! there but not counted in its own metrics.

use crate::common::http::{get, Events};
use crate::common::*;
use cliser_testkit::PgCluster;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(20);

#[test]
fn a_reading_and_a_registration_on_one_server_reach_the_others_live_view() {
    let Some(pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let url = pg.url();
    let (a, b) = fleet_of_two(&url, d.path(), &[]);
    let web_b = b.http.expect("B serves its page");
    let mut events = Events::open(web_b, None);
    let (name, _) = events.next(T);
    assert_eq!(name, "snapshot");

    let mut c = LineClient::connect(a.addr);
    c.login(&a.password, "pi-on-a");
    let up = events
        .until("nodes", LONG, |nodes| nodes.as_array()?.iter().find(|n| n["cid"] == "pi-on-a").cloned());
    assert_eq!(up["online"], true, "{up}");
    c.expect("100", T);
    c.send("100 t=21.5#1");
    let readings = events.until("readings", LONG, |r| {
        r.as_array()?.iter().find(|r| r["cid"] == "pi-on-a" && r["seq"] == 1).cloned()
    });
    assert_eq!(readings["value"], 21.5, "{readings}");

    // Counted where it was committed, not where it was shown.
    let metric = |s: &ServerHandle| {
        let text = get(s.http.unwrap(), "/metrics").text();
        let line = text.lines().find(|l| l.starts_with("cliser_readings_total{")).map(str::to_owned);
        let line = line.unwrap_or_else(|| panic!("no cliser_readings_total in {text}"));
        line.rsplit(' ').next().unwrap().to_owned()
    };
    assert_eq!(metric(&a), "1");
    assert_eq!(metric(&b), "0");

    drop(c);
    let down = events.until("nodes", LONG, |nodes| {
        nodes.as_array()?.iter().find(|n| n["cid"] == "pi-on-a" && n["online"] == false).cloned()
    });
    assert_eq!(down["online"], false);
}
