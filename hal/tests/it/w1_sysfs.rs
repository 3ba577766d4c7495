//! The w1 sysfs backend on fake trees with the kernel's file formats.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cliser_hal::clones::{assess, rom_of_id, Signs};
use cliser_hal::facts::{parasite_warning, PowerMode};
use cliser_hal::resolution::{
    Resolution, ResolutionOutcome, ResolutionPlan, ResolutionReport, ResolutionSetting,
};
use cliser_hal::scratchpad::with_crc;
use cliser_hal::w1_sysfs::W1Thermometers;
use cliser_hal::{open, HalError, SensorError, SensorId, SensorSpec, Thermometers};
use common::{ds18b20_scratchpad, w1_slave_text, FakeW1, W1Kernel, POWER_ON};

fn readings(t: &mut impl Thermometers) -> Vec<(String, Result<i32, SensorError>)> {
    t.read_all().unwrap().into_iter().map(|s| (s.sensor.to_string(), s.result)).collect()
}

/// The one sensor's reading through `temperature` where there is one: the first reads of a start
/// go through `w1_slave` (until its facts are complete), so those are done first.
fn one(fake: &FakeW1) -> Result<i32, SensorError> {
    let mut t = W1Thermometers::open(fake.root()).unwrap();
    for _ in 0..3 {
        readings(&mut t);
        if !t.take_sensor_facts().is_empty() {
            break;
        }
    }
    let samples = readings(&mut t);
    assert_eq!(samples.len(), 1, "{samples:?}");
    samples.into_iter().next().unwrap().1
}

/// Records every attribute read.
fn recorder() -> (Arc<Mutex<Vec<PathBuf>>>, impl FnMut(&Path) + Send + 'static) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    (log, move |p: &Path| sink.lock().unwrap().push(p.to_path_buf()))
}

#[test]
fn temperature_attributes_with_a_bulk_conversion_first() {
    let fake = FakeW1::new();
    fake.add_sensor("28-0316a2795aff", 23_125, ds18b20_scratchpad(370));
    fake.add_sensor("28-000802b4c1d2", -10_125, ds18b20_scratchpad(-162));
    let bulk = fake.bulk_read();
    let seen_at_first_read = Arc::new(Mutex::new(None));
    let seen = seen_at_first_read.clone();
    let mut t = W1Thermometers::open(fake.root()).unwrap().on_read(move |_| {
        seen.lock().unwrap().get_or_insert_with(|| fs::read(&bulk).unwrap());
    });
    assert_eq!(t.discover().unwrap(), ["28-000802b4c1d2", "28-0316a2795aff"]);
    assert_eq!(
        readings(&mut t),
        [("28-000802b4c1d2".to_owned(), Ok(-10_125)), ("28-0316a2795aff".to_owned(), Ok(23_125))]
    );
    // Exactly the 8 bytes the kernel accepts, written before any sensor was read.
    assert_eq!(seen_at_first_read.lock().unwrap().as_deref(), Some(&b"trigger\n"[..]));
}

#[test]
fn a_single_sensor_converts_on_its_own() {
    let fake = FakeW1::new();
    fake.add_sensor("28-0316a2795aff", 21_000, ds18b20_scratchpad(336));
    assert_eq!(one(&fake), Ok(21_000));
    assert_eq!(fs::read_to_string(fake.bulk_read()).unwrap(), "0\n");
}

#[test]
fn a_bulk_trigger_that_cannot_be_written_is_not_an_error() {
    let fake = FakeW1::new();
    fake.add_sensor("28-000000000001", 1_000, ds18b20_scratchpad(16));
    fake.add_sensor("28-000000000002", 2_000, ds18b20_scratchpad(32));
    fs::remove_file(fake.bulk_read()).unwrap();
    fs::create_dir(fake.bulk_read()).unwrap();
    let mut t = W1Thermometers::open(fake.root()).unwrap();
    assert_eq!(readings(&mut t).iter().map(|s| s.1.clone()).collect::<Vec<_>>(), [Ok(1_000), Ok(2_000)]);
}

