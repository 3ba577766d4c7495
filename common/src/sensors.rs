//! What the operator says about sensors and nodes in the server's config file: names, calibration,
//! limits and how long silence is fine. The store keeps raw values; these are applied wherever a
//! reading is shown, queried or alerted on, and can be reloaded while the server runs.
//!
//! ```toml
//! [sensors]                    # defaults for every sensor
//! silent_after = "10m"
//!
//! [sensors."28-0316a2795aff"]
//! name = "freezer"
//! offset = -0.25               # or: calibrate = [[0.3, 0.0], [99.6, 100.0]]  (raw, true) pairs
//! min = -25.0
//! max = -15.0
//! for = "2m"
//! deadband = 0.5
//!
//! [sensors."28-0417b3896b00"]  # its replacement: one series with the one it replaces
//! replaces = "28-0316a2795aff"
//! name = "freezer"
//!
//! [nodes]                      # defaults for every node
//! offline_after = "2m"
//!
//! [nodes.garage]
//! offline_after = "5m"
//!
//! [alerts]
//! command = "/usr/local/bin/notify-me"
//! webhook = "http://127.0.0.1:9000/hook"
//! ```

use crate::duration;
use crate::duration::DurationError;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use toml::Value;

/// Why the config file's `[sensors]`, `[nodes]` or `[alerts]` tables are refused: the message names
/// the table (`[sensors."28-a"]`) and the key as the operator wrote them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SensorsTableError {
    /// `sensors`, `nodes` or `alerts` is not a table.
    #[error("{table} must be a table")]
    NotATable {
        /// The table as written (`[sensors]`).
        table: &'static str,
    },
    /// A key not known in its table.
    #[error("{at}: unknown key {key:?} ({known})")]
    UnknownKey {
        /// The table (`[sensors."28-a"]`).
        at: String,
        /// The key as written.
        key: String,
        /// The keys the table takes, for the message.
        known: &'static str,
    },
    /// A key that takes a string has something else.
    #[error("{at} {key}: expected a string")]
    NotAString {
        /// The table.
        at: String,
        /// The key.
        key: String,
    },
    /// A key that takes a number has something else (or a float that is not finite).
    #[error("{at} {key}: expected a number")]
    NotANumber {
        /// The table.
        at: String,
        /// The key.
        key: String,
    },
    /// A key that takes a duration is not a string.
    #[error("{at} {key}: expected a duration such as \"2m\"")]
    NotADurationText {
        /// The table.
        at: String,
        /// The key.
        key: String,
    },
    /// A key's duration text does not parse.
    #[error("{at} {key}: {source}")]
    Duration {
        /// The table.
        at: String,
        /// The key.
        key: String,
        /// Why.
        source: DurationError,
    },
    /// A sensor's `name` is empty, too long, or has control characters.
    #[error("{at} name {name:?}: 1 to 64 printable characters")]
    Name {
        /// The table.
        at: String,
        /// The name as written.
        name: String,
    },
    /// `calibrate` is not two `[raw, true]` pairs.
    #[error("{at} calibrate: expected two [raw, true] pairs")]
    CalibratePairs {
        /// The table.
        at: String,
    },
    /// `calibrate`'s raw values are too close to draw a line through.
    #[error("{at} calibrate: the two raw values must be at least 1 °C apart")]
    CalibrateTooClose {
        /// The table.
        at: String,
    },
    /// `deadband` is below zero.
    #[error("{at} deadband: must not be negative")]
    NegativeDeadband {
        /// The table.
        at: String,
    },
    /// `error_after` is not a whole number from 1 (to a million).
    #[error("{at} error_after: expected a whole number of at least 1")]
    ErrorAfter {
        /// The table.
        at: String,
    },
    /// `min` is not below `max`.
    #[error("{at}: min ({min}) must be below max ({max})")]
    MinNotBelowMax {
        /// The table.
        at: String,
        /// The lower limit.
        min: f64,
        /// The upper limit.
        max: f64,
    },
    /// `replaces` names the sensor's own id.
    #[error("{at} replaces: a sensor cannot replace itself")]
    ReplacesItself {
        /// The table.
        at: String,
    },
    /// `replaces` is not a sensor id a Pi could send (`28-0316a2795aff`).
    #[error("{at} replaces {id:?}: not a sensor id ({reason})")]
    ReplacesNotAnId {
        /// The table.
        at: String,
        /// The id as written.
        id: String,
        /// Why it is not one.
        reason: String,
    },
    /// `replaces` in the `[sensors]` defaults: it belongs to one sensor.
    #[error("[sensors] replaces: set it in the new sensor's own table ([sensors.\"28-new\"])")]
    ReplacesInDefaults,
    /// Two sensors say they replace the same one: a series goes on in one sensor only.
    #[error("{old:?} is replaced by both {first:?} and {second:?}: only one sensor can replace it")]
    ReplacedTwice {
        /// The replaced id.
        old: String,
        /// One that replaces it.
        first: String,
        /// The other.
        second: String,
    },
    /// `replaces` chains that come back to where they started (`a` replaces `b`, `b` replaces `a`).
    #[error("[sensors] replaces goes round in a circle: {}", ids.join(" -> "))]
    ReplacesCycle {
        /// The ids around the circle, the first one again at the end.
        ids: Vec<String>,
    },
    /// `[alerts] webhook` is not an http(s) URL.
    #[error("[alerts] webhook {url:?}: expected an http:// or https:// URL")]
    WebhookNotHttp {
        /// The URL as written.
        url: String,
    },
}

