//! The JSON shapes of the API and of the live events (docs/HTTP-API.md shows them).

use crate::live::{NodeState, SensorState};
use cliser_protocol::{Celsius, ClientId, SensorId, Value};
use serde_json::{json, Value as Json};

/// A temperature as a JSON number with the sensor's three decimals.
pub(crate) fn degrees(c: Celsius) -> Json {
    json!((c.degrees() * 1000.0).round() / 1000.0)
}

/// `value` and `error` of a reading: one of them is null.
fn value_pair(v: &Value) -> (Json, Json) {
    match v {
        Value::Celsius(c) => (degrees(*c), Json::Null),
        Value::Error(e) => (Json::Null, json!(e.to_string())),
    }
}

/// One reading as the live stream sends it.
pub(crate) fn reading_json(cid: &ClientId, sensor: &SensorId, ts: i64, v: &Value, seq: Option<u64>) -> Json {
    let (value, error) = value_pair(v);
    json!({"cid": cid.as_str(), "sensor": sensor.to_string(), "ts": ts, "value": value, "error": error, "seq": seq})
}

fn sensor_json(sensor: &SensorId, s: &SensorState) -> Json {
    let (value, error) = value_pair(&s.last.1);
    json!({
        "sensor": sensor.to_string(),
        "ts": s.last.0,
        "value": value,
        "error": error,
        "seq": s.last.2,
        "last_temp": s.last_temp.map(|(ts, c)| json!({"ts": ts, "value": degrees(c)})),
    })
}

/// One node; with its sensors for `/api/nodes` and the first live message, without for a node's
/// change of state.
pub(crate) fn node_json(cid: &ClientId, n: &NodeState, with_sensors: bool) -> Json {
    let mut j = json!({
        "cid": cid.as_str(),
        "online": n.online,
        "addr": n.addr,
        "since": n.since_ms,
        "last_seen": n.last_seen_ms,
        "more_at": n.more_ms,
    });
    if with_sensors {
        j["sensors"] = n.sensors.iter().map(|(id, s)| sensor_json(id, s)).collect();
    }
    j
}