#[test]
fn w1_slave_where_there_is_no_temperature_attribute() {
    let fake = FakeW1::new();
    fake.add("28-0316a2795aff");
    // The kernel documentation's example, verbatim.
    fake.set_w1_slave(
        "28-0316a2795aff",
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n",
    );
    assert_eq!(one(&fake), Ok(23_125));
    for (raw, want) in [(-162i16, -10_125), (-880, -55_000), (-8, -500), (2000, 125_000), (0, 0)] {
        fake.set_w1_slave("28-0316a2795aff", &w1_slave_text(ds18b20_scratchpad(raw), true, want));
        assert_eq!(one(&fake), Ok(want), "raw {raw}");
    }
}

#[test]
fn a_crc_no_is_read_again_once_then_reported_as_crc() {
    let fake = FakeW1::new();
    fake.add("28-0316a2795aff");
    let bad = "72 01 4b 46 7f ff 0e 10 56 : crc=57 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
    fake.set_w1_slave("28-0316a2795aff", bad);

    let (log, hook) = recorder();
    let mut t = W1Thermometers::open(fake.root()).unwrap().on_read(hook);
    assert_eq!(readings(&mut t)[0].1, Err(SensorError::Crc));
    assert_eq!(log.lock().unwrap().len(), 2, "one read and one retry");
    let sensor = SensorId::new("28-0316a2795aff").unwrap();
    assert_eq!(t.take_retries(), [(sensor.clone(), 1)], "the retry is counted");

    // The kernel converts again on each read: here the second one passes.
    let w1_slave = fake.root().join("28-0316a2795aff/w1_slave");
    let good = w1_slave_text(ds18b20_scratchpad(-162), true, -10_125);
    let mut t = W1Thermometers::open(fake.root()).unwrap().on_read(move |p| {
        if p == w1_slave {
            fs::write(p, &good).unwrap();
        }
    });
    assert_eq!(readings(&mut t)[0].1, Ok(-10_125));
    assert_eq!(t.take_retries(), [(sensor, 1)], "a retry that passed is counted too");
    assert_eq!(t.take_retries(), [], "taken once");
}

#[test]
fn power_on_85_is_reset_and_a_real_85_is_kept() {
    let fake = FakeW1::new();
    fake.add_sensor("28-000000000001", 85_000, POWER_ON);
    assert_eq!(one(&fake), Err(SensorError::Reset));
    fake.set_w1_slave("28-000000000001", &w1_slave_text(ds18b20_scratchpad(0x0550), true, 85_000));
    assert_eq!(one(&fake), Ok(85_000));
    // Without the raw bytes the power-on value cannot be told from a real one: assume the worst.
    fs::remove_file(fake.device("28-000000000001").join("w1_slave")).unwrap();
    assert_eq!(one(&fake), Err(SensorError::Reset));
    // And through w1_slave alone, as on older kernels.
    let fake = FakeW1::new();
    fake.add("28-000000000002");
    fake.set_w1_slave("28-000000000002", &w1_slave_text(POWER_ON, true, 85_000));
    assert_eq!(one(&fake), Err(SensorError::Reset));
}

#[test]
fn phantom_zero_and_127_94_are_crc_but_a_real_zero_is_kept() {
    let fake = FakeW1::new();
    // Older kernels showed a vanished sensor as an all-zero scratchpad, which passes the CRC.
    fake.add_sensor("28-000000000001", 0, [0; 9]);
    assert_eq!(one(&fake), Err(SensorError::Crc));
    fake.set_w1_slave("28-000000000001", &w1_slave_text(ds18b20_scratchpad(0), true, 0));
    assert_eq!(one(&fake), Ok(0));
    fake.set_temperature("28-000000000001", "127937\n");
    assert_eq!(one(&fake), Err(SensorError::Crc));
    let stuck = with_crc([0xFF, 0x07, 0x4B, 0x46, 0x7F, 0xFF, 0x01, 0x10]);
    fs::remove_file(fake.device("28-000000000001").join("temperature")).unwrap();
    fake.set_w1_slave("28-000000000001", &w1_slave_text(stuck, true, 127_937));
    assert_eq!(one(&fake), Err(SensorError::Crc));
}

