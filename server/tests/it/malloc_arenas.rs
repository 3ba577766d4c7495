//! The server's threads share two malloc arenas (glibc gives each new thread one of its own, up to
//! 8 per core, and each keeps what its threads freed: a server after a burst held far more than it
//! used). An operator's `MALLOC_ARENA_MAX` stands.

use crate::common;
use common::*;

/// glibc maps each arena's heap as a reservation of this size at an address aligned to it.
const ARENA_HEAP: u64 = 64 << 20;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_servers_threads_share_at_most_two_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        eprintln!("not checked: MALLOC_ARENA_MAX is set in this environment and the server keeps it");
        return;
    }
    let (_d, s) = server(&["--keepalive", "200ms"]);
    s.log().wait_for("malloc arenas: at most 2", T);
    let heaps = arena_heaps_with_clients(&s);
    // The main arena is the program's heap ([heap]); the second is the one mapped heap.
    assert!(heaps <= 1, "{heaps} malloc arena heaps besides the main arena:\n{}", maps(s.proc.pid()));
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn without_the_limit_the_same_server_maps_an_arena_heap_per_busy_thread() {
    // What the test above would see without the server's limit: the count it checks can fail.
    let dir = tempfile::tempdir().expect("temp dir");
    let s =
        ServerHandle::start_with_env(dir.path(), &["--keepalive", "200ms"], &[("MALLOC_ARENA_MAX", "64")]);
    s.log().wait_for("malloc arenas: as the environment or the allocator has them", T);
    let heaps = arena_heaps_with_clients(&s);
    assert!(heaps >= 4, "only {heaps} arena heaps with MALLOC_ARENA_MAX=64:\n{}", maps(s.proc.pid()));
}

/// The arena heaps of server `s` once ten clients are connected and have a reading stored each.
/// Their connections add three threads each, and their readings pass through every core thread
/// (sink, alerts, the page's live view): without a limit each thread that allocates gets an arena.
fn arena_heaps_with_clients(s: &ServerHandle) -> usize {
    let _clients: Vec<_> = (0..10)
        .map(|i| {
            let (mut c, _) = client(s, &format!("arena-{i}"));
            c.send(&format!("100 t=21.{i}#1"));
            c
        })
        .collect();
    for i in 0..10 {
        s.log().wait_for(&format!("reading cid=arena-{i} "), T);
    }
    arena_heaps(s.proc.pid())
}

fn maps(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("/proc/<pid>/maps")
}

/// Arena heaps besides the main arena: anonymous read-write mappings at a 64 MiB-aligned address
/// that, with the inaccessible rest of their reservation right after them, span 64 MiB.
fn arena_heaps(pid: u32) -> usize {
    struct Region {
        start: u64,
        end: u64,
        perms: String,
        anonymous: bool,
    }
    let regions: Vec<Region> = maps(pid)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (range, perms) = (f.next()?, f.next()?);
            let (start, end) = range.split_once('-')?;
            let anonymous = f.nth(2)? == "0" && f.next().is_none();
            Some(Region {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                perms: perms.to_owned(),
                anonymous,
            })
        })
        .collect();
    regions
        .iter()
        .enumerate()
        .filter(|(i, r)| {
            if !(r.anonymous && r.perms.starts_with("rw") && r.start % ARENA_HEAP == 0) {
                return false;
            }
            r.end - r.start == ARENA_HEAP
                || regions.get(i + 1).is_some_and(|n| {
                    n.anonymous && n.perms == "---p" && n.start == r.end && n.end == r.start + ARENA_HEAP
                })
        })
        .count()
}
