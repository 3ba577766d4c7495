//! InfluxDB line protocol over HTTP: InfluxDB 1.x (`/write?db=NAME`), 2.x
//! (`/api/v2/write?org=..&bucket=..` with a token) and VictoriaMetrics (`/write`) take the same
//! body. One line per reading, the temperature calibrated and the sensor's name as a tag:
//!
//! ```text
//! temperature,cid=pi-1,sensor=28-0316a2795aff,name=freezer value=-18.25 1767225600000000000
//! temperature_error,cid=pi-1,sensor=28-0316a2795aff reason="crc" 1767225601000000000
//! ```
//!
//! The time is the sample time in nanoseconds; a reading sent again after an outage lands on the
//! same series and time, which InfluxDB overwrites (VictoriaMetrics with `-dedup.minScrapeInterval`).

use crate::cursor::Feed;
use crate::error::{ConfigError, SendError};
use crate::runner::Far;
use cliser_common::sensors::Settings;
use cliser_protocol::Value;
use cliser_store::{FeedRow, StoredReading};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// `[influx]` in the config file, or `--influx URL`.
#[derive(Clone, PartialEq)]
pub struct InfluxConfig {
    /// Where to POST: the full write URL with its query.
    pub url: String,
    /// InfluxDB 2.x's API token (`token_file`), sent as `Authorization: Token ...`.
    pub token: Option<String>,
}

impl std::fmt::Debug for InfluxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfluxConfig")
            .field("url", &self.shown())
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

impl InfluxConfig {
    /// Checks `url`: `http://` or `https://` with a host.
    pub fn new(url: &str, token: Option<String>) -> Result<InfluxConfig, ConfigError> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| bad(url, "expected http://HOST:PORT/write?db=NAME (InfluxDB 1.x), .../api/v2/write?org=ORG&bucket=BUCKET (2.x) or .../write (VictoriaMetrics)"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad(url, "no host"));
        }
        if !rest.contains('/') {
            return Err(bad(url, "no path; InfluxDB 1.x writes at /write?db=NAME, 2.x at /api/v2/write?org=ORG&bucket=BUCKET, VictoriaMetrics at /write"));
        }
        Ok(InfluxConfig { url: url.to_owned(), token })
    }

    /// The URL for log lines and the status: user and password parameters elided.
    pub fn shown(&self) -> String {
        let Some((base, query)) = self.url.split_once('?') else { return self.url.clone() };
        let kept: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k == "p" || k == "u" => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        format!("{base}?{}", kept.join("&"))
    }
}

fn bad(url: &str, why: &str) -> ConfigError {
    ConfigError::BadUrl { url: url.to_owned(), why: why.to_owned() }
}

/// Tag values escape commas, equals signs and spaces.
fn tag(out: &mut String, v: &str) {
    for c in v.chars() {
        if matches!(c, ',' | '=' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// One reading as a line (with its newline), calibrated and named by `settings`.
pub fn line(out: &mut String, r: &StoredReading, settings: &Settings) {
    let sensor = r.sensor.as_str();
    out.push_str(match r.value {
        Value::Celsius(_) => "temperature",
        Value::Error(_) => "temperature_error",
    });
    out.push_str(",cid=");
    tag(out, r.cid.as_str());
    out.push_str(",sensor=");
    tag(out, sensor);
    if let Some(name) = settings.name(sensor).filter(|n| !n.is_empty()) {
        out.push_str(",name=");
        tag(out, name);
    }
    match &r.value {
        Value::Celsius(c) => {
            let v = settings.calibrate(sensor, *c).degrees();
            let _ = write!(out, " value={}", (v * 1000.0).round() / 1000.0);
        }
        Value::Error(reason) => {
            out.push_str(" reason=\"");
            for ch in reason.as_str().chars() {
                if matches!(ch, '"' | '\\') {
                    out.push('\\');
                }
                out.push(ch);
            }
            out.push('"');
        }
    }
    let _ = writeln!(out, " {}", i128::from(r.sampled_ms) * 1_000_000);
}

/// Most lines per POST.
pub const BATCH: usize = 5_000;
/// A smaller batch waits this long to fill.
pub const LINGER: Duration = Duration::from_secs(1);
/// One POST may take this long.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The InfluxDB far side.
pub struct Influx {
    config: InfluxConfig,
    agent: ureq::Agent,
    body: String,
}

impl Influx {
    /// A client for `config` (nothing is connected yet).
    pub fn new(config: InfluxConfig) -> Influx {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        Influx { config, agent, body: String::new() }
    }
}

impl Far for Influx {
    fn batch(&self) -> usize {
        BATCH
    }

    fn linger(&self) -> Duration {
        LINGER
    }

    fn ready(&mut self, _feed: &mut Feed, _settings: &Arc<Settings>) -> Result<(), crate::runner::NotReady> {
        Ok(())
    }

    fn send(
        &mut self,
        rows: &[FeedRow],
        _feed: &mut Feed,
        settings: &Arc<Settings>,
    ) -> Result<(), SendError> {
        self.body.clear();
        for r in rows {
            line(&mut self.body, &r.reading, settings);
        }
        let mut req = self.agent.post(&self.config.url).header("Content-Type", "text/plain; charset=utf-8");
        if let Some(t) = &self.config.token {
            req = req.header("Authorization", &format!("Token {t}"));
        }
        let mut resp = req.send(self.body.as_str()).map_err(|e| SendError::Request(e.to_string()))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let text = text.trim();
        if status == 400 {
            // A line the database refuses (a field type clash) would be refused forever: sending it
            // again cannot help, and holding the cursor would stop every later reading.
            log::error!(
                "export influx: {} refused lines ({status}): {text}; skipped, the others were taken",
                self.config.shown()
            );
            return Ok(());
        }
        Err(SendError::Status { status, text: text.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_protocol::{Celsius, ClientId, ErrorReason, SensorId};

    fn reading(value: Value) -> StoredReading {
        StoredReading {
            cid: ClientId::new("pi-1").unwrap(),
            sensor: SensorId::new("28-0316a2795aff").unwrap(),
            value,
            sampled_ms: 1_767_225_600_123,
            received_ms: 1_767_225_600_200,
            seq: Some(42),
            ts_quality: cliser_store::TsQuality::default(),
        }
    }

    #[test]
    fn lines_carry_the_calibrated_value_the_name_and_the_sample_time_in_ns() {
        let doc: toml::Value =
            toml::from_str("[sensors.\"28-0316a2795aff\"]\nname = \"deep freezer, left\"\noffset = -0.25\n")
                .unwrap();
        let named = Settings::from_toml(&doc).unwrap();
        let mut out = String::new();
        line(&mut out, &reading(Value::Celsius(Celsius::new(-18.0).unwrap())), &named);
        line(&mut out, &reading(Value::Error(ErrorReason::new("crc").unwrap())), &Settings::default());
        assert_eq!(
            out,
            "temperature,cid=pi-1,sensor=28-0316a2795aff,name=deep\\ freezer\\,\\ left value=-18.25 1767225600123000000\n\
             temperature_error,cid=pi-1,sensor=28-0316a2795aff reason=\"crc\" 1767225600123000000\n"
        );
    }

    #[test]
    fn urls_are_checked_and_passwords_hidden() {
        assert!(InfluxConfig::new("influx:8086", None).is_err());
        assert!(InfluxConfig::new("http://h:8086", None).is_err());
        let c = InfluxConfig::new("http://h:8086/write?db=x&u=me&p=secret", None).unwrap();
        assert_eq!(c.shown(), "http://h:8086/write?db=x&u=***&p=***");
    }
}