#[test]
fn empty_files_are_missing_not_zero() {
    let fake = FakeW1::new();
    fake.add_sensor("28-000000000001", 20_000, ds18b20_scratchpad(320));
    fake.set_temperature("28-000000000001", "");
    assert_eq!(one(&fake), Err(SensorError::Missing));
    fs::remove_file(fake.device("28-000000000001").join("temperature")).unwrap();
    fake.set_w1_slave("28-000000000001", "");
    assert_eq!(one(&fake), Err(SensorError::Missing));
}

#[test]
fn unreadable_and_garbled_files_are_io_errors() {
    let fake = FakeW1::new();
    fake.add("28-000000000001");
    // A directory where the attribute should be: unreadable even for root.
    fs::create_dir(fake.device("28-000000000001").join("temperature")).unwrap();
    assert!(matches!(one(&fake), Err(SensorError::Io(why)) if why.contains("temperature")));

    let fake = FakeW1::new();
    fake.add_sensor("28-000000000001", 20_000, ds18b20_scratchpad(320));
    fake.set_temperature("28-000000000001", "twenty\n");
    assert!(matches!(one(&fake), Err(SensorError::Io(_))));
    fs::write(fake.device("28-000000000001").join("temperature"), [0xff, 0xfe, b'\n']).unwrap();
    assert!(matches!(one(&fake), Err(SensorError::Io(_))));
    fs::remove_file(fake.device("28-000000000001").join("temperature")).unwrap();
    fake.set_w1_slave("28-000000000001", "72 01 4b 46 : crc=57 YES\n");
    assert!(matches!(one(&fake), Err(SensorError::Io(why)) if why.contains("w1_slave")));
}

#[test]
fn a_sensor_removed_between_reads_is_missing_and_read_again_when_back() {
    let fake = FakeW1::new();
    fake.add_sensor("28-000000000001", 20_000, ds18b20_scratchpad(320));
    fake.add_sensor("28-000000000002", -5_000, ds18b20_scratchpad(-80));
    let mut t = W1Thermometers::open(fake.root()).unwrap();
    assert_eq!(readings(&mut t).len(), 2);

    fake.remove("28-000000000001");
    assert_eq!(t.discover().unwrap(), ["28-000000000002"]);
    assert_eq!(
        readings(&mut t),
        [
            ("28-000000000001".to_owned(), Err(SensorError::Missing)),
            ("28-000000000002".to_owned(), Ok(-5_000))
        ]
    );

    fake.add_sensor("28-000000000001", 19_000, ds18b20_scratchpad(304));
    assert_eq!(
        readings(&mut t),
        [("28-000000000001".to_owned(), Ok(19_000)), ("28-000000000002".to_owned(), Ok(-5_000))]
    );
}

#[test]
fn a_sensor_whose_directory_vanishes_during_the_read_is_missing() {
    let fake = FakeW1::new();
    fake.add_sensor("28-000000000001", 20_000, ds18b20_scratchpad(320));
    fake.add_sensor("28-000000000002", 21_000, ds18b20_scratchpad(336));
    let root = fake.root().to_path_buf();
    let mut t = W1Thermometers::open(fake.root()).unwrap().on_read(move |p| {
        if p.to_string_lossy().contains("28-000000000001") {
            let target = root.join("w1_bus_master1/28-000000000002");
            let _ = fs::remove_dir_all(target);
        }
    });
    assert_eq!(
        readings(&mut t),
        [
            ("28-000000000001".to_owned(), Ok(20_000)),
            ("28-000000000002".to_owned(), Err(SensorError::Missing))
        ]
    );
}

