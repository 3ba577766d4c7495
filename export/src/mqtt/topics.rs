//! Topic names and the state payload.

use cliser_common::sensors::Settings;
use cliser_protocol::Value;
use cliser_store::StoredReading;

/// `<prefix>/status`: `online` / `offline`, the server's last will.
pub fn server_status(prefix: &str) -> String {
    format!("{prefix}/status")
}

/// `<prefix>/<cid>/availability`: `online` / `offline`, following the node's session.
pub fn node_availability(prefix: &str, cid: &str) -> String {
    format!("{prefix}/{cid}/availability")
}

/// `<prefix>/+/availability`: every node's availability (to learn what the broker holds).
pub fn availability_filter(prefix: &str) -> String {
    format!("{prefix}/+/availability")
}

/// The node whose availability topic `topic` is, if it is one.
pub fn availability_node<'a>(prefix: &str, topic: &'a str) -> Option<&'a str> {
    let cid = topic.strip_prefix(prefix)?.strip_prefix('/')?.strip_suffix("/availability")?;
    (!cid.is_empty() && !cid.contains('/')).then_some(cid)
}

/// `<prefix>/<cid>/<sensor>/state`: each reading, retained.
pub fn state(prefix: &str, cid: &str, sensor: &str) -> String {
    format!("{prefix}/{cid}/{sensor}/state")
}

/// `<discovery_prefix>/status`: Home Assistant says `online` here when it (re)starts.
pub fn ha_status(discovery_prefix: &str) -> String {
    format!("{discovery_prefix}/status")
}

/// Home Assistant's object id of a sensor: `cliser_<cid>_<sensor>`, with what it does not allow
/// (a client id's dots) as `_`.
pub fn object_id(cid: &str, sensor: &str) -> String {
    format!("cliser_{cid}_{sensor}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect()
}

/// `<discovery_prefix>/sensor/cliser_<cid>_<sensor>/config`.
pub fn discovery(discovery_prefix: &str, cid: &str, sensor: &str) -> String {
    format!("{discovery_prefix}/sensor/{}/config", object_id(cid, sensor))
}

/// The state payload: `{"temperature": 21.500, "ts": "<RFC 3339>", "seq": 42}` (the calibrated
/// value to the millidegree, the sample time), or `{"error": "crc", ...}`.
pub fn state_payload(r: &StoredReading, settings: &Settings) -> String {
    let ts = cliser_common::when::Rfc3339Ms(r.sampled_ms);
    let seq = r.seq.map_or("null".to_owned(), |s| s.to_string());
    match &r.value {
        Value::Celsius(c) => {
            let v = settings.calibrate(r.sensor.as_str(), *c).degrees();
            format!("{{\"temperature\": {v:.3}, \"ts\": \"{ts}\", \"seq\": {seq}}}")
        }
        Value::Error(e) => {
            format!(
                "{{\"error\": {}, \"ts\": \"{ts}\", \"seq\": {seq}}}",
                serde_json::Value::from(e.as_str())
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_protocol::{Celsius, ClientId, ErrorReason, SensorId};

    fn reading(value: Value) -> StoredReading {
        StoredReading {
            cid: ClientId::new("pi.1").unwrap(),
            sensor: SensorId::new("28-0316a2795aff").unwrap(),
            value,
            sampled_ms: 1_767_225_600_250,
            received_ms: 0,
            seq: Some(42),
            ts_quality: cliser_store::TsQuality::default(),
        }
    }

    #[test]
    fn names_and_payloads() {
        assert_eq!(state("cliser", "pi.1", "t"), "cliser/pi.1/t/state");
        assert_eq!(availability_filter("home/cliser"), "home/cliser/+/availability");
        assert_eq!(availability_node("home/cliser", "home/cliser/pi.1/availability"), Some("pi.1"));
        assert_eq!(availability_node("cliser", "cliser/pi/28-aa/availability"), None);
        assert_eq!(availability_node("cliser", "cliserx/pi/availability"), None);
        assert_eq!(availability_node("cliser", "cliser/status"), None);
        assert_eq!(
            discovery("homeassistant", "pi.1", "28-0316a2795aff"),
            "homeassistant/sensor/cliser_pi_1_28-0316a2795aff/config"
        );
        let doc: toml::Value = toml::from_str("[sensors.\"28-0316a2795aff\"]\noffset = 0.25\n").unwrap();
        let s = Settings::from_toml(&doc).unwrap();
        let p = state_payload(&reading(Value::Celsius(Celsius::new(21.25).unwrap())), &s);
        assert_eq!(p, r#"{"temperature": 21.500, "ts": "2026-01-01T00:00:00.250Z", "seq": 42}"#);
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["temperature"], 21.5);
        let p = state_payload(&reading(Value::Error(ErrorReason::new("crc").unwrap())), &s);
        assert_eq!(p, r#"{"error": "crc", "ts": "2026-01-01T00:00:00.250Z", "seq": 42}"#);
    }

    /// A store may hold such a stamp from before the sink refused them: the exporter goes on.
    #[test]
    fn a_time_past_9999_is_published_as_the_last_one_rfc3339_can_write() {
        let mut r = reading(Value::Celsius(Celsius::new(1.0).unwrap()));
        r.sampled_ms = cliser_common::when::LATEST_MS * 1000;
        let p = state_payload(&r, &Settings::default());
        assert!(p.contains(r#""ts": "9999-12-31T23:59:59.999Z""#), "{p}");
    }
}
