//! `GET /api/health`: each sensor's bus health over the last hour, from the Pis' health reports in
//! the store (docs/HTTP-API.md): reads, errors by reason, the error rate, the mean read time, and
//! whether the rate is above the page's mark (1 %), the retried reads; with what its client said of
//! it (power mode, resolution, clone kind, and its bus when the Pi has more than one), kept in memory
//! since the client's last connection.

use crate::http::Response;
use crate::live::SensorFacts;
use crate::store_pool::StorePool;
use cliser_common::sensors::Settings;
use cliser_protocol::{Power, SensorFactsReport};
use cliser_store::{last_hour_since, HealthSum, MARK_ABOVE};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};

/// The nodes whose sensors hang on more than one bus (as their facts say): only theirs name a
/// bus, so the page stays quiet about the bus of a Pi that has one.
fn many_buses(facts: &SensorFacts) -> BTreeSet<&str> {
    let mut buses: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ((cid, _), f) in facts {
        if let Some(bus) = &f.bus {
            buses.entry(cid.as_str()).or_default().insert(bus.as_str());
        }
    }
    buses.into_iter().filter(|(_, b)| b.len() > 1).map(|(cid, _)| cid).collect()
}

/// The facts' fields of a sensor's entry (all `null` without facts; `bus` also `null` unless
/// `name_bus`).
fn facts_json(f: Option<&SensorFactsReport>, name_bus: bool) -> Json {
    let power = f.and_then(|f| f.power).map(|p| match p {
        Power::External => "external",
        Power::Parasite => "parasite",
    });
    json!({
        "power": power,
        "bits": f.and_then(|f| f.bits),
        "clone": f.and_then(|f| f.clone.as_deref()),
        "bus": f.and_then(|f| f.bus.as_deref()).filter(|_| name_bus),
    })
}

fn sum_json(s: &HealthSum, settings: &Settings, facts: Option<&SensorFactsReport>, name_bus: bool) -> Json {
    let mut entry = json!({
        "cid": s.cid,
        "sensor": s.sensor,
        "name": settings.name(&s.sensor),
        "reads": s.reads,
        "errors": s.errors(),
        "crc": s.crc,
        "empty": s.empty,
        "reset": s.reset,
        "other": s.other,
        "retries": s.retries,
        "error_rate": s.error_rate(),
        "mean_read_ms": (s.mean_read_ms() * 10.0).round() / 10.0,
        "marked": s.marked(),
    });
    if let (Some(e), Json::Object(f)) = (entry.as_object_mut(), facts_json(facts, name_bus)) {
        e.extend(f);
    }
    entry
}

/// `GET /api/health` at `now_ms`, with the sensors' `facts`: every sensor with health reports in
/// the last hour or facts, by cid and sensor (one with facts only has zero figures).
pub fn answer(pool: &StorePool, settings: &Settings, facts: &SensorFacts, now_ms: i64) -> Response {
    let since = last_hour_since(now_ms);
    let answer = pool.with("/api/health", |s| s.health_since(since)).map(|rows| {
        let mut sums: Vec<HealthSum> = HealthSum::of(&rows);
        for (cid, sensor) in facts.keys() {
            if !sums.iter().any(|s| s.cid == *cid && s.sensor == *sensor) {
                sums.push(HealthSum::nothing(cid, sensor));
            }
        }
        sums.sort_by(|a, b| (&a.cid, &a.sensor).cmp(&(&b.cid, &b.sensor)));
        let many = many_buses(facts);
        let sensors: Vec<Json> = sums
            .iter()
            .map(|s| {
                let f = facts.get(&(s.cid.clone(), s.sensor.clone()));
                sum_json(s, settings, f, many.contains(s.cid.as_str()))
            })
            .collect();
        let body = json!({ "since": since, "mark_above": MARK_ABOVE, "sensors": sensors });
        Response::new(200, "application/json", body.to_string())
    });
    answer.unwrap_or_else(|r| r).with("Cache-Control", "no-store")
}