#[test]
fn every_w1_therm_family_is_found_and_nothing_else() {
    let fake = FakeW1::new();
    for id in ["10-000802b4c1d2", "22-000000000022", "28-000000000028", "3b-00000000003b", "42-000000000042"]
    {
        fake.add(id);
    }
    fake.add("00-400000000000");
    fake.add("01-000012345678");
    let mut t = W1Thermometers::open(fake.root()).unwrap();
    assert_eq!(
        t.discover().unwrap(),
        ["10-000802b4c1d2", "22-000000000022", "28-000000000028", "3b-00000000003b", "42-000000000042"]
    );
}

#[test]
fn a_ds18s20_through_w1_slave_uses_count_remain() {
    let fake = FakeW1::new();
    fake.add("10-000802b4c1d2");
    // −10.125 °C: register −10.0 (0xFFEC), COUNT_REMAIN 14, COUNT_PER_C 16.
    let sp = with_crc([0xEC, 0xFF, 0x4B, 0x46, 0xFF, 0xFF, 0x0E, 0x10]);
    fake.set_w1_slave("10-000802b4c1d2", &w1_slave_text(sp, true, -10_125));
    assert_eq!(one(&fake), Ok(-10_125));
}

#[test]
fn a_missing_root_is_unavailable_with_the_fix() {
    let fake = FakeW1::new();
    let gone = fake.root().join("nope");
    match W1Thermometers::open(&gone) {
        Err(HalError::Unavailable(why)) => assert!(why.contains("dtoverlay=w1-gpio"), "{why}"),
        other => panic!("{other:?}"),
    }
    let mut t = W1Thermometers::open(fake.root()).unwrap();
    drop(fake);
    assert!(matches!(t.read_all(), Err(HalError::Unavailable(_))));
}

#[test]
fn open_w1_dir_from_the_spec() {
    let fake = FakeW1::new();
    fake.add_sensor("28-000000000001", 20_000, ds18b20_scratchpad(320));
    let spec: SensorSpec = format!("w1:{}", fake.root().display()).parse().unwrap();
    let mut t = open(&spec).unwrap();
    assert_eq!(t.read_all().unwrap()[0].result, Ok(20_000));
}

/// Two DS18B20s, one at 12 bits and one at 9, and a DS18S20 (no resolution), with the kernel's
/// w1_therm behaviour after writes.
fn three_sensors() -> (FakeW1, W1Kernel) {
    let fake = FakeW1::new();
    fake.add_sensor("28-000000000012", 21_000, ds18b20_scratchpad(336));
    fake.add_sensor("28-000000000009", 21_000, ds18b20_scratchpad(336));
    fake.set_resolution("28-000000000009", Resolution::Bits9);
    let s20 = with_crc([0x2A, 0x00, 0x4B, 0x46, 0xFF, 0xFF, 0x0C, 0x10]);
    fake.add_sensor("10-000802b4c1d2", 21_000, s20);
    (fake, W1Kernel::new())
}

fn at(fake: &FakeW1, kernel: &W1Kernel, setting: ResolutionSetting) -> W1Thermometers {
    W1Thermometers::open(fake.root()).unwrap().with_resolution(setting).on_write(kernel.hook())
}

fn report(id: &str, outcome: ResolutionOutcome) -> ResolutionReport {
    ResolutionReport { sensor: SensorId::new(id).unwrap(), outcome }
}

#[test]
fn the_fake_tree_has_the_attributes_of_w1_therm() {
    let (fake, _) = three_sensors();
    assert_eq!(fake.attribute("28-000000000012", "resolution"), "12\n");
    assert_eq!(fake.attribute("28-000000000012", "conv_time"), "750\n");
    assert_eq!(fake.attribute("28-000000000009", "resolution"), "9\n");
    assert_eq!(fake.attribute("28-000000000009", "conv_time"), "95\n");
    assert_eq!(fake.attribute("28-000000000012", "ext_power"), "1\n");
    // The DS18S20 has no configuration register, so no resolution attribute.
    assert!(!fake.device("10-000802b4c1d2").join("resolution").exists());
    assert_eq!(fake.attribute("10-000802b4c1d2", "conv_time"), "750\n");
    let mode = fs::metadata(fake.device("28-000000000012").join("eeprom_cmd")).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o200, "write-only");
}