/// Why [`Settings::load`] could not read the settings from the config file.
#[derive(Debug, thiserror::Error)]
pub enum SensorsFileError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{}: {source}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// Where and why (boxed: it is large, and errors travel in `Result`s).
        source: Box<toml::de::Error>,
    },
    /// The file is TOML, but one of its tables is refused.
    #[error("{}: {source}", path.display())]
    Table {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: SensorsTableError,
    },
}

/// How a sensor's raw value becomes the true temperature.
#[derive(Debug, Clone, PartialEq)]
pub enum Calibration {
    /// Added to the raw value.
    Offset(f64),
    /// The line through two (raw, true) points.
    TwoPoint {
        /// The first (raw, true) pair.
        a: (f64, f64),
        /// The second (raw, true) pair.
        b: (f64, f64),
    },
}

impl Calibration {
    /// The true value of `raw`.
    pub fn apply(&self, raw: f64) -> f64 {
        match *self {
            Calibration::Offset(o) => raw + o,
            Calibration::TwoPoint { a: (r1, t1), b: (r2, t2) } => t1 + (raw - r1) * (t2 - t1) / (r2 - r1),
        }
    }
}

/// One sensor's settings (the defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSettings {
    /// What people call it.
    pub name: Option<String>,
    /// Raw to true.
    pub calibration: Option<Calibration>,
    /// Below this (true value) is `below_min`.
    pub min: Option<f64>,
    /// Above this is `above_max`.
    pub max: Option<f64>,
    /// A limit must be crossed this long before the alert fires.
    pub for_: Duration,
    /// Resolved only once back inside the limit by this much.
    pub deadband: f64,
    /// No reading (value or error) for this long is `sensor_silent`; `None`: never.
    pub silent_after: Option<Duration>,
    /// This many error readings in a row is `sensor_error`.
    pub error_after: u32,
    /// The sensor this one replaced (`replaces = "28-old"`): their readings are one series.
    pub replaces: Option<String>,
}

impl Default for SensorSettings {
    fn default() -> Self {
        SensorSettings {
            name: None,
            calibration: None,
            min: None,
            max: None,
            for_: Duration::ZERO,
            deadband: 0.5,
            silent_after: None,
            error_after: 3,
            replaces: None,
        }
    }
}

/// One node's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSettings {
    /// After its session ends, this long before `node_offline`.
    pub offline_after: Duration,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings { offline_after: Duration::from_secs(120) }
    }
}

/// Where alerts go besides the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertTargets {
    /// A program run for each transition, with `CLISER_ALERT_*` in its environment.
    pub command: Option<PathBuf>,
    /// A URL each transition is POSTed to as JSON.
    pub webhook: Option<String>,
}

/// Everything the `[sensors]`, `[nodes]` and `[alerts]` tables say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    sensor_defaults: SensorSettings,
    sensors: BTreeMap<String, SensorSettings>,
    node_defaults: NodeSettings,
    nodes: BTreeMap<String, NodeSettings>,
    /// Replaced id -> the id that replaced it (the reverse of each `replaces`).
    replaced_by: BTreeMap<String, String>,
    /// Where alerts go.
    pub alerts: AlertTargets,
}

