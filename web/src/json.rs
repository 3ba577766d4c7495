//! The JSON shapes of the API and of the live events (docs/HTTP-API.md shows them).

use crate::fleet_view::Seat;
use crate::live::{NodeState, SensorState};
use cliser_common::sensors::Settings;
use cliser_protocol::{Celsius, ClientId, SensorId, Value};
use serde_json::{json, Value as Json};

/// A temperature as a JSON number with the sensor's three decimals.
pub(crate) fn degrees(c: Celsius) -> Json {
    json!((c.degrees() * 1000.0).round() / 1000.0)
}

/// `value` (calibrated), `raw` (as stored) and `error` of a reading: value and raw, or error, are
/// null.
fn value_fields(v: &Value, sensor: &SensorId, settings: &Settings) -> (Json, Json, Json) {
    match v {
        Value::Celsius(c) => (degrees(settings.calibrate(sensor.as_str(), *c)), degrees(*c), Json::Null),
        Value::Error(e) => (Json::Null, Json::Null, json!(e.to_string())),
    }
}

/// One reading as the live stream sends it.
pub(crate) fn reading_json(
    cid: &ClientId,
    sensor: &SensorId,
    ts: i64,
    v: &Value,
    seq: Option<u64>,
    settings: &Settings,
) -> Json {
    let (value, raw, error) = value_fields(v, sensor, settings);
    let mut j = json!({
        "cid": cid.as_str(), "sensor": sensor.to_string(), "name": settings.name(sensor.as_str()),
        "ts": ts, "value": value, "raw": raw, "error": error, "seq": seq,
    });
    with_series(&mut j, sensor, settings);
    j
}

/// A sensor of a `replaces` series gets `series`, its ids oldest first, so that the page shows the
/// series as one sensor (the replaced id folded into the one in service, the alert kept under the
/// first id on that row) from the first reading of a new id on; other sensors' JSON is unchanged.
fn with_series(j: &mut Json, sensor: &SensorId, settings: &Settings) {
    let id = sensor.as_str();
    // Asked first without building a list: most sensors are in no series.
    if settings.replaced_by(id).is_some() || settings.series_of(id) != id {
        j["series"] = json!(settings.series_members(id));
    }
}

fn sensor_json(sensor: &SensorId, s: &SensorState, settings: &Settings) -> Json {
    let (value, raw, error) = value_fields(&s.last.1, sensor, settings);
    let last_temp = s
        .last_temp
        .map(|(ts, c)| json!({"ts": ts, "value": degrees(settings.calibrate(sensor.as_str(), c))}));
    // The limits as `[sensors]` gives them: true (calibrated) values, as `value` is; a replaced
    // sensor's are its series' (the id in service's), as the alerts judge it.
    let limits = settings.series_settings(sensor.as_str());
    let mut j = json!({
        "sensor": sensor.to_string(),
        "name": settings.name(sensor.as_str()),
        "ts": s.last.0,
        "value": value,
        "raw": raw,
        "error": error,
        "seq": s.last.2,
        "last_temp": last_temp,
        "min": limits.min,
        "max": limits.max,
        "first_seen": s.first_seen_ms,
    });
    with_series(&mut j, sensor, settings);
    j
}

/// One node; with its sensors for `/api/nodes` and the first live message, without for a node's
/// change of state. With a `seat` (a fleet on PostgreSQL), `online` and `since` say where in the
/// fleet it is registered and `server` names the server holding it (null: none).
pub(crate) fn node_json(
    cid: &ClientId,
    n: &NodeState,
    seat: Option<&Seat>,
    with_sensors: bool,
    settings: &Settings,
) -> Json {
    let mut j = json!({
        "cid": cid.as_str(),
        "online": n.online,
        "addr": n.addr,
        "since": n.since_ms,
        "last_seen": n.last_seen_ms,
        "more_at": n.more_ms,
        "first_seen": n.first_seen_ms,
    });
    if let Some(seat) = seat {
        j["online"] = json!(seat.online);
        j["since"] = json!(seat.since_ms);
        j["server"] = json!(seat.server);
    }
    if with_sensors {
        j["sensors"] = n.sensors.iter().map(|(id, s)| sensor_json(id, s, settings)).collect();
    }
    j
}
