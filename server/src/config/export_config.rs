//! The exporters' settings: `[mqtt]` and `[influx]` in the config file, `--mqtt URL` and
//! `--influx URL` on the command line (a flag's URL wins over the table's; the table's other keys
//! still apply). Files named (CA, password, token) are read now: a bad one is a bad setting.
//!
//! ```toml
//! [mqtt]
//! url = "mqtts://broker.lan:8883"
//! ca = "/etc/cliser/broker-ca.pem"      # mqtts only; the system's CA bundle without it
//! username = "cliser"
//! password_file = "/etc/cliser/mqtt-password"
//! prefix = "cliser"                      # state and availability topics
//! discovery_prefix = "homeassistant"
//! offline_after_start = "30s"            # a node not back this long after a start is `offline`
//!
//! [influx]
//! url = "http://127.0.0.1:8086/write?db=cliser"   # 2.x: /api/v2/write?org=..&bucket=.. + token_file
//! token_file = "/etc/cliser/influx-token"
//! ```

use super::given::{Given, Layer, Source};
use cliser_common::secret::{read_secret_file, SecretError};
use cliser_export::influx::InfluxConfig;
use cliser_export::mqtt::MqttConfig;
use serde::Deserialize;
use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

/// Why an exporter's settings are refused; the message names the setting as the user wrote it.
#[derive(Debug, thiserror::Error)]
pub enum ExportConfigError {
    /// `[mqtt]` has other keys but no `url`, and no `--mqtt URL` was given.
    #[error("[mqtt] has no url (mqtt://HOST:1883 or mqtts://HOST:8883), nor was --mqtt URL given")]
    MqttNoUrl,
    /// `[influx]` has a `token_file` but no `url`, and no `--influx URL` was given.
    #[error("[influx] has no url, nor was --influx URL given")]
    InfluxNoUrl,
    /// `[mqtt] ca` cannot be read.
    #[error("config [mqtt] ca {}: cannot read: {source}", path.display())]
    CaUnreadable {
        /// The CA file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `[mqtt] ca` with a URL that does not speak TLS.
    #[error("config [mqtt] ca is only for mqtts:// URLs; {named} is {url:?}")]
    CaWithoutTls {
        /// Where the URL came from (`--mqtt` or `config [mqtt] url`).
        named: &'static str,
        /// The URL.
        url: String,
    },
    /// `[mqtt] password_file` without `username`.
    #[error("config [mqtt] password_file without username")]
    PasswordWithoutUsername,
    /// The MQTT password file or the InfluxDB token file is unusable.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The exporter refused its URL or prefixes.
    #[error("{named}: {source}")]
    Refused {
        /// Where the URL came from (`--mqtt`, `config [mqtt] url`, `--influx`, `config [influx] url`).
        named: &'static str,
        /// What the exporter said.
        source: cliser_export::ConfigError,
    },
}

/// `[mqtt]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttFile {
    url: Option<String>,
    ca: Option<PathBuf>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    prefix: Option<String>,
    discovery_prefix: Option<String>,
    #[serde(default, deserialize_with = "cliser_common::duration::optional")]
    offline_after_start: Option<Duration>,
}

/// `[influx]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxFile {
    url: Option<String>,
    token_file: Option<PathBuf>,
}

impl MqttFile {
    /// `--mqtt URL`: the table's `url` (a clap `value_parser`; the URL is checked with the rest).
    pub fn from_url(url: &str) -> Result<MqttFile, Infallible> {
        Ok(MqttFile { url: Some(url.to_owned()), ..MqttFile::default() })
    }
}

impl InfluxFile {
    /// `--influx URL`: the table's `url` (a clap `value_parser`, as [`MqttFile::from_url`]).
    pub fn from_url(url: &str) -> Result<InfluxFile, Infallible> {
        Ok(InfluxFile { url: Some(url.to_owned()), ..InfluxFile::default() })
    }
}

impl Layer for MqttFile {
    const FLAG_SETS: Option<&'static str> = Some("url");
    fn over(self, file: Self) -> Self {
        MqttFile { url: self.url.or(file.url), ..file }
    }
}

impl Layer for InfluxFile {
    const FLAG_SETS: Option<&'static str> = Some("url");
    fn over(self, file: Self) -> Self {
        InfluxFile { url: self.url.or(file.url), ..file }
    }
}

/// Which exporters run, and where they send.
#[derive(Debug, Clone, Default)]
pub struct ExportConfig {
    /// MQTT, with Home Assistant discovery.
    pub mqtt: Option<MqttConfig>,
    /// InfluxDB or VictoriaMetrics.
    pub influx: Option<InfluxConfig>,
}

