//! What happened to the alerts, read from the store: `GET /api/alerts/history` (every transition
//! and what people did, newest first) and `GET /api/silences` (in force, to come, or over within
//! the last day).

use crate::body::bad;
use crate::http::{query_pairs, Response};
use crate::readings::point_in_time;
use crate::store_pool::StorePool;
use cliser_store::{AlertEvent, EventQuery, Silence};
use serde_json::{json, Value as Json};
use std::time::SystemTime;

/// Events in an answer when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 200;
/// The most events in one answer.
pub const MAX_LIMIT: usize = 5000;
/// Silences over longer ago than this are left out of `/api/silences`.
const SILENCES_KEPT_MS: i64 = 86_400_000;

/// Checks the history's query string against `now`.
pub fn history_query(query: &str, now: SystemTime) -> Result<EventQuery, Response> {
    let pairs = query_pairs(query).map_err(|e| bad(&e.name, e.to_string()))?;
    let mut q = EventQuery { limit: DEFAULT_LIMIT, ..Default::default() };
    let mut seen: Vec<String> = Vec::new();
    for (k, v) in pairs {
        if seen.contains(&k) {
            return Err(bad(&k, format!("{k} given twice")));
        }
        seen.push(k.clone());
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "cid" => q.cid = Some(v),
            "sensor" => q.sensor = Some(v),
            "kind" => {
                if !crate::admin::KINDS.contains(&v.as_str()) {
                    return Err(bad(
                        "kind",
                        format!("kind {v:?}: not an alert kind ({})", crate::admin::KINDS.join(", ")),
                    ));
                }
                q.kind = Some(v)
            }
            "since" => {
                q.since_ms = Some(point_in_time("since", &v, now).map_err(|e| bad("since", e.to_string()))?)
            }
            "until" => {
                q.until_ms = Some(point_in_time("until", &v, now).map_err(|e| bad("until", e.to_string()))?)
            }
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| bad("limit", format!("limit {v:?}: a number from 1 to {MAX_LIMIT}")))?
            }
            _ => {
                return Err(bad(
                    &k,
                    format!("unknown parameter {k:?} (cid, sensor, kind, since, until, limit)"),
                ))
            }
        }
    }
    if let (Some(since), Some(until)) = (q.since_ms, q.until_ms) {
        if since >= until {
            return Err(bad("since", format!("since ({since}) must be before until ({until})")));
        }
    }
    Ok(q)
}

fn event_json(e: &AlertEvent) -> Json {
    json!({
        "id": e.id,
        "at": e.at_ms,
        "event": e.event,
        "kind": e.kind,
        "cid": e.cid,
        "sensor": e.sensor,
        "name": e.name,
        "since": e.since_ms,
        "value": e.value,
        "message": e.message,
        "by": e.by,
        "note": e.note,
    })
}

fn silence_json(s: &Silence, now_ms: i64) -> Json {
    json!({
        "id": s.id,
        "cid": s.cid,
        "sensor": s.sensor,
        "kind": s.kind,
        "starts": s.starts_ms,
        "ends": s.ends_ms,
        "by": s.by,
        "comment": s.comment,
        "ended": s.ended_ms,
        "active": s.active(now_ms),
    })
}

/// `GET /api/alerts/history`.
pub fn history(query: &str, pool: &StorePool, now: SystemTime) -> Response {
    let answer = history_query(query, now).and_then(|q| {
        let events = pool.with("/api/alerts/history", |s| s.alert_events(&q))?;
        let body = json!({ "events": events.iter().map(event_json).collect::<Vec<_>>() });
        Ok(Response::new(200, "application/json", body.to_string()))
    });
    answer.unwrap_or_else(|r| r).with("Cache-Control", "no-store")
}

/// `GET /api/silences`: those not over yet, and those over within the last day.
pub fn silences(pool: &StorePool, now_ms: i64) -> Response {
    let answer = pool.with("/api/silences", |s| s.silences(Some(now_ms - SILENCES_KEPT_MS))).map(|list| {
        let body = json!({ "silences": list.iter().map(|s| silence_json(s, now_ms)).collect::<Vec<_>>() });
        Response::new(200, "application/json", body.to_string())
    });
    answer.unwrap_or_else(|r| r).with("Cache-Control", "no-store")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn named(r: Response) -> String {
        assert_eq!(r.status, 400);
        let j: Json = serde_json::from_slice(&r.body).unwrap();
        j["parameter"].as_str().unwrap().to_owned()
    }

    #[test]
    fn the_history_takes_filters_and_times_as_readings_do() {
        let q = history_query("", now()).unwrap();
        assert_eq!(q, EventQuery { limit: DEFAULT_LIMIT, ..Default::default() });
        let q =
            history_query("cid=pi&sensor=28-a&kind=above_max&since=1h&until=1799999999000&limit=5", now())
                .unwrap();
        assert_eq!(
            q,
            EventQuery {
                cid: Some("pi".into()),
                sensor: Some("28-a".into()),
                kind: Some("above_max".into()),
                since_ms: Some(1_800_000_000_000 - 3_600_000),
                until_ms: Some(1_799_999_999_000),
                limit: 5,
                pending_delivery: false,
            }
        );
        let q = history_query("since=2027-01-15T08:00:00Z&cid=&limit=5000", now()).unwrap();
        assert_eq!((q.cid, q.since_ms, q.limit), (None, Some(1_800_000_000_000), 5000));
    }

    #[test]
    fn each_bad_history_parameter_is_named() {
        for (query, name) in [
            ("kind=too_hot", "kind"),
            ("since=soon", "since"),
            ("until=never", "until"),
            ("since=1h&until=2h", "since"),
            ("limit=0", "limit"),
            ("limit=5001", "limit"),
            ("limit=many", "limit"),
            ("colour=red", "colour"),
            ("cid=a&cid=b", "cid"),
            ("cid=%zz", "cid"),
        ] {
            assert_eq!(named(history_query(query, now()).unwrap_err()), name, "{query}");
        }
    }

    #[test]
    fn a_silence_says_whether_it_is_in_force() {
        let s = Silence {
            id: 3,
            cid: "garage".into(),
            sensor: "*".into(),
            kind: "*".into(),
            starts_ms: 1000,
            ends_ms: 5000,
            by: "alice".into(),
            comment: "defrosting".into(),
            ended_ms: None,
        };
        let j = silence_json(&s, 2000);
        assert_eq!(
            j,
            json!({"id": 3, "cid": "garage", "sensor": "*", "kind": "*", "starts": 1000, "ends": 5000,
                   "by": "alice", "comment": "defrosting", "ended": null, "active": true})
        );
        assert_eq!(silence_json(&Silence { ended_ms: Some(3000), ..s.clone() }, 4000)["active"], false);
        assert_eq!(silence_json(&s, 5000)["active"], false);
    }
}
