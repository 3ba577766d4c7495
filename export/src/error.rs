//! Why an exporter cannot be set up, or why a far side did not take a batch.

/// A far side's settings that cannot work (`--influx`, `--mqtt` or their config sections). The
/// text names the value and says what is expected instead.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The URL is not one the far side speaks, or lacks a part.
    #[error("{url:?}: {why}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong and what is expected.
        why: String,
    },

    /// An MQTT topic prefix holds a wildcard or starts or ends with `/`.
    #[error("{key} {prefix:?}: a topic prefix without + or # and without a leading or trailing /")]
    BadPrefix {
        /// `prefix` or `discovery_prefix`.
        key: &'static str,
        /// The prefix as given.
        prefix: String,
    },

    /// `mqtts://` without a `ca`, and the system's CA bundle cannot be read.
    #[error("mqtts without `ca`: cannot read the system's CA bundle: {0}")]
    NoCaBundle(#[source] std::io::Error),

    /// The CA given for `mqtts://` is not usable.
    #[error("ca: {0}")]
    Ca(#[source] cliser_tls::TlsError),
}

/// The MQTT connection is down or was just dropped; the text is why (the first failure since it
/// was last up, so a cascade of failures reads as its cause). A new connection is made after a
/// backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LinkDown(pub String);

/// Why a far side did not take a batch ([`Far::send`](crate::runner::Far::send)). The batch is
/// sent again from the cursor; [`is_transient`](Self::is_transient) says how soon.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The HTTP request got no answer (no connection, a timeout, TLS); the client's text.
    #[error("{0}")]
    Request(String),

    /// The far side answered with an HTTP status other than success (and other than 400, whose
    /// lines are skipped).
    #[error("HTTP {status}: {text}")]
    Status {
        /// The status code.
        status: u16,
        /// The answer's body, trimmed.
        text: String,
    },

    /// The MQTT connection was down or failed while sending.
    #[error(transparent)]
    Link(#[from] LinkDown),
}

impl SendError {
    /// Whether sending again soon may succeed: `false` when the far side refused the request
    /// itself (a wrong token, a missing database: a 4xx other than 408 and 429), which only a
    /// change on that side mends. The runner still sends again (readings stay in the store until
    /// the far side takes them), but at its slowest pace.
    pub fn is_transient(&self) -> bool {
        match self {
            SendError::Status { status, .. } => !(400..500).contains(status) || matches!(status, 408 | 429),
            SendError::Request(_) | SendError::Link(_) => true,
        }
    }
}
