//! The connection to the server as the connection loop sees it: plain TCP, or a TLS session over it.
//!
//! The loop polls the socket itself, so TLS is driven the same way: after the socket is readable,
//! one [`read`](std::io::Read::read) feeds what arrived to rustls (answering its handshake on the
//! way) and returns the plaintext, or `WouldBlock` when the records so far held none (a partial
//! record, a session ticket). Plaintext rustls has already decrypted does not make the socket
//! readable again: [`Link::pending`] says when to read before polling.

use cliser_tls::rustls::ClientConnection;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};

/// The connection to the server.
#[derive(Debug)]
pub enum Link {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<Tls>),
}

/// A TLS session and its socket.
#[derive(Debug)]
pub struct Tls {
    socket: TcpStream,
    session: ClientConnection,
}

impl Link {
    /// TLS over `socket`: sends the ClientHello at once; the rest of the handshake happens as the
    /// server's answers are read.
    pub fn tls(socket: TcpStream, session: ClientConnection) -> io::Result<Link> {
        let mut tls = Tls { socket, session };
        tls.flush()?;
        Ok(Link::Tls(Box::new(tls)))
    }

    /// The socket, to poll.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Link::Plain(s) => s,
            Link::Tls(t) => &t.socket,
        }
    }

    /// Whether plaintext is waiting inside the TLS session: read it before polling the socket.
    pub fn pending(&mut self) -> bool {
        match self {
            Link::Plain(_) => false,
            // Without new bytes this only reports the state; an error is reported as pending so
            // that the next read returns it.
            Link::Tls(t) => t.session.process_new_packets().map_or(true, |s| s.plaintext_bytes_to_read() > 0),
        }
    }

    /// Sends `line` and its line ending.
    pub fn send_line(&mut self, line: &str) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match self {
            Link::Plain(s) => s.write_all(&bytes),
            Link::Tls(t) => {
                t.session.writer().write_all(&bytes)?;
                t.flush()
            }
        }
    }

    /// Says nothing more will be sent (TLS: `close_notify`), keeping the reading side open.
    pub fn shutdown_write(&mut self) {
        if let Link::Tls(t) = self {
            t.session.send_close_notify();
            let _ = t.flush();
        }
        let _ = self.socket().shutdown(Shutdown::Write);
    }
}

impl AsFd for Link {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket().as_fd()
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Plain(s) => s.read(buf),
            Link::Tls(t) => t.read(buf),
        }
    }
}

impl Tls {
    /// Plaintext already decrypted, else one read from the socket (which the caller found
    /// readable). `Ok(0)` once the server closed; a rustls error (a certificate refused, say) comes
    /// inside the I/O error (`cliser_tls::Failure::from_io` sorts it).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.session.reader().read(buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => return other,
        }
        if self.session.read_tls(&mut self.socket)? == 0 {
            return Ok(0);
        }
        let processed = self.session.process_new_packets();
        // Handshake answers, or the alert that tells the server why we refuse it.
        let flushed = self.flush();
        processed.map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        flushed?;
        self.session.reader().read(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.socket) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
