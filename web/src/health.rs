//! `GET /api/health`: each sensor's bus health over the last hour, from the Pis' health reports in
//! the store (docs/HTTP-API.md): reads, errors by reason, the error rate, the mean read time, and
//! whether the rate is above the page's mark (1 %).

use crate::http::Response;
use crate::store_pool::StorePool;
use cliser_common::sensors::Settings;
use cliser_store::{last_hour_since, HealthSum, MARK_ABOVE};
use serde_json::{json, Value as Json};

fn sum_json(s: &HealthSum, settings: &Settings) -> Json {
    json!({
        "cid": s.cid,
        "sensor": s.sensor,
        "name": settings.name(&s.sensor),
        "reads": s.reads,
        "errors": s.errors(),
        "crc": s.crc,
        "empty": s.empty,
        "reset": s.reset,
        "other": s.other,
        "error_rate": s.error_rate(),
        "mean_read_ms": (s.mean_read_ms() * 10.0).round() / 10.0,
        "marked": s.marked(),
    })
}

/// `GET /api/health` at `now_ms`.
pub fn answer(pool: &StorePool, settings: &Settings, now_ms: i64) -> Response {
    let since = last_hour_since(now_ms);
    let answer = pool.with("/api/health", |s| s.health_since(since)).map(|rows| {
        let sensors: Vec<Json> = HealthSum::of(&rows).iter().map(|s| sum_json(s, settings)).collect();
        let body = json!({ "since": since, "mark_above": MARK_ABOVE, "sensors": sensors });
        Response::new(200, "application/json", body.to_string())
    });
    answer.unwrap_or_else(|r| r).with("Cache-Control", "no-store")
}