#[test]
fn the_resolution_is_written_once_and_only_where_it_differs() {
    let (fake, kernel) = three_sensors();
    let mut t = at(&fake, &kernel, ResolutionSetting { resolution: Resolution::Bits9, persist: false });
    assert!(t.take_resolution_reports().is_empty(), "nothing before the first read");
    assert_eq!(readings(&mut t).len(), 3);
    assert_eq!(kernel.writes_to("resolution"), [("28-000000000012".to_owned(), "9\n".to_owned())]);
    assert_eq!(kernel.writes_to("eeprom_cmd"), [], "not asked to persist");
    assert_eq!(fake.attribute("28-000000000012", "conv_time"), "95\n");
    assert_eq!(
        t.take_resolution_reports(),
        [
            report("28-000000000009", ResolutionOutcome::Unchanged(Resolution::Bits9)),
            report(
                "28-000000000012",
                ResolutionOutcome::Changed {
                    from: Resolution::Bits12,
                    to: Resolution::Bits9,
                    persisted: false
                }
            ),
        ]
    );
    // Later reads and a restart write nothing more; the restart reports each sensor once again.
    for _ in 0..3 {
        readings(&mut t);
    }
    assert!(t.take_resolution_reports().is_empty());
    let mut t = at(&fake, &kernel, ResolutionSetting { resolution: Resolution::Bits9, persist: false });
    readings(&mut t);
    assert_eq!(kernel.write_count(), 1);
    assert_eq!(t.take_resolution_reports().len(), 2);
}

#[test]
fn the_eeprom_is_saved_only_when_asked_and_only_for_a_sensor_that_changed() {
    let (fake, kernel) = three_sensors();
    let mut t = at(&fake, &kernel, ResolutionSetting { resolution: Resolution::Bits11, persist: true });
    readings(&mut t);
    readings(&mut t);
    let mut writes = kernel.writes_to("resolution");
    writes.sort();
    assert_eq!(
        writes,
        [
            ("28-000000000009".to_owned(), "11\n".to_owned()),
            ("28-000000000012".to_owned(), "11\n".to_owned())
        ]
    );
    let mut saves = kernel.writes_to("eeprom_cmd");
    saves.sort();
    assert_eq!(
        saves,
        [
            ("28-000000000009".to_owned(), "save\n".to_owned()),
            ("28-000000000012".to_owned(), "save\n".to_owned())
        ]
    );
    assert!(t.take_resolution_reports().iter().all(|r| matches!(
        r.outcome,
        ResolutionOutcome::Changed { to: Resolution::Bits11, persisted: true, .. }
    )));
    // Now at 11 bits: a restart with persist on saves nothing.
    let mut t = at(&fake, &kernel, ResolutionSetting { resolution: Resolution::Bits11, persist: true });
    readings(&mut t);
    assert_eq!(kernel.writes_to("eeprom_cmd").len(), 2);
}

#[test]
fn a_sensor_that_ignores_the_resolution_is_reported_once() {
    let (fake, kernel) = three_sensors();
    kernel.ignores("28-000000000012", Resolution::Bits12);
    let mut t = at(&fake, &kernel, ResolutionSetting { resolution: Resolution::Bits10, persist: true });
    for _ in 0..3 {
        readings(&mut t);
    }
    let reports = t.take_resolution_reports();
    let ignored = report(
        "28-000000000012",
        ResolutionOutcome::Ignored { wanted: Resolution::Bits10, reads: Resolution::Bits12 },
    );
    assert!(reports.contains(&ignored), "{reports:?}");
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(ignored.to_string().contains("28-000000000012"), "{ignored}");
    // Written once, never saved, not written again on the later reads.
    assert_eq!(kernel.writes_to("resolution").iter().filter(|w| w.0 == "28-000000000012").count(), 1);
    assert!(kernel.writes_to("eeprom_cmd").iter().all(|w| w.0 != "28-000000000012"));
    assert_eq!(fake.attribute("28-000000000012", "conv_time"), "750\n");
}

