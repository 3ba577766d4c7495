//! The two socket threads of a connection: tcp_reader (bytes -> lines -> the session's mailbox) and
//! tcp_writer (its mailbox -> the socket). They work on any [`Socket`]: plain TCP, or a TLS session
//! the two threads share (`link`).

use cliser_common::lines::LineReader;
use cliser_common::mailbox::{Receiver, Sender};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Stack size for each per-connection thread. Three threads per client at 10,000 clients: the stacks
/// must be small, and none of these threads recurses or keeps large buffers on the stack.
pub const CONN_THREAD_STACK: usize = 64 * 1024;

/// Stack size for the reader and writer of a TLS connection: rustls and ring run the handshake and
/// the record crypto on it. Only the pages a thread touches cost memory.
pub const TLS_THREAD_STACK: usize = 256 * 1024;

/// How many lines the reader may have queued for its session before it stops reading. This is the
/// backpressure that keeps a peer that floods lines from growing the server's memory.
const LINES_IN_FLIGHT: usize = 16;

/// A connection's socket as its reader and writer threads share it.
pub trait Socket: Send + Sync {
    /// Reads what the peer sent, blocking until something arrives; `Ok(0)` once it closed. An
    /// error that carries a [`HandshakeFailed`] ends the connection as a failed TLS handshake.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Sends all of `bytes`.
    fn write_all(&self, bytes: &[u8]) -> io::Result<()>;
    /// Ends the connection, which also wakes and ends a reader waiting in [`read`](Self::read).
    fn close(&self);
    /// The peer's address, for the log.
    fn peer(&self) -> Option<SocketAddr>;
    /// Whether a TLS handshake is still under way (never, in clear): a session that times out
    /// before the password says whether the peer even finished its handshake.
    fn handshaking(&self) -> bool {
        false
    }
    /// Whether the peer of a TLS connection has sent nothing at all, not even a ClientHello (never,
    /// in clear): what a cliser client in clear does on a TLS port, waiting for its `110`.
    fn heard_nothing(&self) -> bool {
        false
    }
}

/// The TLS handshake failed, and why: the payload of a [`Socket::read`] error, so that the reader
/// can tell it from a lost connection.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandshakeFailed(pub String);

/// A [`Socket`] as `Read`, for the line reader.
struct Reading<'a, S: ?Sized>(&'a S);

impl<S: Socket + ?Sized> Read for Reading<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// What the tcp_writer is told.
#[derive(Debug)]
pub enum WriterMsg {
    /// Send this line (without line ending).
    Line(String),
    /// Send what is queued before this, then close the connection.
    Close,
}

/// What the tcp_reader hands on. The reader knows nothing of its session: whoever starts it picks a
/// mailbox type that can carry these (`From<Inbound>`).
#[derive(Debug)]
pub enum Inbound {
    /// A line from the peer, without its ending.
    Line(String),
    /// The connection ended: EOF (`None`) or why.
    Closed(Option<String>),
    /// The TLS handshake failed: why.
    TlsFailed(String),
}

/// Counts the lines the reader has handed over and the session has not yet taken.
#[derive(Debug, Default)]
pub struct LineCredit {
    state: Mutex<(usize, bool)>,
    changed: Condvar,
    /// Bytes received after the last complete line: a peer that never ends its lines (an old
    /// unframed client) shows here, so a timed-out handshake can say why.
    unframed: AtomicUsize,
}

impl LineCredit {
    /// Waits for room for one more line; false once the session has gone.
    fn acquire(&self) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while st.0 >= LINES_IN_FLIGHT && !st.1 {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.0 += 1;
        !st.1
    }

    /// The session took a line.
    pub fn release(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // Only a full count can have the reader waiting: otherwise no wake-up (a system call per
        // line) is needed.
        let full = st.0 >= LINES_IN_FLIGHT;
        st.0 = st.0.saturating_sub(1);
        drop(st);
        if full {
            self.changed.notify_one();
        }
    }

    /// Bytes the peer sent after its last complete line.
    pub fn unframed_bytes(&self) -> usize {
        self.unframed.load(Ordering::Relaxed)
    }

    /// The session has ended; a waiting reader gives up.
    pub fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.changed.notify_all();
    }
}

/// The tcp_reader thread's body: reads until EOF, an error, or a framing error, and always ends by
/// telling `to` why.
///
/// Reader and writer share one socket (one file descriptor) rather than a `try_clone` each: at
/// 10,000 clients a second descriptor per client would reach the usual 20,000 open-files limit.
pub fn tcp_reader<S: Socket + ?Sized, T: From<Inbound>>(
    socket: Arc<S>,
    to: Sender<T>,
    credit: Arc<LineCredit>,
) {
    let mut lines = LineReader::new(Reading(&*socket));
    let why = loop {
        match lines.buffered_line() {
            Ok(Some(line)) => {
                if !credit.acquire() || to.send(Inbound::Line(line).into()).is_err() {
                    return;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => break Some(e.to_string()),
        }
        credit.unframed.store(lines.pending(), Ordering::Relaxed);
        match lines.fill() {
            Ok(true) => {}
            Ok(false) => break None,
            Err(e) => {
                if let Some(failed) = e.get_ref().and_then(|e| e.downcast_ref::<HandshakeFailed>()) {
                    let _ = to.send(Inbound::TlsFailed(failed.to_string()).into());
                    return;
                }
                break Some(format!("read error: {e}"));
            }
        }
    };
    let _ = to.send(Inbound::Closed(why).into());
}

/// The tcp_writer thread's body: writes each line, and on [`WriterMsg::Close`], on a write error, or
/// when every sender is gone, shuts the socket down, which also ends the reader.
pub fn tcp_writer<S: Socket + ?Sized>(link: Arc<S>, mailbox: Receiver<WriterMsg>) {
    while let Ok(msg) = mailbox.recv() {
        match msg {
            WriterMsg::Line(mut line) => {
                line.push('\n');
                if let Err(e) = link.write_all(line.as_bytes()) {
                    log::debug!("write to {:?} failed: {e}", link.peer());
                    break;
                }
            }
            WriterMsg::Close => break,
        }
    }
    link.close();
}