/// The MQTT exporter's settings from `--mqtt` over `[mqtt]`; `Err` names the setting.
pub fn mqtt(given: Option<Given<MqttFile>>) -> Result<Option<MqttConfig>, ExportConfigError> {
    let from_flag = given.as_ref().is_some_and(|g| g.source == Source::Flag);
    let t = given.map(|g| g.value).unwrap_or_default();
    let Some(url) = t.url.clone() else {
        return match t.ca.is_some() || t.username.is_some() || t.password_file.is_some() {
            true => Err(ExportConfigError::MqttNoUrl),
            false => Ok(None),
        };
    };
    let named = if from_flag { "--mqtt" } else { "config [mqtt] url" };
    let ca = match &t.ca {
        Some(p) => Some(
            std::fs::read(p).map_err(|source| ExportConfigError::CaUnreadable { path: p.clone(), source })?,
        ),
        None => None,
    };
    if ca.is_some() && !url.starts_with("mqtts://") {
        return Err(ExportConfigError::CaWithoutTls { named, url });
    }
    let password = match &t.password_file {
        Some(p) => Some(read_secret_file("the MQTT password file", p)?),
        None => None,
    };
    let credentials = match (t.username.clone(), password) {
        (Some(u), p) => Some((u, p.unwrap_or_default())),
        (None, Some(_)) => return Err(ExportConfigError::PasswordWithoutUsername),
        (None, None) => None,
    };
    let prefix = t.prefix.as_deref().unwrap_or("cliser");
    let discovery = t.discovery_prefix.as_deref().unwrap_or("homeassistant");
    let mut config = MqttConfig::new(&url, ca.as_deref(), credentials, prefix, discovery)
        .map_err(|source| ExportConfigError::Refused { named, source })?;
    if let Some(grace) = t.offline_after_start {
        config.offline_after_start = grace;
    }
    Ok(Some(config))
}

/// The Influx exporter's settings from `--influx` over `[influx]`.
pub fn influx(given: Option<Given<InfluxFile>>) -> Result<Option<InfluxConfig>, ExportConfigError> {
    let from_flag = given.as_ref().is_some_and(|g| g.source == Source::Flag);
    let t = given.map(|g| g.value).unwrap_or_default();
    let Some(url) = t.url.clone() else {
        return match t.token_file {
            Some(_) => Err(ExportConfigError::InfluxNoUrl),
            None => Ok(None),
        };
    };
    let token = match &t.token_file {
        Some(p) => Some(read_secret_file("the InfluxDB token file", p)?),
        None => None,
    };
    let named = if from_flag { "--influx" } else { "config [influx] url" };
    InfluxConfig::new(&url, token).map(Some).map_err(|source| ExportConfigError::Refused { named, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag<T>(value: T) -> Option<Given<T>> {
        Some(Given { value, field: "mqtt", source: Source::Flag })
    }

    fn file<T>(value: T) -> Option<Given<T>> {
        Some(Given { value, field: "mqtt", source: Source::File })
    }

    #[test]
    fn urls_and_files_are_checked_and_named() {
        assert!(mqtt(None).unwrap().is_none());
        let c = mqtt(flag(MqttFile::from_url("mqtt://127.0.0.1").unwrap())).unwrap().unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.prefix.as_str(), c.discovery_prefix.as_str()),
            ("127.0.0.1", 1883, "cliser", "homeassistant")
        );
        let e = mqtt(flag(MqttFile::from_url("http://x").unwrap())).unwrap_err().to_string();
        assert!(e.starts_with("--mqtt: "), "{e}");
        let table: MqttFile = toml::from_str("url = \"mqtt://h:1884\"\nprefix = \"home/#\"\n").unwrap();
        let e = mqtt(file(table)).unwrap_err();
        assert!(matches!(e, ExportConfigError::Refused { named: "config [mqtt] url", .. }), "{e}");
        assert!(e.to_string().starts_with("config [mqtt] url: prefix"), "{e}");
        assert_eq!(c.offline_after_start, Duration::from_secs(30));
        let table: MqttFile = toml::from_str("offline_after_start = \"1m\"\n").unwrap();
        let c = mqtt(flag(MqttFile::from_url("mqtt://h").unwrap().over(table))).unwrap().unwrap();
        assert_eq!(c.offline_after_start, Duration::from_secs(60));
        let e = toml::from_str::<MqttFile>("offline_after_start = \"soon\"\n").unwrap_err().to_string();
        assert!(e.contains("invalid duration \"soon\""), "{e}");
        let table: MqttFile = toml::from_str("username = \"u\"\n").unwrap();
        assert!(mqtt(file(table)).unwrap_err().to_string().contains("no url"));
        assert!(toml::from_str::<MqttFile>("user = \"u\"\n").is_err(), "unknown keys are refused");
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t0k\n").unwrap();
        let table: InfluxFile = toml::from_str(&format!(
            "url = \"http://h:8086/api/v2/write?org=o&bucket=b\"\ntoken_file = {token:?}\n"
        ))
        .unwrap();
        let c = influx(file(table)).unwrap().unwrap();
        assert_eq!(c.token.as_deref(), Some("t0k"));
        assert!(!format!("{c:?}").contains("t0k"));
        let e = influx(flag(InfluxFile::from_url("localhost:8086").unwrap())).unwrap_err().to_string();
        assert!(e.starts_with("--influx: "), "{e}");
    }
}