#[test]
fn without_a_setting_nothing_is_written_and_an_unreadable_attribute_is_a_failure() {
    let (fake, kernel) = three_sensors();
    let mut t = W1Thermometers::open(fake.root()).unwrap().on_write(kernel.hook());
    readings(&mut t);
    assert_eq!(kernel.write_count(), 0);
    assert!(t.take_resolution_reports().is_empty());

    let resolution = fake.device("28-000000000012").join("resolution");
    fs::remove_file(&resolution).unwrap();
    fs::create_dir(&resolution).unwrap();
    let mut t = at(&fake, &kernel, ResolutionSetting { resolution: Resolution::Bits9, persist: false });
    assert_eq!(readings(&mut t)[2].1, Ok(21_000), "the reading does not depend on it");
    let reports = t.take_resolution_reports();
    assert!(
        matches!(&reports[1].outcome, ResolutionOutcome::Failed(why) if why.contains("resolution")),
        "{reports:?}"
    );
    assert_eq!(reports[0], report("28-000000000009", ResolutionOutcome::Unchanged(Resolution::Bits9)));
    assert_eq!(kernel.write_count(), 0, "the one at 9 bits already is not written, the other cannot be read");
}

fn plan(default: Option<Resolution>, per_sensor: &[(&str, Resolution)], persist: bool) -> ResolutionPlan {
    ResolutionPlan {
        default,
        per_sensor: per_sensor.iter().map(|(id, r)| (SensorId::new(id).unwrap(), *r)).collect(),
        persist,
    }
}

#[test]
fn a_plan_sets_each_sensor_as_it_asks_and_leaves_the_others() {
    let (fake, kernel) = three_sensors();
    let only_one = plan(None, &[("28-000000000012", Resolution::Bits10)], false);
    let mut t =
        W1Thermometers::open(fake.root()).unwrap().with_resolution_plan(only_one).on_write(kernel.hook());
    readings(&mut t);
    readings(&mut t);
    assert_eq!(kernel.writes_to("resolution"), [("28-000000000012".to_owned(), "10\n".to_owned())]);
    let reports = t.take_resolution_reports();
    assert_eq!(reports.len(), 1, "nothing asked of the others: {reports:?}");

    // A default with an exception: the exception wins for its sensor.
    let (fake, kernel) = three_sensors();
    let mixed = plan(Some(Resolution::Bits11), &[("28-000000000009", Resolution::Bits9)], false);
    let mut t =
        W1Thermometers::open(fake.root()).unwrap().with_resolution_plan(mixed).on_write(kernel.hook());
    readings(&mut t);
    assert_eq!(kernel.writes_to("resolution"), [("28-000000000012".to_owned(), "11\n".to_owned())]);
    assert_eq!(
        t.take_resolution_reports()[0],
        report("28-000000000009", ResolutionOutcome::Unchanged(Resolution::Bits9))
    );
}

/// A sensor as w1_therm before 5.9 shows it: `w1_slave` only, at 12 bits.
fn pre_5_9() -> (FakeW1, W1Kernel) {
    let fake = FakeW1::new();
    let kernel = W1Kernel::new();
    fake.add_sensor("28-000000000001", 21_000, ds18b20_scratchpad(336));
    fake.make_pre_5_9("28-000000000001");
    kernel.old_w1_slave(&fake, "28-000000000001", ds18b20_scratchpad(336), 21_000);
    (fake, kernel)
}