impl Settings {
    /// The settings of sensor `id` (the defaults when it has no table).
    pub fn sensor(&self, id: &str) -> &SensorSettings {
        self.sensors.get(id).unwrap_or(&self.sensor_defaults)
    }

    /// The settings of node `cid`.
    pub fn node(&self, cid: &str) -> &NodeSettings {
        self.nodes.get(cid).unwrap_or(&self.node_defaults)
    }

    /// The sensors that have a table of their own, by id.
    pub fn configured_sensors(&self) -> impl Iterator<Item = (&str, &SensorSettings)> {
        self.sensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The name of sensor `id`, if it has one: its own, else its series' (the newest one its
    /// `replaces` chain gives), so every id of a series carries the name wherever it is shown.
    pub fn name(&self, id: &str) -> Option<&str> {
        if let Some(own) = self.sensor(id).name.as_deref() {
            return Some(own);
        }
        let mut at = self.current_of(id);
        for _ in 0..=self.replaced_by.len() {
            let s = self.sensors.get(at)?;
            match (&s.name, &s.replaces) {
                (Some(name), _) => return Some(name),
                (None, Some(older)) => at = older,
                (None, None) => return None,
            }
        }
        None
    }

    /// The id that replaced sensor `id` (its `replaces` names `id`), if one did.
    pub fn replaced_by(&self, id: &str) -> Option<&str> {
        self.replaced_by.get(id).map(String::as_str)
    }

    /// The first id of `id`'s series: the one at the start of its `replaces` chain (`id` itself
    /// when it replaces none). A series is known by it: alerts are kept under it and Home
    /// Assistant's entity carries it, so both go on when a sensor is replaced.
    pub fn series_of<'a>(&'a self, id: &'a str) -> &'a str {
        let mut at = id;
        // The chain has no cycle (refused on load); the bound only guards against a bug.
        for _ in 0..=self.sensors.len() {
            match self.sensors.get(at).and_then(|s| s.replaces.as_deref()) {
                Some(older) => at = older,
                None => break,
            }
        }
        at
    }

    /// The id in service of `id`'s series: the last one of its `replaces` chain (`id` itself when
    /// nothing replaced it). Its table's limits are the series' limits.
    pub fn current_of<'a>(&'a self, id: &'a str) -> &'a str {
        let mut at = id;
        for _ in 0..=self.replaced_by.len() {
            match self.replaced_by.get(at) {
                Some(newer) => at = newer,
                None => break,
            }
        }
        at
    }

    /// The ids of `id`'s series, the first one first and the one in service last (`[id]` for a
    /// sensor that replaces none and that none replaced).
    pub fn series_members(&self, id: &str) -> Vec<String> {
        let mut ids = vec![self.series_of(id).to_owned()];
        while let Some(next) = self.replaced_by.get(ids.last().expect("not empty")) {
            if ids.len() > self.replaced_by.len() {
                break;
            }
            ids.push(next.clone());
        }
        ids
    }

    /// How many sensors came before `id` in its series (0 for its first id).
    pub fn series_rank(&self, id: &str) -> usize {
        let (mut at, mut rank) = (id, 0);
        while let Some(older) = self.sensors.get(at).and_then(|s| s.replaces.as_deref()) {
            if rank > self.replaced_by.len() {
                break;
            }
            (at, rank) = (older, rank + 1);
        }
        rank
    }

    /// The settings that judge `id`'s readings: those of the id in service of its series (limits,
    /// silence and errors move to the new sensor; calibration stays with each id's own table).
    pub fn series_settings(&self, id: &str) -> &SensorSettings {
        self.sensor(self.current_of(id))
    }

    /// The true value of a raw temperature of sensor `id` (the raw one without a calibration, or
    /// when the calibration would leave the range a temperature can have).
    pub fn calibrate(&self, id: &str, raw: cliser_protocol::Celsius) -> cliser_protocol::Celsius {
        match &self.sensor(id).calibration {
            Some(c) => cliser_protocol::Celsius::new(c.apply(raw.degrees())).unwrap_or(raw),
            None => raw,
        }
    }

    /// Reads the three tables from the whole config file's TOML (other keys are not looked at).
    pub fn from_toml(doc: &Value) -> Result<Settings, SensorsTableError> {
        let mut s = Settings::default();
        if let Some(sensors) = doc.get("sensors") {
            let table = sensors.as_table().ok_or(SensorsTableError::NotATable { table: "[sensors]" })?;
            let (per_sensor, defaults): (Vec<_>, Vec<_>) = table.iter().partition(|(_, v)| v.is_table());
            s.sensor_defaults =
                sensor_settings("[sensors]", defaults.into_iter(), &SensorSettings::default())?;
            for (id, v) in per_sensor {
                let table = v.as_table().expect("partitioned on is_table");
                let at = format!("[sensors.\"{id}\"]");
                s.sensors.insert(id.clone(), sensor_settings(&at, table.iter(), &s.sensor_defaults)?);
            }
            if s.sensor_defaults.replaces.is_some() {
                return Err(SensorsTableError::ReplacesInDefaults);
            }
            s.replaced_by = replacements(&s.sensors)?;
        }
        if let Some(nodes) = doc.get("nodes") {
            let table = nodes.as_table().ok_or(SensorsTableError::NotATable { table: "[nodes]" })?;
            let (per_node, defaults): (Vec<_>, Vec<_>) = table.iter().partition(|(_, v)| v.is_table());
            s.node_defaults = node_settings("[nodes]", defaults.into_iter(), &NodeSettings::default())?;
            for (cid, v) in per_node {
                let table = v.as_table().expect("partitioned on is_table");
                let at = format!("[nodes.\"{cid}\"]");
                s.nodes.insert(cid.clone(), node_settings(&at, table.iter(), &s.node_defaults)?);
            }
        }
        if let Some(alerts) = doc.get("alerts") {
            let table = alerts.as_table().ok_or(SensorsTableError::NotATable { table: "[alerts]" })?;
            for (k, v) in table {
                let text = || {
                    v.as_str().map(str::to_owned).ok_or_else(|| SensorsTableError::NotAString {
                        at: "[alerts]".into(),
                        key: k.clone(),
                    })
                };
                match k.as_str() {
                    "command" => s.alerts.command = Some(PathBuf::from(text()?)),
                    "webhook" => {
                        let url = text()?;
                        if !url.starts_with("http://") && !url.starts_with("https://") {
                            return Err(SensorsTableError::WebhookNotHttp { url });
                        }
                        s.alerts.webhook = Some(url);
                    }
                    _ => return Err(unknown("[alerts]", k, "command, webhook")),
                }
            }
        }
        Ok(s)
    }

    /// Reads the tables from the config file at `path`.
    pub fn load(path: &std::path::Path) -> Result<Settings, SensorsFileError> {
        let path_buf = || path.to_owned();
        let text = std::fs::read_to_string(path)
            .map_err(|source| SensorsFileError::Read { path: path_buf(), source })?;
        let doc: Value =
            text.parse().map_err(|e| SensorsFileError::Toml { path: path_buf(), source: Box::new(e) })?;
        Settings::from_toml(&doc).map_err(|source| SensorsFileError::Table { path: path_buf(), source })
    }
}

fn unknown(at: &str, key: &str, known: &'static str) -> SensorsTableError {
    SensorsTableError::UnknownKey { at: at.to_owned(), key: key.to_owned(), known }
}

fn number(at: &str, k: &str, v: &Value) -> Result<f64, SensorsTableError> {
    match v {
        Value::Float(f) if f.is_finite() => Ok(*f),
        Value::Integer(i) => Ok(*i as f64),
        _ => Err(SensorsTableError::NotANumber { at: at.to_owned(), key: k.to_owned() }),
    }
}

fn time(at: &str, k: &str, v: &Value) -> Result<Duration, SensorsTableError> {
    let text = v
        .as_str()
        .ok_or_else(|| SensorsTableError::NotADurationText { at: at.to_owned(), key: k.to_owned() })?;
    duration::parse(text).map_err(|source| SensorsTableError::Duration {
        at: at.to_owned(),
        key: k.to_owned(),
        source,
    })
}

fn sensor_settings<'a>(
    at: &str,
    keys: impl Iterator<Item = (&'a String, &'a Value)>,
    defaults: &SensorSettings,
) -> Result<SensorSettings, SensorsTableError> {
    let here = || at.to_owned();
    let mut s = defaults.clone();
    // A name belongs to one sensor, and so does what it replaced: the defaults' are never inherited.
    s.name = None;
    s.replaces = None;
    for (k, v) in keys {
        match k.as_str() {
            "name" => {
                let name =
                    v.as_str().ok_or_else(|| SensorsTableError::NotAString { at: here(), key: k.clone() })?;
                if name.trim().is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                    return Err(SensorsTableError::Name { at: here(), name: name.to_owned() });
                }
                s.name = Some(name.to_owned());
            }
            "offset" => s.calibration = Some(Calibration::Offset(number(at, k, v)?)),
            "calibrate" => {
                let pairs = v
                    .as_array()
                    .filter(|a| a.len() == 2)
                    .ok_or_else(|| SensorsTableError::CalibratePairs { at: here() })?;
                let pair = |p: &Value| -> Result<(f64, f64), SensorsTableError> {
                    match p.as_array().map(Vec::as_slice) {
                        Some([r, t]) => Ok((number(at, k, r)?, number(at, k, t)?)),
                        _ => Err(SensorsTableError::CalibratePairs { at: here() }),
                    }
                };
                let (a, b) = (pair(&pairs[0])?, pair(&pairs[1])?);
                if (a.0 - b.0).abs() < 1.0 {
                    return Err(SensorsTableError::CalibrateTooClose { at: here() });
                }
                s.calibration = Some(Calibration::TwoPoint { a, b });
            }
            "min" => s.min = Some(number(at, k, v)?),
            "max" => s.max = Some(number(at, k, v)?),
            "for" => s.for_ = time(at, k, v)?,
            "deadband" => {
                s.deadband = number(at, k, v)?;
                if s.deadband < 0.0 {
                    return Err(SensorsTableError::NegativeDeadband { at: here() });
                }
            }
            "silent_after" => {
                let d = time(at, k, v)?;
                s.silent_after = (!d.is_zero()).then_some(d);
            }
            "replaces" => {
                let old =
                    v.as_str().ok_or_else(|| SensorsTableError::NotAString { at: here(), key: k.clone() })?;
                if let Err(e) = cliser_protocol::SensorId::new(old) {
                    return Err(SensorsTableError::ReplacesNotAnId {
                        at: here(),
                        id: old.to_owned(),
                        reason: e.to_string(),
                    });
                }
                if at == format!("[sensors.\"{old}\"]") {
                    return Err(SensorsTableError::ReplacesItself { at: here() });
                }
                s.replaces = Some(old.to_owned());
            }
            "error_after" => match v.as_integer() {
                Some(n) if (1..=1_000_000).contains(&n) => s.error_after = n as u32,
                _ => return Err(SensorsTableError::ErrorAfter { at: here() }),
            },
            _ => {
                return Err(unknown(
                    at,
                    k,
                    "name, offset, calibrate, min, max, for, deadband, silent_after, error_after, replaces",
                ))
            }
        }
    }
    if let (Some(min), Some(max)) = (s.min, s.max) {
        if min >= max {
            return Err(SensorsTableError::MinNotBelowMax { at: here(), min, max });
        }
    }
    Ok(s)
}

