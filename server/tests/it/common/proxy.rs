//! A TCP proxy between client and server that can blackhole traffic: bytes vanish in both directions
//! and nothing is closed or reset, as when a Wi-Fi link dies. Healing lets new connections through;
//! the ones that were blackholed stay dead, as they would on a real network.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct Proxy {
    pub addr: SocketAddr,
    blackhole: Arc<AtomicBool>,
    /// Bumped on every blackhole, so a pump knows its connection lived through one.
    epoch: Arc<AtomicU64>,
    /// Every socket stays open until the proxy goes: a close would tell the peers what happened.
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let blackhole = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(AtomicU64::new(0));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (bh, ep, hd) = (blackhole.clone(), epoch.clone(), held.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(upstream) else { continue };
                hd.lock().unwrap().extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let born = ep.load(Ordering::SeqCst);
                for (from, to) in
                    [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    let (bh, ep) = (bh.clone(), ep.clone());
                    std::thread::spawn(move || pump(from, to, &bh, &ep, born));
                }
            }
        });
        Proxy { addr, blackhole, epoch, held }
    }

    /// Starts or ends the blackhole.
    pub fn set_blackhole(&self, on: bool) {
        if on {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        self.blackhole.store(on, Ordering::SeqCst);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, blackhole: &AtomicBool, epoch: &AtomicU64, born: u64) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let cut_off = blackhole.load(Ordering::SeqCst) || epoch.load(Ordering::SeqCst) != born;
        if !cut_off && to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    // A connection that lived through a blackhole says nothing, not even goodbye.
    if epoch.load(Ordering::SeqCst) == born && !blackhole.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Write);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for s in self.held.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