#[test]
fn before_linux_5_9_the_precision_is_written_into_w1_slave_once() {
    let (fake, kernel) = pre_5_9();
    let mut t = at(&fake, &kernel, ResolutionSetting { resolution: Resolution::Bits10, persist: true });
    for _ in 0..3 {
        assert_eq!(readings(&mut t), [("28-000000000001".to_owned(), Ok(21_000))]);
    }
    // The precision, then 0 to save it: the two writes w1_therm's w1_slave_store takes.
    let writes: Vec<String> = kernel.writes_to("w1_slave").into_iter().map(|w| w.1).collect();
    assert_eq!(writes, ["10\n", "0\n"]);
    assert_eq!(kernel.write_count(), 2, "nothing else written");
    assert_eq!(
        t.take_resolution_reports(),
        [report(
            "28-000000000001",
            ResolutionOutcome::Changed { from: Resolution::Bits12, to: Resolution::Bits10, persisted: true }
        )]
    );
    let facts = t.take_sensor_facts();
    assert_eq!(facts.len(), 1);
    assert_eq!(
        (facts[0].resolution, facts[0].power),
        (Some(Resolution::Bits10), None),
        "no ext_power before 5.9"
    );
}

#[test]
fn before_linux_5_9_a_sensor_that_ignores_the_precision_or_an_unreadable_register_is_reported() {
    let (fake, kernel) = pre_5_9();
    kernel.ignores("28-000000000001", Resolution::Bits12);
    let mut t = at(&fake, &kernel, ResolutionSetting { resolution: Resolution::Bits9, persist: true });
    readings(&mut t);
    assert_eq!(
        t.take_resolution_reports()[0].outcome,
        ResolutionOutcome::Ignored { wanted: Resolution::Bits9, reads: Resolution::Bits12 }
    );
    assert_eq!(kernel.writes_to("w1_slave").len(), 1, "not saved, not written again");

    let (fake, kernel) = pre_5_9();
    fake.set_w1_slave("28-000000000001", &w1_slave_text(ds18b20_scratchpad(336), false, 21_000));
    let mut t = at(&fake, &kernel, ResolutionSetting { resolution: Resolution::Bits9, persist: false });
    readings(&mut t);
    let reports = t.take_resolution_reports();
    assert!(
        matches!(&reports[0].outcome, ResolutionOutcome::Failed(why)
            if why.starts_with("this kernel's w1_therm has no resolution attribute (Linux 5.9+)")),
        "{reports:?}"
    );
    assert_eq!(kernel.write_count(), 0);
    readings(&mut t);
    assert!(t.take_resolution_reports().is_empty(), "once per start");
}

#[test]
fn ext_power_gives_the_power_mode_and_parasite_power_on_a_bulk_bus_one_warning() {
    let fake = FakeW1::new();
    fake.add_sensor("28-000000000001", 21_000, ds18b20_scratchpad(336));
    fake.add_sensor("28-000000000002", 21_000, ds18b20_scratchpad(336));
    fake.add_sensor("28-000000000003", 21_000, ds18b20_scratchpad(336));
    fake.set_ext_power("28-000000000002", "0\n");
    fake.set_ext_power("28-000000000003", "-5\n");
    let (log, hook) = recorder();
    let mut t = W1Thermometers::open(fake.root()).unwrap().on_read(hook);
    let mut facts = Vec::new();
    for _ in 0..3 {
        readings(&mut t);
        facts.extend(t.take_sensor_facts());
    }
    let power: Vec<_> = facts.iter().map(|f| f.power).collect();
    assert_eq!(power, [Some(PowerMode::External), Some(PowerMode::Parasite), None]);
    let ext_power_reads = log.lock().unwrap().iter().filter(|p| p.ends_with("ext_power")).count();
    assert_eq!(ext_power_reads, 3, "read once per sensor per start");
    // Three sensors on one master: the bulk read is triggered, so the parasite one is warned about.
    let warning = parasite_warning(&facts).expect("a warning");
    assert!(warning.contains("28-000000000002") && !warning.contains("28-000000000001"), "{warning}");
    assert!(warning.contains("dtoverlay=w1-gpio,pullup=1") && warning.contains("85 °C"), "{warning}");
    assert_eq!(facts[1].to_string(), "28-000000000002: parasite power, 12 bits, on w1_bus_master1");

    // One sensor alone converts on its own read: no bulk conversion, no warning.
    let fake = FakeW1::new();
    fake.add_sensor("28-000000000002", 21_000, ds18b20_scratchpad(336));
    fake.set_ext_power("28-000000000002", "0\n");
    let mut t = W1Thermometers::open(fake.root()).unwrap();
    readings(&mut t);
    let facts = t.take_sensor_facts();
    assert_eq!(facts[0].power, Some(PowerMode::Parasite));
    assert_eq!(parasite_warning(&facts), None);
}

