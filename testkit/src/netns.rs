//! A network namespace of its own joined to this one by a veth pair, for a part that must be able
//! to vanish the way a host does: [`NetNs::cut`] takes the namespace's end of the link down, and
//! packets to it are then dropped without a reset or an ICMP error from the far side (a userspace
//! proxy cannot do that: its kernel still acknowledges everything). Removed on drop.
//!
//! Needs root (CAP_NET_ADMIN) and `ip` (iproute2). Where either is missing, [`NetNs::create`] prints
//! `SKIPPED: network namespaces not available` and returns `None`, unless `CLISER_REQUIRE_PARTS=1`.

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A namespace and its link; see the module docs.
#[derive(Debug)]
pub struct NetNs {
    name: String,
    host_if: String,
    ns_if: String,
    host_addr: Ipv4Addr,
    ns_addr: Ipv4Addr,
    ip: String,
}

static MADE: AtomicU32 = AtomicU32::new(0);

fn skip_or_panic(why: &str) -> Option<NetNs> {
    if crate::parts::parts_required() {
        panic!("network namespaces not available ({why}) and {}=1", crate::REQUIRE_PARTS);
    }
    eprintln!("SKIPPED: network namespaces not available ({why})");
    None
}

impl NetNs {
    /// Makes a namespace named after this process with a /30 of `10.213.0.0/16` not in use here:
    /// this side `.1`, the namespace `.2`, the link up.
    pub fn create() -> Option<NetNs> {
        let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        if !root {
            return skip_or_panic("not root");
        }
        let Some(ip) = find_ip() else {
            return skip_or_panic("no `ip` (iproute2)");
        };
        let k = MADE.fetch_add(1, Ordering::SeqCst);
        let name = format!("clt{}x{k}", std::process::id());
        let (host_addr, ns_addr) = free_subnet(&ip);
        let ns = NetNs {
            host_if: format!("{name}h"),
            ns_if: format!("{name}n"),
            name,
            host_addr,
            ns_addr,
            ip: ip.display().to_string(),
        };
        if let Err(e) = ns.ip(&["netns", "add", &ns.name]) {
            return skip_or_panic(&e);
        }
        let steps: [&[&str]; 7] = [
            &["link", "add", &ns.host_if, "type", "veth", "peer", "name", &ns.ns_if],
            &["link", "set", &ns.ns_if, "netns", &ns.name],
            &["addr", "add", &format!("{host_addr}/30"), "dev", &ns.host_if],
            &["-n", &ns.name, "addr", "add", &format!("{ns_addr}/30"), "dev", &ns.ns_if],
            &["link", "set", &ns.host_if, "up"],
            &["-n", &ns.name, "link", "set", &ns.ns_if, "up"],
            &["-n", &ns.name, "link", "set", "lo", "up"],
        ];
        for step in steps {
            if let Err(e) = ns.ip(step) {
                // `ns` drops here and removes what was made.
                return skip_or_panic(&e);
            }
        }
        Some(ns)
    }

    /// The namespace's name (`/var/run/netns/<name>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's address, reachable from this side while the link is up.
    pub fn addr(&self) -> Ipv4Addr {
        self.ns_addr
    }

    /// This side's address, as the namespace sees it.
    pub fn host_addr(&self) -> Ipv4Addr {
        self.host_addr
    }

    /// Takes the namespace's end of the link down (`true`): what this side sends it is dropped,
    /// nothing answers, not even with a reset. `false` brings it up again.
    pub fn cut(&self, cut: bool) {
        let state = if cut { "down" } else { "up" };
        if let Err(e) = self.ip(&["-n", &self.name, "link", "set", &self.ns_if, state]) {
            panic!("set the namespace's link {state}: {e}");
        }
    }

    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new(&self.ip).args(args).output().map_err(|e| format!("run ip: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        }
    }
}

/// `ip` on PATH, or where iproute2 puts it (root's PATH may lack `/usr/sbin` in a test runner).
fn find_ip() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("ip"))
        .chain(["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].map(std::path::PathBuf::from))
        .find(|p| p.is_file())
}

/// A /30 in `10.213.0.0/16` that no address here is in: (this side, the namespace's side).
fn free_subnet(ip: &std::path::Path) -> (Ipv4Addr, Ipv4Addr) {
    let shown = Command::new(ip)
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    loop {
        let block = fastrand_u16() & 0x3fff;
        let (c, d) = ((block >> 6) as u8, ((block & 0x3f) << 2) as u8);
        if !shown.contains(&format!("inet 10.213.{c}.{}/", d + 1)) {
            return (Ipv4Addr::new(10, 213, c, d + 1), Ipv4Addr::new(10, 213, c, d + 2));
        }
    }
}

/// A number that differs between test processes and between calls (no RNG crate needed here).
fn fastrand_u16() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u32(MADE.load(Ordering::SeqCst));
    h.finish() as u16
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace takes its end of the pair, and with it this end.
        let _ = self.ip(&["netns", "del", &self.name]);
        let _ = self.ip(&["link", "del", &self.host_if]);
    }
}
