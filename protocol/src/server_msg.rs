use crate::error::ParseError;
use std::fmt;

/// A command from the server. The text after each code is the original design's wording and is sent
/// exactly as written; clients match the three-digit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMsg {
    /// `110: qual a senha` — the first line after accept; the client answers with its password.
    PasswordRequest,
    /// `111: senha incorreta` — wrong password; the server closes.
    WrongPassword,
    /// `120: qual o ID` — the client answers with its id.
    IdRequest,
    /// `121: ID em uso` — a live session holds that id; the server closes and the client retries.
    IdInUse,
    /// `122: ID invalido` — the id is not 1-32 of `[A-Za-z0-9._-]`; the server closes.
    IdInvalid,
    /// `140: Connected[ ack=<seq>][ health=<v>]` — registered; `ack` is the highest reading seq
    /// logged for this id; `health=1`: the server takes health reports (`h:` tokens) in `100`
    /// answers. Clients that predate it ignore the word (they look only for `ack=`).
    Connected {
        /// Highest seq logged for this client id, if any.
        ack: Option<u64>,
        /// The server understands health reports of [`crate::HEALTH_VERSION`].
        health: bool,
    },
    /// `100: keep alive[ ack=<seq>]` — liveness poll; the client answers `100` plus readings.
    KeepAlive {
        /// Highest seq logged for this client id, if any.
        ack: Option<u64>,
    },
    /// `130: shutdown sys` — shut the client's machine down.
    ShutdownSys,
    /// `999: shutdown` — the operator disconnects this client, which must not reconnect.
    Disconnect,
}

impl ServerMsg {
    /// The three-digit code.
    pub fn code(self) -> u16 {
        match self {
            ServerMsg::PasswordRequest => 110,
            ServerMsg::WrongPassword => 111,
            ServerMsg::IdRequest => 120,
            ServerMsg::IdInUse => 121,
            ServerMsg::IdInvalid => 122,
            ServerMsg::Connected { .. } => 140,
            ServerMsg::KeepAlive { .. } => 100,
            ServerMsg::ShutdownSys => 130,
            ServerMsg::Disconnect => 999,
        }
    }

    /// Parses a line (without its line ending). Only the code and an `ack=<seq>` token matter; the
    /// wording after the code is not checked, so a server with other wording still works.
    pub fn parse(line: &str) -> Result<Self, ParseError> {
        let line = line.trim();
        if line.is_empty() {
            return Err(ParseError::Empty);
        }
        let code = line.get(..3).filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
        let after = line.get(3..).unwrap_or("");
        let code = match code {
            Some(c) if after.is_empty() || after.starts_with(':') || after.starts_with(' ') => c,
            _ => return Err(unknown(line)),
        };
        let ack = || -> Result<Option<u64>, ParseError> {
            let mut found = None;
            for token in after.split_ascii_whitespace() {
                if let Some(v) = token.strip_prefix("ack=") {
                    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(ParseError::Malformed("ack is not an unsigned integer"));
                    }
                    found = Some(v.parse().map_err(|_| ParseError::Malformed("ack out of range"))?);
                }
            }
            Ok(found)
        };
        Ok(match code {
            "110" => ServerMsg::PasswordRequest,
            "111" => ServerMsg::WrongPassword,
            "120" => ServerMsg::IdRequest,
            "121" => ServerMsg::IdInUse,
            "122" => ServerMsg::IdInvalid,
            "140" => ServerMsg::Connected { ack: ack()?, health: health_advertised(after) },
            "100" => ServerMsg::KeepAlive { ack: ack()? },
            "130" => ServerMsg::ShutdownSys,
            "999" => ServerMsg::Disconnect,
            _ => return Err(unknown(line)),
        })
    }
}

/// Whether `health=<v>` names the version this codec speaks: a later version this client does not
/// know gets no reports (rather than reports it might misread).
fn health_advertised(after: &str) -> bool {
    let want = crate::HEALTH_VERSION.to_string();
    after.split_ascii_whitespace().any(|t| t.strip_prefix("health=") == Some(want.as_str()))
}

