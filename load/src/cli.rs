//! The command line.

use crate::backlog::BacklogShape;
use crate::engine::Plan;
use crate::error::LoadError;
use crate::transport::Wire;
use clap::{Parser, ValueEnum};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which protocol the simulated clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// cliser: answer each keep-alive with one reading.
    Cliser,
    /// MQTT 3.1.1: publish one reading per `--interval` at QoS 1 (for comparison with a broker).
    Mqtt,
}

/// Opens many simulated Pi clients against a server on one thread and reports what happened.
#[derive(Debug, Parser)]
#[command(
    name = "cliser-load",
    version,
    about = "Many simulated Pi clients against a cliser server (or an MQTT broker), with latency figures.",
    after_help = "Prints a key=value block on stdout; exits 0 when no client failed and every reading \
                  sent was acknowledged, 1 otherwise, 2 on bad flags."
)]
pub struct Cli {
    /// The server (or broker) address.
    #[arg(long, value_name = "ADDR")]
    pub server: String,
    /// How many simulated clients.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub clients: usize,
    /// New connections per second while ramping up.
    #[arg(long, value_name = "PER_SEC", default_value_t = 1000.0)]
    pub ramp: f64,
    /// The steady phase, after every client has registered, e.g. 60s.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Client ids are <PREFIX><n>, n from 0.
    #[arg(long, value_name = "PREFIX", default_value = "load-")]
    pub id_prefix: String,
    /// File whose first line is the password (else the CLISER_PASSWORD environment variable).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// Speak TLS, trusting this CA (ca.pem of `cliser-server gen-tls`, or a broker's CA); --server
    /// is then the server's TLS address (--listen-tls, or a broker's TLS listener).
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// The name the server's certificate must carry [default: the host of --server].
    #[arg(long, value_name = "NAME", requires = "tls_ca")]
    pub tls_name: Option<String>,
    /// The protocol to speak.
    #[arg(long, value_enum, default_value_t = Protocol::Cliser)]
    pub protocol: Protocol,
    /// MQTT only: one PUBLISH per client per interval (cliser clients answer the server's polls).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// MQTT only: topics are <PREFIX><client id>.
    #[arg(long, value_name = "PREFIX", default_value = "cliser/")]
    pub topic_prefix: String,
    /// Longest wait after the steady phase for the last acknowledgements.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// A client not registered this long after its connect began has failed.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,
    /// A registered client that hears nothing for this long has failed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub stall_timeout: Duration,
    /// cliser only: the server's keep-alive interval. Each gap between two polls to a client is
    /// measured against it: how late the polls came (`poll_late_*`), and how many came more than
    /// half an interval late.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub keepalive: Option<Duration>,
    /// Sample this process's /proc figures (the server's) at each phase change.
    #[arg(long, value_name = "PID")]
    pub watch_pid: Option<u32>,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// cliser only: the first N of --clients are Pis back from an outage, each holding --backlog
    /// unacknowledged readings; the steady phase ends when the server has acknowledged them all
    /// (or after --duration). The others poll as usual: their poll lateness is the report's.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub backlog_clients: usize,
    /// Readings each backlog client holds, stamped `@<unix_ms>` in the past (the real client's
    /// readings from its journal): one per sensor every --sample-every, the last about now.
    #[arg(long, value_name = "READINGS", default_value_t = 0)]
    pub backlog: u64,
    /// Sensors per backlog client.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub sensors: u32,
    /// The backlog's sampling interval (24 h of 8 sensors at 10 s: --backlog 69120).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub sample_every: Duration,
    /// Also write a timeline to this CSV file, a line a second: backlog readings acknowledged,
    /// backlog clients done, live readings acknowledged, live polls.
    #[arg(long, value_name = "PATH")]
    pub timeline_csv: Option<PathBuf>,
    /// Also write every client's handshake to this CSV file (client,connect_ms,handshake_ms):
    /// shows whether the slowest came one by one or together (a stall of the server or the machine).
    #[arg(long, value_name = "PATH")]
    pub handshakes_csv: Option<PathBuf>,
}

