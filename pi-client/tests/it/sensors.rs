//! The sensors themselves, end to end: the real client binary (and `probe`) against a w1 tree laid
//! out as the kernel's (a bus master with the devices under it, links at the root, `resolution`,
//! `ext_power`, `therm_bulk_read`): the resolution written once with its report logged once, each
//! sensor's facts logged once, one warning for parasite power on a bulk bus, the clone line exactly
//! as the hal's verdict says.

use crate::common;

use cliser_hal::clones::{assess, rom_of_id, Signs};
use cliser_hal::w1_slave;
use cliser_testkit::Proc;
use common::{DumpLogsOnPanic, FakeServer, WAIT};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Externally powered.
const EXTERNAL: &str = "28-000000000001";
/// Parasite-powered.
const PARASITE: &str = "28-000000000002";
/// cpetrich/counterfeit_DS18B20's README, Family B1: ROM 28-AA-3C-61-55-14-01-F0 (bytes 5-6 not
/// 00-00 as on genuine parts), in the kernel's form.
const FAMILY_B1: &str = "28-011455613caa";
/// 21.000 °C at 12 bits, as a genuine DS18B20 leaves its scratchpad.
const W1_SLAVE: &str = "50 01 4b 46 7f ff 10 10 49 : crc=49 YES\n50 01 4b 46 7f ff 10 10 49 t=21000\n";

/// The kernel's layout: `root/w1_bus_master1/<id>/` and a `root/<id>` link to each.
fn kernel_tree(dir: &Path) -> PathBuf {
    let root = dir.join("w1");
    let master = root.join("w1_bus_master1");
    std::fs::create_dir_all(&master).unwrap();
    let ids = [EXTERNAL, PARASITE, FAMILY_B1];
    std::fs::write(master.join("w1_master_slaves"), format!("{}\n", ids.join("\n"))).unwrap();
    std::fs::write(master.join("therm_bulk_read"), "0\n").unwrap();
    for id in ids {
        let d = master.join(id);
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::symlink(&d, root.join(id)).unwrap();
        std::fs::write(d.join("temperature"), "21000\n").unwrap();
        std::fs::write(d.join("w1_slave"), W1_SLAVE).unwrap();
        std::fs::write(d.join("resolution"), "12\n").unwrap();
        std::fs::write(d.join("conv_time"), "750\n").unwrap();
        std::fs::write(d.join("ext_power"), if id == PARASITE { "0\n" } else { "1\n" }).unwrap();
    }
    root
}

fn scratchpad() -> [u8; 9] {
    let first = w1_slave::parse(W1_SLAVE).unwrap();
    assert!(first.crc_ok && cliser_hal::scratchpad::crc8(&first.scratchpad) == 0, "a valid fixture");
    first.scratchpad
}

#[test]
fn the_client_sets_the_resolution_once_and_logs_each_sensors_facts_once() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let root = kernel_tree(dir.path());
    let server = FakeServer::new();
    let sensor = format!("w1:{}", root.display());
    let mut c = common::client(
        dir.path(),
        server.addr,
        &["--sensor", &sensor, "--interval", "100ms", "--resolution", "10"],
    );
    let changed = c.log.wait_for(&format!("{EXTERNAL}: resolution set from 12 to 10 bits"), WAIT);
    assert!(changed.contains(" INFO "), "{changed}");
    let attribute = root.join(EXTERNAL).join("resolution");
    let written_at = std::fs::metadata(&attribute).unwrap().modified().unwrap();
    // Several samples later: still one report per sensor, the attribute not written again.
    let reading = format!("reading sensor={EXTERNAL} ");
    let before = c.log.count(&reading);
    c.log.wait_count(&reading, before + 5, WAIT);
    assert_eq!(c.log.count("resolution set from 12 to 10 bits"), 3, "one report per sensor per start");
    assert_eq!(std::fs::read_to_string(&attribute).unwrap(), "10\n");
    assert_eq!(std::fs::metadata(&attribute).unwrap().modified().unwrap(), written_at, "written once");

    // Facts: once per sensor.
    assert_eq!(c.log.count(&format!("sensor {EXTERNAL}: external power, 10 bits")), 1);
    assert_eq!(c.log.count(&format!("sensor {PARASITE}: parasite power, 10 bits")), 1);
    // One warning for the parasite-powered sensor converted in bulk, saying what to check.
    let warnings = c.log.lines_with("parasite-powered sensor(s)");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains(" WARN ") && warnings[0].contains(PARASITE), "{}", warnings[0]);
    assert!(warnings[0].contains("dtoverlay=w1-gpio,pullup=1"), "{}", warnings[0]);
    // The clone line is exactly the verdict of the hal on what the client saw (none while the
    // assessment is a stub).
    let signs = Signs {
        rom: rom_of_id(FAMILY_B1),
        scratchpad: Some(scratchpad()),
        power_up_scratchpad: None,
        ignores_resolution: Some(false),
    };
    match assess(&signs) {
        Some(look) => {
            let line = format!("sensor {FAMILY_B1}: {look} (never refused, only reported)");
            let found = c.log.lines_with(&line);
            assert_eq!(found.len(), 1, "{line}");
            assert!(found[0].contains(" WARN "), "{}", found[0]);
        }
        None => assert_eq!(c.log.count("looks like a clone"), 0),
    }
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn probe_shows_power_mode_resolution_and_the_clone_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = kernel_tree(dir.path());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"));
    cmd.args(["probe", "--sensor"]).arg(format!("w1:{}", root.display()));
    let mut p = Proc::spawn(cmd, &dir.path().join("probe.log"));
    assert_eq!(p.wait_exit(WAIT).code(), Some(0));
    let out = p.log.text();
    assert!(out.contains(&format!("  {EXTERNAL}  21.000 °C  external power, 12 bits\n")), "{out}");
    assert!(out.contains(&format!("  {PARASITE}  21.000 °C  parasite power, 12 bits\n")), "{out}");
    assert!(out.contains("warning: parasite-powered sensor(s)"), "{out}");
    let signs = Signs {
        rom: rom_of_id(FAMILY_B1),
        scratchpad: Some(scratchpad()),
        power_up_scratchpad: None,
        ignores_resolution: None,
    };
    match assess(&signs) {
        Some(look) => assert!(
            out.contains(&format!("    {FAMILY_B1}: {look} (never refused, only reported)\n")),
            "{out}"
        ),
        None => assert!(!out.contains("looks like a clone"), "{out}"),
    }
    for id in [EXTERNAL, PARASITE, FAMILY_B1] {
        assert_eq!(
            std::fs::read_to_string(root.join(id).join("resolution")).unwrap(),
            "12\n",
            "probe only looks"
        );
    }
}

#[test]
fn a_bad_resolution_ends_the_client_with_status_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("c.toml");
    std::fs::write(&conf, "[sensors.\"28-000000000001\"]\nresolution = 14\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"))
        .args(["--server", "127.0.0.1:1", "--id", "x", "--config"])
        .arg(&conf)
        .env("CLISER_PASSWORD", "pw")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config key sensors.\"28-000000000001\".resolution \"14\""), "{err}");
}