/// Old id -> new id of every `replaces`, refused when one id is replaced twice or a chain comes
/// back to where it started.
fn replacements(
    sensors: &BTreeMap<String, SensorSettings>,
) -> Result<BTreeMap<String, String>, SensorsTableError> {
    let mut replaced_by: BTreeMap<String, String> = BTreeMap::new();
    for (new, s) in sensors {
        let Some(old) = &s.replaces else { continue };
        if let Some(first) = replaced_by.insert(old.clone(), new.clone()) {
            return Err(SensorsTableError::ReplacedTwice { old: old.clone(), first, second: new.clone() });
        }
    }
    // Each id is replaced at most once, so following `replaced_by` from any id either ends or
    // comes back to it within as many steps as there are replacements.
    for start in replaced_by.keys() {
        let mut ids = vec![start.clone()];
        while let Some(next) = replaced_by.get(ids.last().expect("not empty")) {
            ids.push(next.clone());
            if next == start {
                return Err(SensorsTableError::ReplacesCycle { ids });
            }
            if ids.len() > replaced_by.len() + 1 {
                break;
            }
        }
    }
    Ok(replaced_by)
}

fn node_settings<'a>(
    at: &str,
    keys: impl Iterator<Item = (&'a String, &'a Value)>,
    defaults: &NodeSettings,
) -> Result<NodeSettings, SensorsTableError> {
    let mut s = defaults.clone();
    for (k, v) in keys {
        match k.as_str() {
            "offline_after" => s.offline_after = time(at, k, v)?,
            _ => return Err(unknown(at, k, "offline_after")),
        }
    }
    Ok(s)
}

