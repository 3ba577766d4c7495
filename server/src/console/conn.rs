//! One admin console connection, plain or TLS, whose reads end at a deadline.
//!
//! A socket's read timeout bounds one `read`, not a wait: a peer that trickles a byte now and then
//! resets it each time, and rustls reads again and again inside one handshake or one record. So the
//! deadline lives under rustls, in the socket it reads from: every read of the socket waits at most
//! what is left until the deadline, and none starts after it. The TLS handshake, the password line
//! and each command line then end when the console says they must, however the bytes arrive.

use cliser_tls::rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A reply that cannot be written within this is given up (an admin who stopped reading), as the
/// page gives up a response (`cliser_web::http::WRITE_TIMEOUT`).
pub const WRITE_TIMEOUT: Duration = cliser_web::http::WRITE_TIMEOUT;

/// A TCP socket whose reads end at a deadline (`TimedOut` once it has passed).
#[derive(Debug)]
pub struct TimedSocket {
    socket: TcpStream,
    deadline: Instant,
}

impl Read for TimedSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        self.socket.set_read_timeout(Some(left))?;
        match self.socket.read(buf) {
            // A read timeout is `WouldBlock` on Unix: say what it is.
            Err(e) if e.kind() == ErrorKind::WouldBlock => Err(ErrorKind::TimedOut.into()),
            other => other,
        }
    }
}

impl Write for TimedSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

/// A console connection: plain, or TLS over the timed socket.
#[derive(Debug)]
pub enum ConsoleStream {
    /// Plain TCP (the console on loopback).
    Plain(TimedSocket),
    /// TLS (the console beyond loopback, with `--listen-tls`).
    Tls(Box<StreamOwned<ServerConnection, TimedSocket>>),
}

/// Why a TLS handshake did not complete.
#[derive(Debug)]
pub enum HandshakeError {
    /// The deadline passed first.
    TimedOut,
    /// The peer closed or the connection broke.
    Closed,
    /// The peer is not speaking TLS, or not acceptably: rustls's words.
    Failed(String),
}

impl ConsoleStream {
    /// `socket`, with TLS over it when `tls` is given; reads end at `deadline` until it is moved.
    pub fn new(socket: TcpStream, tls: Option<Arc<ServerConfig>>, deadline: Instant) -> io::Result<Self> {
        socket.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let timed = TimedSocket { socket, deadline };
        Ok(match tls {
            None => ConsoleStream::Plain(timed),
            Some(config) => {
                let session = ServerConnection::new(config).map_err(io::Error::other)?;
                ConsoleStream::Tls(Box::new(StreamOwned::new(session, timed)))
            }
        })
    }

    fn timed(&self) -> &TimedSocket {
        match self {
            ConsoleStream::Plain(s) => s,
            ConsoleStream::Tls(t) => &t.sock,
        }
    }

    /// Reads from now on end at `deadline`.
    pub fn set_deadline(&mut self, deadline: Instant) {
        match self {
            ConsoleStream::Plain(s) => s.deadline = deadline,
            ConsoleStream::Tls(t) => t.sock.deadline = deadline,
        }
    }

    /// The peer's address.
    pub fn peer(&self) -> io::Result<SocketAddr> {
        self.timed().socket.peer_addr()
    }

    /// Whether this connection speaks TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, ConsoleStream::Tls(_))
    }

    /// Completes the TLS handshake (nothing to do in clear) before the deadline.
    pub fn handshake(&mut self) -> Result<(), HandshakeError> {
        let ConsoleStream::Tls(t) = self else { return Ok(()) };
        let (conn, sock) = (&mut t.conn, &mut t.sock);
        while conn.is_handshaking() {
            match conn.complete_io(sock) {
                Ok((0, 0)) => return Err(HandshakeError::Closed),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::TimedOut => return Err(HandshakeError::TimedOut),
                // rustls has sent the peer its alert already.
                Err(e) if e.kind() == ErrorKind::InvalidData => {
                    return Err(HandshakeError::Failed(e.to_string()))
                }
                Err(_) => return Err(HandshakeError::Closed),
            }
        }
        Ok(())
    }

    /// Closes both directions now.
    pub fn close(&self) {
        let _ = self.timed().socket.shutdown(Shutdown::Both);
    }
}

impl Read for ConsoleStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ConsoleStream::Plain(s) => s.read(buf),
            ConsoleStream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for ConsoleStream {
    /// On TLS each write is flushed at once: a prompt must not wait in rustls.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ConsoleStream::Plain(s) => s.write(buf),
            ConsoleStream::Tls(t) => {
                let n = t.write(buf)?;
                t.flush()?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ConsoleStream::Plain(s) => s.flush(),
            ConsoleStream::Tls(t) => t.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (l.accept().unwrap().0, peer)
    }

    #[test]
    fn a_trickling_peer_cannot_stretch_the_deadline() {
        let (ours, mut theirs) = pair();
        let start = Instant::now();
        let mut s = ConsoleStream::new(ours, None, start + Duration::from_millis(300)).unwrap();
        let writer = std::thread::spawn(move || {
            // A byte every 100 ms: each read gets something well within any per-read timeout.
            for _ in 0..20 {
                if theirs.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100)); // the trickle's pace
            }
        });
        let mut buf = [0u8; 16];
        let err = loop {
            match s.read(&mut buf) {
                Ok(n) => assert!(n > 0, "the peer closed"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(600), "{took:?}");
        s.close();
        writer.join().unwrap();
    }
}
