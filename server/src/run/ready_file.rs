//! The ready file: one line of JSON with the bound addresses and the pid, for whoever started the
//! server on port 0 (scripts, tests) and has to learn where it listens without parsing its log.

use serde::Serialize;
use std::io;
use std::net::SocketAddr;
use std::path::Path;

/// The addresses the server is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Clients in clear, unless `--listen off`.
    pub listen: Option<SocketAddr>,
    /// Clients inside TLS, with `--listen-tls`.
    pub listen_tls: Option<SocketAddr>,
    /// The admin console.
    pub console: SocketAddr,
    /// The web page, unless `--http off`.
    pub http: Option<SocketAddr>,
}

#[derive(Serialize)]
struct Ready {
    #[serde(skip_serializing_if = "Option::is_none")]
    listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    listen_tls: Option<String>,
    /// Keyed by the `--console` flag, as scripts read it.
    console: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<String>,
    pid: u32,
}

/// The document, e.g.
/// `{"listen":"127.0.0.1:41234","console":"127.0.0.1:41235","http":"127.0.0.1:41236","pid":1234}`
/// (`listen` unless `--listen off`, `listen_tls` only with TLS, `http` only when the web page is
/// served).
pub fn document(bound: &Bound, pid: u32) -> String {
    let text = |a: Option<SocketAddr>| a.map(|a| a.to_string());
    let ready = Ready {
        listen: text(bound.listen),
        listen_tls: text(bound.listen_tls),
        console: bound.console.to_string(),
        http: text(bound.http),
        pid,
    };
    serde_json::to_string(&ready).expect("strings and a number always serialize")
}

/// Writes the document for this process to `path`. Through `PATH.tmp` and a rename, so a reader that
/// polls for the file never sees it half written.
pub fn write(path: &Path, bound: &Bound) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut text = document(bound, std::process::id());
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(listen: Option<&str>, tls: Option<&str>, http: Option<&str>) -> Bound {
        Bound {
            listen: listen.map(|a| a.parse().unwrap()),
            listen_tls: tls.map(|a| a.parse().unwrap()),
            console: "[::1]:41235".parse().unwrap(),
            http: http.map(|a| a.parse().unwrap()),
        }
    }

    #[test]
    fn the_document_is_one_line_of_json_with_the_addresses_as_displayed() {
        let l = Some("127.0.0.1:41234");
        assert_eq!(
            document(&bound(l, None, None), 1234),
            r#"{"listen":"127.0.0.1:41234","console":"[::1]:41235","pid":1234}"#
        );
        assert_eq!(
            document(&bound(l, None, l), 1),
            r#"{"listen":"127.0.0.1:41234","console":"[::1]:41235","http":"127.0.0.1:41234","pid":1}"#
        );
        assert_eq!(
            document(&bound(None, Some("127.0.0.1:2"), None), 1),
            r#"{"listen_tls":"127.0.0.1:2","console":"[::1]:41235","pid":1}"#
        );
    }

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.json");
        std::fs::write(&path, "stale").unwrap();
        let b = bound(Some("127.0.0.1:1"), Some("127.0.0.1:3"), None);
        write(&path, &b).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", document(&b, std::process::id())));
        assert!(!dir.path().join("ready.json.tmp").exists());
    }
}
