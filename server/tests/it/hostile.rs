//! Hostile peers against the real server. In each, a well-behaved client keeps getting its
//! keep-alives on time and has every reading logged exactly once.

use crate::common;
use cliser_testkit::{wait_until, ProcStats};
use common::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The keep-alive interval of these tests, and the worst gap the good client may see under attack.
const KEEPALIVE: &str = "500ms";
const WORST_GAP: Duration = Duration::from_millis(1500);

fn finish_good(s: &ServerHandle, good: GoodClient) {
    let id = good.id.clone();
    let (gap, n) = good.finish();
    eprintln!(
        "good client {id}: {n} keep-alives answered, longest gap {gap:?}, all {n} readings logged once"
    );
    assert!(gap < WORST_GAP, "the good client waited {gap:?} for a keep-alive");
    assert!(n >= 2, "the good client got only {n} keep-alives");
    assert_logged_once(s, &id, n);
}

fn connect_from(src: [u8; 4], to: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((src, 0)).into()).unwrap();
    sock.connect(&to.into()).unwrap();
    sock.into()
}

/// Opens 2,000 connections that never speak and waits until the server has closed them all and its
/// threads are back to `threads`; returns the server's stats at the peak and after.
fn silent_flood(s: &ServerHandle, threads: u64) -> (ProcStats, ProcStats) {
    let pid = s.proc.pid();
    let already = s.log().count("auth timeout sid=");
    let silent: Vec<TcpStream> = (0..2000).map(|_| TcpStream::connect(s.addr).unwrap()).collect();
    let peak = wait_until(T, "2,000 more connections with their threads", || {
        let st = ProcStats::read(pid).unwrap();
        (st.threads >= threads + 3 * 2000).then_some(st)
    });
    for c in silent {
        wait_closed(c, Duration::from_secs(20));
    }
    s.log().wait_count("auth timeout sid=", already + 2000, Duration::from_secs(20));
    let after = wait_until(T, "threads back to their number before", || {
        let st = ProcStats::read(pid).unwrap();
        (st.threads == threads).then_some(st)
    });
    (peak, after)
}

#[test]
fn two_thousand_silent_connections_are_closed_at_the_auth_timeout_and_memory_returns() {
    let (_d, s) = server(&["--keepalive", KEEPALIVE, "--auth-timeout", "2s", "--max-clients", "3000"]);
    let good = GoodClient::start(&s, "good");
    let before = ProcStats::read(s.proc.pid()).unwrap();
    // Three floods: what the allocator keeps after one (freed heap, glibc's cache of up to 40 MiB of
    // thread stacks) is reused by the next, so it must not add up.
    for round in 1..=3 {
        let (peak, after) = silent_flood(&s, before.threads);
        eprintln!(
            "silent flood {round}: RSS before {} KiB, peak {} KiB, after {} KiB; threads {} -> {} -> {}",
            before.rss_kib, peak.rss_kib, after.rss_kib, before.threads, peak.threads, after.threads
        );
        let kept = after.rss_kib.saturating_sub(before.rss_kib);
        let flood = peak.rss_kib.saturating_sub(before.rss_kib);
        assert!(kept < flood / 2, "flood {round}: kept {kept} KiB of the flood's {flood} KiB");
    }
    finish_good(&s, good);
}