/// cpetrich/counterfeit_DS18B20 (README, Family B1): ROM 28-AA-3C-61-55-14-01-F0, whose bytes 5-6
/// are not 00-00 as on a genuine Maxim part. The facts carry what the backend saw and exactly the
/// verdict `assess` gives on it (a stub returns `None`; the real one flags it).
#[test]
fn the_facts_carry_the_first_lines_bytes_and_the_clone_verdict_on_them() {
    let fake = FakeW1::new();
    let id = "28-011455613caa";
    let bytes = ds18b20_scratchpad(336);
    fake.add_sensor(id, 21_000, bytes);
    let mut t = W1Thermometers::open(fake.root()).unwrap();
    readings(&mut t);
    let facts = t.take_sensor_facts();
    let signs = Signs {
        rom: rom_of_id(id),
        scratchpad: Some(bytes),
        power_up_scratchpad: None,
        ignores_resolution: None,
    };
    assert_eq!(signs.rom.unwrap(), [0x28, 0xAA, 0x3C, 0x61, 0x55, 0x14, 0x01, 0xF0], "the study's ROM");
    assert_eq!(facts[0].signs, signs);
    assert_eq!(facts[0].clone, assess(&signs));
    assert_eq!(facts[0].resolution, Some(Resolution::Bits12));
}

/// Two `w1-gpio` overlays: `w1_bus_master1` and `w1_bus_master2`, each sensor's directory under
/// its own master and linked from the root, as the kernel lays them out.
#[test]
fn with_two_bus_masters_each_sensors_facts_name_its_own() {
    let fake = FakeW1::new();
    fake.add_sensor_on(1, "28-000000000001", 21_000, ds18b20_scratchpad(336));
    fake.add_sensor_on(1, "28-000000000002", 21_500, ds18b20_scratchpad(344));
    fake.add_sensor_on(2, "28-0000000000b1", 5_000, ds18b20_scratchpad(80));
    assert!(fake.root().join("w1_bus_master2/28-0000000000b1/temperature").exists());
    assert_eq!(fs::read_to_string(fake.master_n(2).join("w1_master_slaves")).unwrap(), "28-0000000000b1\n");
    let mut t = W1Thermometers::open(fake.root()).unwrap();
    assert_eq!(
        readings(&mut t),
        [
            ("28-000000000001".to_owned(), Ok(21_000)),
            ("28-000000000002".to_owned(), Ok(21_500)),
            ("28-0000000000b1".to_owned(), Ok(5_000))
        ]
    );
    let buses: Vec<_> = t.take_sensor_facts().into_iter().map(|f| (f.sensor.to_string(), f.bus)).collect();
    assert_eq!(
        buses,
        [
            ("28-000000000001".to_owned(), Some("w1_bus_master1".to_owned())),
            ("28-000000000002".to_owned(), Some("w1_bus_master1".to_owned())),
            ("28-0000000000b1".to_owned(), Some("w1_bus_master2".to_owned()))
        ]
    );
}
