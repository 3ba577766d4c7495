//! How many connections this machine can hold. Each connection runs three threads, and each thread
//! takes two memory mappings (stack and guard page) and one pid: at 10,000 clients that is close to
//! Linux's defaults (`vm.max_map_count` 65,530, `kernel.pid_max` 32,768). Past them thread creation
//! fails, so the server caps `--max-clients` at what the limits allow and says so at start.

/// Mappings one connection costs: three threads, a stack and a guard page each.
pub const MAPS_PER_CONNECTION: usize = 6;
/// Pids (threads) one connection costs.
pub const THREADS_PER_CONNECTION: usize = 3;
/// Mappings kept free for everything else the process maps (libraries, heap arenas, files).
const MAP_RESERVE: usize = 2048;
/// Pids kept free for the rest of the machine.
const PID_RESERVE: usize = 512;

/// The limits and what is already in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `vm.max_map_count`.
    pub max_maps: usize,
    /// Mappings this process has now.
    pub maps_in_use: usize,
    /// The lower of `kernel.pid_max` and `kernel.threads-max`.
    pub max_tasks: usize,
    /// Tasks (threads of all processes) on the machine now.
    pub tasks_in_use: usize,
}

impl Limits {
    /// Reads the limits from `/proc`; `None` where they cannot be read (not Linux).
    pub fn read() -> Option<Limits> {
        let num = |p: &str| std::fs::read_to_string(p).ok()?.trim().parse::<usize>().ok();
        let maps_in_use = std::fs::read_to_string("/proc/self/maps").ok()?.lines().count();
        let tasks_in_use = std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
            .map(|e| std::fs::read_dir(e.path().join("task")).map_or(1, |t| t.count()))
            .sum();
        Some(Limits {
            max_maps: num("/proc/sys/vm/max_map_count")?,
            maps_in_use,
            max_tasks: num("/proc/sys/kernel/pid_max")?.min(num("/proc/sys/kernel/threads-max")?),
            tasks_in_use,
        })
    }

    /// Connections that fit in what is left of both limits.
    pub fn connections(&self) -> usize {
        let maps = self.max_maps.saturating_sub(self.maps_in_use + MAP_RESERVE) / MAPS_PER_CONNECTION;
        let tasks = self.max_tasks.saturating_sub(self.tasks_in_use + PID_RESERVE) / THREADS_PER_CONNECTION;
        maps.min(tasks)
    }
}

/// `asked` (`--max-clients`) as this machine holds it ([`cap_max_clients`]), with the descriptor
/// table grown for it at once (else accepting pauses while it grows).
pub fn hold_max_clients(asked: usize) -> usize {
    let max_clients = cap_max_clients(asked);
    let fds = max_clients.saturating_add(crate::link::process_limits::DESCRIPTOR_RESERVE);
    match crate::link::process_limits::reserve_descriptor_table(fds) {
        Ok(n) => log::debug!("descriptor table: room for {n}"),
        Err(e) => {
            log::warn!("cannot grow the descriptor table at start ({e}); accepting may pause as it grows")
        }
    }
    max_clients
}

/// `asked` (`--max-clients`), capped at the connections this machine's limits hold; says so when it
/// caps.
pub fn cap_max_clients(asked: usize) -> usize {
    match Limits::read() {
        Some(limits) if limits.connections() < asked => {
            log::warn!(
                "--max-clients {asked} is more than this machine can hold: {} connections fit in \
                 vm.max_map_count {} and {} pids (3 threads and 6 mappings each); capping at {}",
                limits.connections(),
                limits.max_maps,
                limits.max_tasks,
                limits.connections()
            );
            limits.connections()
        }
        _ => asked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machines_defaults_hold_ten_thousand_clients() {
        let l = Limits { max_maps: 65_530, maps_in_use: 120, max_tasks: 32_768, tasks_in_use: 150 };
        assert_eq!(l.connections(), 10_560);
    }

    #[test]
    fn the_scarcer_limit_decides() {
        let l = Limits { max_maps: 1_000_000, maps_in_use: 100, max_tasks: 4_096, tasks_in_use: 1_000 };
        assert_eq!(l.connections(), (4_096 - 1_000 - 512) / 3);
        let l = Limits { max_maps: 65_530, maps_in_use: 70_000, max_tasks: 4_194_304, tasks_in_use: 10 };
        assert_eq!(l.connections(), 0);
    }

    #[test]
    fn reads_this_machine() {
        let l = Limits::read().expect("linux /proc");
        assert!(l.max_maps > 0 && l.maps_in_use > 0 && l.tasks_in_use > 0);
    }
}