#[test]
fn slow_loris_lines_are_cut_off_at_the_auth_timeout_and_slow_answers_still_count() {
    let (_d, s) = server(&["--keepalive", KEEPALIVE, "--auth-timeout", "1s"]);
    let good = GoodClient::start(&s, "good");
    let mut lorises: Vec<TcpStream> = (0..50).map(|_| TcpStream::connect(s.addr).unwrap()).collect();
    // One byte each every 50 ms, never a line ending, until the server gives up on them.
    wait_until(Duration::from_secs(15), "every slow loris closed", || {
        let mut open = 0;
        for l in &mut lorises {
            if l.write_all(b"x").is_ok() {
                open += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
        (open == 0).then_some(())
    });
    assert!(s.log().count("auth timeout sid=") >= 50);
    // A registered client whose answer dribbles in byte by byte is still understood.
    let (mut slow, _) = client(&s, "dribble");
    slow.expect("100", T);
    for b in b"100 t=1.5#1\n" {
        slow.send_raw(&[*b]);
        std::thread::sleep(Duration::from_millis(20));
    }
    s.log().wait_for("reading cid=dribble sensor=t temp_c=1.500", T);
    finish_good(&s, good);
}

#[test]
fn megabyte_lines_and_binary_garbage_close_only_their_connections() {
    let (_d, s) = server(&["--keepalive", KEEPALIVE]);
    let good = GoodClient::start(&s, "good");
    let pid = s.proc.pid();
    let before = ProcStats::read(pid).unwrap();
    let huge = vec![b'7'; 1 << 20];
    for _ in 0..10 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        // The server closes after 4 KiB; the rest of the write may fail, which is the point.
        let _ = c.write_all(&huge);
        wait_closed(c, T);
    }
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..20 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        let garbage: Vec<u8> = (0..8192).map(|_| rng.u8(..)).collect();
        let _ = c.write_all(&garbage);
        wait_closed(c, T);
    }
    s.log().wait_count("line longer than 4096 bytes", 10, T);
    let after = ProcStats::read(pid).unwrap();
    assert!(
        after.rss_kib < before.rss_kib + 8 * 1024,
        "RSS grew from {} to {} KiB",
        before.rss_kib,
        after.rss_kib
    );
    finish_good(&s, good);
}

#[test]
fn a_password_brute_force_blocks_that_ip_and_no_other() {
    // Loopback is exempt by default; here it stands for an attacker's address.
    let (_d, s) = server(&["--keepalive", KEEPALIVE, "--auth-exempt", "none"]);
    // The good client comes from another loopback address, 127.0.0.2.
    let good =
        GoodClient::start_with(LineClient::from_stream(connect_from([127, 0, 0, 2], s.addr)), &s, "good");
    for _ in 0..5 {
        let mut c = LineClient::connect(s.addr);
        c.expect("110", T);
        c.send("guess");
        c.expect("111", T);
        c.expect_closed(T);
    }
    s.log().wait_for("blocking 127.0.0.1 for 60 s", T);
    // Even the right password gets nowhere from the blocked ip ...
    let mut blocked = LineClient::connect(s.addr);
    assert_eq!(blocked.recv(T), None);
    // ... while another ip logs in as usual.
    let mut other = LineClient::from_stream(connect_from([127, 0, 0, 3], s.addr));
    assert_eq!(other.login(&s.password, "other"), "140: Connected health=1");
    finish_good(&s, good);
}

#[test]
fn a_connection_flood_past_max_clients_is_refused_and_then_the_server_serves_again() {
    let (_d, s) = server(&["--keepalive", KEEPALIVE, "--max-clients", "50"]);
    let good = GoodClient::start(&s, "good");
    let mut flood: Vec<LineClient> = (0..200).map(|_| LineClient::connect(s.addr)).collect();
    let mut served = 0;
    // All held open while counting: a closed one would free its place for a later one.
    for c in &mut flood {
        if let Some(l) = c.recv(T) {
            assert_eq!(l, "110: qual a senha");
            served += 1;
        }
    }
    assert_eq!(served, 49, "50 places, one taken by the good client");
    assert!(s.log().count("max clients (50) reached") >= 151);
    drop(flood);
    // The flood is gone: new clients get in again.
    wait_until(T, "a place free again", || {
        let mut c = LineClient::connect(s.addr);
        (c.recv(T).is_some()).then_some(())
    });
    finish_good(&s, good);
}

#[test]
fn a_console_client_that_leaves_mid_command_harms_nothing() {
    let (_d, s) = server(&["--keepalive", KEEPALIVE]);
    let good = GoodClient::start(&s, "good");
    // Commands cut off before their line ends (never carried out), and whole harmless ones whose
    // answer nobody stays to read.
    for partial in [&b"20"[..], b"201:", b"202:good", b"L\n", b"200:\n", b"?\n"] {
        let mut a = TcpStream::connect(s.console).unwrap();
        a.write_all(partial).unwrap();
        drop(a);
    }
    let mut a = admin(&s);
    let list = ask(&mut a, "L");
    assert!(list.contains("cid=good status=registered") || list.contains("cid=good ip="), "{list}");
    assert_eq!(ask(&mut a, "202:nobody"), "error: no client nobody");
    finish_good(&s, good);
}