/// `60s`, `500ms` (the shared rule), or, for scripts, a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    cliser_common::duration::parse(s).map_err(|e| e.to_string())
}

/// Reads the password by the shared rule: `--password-file`, else `CLISER_PASSWORD`.
pub fn password(file: Option<&Path>) -> Result<String, LoadError> {
    cliser_common::secret::secret_from_env("the password file", file, "CLISER_PASSWORD")?
        .ok_or(LoadError::NoPassword)
}

impl Cli {
    /// The run's shape, checked.
    pub fn plan(&self) -> Result<Plan, LoadError> {
        let addr: SocketAddr = self
            .server
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| LoadError::Flag(format!("--server {}: not an address", self.server)))?;
        if self.clients == 0 || self.clients > u32::MAX as usize {
            return Err(LoadError::Flag("--clients must be at least 1".into()));
        }
        if !(self.ramp.is_finite() && self.ramp > 0.0) {
            return Err(LoadError::Flag("--ramp must be more than 0".into()));
        }
        if self.keepalive.is_some_and(|k| k.is_zero()) {
            return Err(LoadError::Flag("--keepalive must be more than 0".into()));
        }
        if self.backlog_clients > self.clients {
            return Err(LoadError::Flag("--backlog-clients must be at most --clients".into()));
        }
        if self.backlog_clients > 0 && self.protocol != Protocol::Cliser {
            return Err(LoadError::Flag("--backlog-clients: cliser only".into()));
        }
        if self.backlog_clients > 0 && (self.backlog == 0 || self.backlog > u64::from(u32::MAX)) {
            return Err(LoadError::Flag("--backlog must be 1 to 4294967295 with --backlog-clients".into()));
        }
        if !(1..=64).contains(&self.sensors) {
            return Err(LoadError::Flag("--sensors must be 1 to 64".into()));
        }
        if self.sample_every.is_zero() {
            return Err(LoadError::Flag("--sample-every must be more than 0".into()));
        }
        if self.interval.is_zero() {
            return Err(LoadError::Flag("--interval must be more than 0".into()));
        }
        Ok(Plan {
            addr,
            wire: self.wire()?,
            clients: self.clients,
            ramp_per_sec: self.ramp,
            steady: self.duration,
            drain_timeout: self.drain_timeout,
            handshake_timeout: self.handshake_timeout,
            stall_timeout: self.stall_timeout,
            progress: !self.quiet,
            watch_pid: self.watch_pid,
            backlog_clients: self.backlog_clients,
            backlog_readings: if self.backlog_clients > 0 { self.backlog } else { 0 },
        })
    }
}

impl Cli {
    /// What each backlog client holds.
    pub fn backlog_shape(&self) -> BacklogShape {
        BacklogShape { readings: self.backlog, sensors: self.sensors, every: self.sample_every }
    }

    /// Plain TCP, or TLS with `--tls-ca` for the name of `--tls-name` or `--server`'s host.
    fn wire(&self) -> Result<Wire, LoadError> {
        let Some(ca) = &self.tls_ca else { return Ok(Wire::Plain) };
        let pem = std::fs::read(ca)
            .map_err(|e| LoadError::Flag(format!("--tls-ca {}: cannot read it: {e}", ca.display())))?;
        let config = cliser_tls::client_config(&pem, None)
            .map_err(|e| LoadError::Flag(format!("--tls-ca {}: {e}", ca.display())))?;
        let host = match &self.tls_name {
            Some(name) => name.as_str(),
            None => self.server.rsplit_once(':').map_or(self.server.as_str(), |(h, _)| h),
        };
        let name = cliser_tls::server_name(host).map_err(|e| LoadError::Flag(format!("--tls-name: {e}")))?;
        Ok(Wire::Tls(config, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_or_bare_seconds() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
    }
}
