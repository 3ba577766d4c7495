//! What a sniffer on the path sees: a packet capture (tcpdump on loopback) of a whole session of the
//! real Pi client. In clear it holds the password and the readings; inside TLS it holds neither.

use crate::common;
use common::tls::*;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The TCP segments of a pcap file (Ethernet on `lo`, IPv4 or IPv6): (flags, payload) each.
fn segments(pcap: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    if pcap.len() < 24 {
        return out;
    }
    let le = pcap[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || pcap[..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let u32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(u32_at(&pcap[20..24]), 1, "link type Ethernet (tcpdump -i lo)");
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let len = u32_at(&pcap[at + 8..at + 12]) as usize;
        let Some(frame) = pcap.get(at + 16..at + 16 + len) else { break };
        at += 16 + len;
        // The IP payload and its protocol, without the Ethernet and IP headers.
        let (ip, proto) = match (frame.get(12..14), frame.get(14..)) {
            (Some([0x08, 0x00]), Some(ip)) if ip.len() >= 20 => {
                let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).min(ip.len());
                (&ip[(ip[0] & 0x0f) as usize * 4..total], ip[9])
            }
            (Some([0x86, 0xdd]), Some(ip)) if ip.len() >= 40 => {
                let total = (40 + usize::from(u16::from_be_bytes([ip[4], ip[5]]))).min(ip.len());
                (&ip[40..total], ip[6])
            }
            _ => continue,
        };
        if proto != 6 || ip.len() < 20 {
            continue;
        }
        let data = (ip[12] >> 4) as usize * 4;
        out.push((ip[13], ip.get(data..).unwrap_or_default().to_vec()));
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Captures a whole session of a Pi client with `id` on `port`: tcpdump starts first, the client
/// runs until three readings are stored, stops, and the capture ends once both sides' FIN (or a
/// RST) are in it. Returns every TCP payload byte and the text of one of its readings.
fn capture_session(
    tcpdump: &Path,
    dir: &Path,
    server: &ServerHandle,
    port: u16,
    entry: &str,
    id: &str,
    extra: &[&str],
) -> (Vec<u8>, String) {
    let file = dir.join(format!("{id}.pcap"));
    let mut cmd = Command::new(tcpdump);
    // -U: each packet written as it comes; -Z root: keep writing into the test's root-owned dir.
    cmd.args(["-i", "lo", "-n", "-U", "-Z", "root", "-w"]).arg(&file).args([
        "tcp",
        "port",
        &port.to_string(),
    ]);
    let mut dump = Proc::spawn(cmd, &dir.join(format!("{id}.tcpdump.log")));
    dump.log.wait_for("listening on lo", T);

    let mut client = tls_client(dir, entry, id, &server.password, extra);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.stored_seqs(id).len() < 3 {
        assert!(Instant::now() < deadline, "no readings from {id}; it said:\n{}", client.log.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    client.signal(15);
    assert!(client.wait_exit(T).success());
    let deadline = Instant::now() + T;
    let segs = loop {
        let segs = segments(&std::fs::read(&file).unwrap_or_default());
        // FIN 0x01, RST 0x04: both ends have closed.
        if segs.iter().filter(|(flags, _)| flags & 0x05 != 0).count() >= 2 {
            break segs;
        }
        assert!(Instant::now() < deadline, "the capture never saw the session end ({} segments)", segs.len());
        std::thread::sleep(Duration::from_millis(20));
    };
    dump.signal(2);
    dump.wait_exit(T);
    let reading = client
        .log
        .lines_with("reading sensor=")
        .first()
        .and_then(|l| l.split("sensor=").nth(1)?.split_whitespace().next().map(|s| format!("{s}=")))
        .expect("the client logged a reading");
    (segs.into_iter().flat_map(|(_, p)| p).collect(), reading)
}

#[test]
fn a_capture_of_a_tls_session_holds_neither_the_password_nor_a_reading_and_one_in_clear_holds_both() {
    let Some(tcpdump) =
        cliser_testkit::find_part("tcpdump", &["tcpdump", "/usr/sbin/tcpdump", "/usr/bin/tcpdump"])
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fleet = gen_tls(&dir.path().join("tls"), "localhost");
    let server = tls_server(dir.path(), &fleet, &["--keepalive", "300ms"]);
    let tls_port = server.tls.unwrap().port();
    let ca = ["--tls-ca", fleet.ca.to_str().unwrap()];

    // The control: in clear, the sniffer learns both, so the search below can fail.
    let entry = server.addr.to_string();
    let (clear, reading) =
        capture_session(&tcpdump, dir.path(), &server, server.addr.port(), &entry, "sniffed", &[]);
    assert!(contains(&clear, &server.password), "the password is not in the capture of a session in clear");
    assert!(contains(&clear, &reading), "{reading} is not in the capture of a session in clear");
    assert!(contains(&clear, "110: qual a senha"));

    let entry = format!("tls://localhost:{tls_port}");
    let (sealed, reading) = capture_session(&tcpdump, dir.path(), &server, tls_port, &entry, "sealed", &ca);
    assert!(sealed.len() > 1000, "the TLS session is in the capture ({} bytes)", sealed.len());
    assert!(sealed.starts_with(&[0x16, 0x03]), "the first payload is a TLS handshake record");
    assert!(!contains(&sealed, &server.password), "the password is in the capture of a TLS session");
    assert!(!contains(&sealed, &reading), "{reading} is in the capture of a TLS session");
    assert!(!contains(&sealed, "qual a senha") && !contains(&sealed, "keep alive"));
    assert!(!contains(&sealed, "sealed"), "the client id is in the capture of a TLS session");
}