/// The settings in force, shared by the threads that apply them; a reload swaps them whole, so a
/// reader sees either the old or the new, never a mix.
#[derive(Debug, Clone, Default)]
pub struct SharedSettings(Arc<RwLock<Arc<Settings>>>);

impl SharedSettings {
    /// Shares `s`.
    pub fn new(s: Settings) -> Self {
        SharedSettings(Arc::new(RwLock::new(Arc::new(s))))
    }

    /// The settings now (cheap: one lock to clone an `Arc`).
    pub fn get(&self) -> Arc<Settings> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts `s` in force.
    pub fn set(&self, s: Settings) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, SensorsTableError> {
        Settings::from_toml(&text.parse::<Value>().unwrap())
    }

    #[test]
    fn the_issue_example_parses_and_defaults_fill_in() {
        let s = parse(
            r#"
            listen = "0.0.0.0:1111"
            [sensors]
            silent_after = "10m"
            [sensors."28-0316a2795aff"]
            name = "freezer"
            offset = -0.25
            min = -25.0
            max = -15
            for = "2m"
            [nodes.garage]
            offline_after = "5m"
            [alerts]
            command = "/usr/local/bin/notify-me"
            webhook = "http://127.0.0.1:9000/hook"
            "#,
        )
        .unwrap();
        let f = s.sensor("28-0316a2795aff");
        assert_eq!(f.name.as_deref(), Some("freezer"));
        assert_eq!(
            (f.min, f.max, f.for_, f.deadband),
            (Some(-25.0), Some(-15.0), Duration::from_secs(120), 0.5)
        );
        assert_eq!(f.silent_after, Some(Duration::from_secs(600)), "from the defaults");
        let other = s.sensor("28-000000000001");
        assert_eq!((other.name.as_deref(), other.silent_after), (None, Some(Duration::from_secs(600))));
        assert_eq!(s.node("garage").offline_after, Duration::from_secs(300));
        assert_eq!(s.node("shed").offline_after, Duration::from_secs(120));
        assert_eq!(s.alerts.webhook.as_deref(), Some("http://127.0.0.1:9000/hook"));
    }

