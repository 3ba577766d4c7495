//! A connection's socket as its reader and writer threads share it: plain TCP, or one TLS session
//! over it.
//!
//! With TLS both threads use one rustls session under a mutex. The reader waits for the socket to
//! be readable with `poll(2)` *outside* the lock, and takes the lock only to feed what arrived to
//! rustls and take out the plaintext; so a writer is never held up by a read that waits, only by
//! the short work of another thread inside the session. The TLS handshake runs in the reader
//! (which answers the peer's handshake messages as they arrive), never on the acceptor: a slow or
//! garbage peer costs its own threads and ends with the session's auth deadline.

use crate::link::conn::{HandshakeFailed, Socket};
use cliser_tls::rustls::{self, ServerConnection};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// One connection's socket.
#[derive(Debug)]
pub enum Link {
    /// Plain TCP.
    Plain(TcpStream),
    /// A TLS session over TCP.
    Tls(Box<TlsLink>),
}

/// The hint of a failed handshake whose peer spoke in clear, or said nothing at all: the words
/// docs/raspberry-pi.md and docs/SECURITY.md tell operators to look for.
pub const NOT_TLS_HINT: &str = "(not TLS: a client speaking in clear? it needs --server tls://HOST:PORT)";

/// Why a handshake failed, for the log: what rustls says, and a hint where the cause is likely.
fn handshake_failed(e: &rustls::Error) -> HandshakeFailed {
    match e {
        // What an operator sees when a peer sends plain text to the TLS port.
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            HandshakeFailed(format!("{e} {NOT_TLS_HINT}"))
        }
        _ => HandshakeFailed(e.to_string()),
    }
}

/// A TLS session shared by the reader and the writer.
#[derive(Debug)]
pub struct TlsLink {
    socket: TcpStream,
    session: Mutex<ServerConnection>,
    /// Whether any byte arrived: a cliser client in clear sends none (it waits for `110`).
    heard: AtomicBool,
}

impl Link {
    /// A TLS session over `socket`, with the server's configuration.
    pub fn tls(socket: TcpStream, config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<Link> {
        let session = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(Link::Tls(Box::new(TlsLink {
            socket,
            session: Mutex::new(session),
            heard: AtomicBool::new(false),
        })))
    }

    /// The TCP socket underneath.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Link::Plain(s) => s,
            Link::Tls(t) => &t.socket,
        }
    }
}

impl Socket for Link {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Plain(s) => (&*s).read(buf),
            Link::Tls(t) => t.read(buf),
        }
    }

    fn peer(&self) -> Option<SocketAddr> {
        self.socket().peer_addr().ok()
    }

    fn handshaking(&self) -> bool {
        match self {
            Link::Plain(_) => false,
            Link::Tls(t) => t.lock().is_handshaking(),
        }
    }

    fn heard_nothing(&self) -> bool {
        match self {
            Link::Plain(_) => false,
            Link::Tls(t) => !t.heard.load(Ordering::Relaxed),
        }
    }

    fn write_all(&self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Link::Plain(s) => (&*s).write_all(bytes),
            Link::Tls(t) => {
                let mut session = t.lock();
                session.writer().write_all(bytes)?;
                flush(&mut session, &t.socket)
            }
        }
    }

    /// TLS says `close_notify` first; then the socket is shut down both ways.
    fn close(&self) {
        if let Link::Tls(t) = self {
            let mut session = t.lock();
            session.send_close_notify();
            let _ = flush(&mut session, &t.socket);
        }
        let _ = self.socket().shutdown(Shutdown::Both);
    }
}

impl TlsLink {
    fn lock(&self) -> MutexGuard<'_, ServerConnection> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until plaintext arrives (`Ok(0)`: the peer closed), handling handshake and other
    /// TLS records on the way.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.lock().reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            wait_readable(&self.socket)?;
            let mut session = self.lock();
            match session.read_tls(&mut &self.socket) {
                Ok(0) => return Ok(0),
                Ok(_) => self.heard.store(true, Ordering::Relaxed),
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => continue,
                Err(e) => return Err(e),
            }
            let handshaking = session.is_handshaking();
            if let Err(e) = session.process_new_packets() {
                // rustls has queued an alert that tells the peer why.
                let _ = flush(&mut session, &self.socket);
                return Err(match handshaking {
                    true => io::Error::new(ErrorKind::InvalidData, handshake_failed(&e)),
                    false => io::Error::new(ErrorKind::InvalidData, e),
                });
            }
            // Handshake answers, and lines the writer queued before the handshake was done.
            flush(&mut session, &self.socket)?;
        }
    }
}

/// Writes what the session has queued for the peer. The socket is blocking with a write timeout,
/// so a peer that stops reading ends this with an error, not a hang.
fn flush(session: &mut ServerConnection, mut socket: &TcpStream) -> io::Result<()> {
    while session.wants_write() {
        match session.write_tls(&mut socket) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits until the socket has something to read, or was closed or shut down.
fn wait_readable(socket: &TcpStream) -> io::Result<()> {
    let mut fds = [libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
    loop {
        // SAFETY: one valid pollfd, for a descriptor this socket keeps open.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) };
        if rc >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
