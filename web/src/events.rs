//! `GET /api/events`: Server-Sent Events. The first message (`snapshot`) is the whole fleet as
//! `/api/nodes` gives it; then `forget` (a node or sensor forgotten), `alerts` (the firing alerts),
//! `nodes` (nodes whose state changed), `fleet` (`/api/fleet` when it changed, PostgreSQL only) and
//! `readings` (readings newly stored), at most one of each
//! per quarter second (`forget` one per node or sensor), and a comment line every 15 s.

use crate::api::nodes_json;
use crate::http::WRITE_TIMEOUT;
use crate::live::{sse, Shared};
use cliser_tls::ServerStream;
use std::io::Write;
use std::sync::Arc;

/// Streams to `stream` until the viewer goes away, falls behind, or the server stops.
pub fn stream(mut stream: ServerStream, shared: Arc<Shared>, keepalive_ms: u64) {
    let (mailbox, fleet) = shared.subscribe();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\nretry: 2000\n\n";
    let first = sse("snapshot", &nodes_json(&fleet, keepalive_ms, &shared.settings.get(), &shared.source));
    drop(fleet);
    let _ = stream.tcp().set_write_timeout(Some(WRITE_TIMEOUT));
    if stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(first.as_bytes())).is_err() {
        return;
    }
    // Ends when the live thread drops this viewer (behind, or the server stops) or a write fails.
    while let Ok(message) = mailbox.recv() {
        if stream.write_all(message.as_bytes()).is_err() {
            return;
        }
    }
}
