//! Many clients at once: every reading logged exactly once.

mod common;
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
