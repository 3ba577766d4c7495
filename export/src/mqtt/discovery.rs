//! Home Assistant's MQTT discovery payload of one sensor: a temperature entity with both
//! availability topics (the server's and its node's, `availability_mode: all`) and a device per Pi.
//!
//! A sensor that replaced another (`replaces` in `[sensors]`) is the same entity: the entity is the
//! series', known by its first id (`unique_id` and discovery topic), and reads the state topic of
//! the id in service, so Home Assistant keeps the entity and its history across the swap.

use super::topics;
use serde_json::{json, Value};

/// What a sensor's discovery config says.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorConfig<'a> {
    /// `prefix` of the state and availability topics.
    pub prefix: &'a str,
    /// The Pi's client id.
    pub cid: &'a str,
    /// The sensor id whose state the entity reads (of a series, the id in service).
    pub sensor: &'a str,
    /// The id the entity is known by: the first id of the sensor's series (`sensor` itself for one
    /// that replaced none).
    pub series: &'a str,
    /// The friendly name from the config file, if any.
    pub name: Option<&'a str>,
    /// The device's `sw_version`.
    pub sw_version: &'a str,
}

/// The `config` payload.
pub fn config(c: &SensorConfig) -> Value {
    let id = topics::object_id(c.cid, c.series);
    json!({
        "name": c.name.unwrap_or(c.sensor),
        "unique_id": id,
        "state_topic": topics::state(c.prefix, c.cid, c.sensor),
        // An error reading has no temperature: "None" makes the state unknown instead of a
        // template error in Home Assistant's log.
        "value_template": "{{ value_json.temperature if value_json.temperature is defined else None }}",
        "json_attributes_topic": topics::state(c.prefix, c.cid, c.sensor),
        "device_class": "temperature",
        "unit_of_measurement": "°C",
        "state_class": "measurement",
        "suggested_display_precision": 2,
        "availability": [
            {"topic": topics::server_status(c.prefix)},
            {"topic": topics::node_availability(c.prefix, c.cid)},
        ],
        "availability_mode": "all",
        "device": {
            "identifiers": [format!("cliser_{}", c.cid)],
            "name": c.cid,
            "model": "Raspberry Pi with DS18B20 sensors (cliser-pi-client)",
            "manufacturer": "cliser",
            "sw_version": c.sw_version,
        },
        "origin": {"name": "cliser", "sw_version": c.sw_version},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sensor_config_has_every_key_home_assistant_needs() {
        let c = SensorConfig {
            prefix: "cliser",
            cid: "pi-1",
            sensor: "28-aa",
            series: "28-aa",
            name: Some("freezer"),
            sw_version: "0.1.0",
        };
        let v = config(&c);
        assert_eq!(v["name"], "freezer");
        assert_eq!(v["unique_id"], "cliser_pi-1_28-aa");
        assert_eq!(v["state_topic"], "cliser/pi-1/28-aa/state");
        assert_eq!(v["device_class"], "temperature");
        assert_eq!(v["unit_of_measurement"], "°C");
        assert_eq!(v["state_class"], "measurement");
        assert_eq!(v["availability_mode"], "all");
        assert_eq!(v["availability"][0]["topic"], "cliser/status");
        assert_eq!(v["availability"][1]["topic"], "cliser/pi-1/availability");
        assert_eq!(v["device"]["identifiers"][0], "cliser_pi-1");
        assert_eq!(v["device"]["name"], "pi-1");
        assert!(v["device"]["model"].is_string() && v["device"]["sw_version"] == "0.1.0");
        assert!(v["value_template"].as_str().unwrap().contains("value_json.temperature"));
        let unnamed = config(&SensorConfig { name: None, ..c });
        assert_eq!(unnamed["name"], "28-aa");
    }

    #[test]
    fn a_replacement_is_the_entity_of_the_sensor_it_replaced() {
        let c = SensorConfig {
            prefix: "cliser",
            cid: "garage",
            sensor: "28-new",
            series: "28-old",
            name: Some("freezer"),
            sw_version: "0.1.0",
        };
        let v = config(&c);
        assert_eq!(v["unique_id"], "cliser_garage_28-old");
        assert_eq!(v["state_topic"], "cliser/garage/28-new/state");
        assert_eq!(v["json_attributes_topic"], "cliser/garage/28-new/state");
        assert_eq!(v["name"], "freezer");
    }
}
