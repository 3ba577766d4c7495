//! A server's connection served by one thread that reads and writes in turn (the web page's, the
//! admin console's): plain TCP, or TLS over it.
//!
//! With one thread the TLS session needs no lock: rustls's `StreamOwned` drives it over the
//! blocking socket. The handshake happens on the first read, on the connection's own thread (never
//! the acceptor's), under whatever read timeout the socket has.

use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

/// A connection, plain or TLS.
#[derive(Debug)]
pub enum ServerStream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl ServerStream {
    /// TLS over `socket` with `config`; the handshake runs on the first read.
    pub fn tls(socket: TcpStream, config: Arc<ServerConfig>) -> io::Result<ServerStream> {
        let session = ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(ServerStream::Tls(Box::new(StreamOwned::new(session, socket))))
    }

    /// `socket` as it is, or TLS over it when `config` is given.
    pub fn new(socket: TcpStream, config: Option<Arc<ServerConfig>>) -> io::Result<ServerStream> {
        match config {
            Some(config) => ServerStream::tls(socket, config),
            None => Ok(ServerStream::Plain(socket)),
        }
    }

    /// The TCP socket underneath (for its timeouts).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            ServerStream::Plain(s) => s,
            ServerStream::Tls(t) => &t.sock,
        }
    }

    /// Says nothing more will be sent (TLS: `close_notify` first), keeping the reading side open.
    pub fn shutdown_write(&mut self) {
        if let ServerStream::Tls(t) = self {
            t.conn.send_close_notify();
            let _ = t.flush();
        }
        let _ = self.tcp().shutdown(Shutdown::Write);
    }
}

impl Read for ServerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ServerStream::Plain(s) => s.read(buf),
            ServerStream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for ServerStream {
    /// On TLS each write is flushed at once: a line or a live event must not wait in rustls.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ServerStream::Plain(s) => s.write(buf),
            ServerStream::Tls(t) => {
                let n = t.write(buf)?;
                t.flush()?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ServerStream::Plain(s) => s.flush(),
            ServerStream::Tls(t) => t.flush(),
        }
    }
}
