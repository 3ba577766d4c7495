use std::fmt;

/// Why a client id, sensor id or error reason was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentError {
    /// Empty, or longer than [`crate::MAX_IDENT`] bytes.
    Length(usize),
    /// Holds a byte outside the allowed set.
    Character(char),
}

impl fmt::Display for IdentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentError::Length(n) => write!(f, "length {n} is not 1-{}", crate::MAX_IDENT),
            IdentError::Character(c) => write!(f, "character {c:?} is not allowed"),
        }
    }
}

impl std::error::Error for IdentError {}

/// Why a whole line could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The line is empty (or only white space).
    Empty,
    /// The line does not start with a code this side understands. Holds the first token, cut to 16
    /// bytes so that a hostile line cannot blow up a log line.
    UnknownCode(String),
    /// The code is known but what follows it is not of the expected form.
    Malformed(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty line"),
            ParseError::UnknownCode(c) => write!(f, "unknown code {c:?}"),
            ParseError::Malformed(why) => write!(f, "malformed line: {why}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why one reading token of a keep-alive answer was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// No `=` between sensor and value.
    MissingEquals,
    /// The sensor id is not 1-32 of `[A-Za-z0-9._-]`.
    Sensor(IdentError),
    /// The value is neither a decimal with |v| < 1000 nor `err:<reason>`.
    Value,
    /// The `err:` reason is not 1-32 of `[A-Za-z0-9_-]`.
    Reason(IdentError),
    /// The `@` time is not an unsigned integer of milliseconds, optionally followed by `?`.
    Time,
    /// The `~` age is not an unsigned integer of milliseconds.
    Age,
    /// The `#` sequence number is not an unsigned 64-bit integer.
    Seq,
    /// A health token (`h:...`) that is not a valid health report.
    Health(crate::health::HealthError),
    /// A facts token (`f:...`) that is not a valid sensor facts report.
    Facts(crate::facts::FactsError),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::MissingEquals => f.write_str("no '=' between sensor and value"),
            TokenError::Sensor(e) => write!(f, "bad sensor id: {e}"),
            TokenError::Value => f.write_str("value is not a decimal with |v| < 1000 nor err:<reason>"),
            TokenError::Reason(e) => write!(f, "bad error reason: {e}"),
            TokenError::Time => f.write_str("@time is not unsigned milliseconds (then '?' if unsynced)"),
            TokenError::Age => f.write_str("~age is not unsigned milliseconds"),
            TokenError::Seq => f.write_str("#seq is not an unsigned 64-bit integer"),
            TokenError::Health(e) => write!(f, "bad health report: {e}"),
            TokenError::Facts(e) => write!(f, "bad sensor facts: {e}"),
        }
    }
}

impl std::error::Error for TokenError {}
