//! Many clients at once: every reading logged exactly once.

use crate::common;
use common::*;
use std::collections::HashMap;
use std::time::Duration;

#[test]
fn two_hundred_concurrent_clients_have_every_reading_logged_exactly_once() {
    const CLIENTS: usize = 200;
    const READINGS: u64 = 5;
    let (_d, s) = server(&["--keepalive", "200ms", "--max-clients", "1000"]);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (addr, pw) = (s.addr, s.password.clone());
            std::thread::spawn(move || {
                let mut c = LineClient::connect(addr);
                c.login(&pw, &format!("c-{i}"));
                let mut seq = 1;
                while seq <= READINGS {
                    let poll = c.expect("100", Duration::from_secs(30));
                    let acked: u64 = poll.split("ack=").nth(1).map_or(0, |a| a.parse().unwrap());
                    // Resend what is not acked yet, as a real client would: dedupe must hold.
                    let mut line = "100".to_owned();
                    for s in acked + 1..=seq {
                        line.push_str(&format!(" t={i}.{s}#{s}"));
                    }
                    c.send(&line);
                    seq += 1;
                }
                // Wait for the final ack so the test ends with everything acknowledged.
                loop {
                    let poll = c.expect("100", Duration::from_secs(30));
                    if poll.ends_with(&format!("ack={READINGS}")) {
                        break;
                    }
                    c.send("100");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let lines = s.log().lines_with("reading cid=c-");
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for l in &lines {
        let field = |k: &str| l.split(&format!("{k}=")).nth(1).unwrap().split(' ').next().unwrap().to_owned();
        *seen.entry((field("cid"), field("seq"))).or_default() += 1;
    }
    assert_eq!(seen.len(), CLIENTS * READINGS as usize, "distinct readings logged");
    assert!(
        seen.values().all(|&n| n == 1),
        "duplicates: {:?}",
        seen.iter().filter(|e| *e.1 > 1).collect::<Vec<_>>()
    );
    assert_eq!(lines.len(), CLIENTS * READINGS as usize);
}

/// The kernel's size of `pid`'s descriptor table (it grows by doubling and never shrinks).
fn descriptor_table_size(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("FDSize:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("FDSize in /proc/<pid>/status")
}

/// Growing the table of a threaded process waits for an RCU grace period with every accept held
/// up (10-25 ms, the slowest 1 % of handshakes in a 1,000-client ramp): the server grows it once at
/// start, for --max-clients connections and its own files, so that accepting them never does.
#[test]
fn the_descriptor_table_holds_max_clients_from_the_start_and_does_not_grow_as_they_connect() {
    const CLIENTS: usize = 300;
    let (_d, s) = server(&["--keepalive", "1s", "--max-clients", "2000"]);
    let at_start = descriptor_table_size(s.proc.pid());
    assert!(at_start >= 2000 + 256, "FDSize {at_start} at start, for --max-clients 2000");
    // Each login returns with the client's 140: all of them are registered after this.
    let clients: Vec<_> = (0..CLIENTS).map(|i| client(&s, &format!("fd-{i}")).0).collect();
    assert_eq!(descriptor_table_size(s.proc.pid()), at_start, "the table grew while clients connected");
    drop(clients);
}
