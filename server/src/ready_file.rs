//! The ready file: one line of JSON with the bound addresses and the pid, for whoever started the
//! server on port 0 (scripts, tests) and has to learn where it listens without parsing its log.

use serde::Serialize;
use std::io;
use std::net::SocketAddr;
use std::path::Path;

#[derive(Serialize)]
struct Ready {
    listen: String,
    backdoor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<String>,
    pid: u32,
}

/// The document, e.g.
/// `{"listen":"127.0.0.1:41234","backdoor":"127.0.0.1:41235","http":"127.0.0.1:41236","pid":1234}`
/// (`http` only when the web page is served).
pub fn document(listen: SocketAddr, backdoor: SocketAddr, http: Option<SocketAddr>, pid: u32) -> String {
    let ready = Ready {
        listen: listen.to_string(),
        backdoor: backdoor.to_string(),
        http: http.map(|h| h.to_string()),
        pid,
    };
    serde_json::to_string(&ready).expect("strings and a number always serialize")
}

/// Writes the document for this process to `path`. Through `PATH.tmp` and a rename, so a reader that
/// polls for the file never sees it half written.
pub fn write(
    path: &Path,
    listen: SocketAddr,
    backdoor: SocketAddr,
    http: Option<SocketAddr>,
) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut text = document(listen, backdoor, http, std::process::id());
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_one_line_of_json_with_the_addresses_as_displayed() {
        let (l, b) = ("127.0.0.1:41234".parse().unwrap(), "[::1]:41235".parse().unwrap());
        assert_eq!(
            document(l, b, None, 1234),
            r#"{"listen":"127.0.0.1:41234","backdoor":"[::1]:41235","pid":1234}"#
        );
        assert_eq!(
            document(l, b, Some(l), 1),
            r#"{"listen":"127.0.0.1:41234","backdoor":"[::1]:41235","http":"127.0.0.1:41234","pid":1}"#
        );
    }

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready.json");
        std::fs::write(&path, "stale").unwrap();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        write(&path, a, a, None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", document(a, a, None, std::process::id())));
        assert!(!dir.path().join("ready.json.tmp").exists());
    }
}