    #[test]
    fn calibration_by_offset_and_by_two_points() {
        assert_eq!(Calibration::Offset(-0.25).apply(-18.0), -18.25);
        let two = Calibration::TwoPoint { a: (0.3, 0.0), b: (99.6, 100.0) };
        assert!((two.apply(0.3) - 0.0).abs() < 1e-9);
        assert!((two.apply(99.6) - 100.0).abs() < 1e-9);
        // Halfway between the raw points is halfway between the true ones.
        assert!((two.apply(49.95) - 50.0).abs() < 1e-9);
        let s = parse("[sensors.a]\ncalibrate = [[0.3, 0.0], [99.6, 100.0]]\n").unwrap();
        let c = s.calibrate("a", cliser_protocol::Celsius::new(0.3).unwrap());
        assert!(c.degrees().abs() < 1e-9);
    }

    #[test]
    fn mistakes_are_named_with_their_table() {
        let e = |t: &str| parse(t).unwrap_err().to_string();
        assert!(e("[sensors.a]\ncolour = 1\n").contains("[sensors.\"a\"]: unknown key \"colour\""));
        assert!(e("[sensors.a]\nmin = 5\nmax = 1\n").contains("min (5) must be below max (1)"));
        assert!(e("[sensors.a]\nfor = \"soon\"\n").contains("[sensors.\"a\"] for:"));
        assert!(e("[sensors.a]\ncalibrate = [[1, 2]]\n").contains("two [raw, true] pairs"));
        assert!(e("[sensors.a]\ncalibrate = [[1, 2], [1.5, 3]]\n").contains("at least 1 °C apart"));
        assert!(e("[sensors]\nsilent_after = 5\n").contains("[sensors] silent_after"));
        assert!(e("[nodes.g]\nofline_after = \"1m\"\n").contains("unknown key \"ofline_after\""));
        assert!(e("[alerts]\nwebhook = \"ftp://x\"\n").contains("http:// or https://"));
        assert!(e("[alerts]\nemail = \"me\"\n").contains("unknown key \"email\""));
    }

