//! Plain TCP or TLS under a simulated client, on the event loop's non-blocking sockets.
//!
//! rustls does no I/O itself: the loop hands it what the socket gives ([`Transport::read`]) and
//! writes what it queued ([`Transport::flush`]). A TLS client's ClientHello is queued when the
//! transport is made and goes out with the first write after the connect; what the simulated client
//! says before the handshake is done waits inside rustls.

use crate::session::Failure;
use cliser_tls::rustls::pki_types::ServerName;
use cliser_tls::rustls::{ClientConfig, ClientConnection};
use mio::net::TcpStream;
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;

/// How the clients reach the server.
#[derive(Debug, Clone)]
pub enum Wire {
    /// Plain TCP.
    Plain,
    /// TLS with this configuration, checking the server's certificate for this name.
    Tls(Arc<ClientConfig>, ServerName<'static>),
}

/// One client's transport.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP.
    Plain,
    /// TLS.
    Tls(Box<ClientConnection>),
}

/// What one read gave.
#[derive(Debug)]
pub enum Got {
    /// This many bytes of plaintext.
    Data(usize),
    /// Nothing more for now.
    WouldBlock,
    /// The peer closed.
    Closed,
}

impl Wire {
    /// A transport for a new connection.
    pub fn transport(&self) -> Result<Transport, Failure> {
        match self {
            Wire::Plain => Ok(Transport::Plain),
            Wire::Tls(config, name) => ClientConnection::new(config.clone(), name.clone())
                .map(|c| Transport::Tls(Box::new(c)))
                .map_err(|e| Failure::Tls(e.to_string())),
        }
    }
}

impl Transport {
    /// Plaintext into `buf`, reading the socket as needed.
    pub fn read(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> Result<Got, Failure> {
        let tls = match self {
            Transport::Plain => {
                return loop {
                    match stream.read(buf) {
                        Ok(0) => break Ok(Got::Closed),
                        Ok(n) => break Ok(Got::Data(n)),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(Got::WouldBlock),
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => break Err(Failure::Io(e)),
                    }
                }
            }
            Transport::Tls(tls) => tls,
        };
        loop {
            match tls.reader().read(buf) {
                Ok(0) => return Ok(Got::Closed),
                Ok(n) => return Ok(Got::Data(n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(Failure::Io(e)),
            }
            match tls.read_tls(stream) {
                Ok(0) => return Ok(Got::Closed),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Got::WouldBlock),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::Io(e)),
            }
            let processed = tls.process_new_packets();
            // Handshake answers (or the alert that tells the server why).
            let flushed = write_tls(tls, stream);
            processed.map_err(|e| Failure::Tls(cliser_tls::Failure::from_rustls(&e).to_string()))?;
            flushed?;
        }
    }

    /// Sends what the client queued in `out`; what the socket does not take now stays queued (in
    /// `out`, or inside rustls) for the next writable event.
    pub fn flush(&mut self, stream: &mut TcpStream, out: &mut Vec<u8>) -> Result<(), Failure> {
        match self {
            Transport::Plain => {
                let mut done = 0;
                while done < out.len() {
                    match stream.write(&out[done..]) {
                        Ok(0) => return Err(Failure::Io(ErrorKind::WriteZero.into())),
                        Ok(n) => done += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Failure::Io(e)),
                    }
                }
                out.drain(..done);
                Ok(())
            }
            Transport::Tls(tls) => {
                if !out.is_empty() {
                    tls.writer().write_all(out).map_err(Failure::Io)?;
                    out.clear();
                }
                write_tls(tls, stream)
            }
        }
    }
}

fn write_tls(tls: &mut ClientConnection, stream: &mut TcpStream) -> Result<(), Failure> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::Io(e)),
        }
    }
    Ok(())
}
