//! Ending a thread blocked in `accept()`. Connecting to our own listener to wake it needs a free
//! descriptor, exactly what is missing when the process has run out of them (and then the join
//! waits forever). `shutdown(SHUT_RD)` on a listening socket needs none: on Linux it stops the
//! listener (new connections are refused) and the blocked `accept()` returns `EINVAL`.

use std::net::TcpListener;
use std::os::fd::AsRawFd;

/// Stops `listener` listening and wakes whoever waits in its `accept()`, with an error.
pub fn stop_accepting(listener: &TcpListener) -> std::io::Result<()> {
    // SAFETY: shutdown() on a descriptor `listener` owns and keeps open for the call.
    let rc = unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RD) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_blocked_accept_returns_and_the_port_refuses() {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let waiting = listener.clone();
        let acceptor = std::thread::spawn(move || waiting.accept().map(|_| ()));
        // Whether or not the thread is in accept() yet, it returns: a stopped listener accepts nobody.
        stop_accepting(&listener).unwrap();
        assert!(acceptor.join().unwrap().is_err());
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