    #[test]
    fn a_file_that_cannot_be_used_is_named_and_the_reason_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cliser.toml");
        let e = Settings::load(&path).unwrap_err();
        assert!(
            matches!(&e, SensorsFileError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
        );
        assert!(e.to_string().starts_with(&format!("cannot read {}: ", path.display())), "{e}");
        std::fs::write(&path, "[sensors\n").unwrap();
        let e = Settings::load(&path).unwrap_err();
        assert!(matches!(e, SensorsFileError::Toml { .. }), "{e}");
        std::fs::write(&path, "[nodes.g]\nofline_after = \"1m\"\n").unwrap();
        let e = Settings::load(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: [nodes.\"g\"]: unknown key \"ofline_after\" (offline_after)", path.display())
        );
        let table = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<SensorsTableError>());
        assert!(matches!(table, Some(SensorsTableError::UnknownKey { key, .. }) if key == "ofline_after"));
    }

    #[test]
    fn a_replacement_chain_is_one_series_known_by_its_first_id() {
        let s = parse(
            r#"
            [sensors."28-old"]
            name = "freezer"
            offset = -0.5
            max = -10.0
            [sensors."28-mid"]
            replaces = "28-old"
            [sensors."28-new"]
            replaces = "28-mid"
            max = -15.0
            [sensors."28-other"]
            name = "fridge"
            "#,
        )
        .unwrap();
        for id in ["28-old", "28-mid", "28-new"] {
            assert_eq!(s.series_of(id), "28-old", "{id}");
            assert_eq!(s.current_of(id), "28-new", "{id}");
            assert_eq!(s.series_members(id), ["28-old", "28-mid", "28-new"], "{id}");
            assert_eq!(s.series_settings(id).max, Some(-15.0), "the limits move to the new id");
        }
        assert_eq!((s.replaced_by("28-old"), s.replaced_by("28-new")), (Some("28-mid"), None));
        assert_eq!((s.series_rank("28-old"), s.series_rank("28-new"), s.series_rank("x")), (0, 2, 0));
        assert_eq!(s.name("28-new"), Some("freezer"), "the name carries across");
        assert_eq!(s.name("28-mid"), Some("freezer"));
        let raw = cliser_protocol::Celsius::new(-18.0).unwrap();
        assert_eq!(s.calibrate("28-old", raw).degrees(), -18.5, "calibration stays per id");
        assert_eq!(s.calibrate("28-new", raw).degrees(), -18.0);
        assert_eq!(s.series_members("28-other"), ["28-other"]);
        assert_eq!(s.series_members("28-unknown"), ["28-unknown"]);
        assert_eq!((s.series_of("28-other"), s.current_of("28-other")), ("28-other", "28-other"));
    }

    #[test]
    fn a_replacement_that_cannot_be_is_refused_with_its_reason() {
        let e = |t: &str| parse(t).unwrap_err();
        assert_eq!(
            e("[sensors.\"28-a\"]\nreplaces = \"28-a\"\n"),
            SensorsTableError::ReplacesItself { at: "[sensors.\"28-a\"]".into() }
        );
        assert!(matches!(
            e("[sensors.\"28-a\"]\nreplaces = \"the old one\"\n"),
            SensorsTableError::ReplacesNotAnId { id, .. } if id == "the old one"
        ));
        assert!(matches!(e("[sensors.\"28-a\"]\nreplaces = 5\n"), SensorsTableError::NotAString { .. }));
        assert_eq!(e("[sensors]\nreplaces = \"28-a\"\n"), SensorsTableError::ReplacesInDefaults);
        assert_eq!(
            e("[sensors.\"28-b\"]\nreplaces = \"28-a\"\n[sensors.\"28-c\"]\nreplaces = \"28-a\"\n"),
            SensorsTableError::ReplacedTwice {
                old: "28-a".into(),
                first: "28-b".into(),
                second: "28-c".into()
            }
        );
        let cycle = e("[sensors.\"28-a\"]\nreplaces = \"28-c\"\n[sensors.\"28-b\"]\nreplaces = \"28-a\"\n\
                       [sensors.\"28-c\"]\nreplaces = \"28-b\"\n");
        assert_eq!(
            cycle.to_string(),
            "[sensors] replaces goes round in a circle: 28-a -> 28-b -> 28-c -> 28-a"
        );
        // The replaced id needs no table of its own.
        let s = parse("[sensors.\"28-b\"]\nreplaces = \"28-a\"\nname = \"attic\"\n").unwrap();
        assert_eq!((s.series_of("28-b"), s.name("28-a")), ("28-a", Some("attic")));
    }
}
