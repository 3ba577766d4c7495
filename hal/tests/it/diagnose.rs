//! `diagnose` on fake w1 trees: each fault is named in plain words with its fix.

use crate::common;

use std::fs;
use std::path::Path;

use cliser_hal::diagnose;
use common::{ds18b20_scratchpad, w1_slave_text, FakeW1, POWER_ON};

#[test]
fn no_w1_tree_names_the_config_txt_line() {
    let fake = FakeW1::new();
    let report = diagnose(&fake.root().join("bus/w1/devices"));
    assert!(report.contains("dtoverlay=w1-gpio"), "{report}");
    assert!(report.contains("/boot/firmware/config.txt"), "{report}");
    assert!(report.contains("not enabled"), "{report}");
    let report = diagnose(Path::new("/sys/bus/w1/devices-that-do-not-exist"));
    assert!(report.contains("dtoverlay=w1-gpio"), "{report}");
}

#[test]
fn no_bus_master_means_the_overlay_is_not_active() {
    let fake = FakeW1::without_master();
    let report = diagnose(fake.root());
    assert!(report.contains("no 1-Wire bus master"), "{report}");
    assert!(report.contains("dtoverlay=w1-gpio"), "{report}");
}

#[test]
fn a_master_without_sensors_points_at_the_wiring_and_pull_up() {
    let fake = FakeW1::new();
    let report = diagnose(fake.root());
    assert!(report.contains("w1_bus_master1: no devices found"), "{report}");
    assert!(report.contains("4.7 kΩ"), "{report}");
    assert!(report.contains("GPIO4 (pin 7)"), "{report}");
    assert!(report.contains("no thermometers found"), "{report}");
}

#[test]
fn ghost_devices_mean_a_floating_line() {
    let fake = FakeW1::new();
    fake.add("00-400000000000");
    fake.add("00-800000000000");
    let report = diagnose(fake.root());
    assert!(report.contains("ghost devices 00-400000000000, 00-800000000000"), "{report}");
    assert!(report.contains("pull-up"), "{report}");
}

#[test]
fn crc_failures_point_at_noise_and_cable() {
    let fake = FakeW1::new();
    fake.add("28-000000000001");
    let bad = "72 01 4b 46 7f ff 0e 10 56 : crc=57 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
    fake.set_w1_slave("28-000000000001", bad);
    let report = diagnose(fake.root());
    assert!(report.contains("28-000000000001  error: crc"), "{report}");
    assert!(report.contains("noise") && report.contains("long cable"), "{report}");
}

#[test]
fn stuck_at_85_points_at_power() {
    let fake = FakeW1::new();
    fake.add_sensor("28-000000000001", 85_000, POWER_ON);
    fake.add_sensor("28-000000000002", 21_500, ds18b20_scratchpad(344));
    let report = diagnose(fake.root());
    assert!(report.contains("28-000000000001  error: reset"), "{report}");
    assert!(report.contains("stuck at 85 °C"), "{report}");
    assert!(report.contains("3.3 V"), "{report}");
    assert!(report.contains("28-000000000002  21.500 °C"), "{report}");
}

#[test]
fn healthy_sensors_are_listed_with_their_readings() {
    let fake = FakeW1::new();
    fake.add_sensor("28-0316a2795aff", 23_125, ds18b20_scratchpad(370));
    fake.add("10-000802b4c1d2");
    let s20 = cliser_hal::scratchpad::with_crc([0xEC, 0xFF, 0x4B, 0x46, 0xFF, 0xFF, 0x0E, 0x10]);
    fake.set_w1_slave("10-000802b4c1d2", &w1_slave_text(s20, true, -10_125));
    fake.add("01-000012345678");
    let report = diagnose(fake.root());
    assert!(report.contains("28-0316a2795aff  23.125 °C"), "{report}");
    assert!(report.contains("10-000802b4c1d2  -10.125 °C"), "{report}");
    assert!(report.contains("other 1-Wire devices (not thermometers, ignored): 01-000012345678"), "{report}");
    assert!(report.contains("all 2 sensors read fine"), "{report}");
    assert!(!report.contains("error"), "{report}");
}

#[test]
fn a_sensor_with_empty_files_is_reported_missing() {
    let fake = FakeW1::new();
    fake.add("28-000000000001");
    fs::write(fake.device("28-000000000001").join("temperature"), "").unwrap();
    let report = diagnose(fake.root());
    assert!(report.contains("28-000000000001  error: missing"), "{report}");
    assert!(report.contains("dmesg"), "{report}");
}