pub(crate) fn unknown(line: &str) -> ParseError {
    let first = line.split_ascii_whitespace().next().unwrap_or("");
    let mut end = first.len().min(16);
    while !first.is_char_boundary(end) {
        end -= 1;
    }
    ParseError::UnknownCode(first[..end].to_owned())
}

impl fmt::Display for ServerMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ServerMsg::PasswordRequest => "110: qual a senha",
            ServerMsg::WrongPassword => "111: senha incorreta",
            ServerMsg::IdRequest => "120: qual o ID",
            ServerMsg::IdInUse => "121: ID em uso",
            ServerMsg::IdInvalid => "122: ID invalido",
            ServerMsg::Connected { .. } => "140: Connected",
            ServerMsg::KeepAlive { .. } => "100: keep alive",
            ServerMsg::ShutdownSys => "130: shutdown sys",
            ServerMsg::Disconnect => "999: shutdown",
        };
        f.write_str(text)?;
        match self {
            ServerMsg::Connected { ack: Some(a), .. } | ServerMsg::KeepAlive { ack: Some(a) } => {
                write!(f, " ack={a}")?;
            }
            _ => {}
        }
        if let ServerMsg::Connected { health: true, .. } = self {
            write!(f, " health={}", crate::HEALTH_VERSION)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording_is_the_original_designs() {
        let all = [
            (ServerMsg::PasswordRequest, "110: qual a senha"),
            (ServerMsg::WrongPassword, "111: senha incorreta"),
            (ServerMsg::IdRequest, "120: qual o ID"),
            (ServerMsg::IdInUse, "121: ID em uso"),
            (ServerMsg::IdInvalid, "122: ID invalido"),
            (ServerMsg::Connected { ack: None, health: false }, "140: Connected"),
            (ServerMsg::Connected { ack: Some(7), health: false }, "140: Connected ack=7"),
            (ServerMsg::Connected { ack: Some(7), health: true }, "140: Connected ack=7 health=1"),
            (ServerMsg::Connected { ack: None, health: true }, "140: Connected health=1"),
            (ServerMsg::KeepAlive { ack: None }, "100: keep alive"),
            (ServerMsg::KeepAlive { ack: Some(42) }, "100: keep alive ack=42"),
            (ServerMsg::ShutdownSys, "130: shutdown sys"),
            (ServerMsg::Disconnect, "999: shutdown"),
        ];
        for (msg, text) in all {
            assert_eq!(msg.to_string(), text);
            assert_eq!(ServerMsg::parse(text), Ok(msg));
        }
    }

    #[test]
    fn matches_on_the_code_alone() {
        assert_eq!(ServerMsg::parse("110"), Ok(ServerMsg::PasswordRequest));
        assert_eq!(ServerMsg::parse("999: bye"), Ok(ServerMsg::Disconnect));
        assert_eq!(ServerMsg::parse("100: ping ack=3"), Ok(ServerMsg::KeepAlive { ack: Some(3) }));
    }

    #[test]
    fn only_the_known_health_version_is_taken_as_advertised() {
        let c = |line| ServerMsg::parse(line).unwrap();
        assert_eq!(c("140: Connected ack=3 health=2"), ServerMsg::Connected { ack: Some(3), health: false });
        assert_eq!(c("140: Connected healthy"), ServerMsg::Connected { ack: None, health: false });
        // The health word is only for 140.
        assert_eq!(c("100: keep alive health=1"), ServerMsg::KeepAlive { ack: None });
    }

    #[test]
    fn refuses_unknown_codes_and_bad_acks() {
        assert_eq!(ServerMsg::parse(""), Err(ParseError::Empty));
        assert_eq!(ServerMsg::parse("555: what"), Err(ParseError::UnknownCode("555:".into())));
        assert_eq!(ServerMsg::parse("1100"), Err(ParseError::UnknownCode("1100".into())));
        assert_eq!(ServerMsg::parse("hello"), Err(ParseError::UnknownCode("hello".into())));
        assert!(matches!(ServerMsg::parse("100: keep alive ack=x"), Err(ParseError::Malformed(_))));
        assert!(matches!(ServerMsg::parse("140 ack=99999999999999999999"), Err(ParseError::Malformed(_))));
    }
}
