//! The bit-banged backend, driving the real `one-wire-bus` and `ds18b20` crates through the
//! open-drain pin against simulated sensors on a virtual bus with a virtual clock.

use crate::support;

use std::time::Duration;

use cliser_hal::onewire::{GpioConfig, IoLine, OneWireThermometers, OpenDrain};
use cliser_hal::resolution::{ResolutionOutcome, ResolutionReport};
use cliser_hal::scratchpad::{with_crc, Resolution};
use cliser_hal::SensorId;
use cliser_hal::{HalError, SensorError, Thermometers};
use support::{VirtualBus, VirtualDelay, VirtualDevice, VirtualLine};

type Backend = OneWireThermometers<OpenDrain<VirtualLine>, VirtualDelay>;

fn backend(bus: &VirtualBus, config: GpioConfig) -> Backend {
    OneWireThermometers::new(OpenDrain::new(bus.line()).unwrap(), bus.delay(), config, "virtual bus").unwrap()
}

fn readings(t: &mut impl Thermometers) -> Vec<(String, Result<i32, SensorError>)> {
    t.read_all().unwrap().into_iter().map(|s| (s.sensor.to_string(), s.result)).collect()
}

fn no_violations(bus: &VirtualBus) {
    assert_eq!(bus.violations(), Vec::<String>::new());
}

#[test]
fn several_sensors_read_with_their_rom_ids_negative_ones_included() {
    let bus = VirtualBus::new();
    bus.attach(VirtualDevice::ds18b20(0x0316_a279_5aff, 23_125));
    bus.attach(VirtualDevice::ds18b20(0x0000_0000_0001, -10_125));
    bus.attach(VirtualDevice::ds18b20(0x0000_0000_0002, -55_000));
    bus.attach(VirtualDevice::ds18b20(0x8000_0000_0003, -500));
    bus.attach(VirtualDevice::ds18s20(0x0008_02b4_c1d2, -10_125));
    let mut t = backend(&bus, GpioConfig::default());
    let ids = t.discover().unwrap();
    assert_eq!(
        ids,
        ["10-000802b4c1d2", "28-000000000001", "28-000000000002", "28-0316a2795aff", "28-800000000003"]
    );
    assert_eq!(
        readings(&mut t),
        [
            ("10-000802b4c1d2".to_owned(), Ok(-10_125)),
            ("28-000000000001".to_owned(), Ok(-10_125)),
            ("28-000000000002".to_owned(), Ok(-55_000)),
            ("28-0316a2795aff".to_owned(), Ok(23_125)),
            ("28-800000000003".to_owned(), Ok(-500)),
        ]
    );
    no_violations(&bus);
}

#[test]
fn one_conversion_for_all_sensors_and_new_values_on_the_next_read() {
    let bus = VirtualBus::new();
    let a = VirtualDevice::ds18b20(0xA, 21_000);
    let b = VirtualDevice::ds18b20(0xB, 19_500);
    let (a_id, b_id) = (a.id(), b.id());
    bus.attach(a);
    bus.attach(b);
    let mut t = backend(&bus, GpioConfig::default());
    let before = bus.now();
    assert_eq!(readings(&mut t), [(a_id.clone(), Ok(21_000)), (b_id.clone(), Ok(19_500))]);
    let took = bus.now() - before;
    // One 750 ms conversion for both, plus the bus traffic (well under 100 ms).
    assert!(took >= Duration::from_millis(750) && took < Duration::from_millis(850), "{took:?}");
    assert_eq!((bus.conversions(&a_id), bus.conversions(&b_id)), (1, 1));

    // −0.0625 °C, one step below zero.
    bus.set_temperature(&a_id, -62);
    bus.set_temperature(&b_id, 85_000);
    // A real 85 °C (byte 6 is 0x10 after a conversion) is kept.
    assert_eq!(readings(&mut t), [(a_id, Ok(-62)), (b_id, Ok(85_000))]);
    no_violations(&bus);
}

#[test]
fn crc_errors_power_on_values_and_phantoms_are_typed_errors() {
    let bus = VirtualBus::new();
    let good = VirtualDevice::ds18b20(1, 22_000);
    let noisy = VirtualDevice::ds18b20(2, 22_000).corrupt_crc();
    let unpowered = VirtualDevice::ds18b20(3, 22_000).never_converts();
    let zeros = VirtualDevice::ds18b20(4, 22_000).with_scratchpad([0; 9]);
    let stuck = VirtualDevice::ds18b20(5, 22_000)
        .with_scratchpad(with_crc([0xFF, 0x07, 0x4B, 0x46, 0x7F, 0xFF, 0x01, 0x10]));
    let s20_unpowered = VirtualDevice::ds18s20(6, 22_000).never_converts();
    let ids: Vec<String> =
        [&good, &noisy, &unpowered, &zeros, &stuck, &s20_unpowered].iter().map(|d| d.id()).collect();
    for d in [good, noisy, unpowered, zeros, stuck, s20_unpowered] {
        bus.attach(d);
    }
    let mut t = backend(&bus, GpioConfig::default());
    let got: std::collections::BTreeMap<_, _> = readings(&mut t).into_iter().collect();
    assert_eq!(got[&ids[0]], Ok(22_000));
    assert_eq!(got[&ids[1]], Err(SensorError::Crc));
    assert_eq!(got[&ids[2]], Err(SensorError::Reset));
    assert_eq!(got[&ids[3]], Err(SensorError::Crc));
    assert_eq!(got[&ids[4]], Err(SensorError::Crc));
    assert_eq!(got[&ids[5]], Err(SensorError::Reset));
    no_violations(&bus);
}

#[test]
fn a_bus_with_no_presence_pulse() {
    let bus = VirtualBus::new();
    let mut t = backend(&bus, GpioConfig::default());
    assert_eq!(t.discover().unwrap(), Vec::<String>::new());
    assert_eq!(readings(&mut t), []);
    no_violations(&bus);
}

#[test]
fn sensors_that_vanish_are_missing_or_no_presence_and_are_read_again_when_back() {
    let bus = VirtualBus::new();
    let a = VirtualDevice::ds18b20(0x11, 20_000);
    let b = VirtualDevice::ds18b20(0x22, -20_000);
    let (a_id, b_id) = (a.id(), b.id());
    bus.attach(a);
    bus.attach(b);
    let mut t = backend(&bus, GpioConfig::default());
    assert_eq!(readings(&mut t), [(a_id.clone(), Ok(20_000)), (b_id.clone(), Ok(-20_000))]);

    bus.set_present(&a_id, false);
    assert_eq!(t.discover().unwrap(), std::slice::from_ref(&b_id));
    assert_eq!(readings(&mut t), [(a_id.clone(), Err(SensorError::Missing)), (b_id.clone(), Ok(-20_000))]);

    bus.set_present(&b_id, false);
    let gone = [(a_id.clone(), Err(SensorError::NoPresence)), (b_id.clone(), Err(SensorError::NoPresence))];
    assert_eq!(readings(&mut t), gone);

    // Plugged in again they power on (85 °C in the register) and are converted before being read.
    bus.set_present(&a_id, true);
    bus.set_present(&b_id, true);
    assert_eq!(readings(&mut t), [(a_id, Ok(20_000)), (b_id, Ok(-20_000))]);
    no_violations(&bus);
}

#[test]
fn a_shorted_bus_fails_the_whole_read() {
    let bus = VirtualBus::new();
    bus.attach(VirtualDevice::ds18b20(1, 20_000));
    let mut t = backend(&bus, GpioConfig::default());
    bus.set_shorted(true);
    match t.read_all() {
        Err(HalError::Unavailable(why)) => assert!(why.contains("stays low"), "{why}"),
        other => panic!("expected the bus to be unavailable, got {other:?}"),
    }
    bus.set_shorted(false);
    assert_eq!(readings(&mut t)[0].1, Ok(20_000));
}

#[test]
fn the_configured_resolution_is_set_and_its_conversion_time_waited() {
    let bus = VirtualBus::new();
    let a = VirtualDevice::ds18b20(1, 23_125);
    let b = VirtualDevice::ds18b20(2, -10_125);
    let (a_id, b_id) = (a.id(), b.id());
    bus.attach(a);
    bus.attach(b);
    let mut t = backend(&bus, GpioConfig { resolution: Resolution::Bits9, persist: false });
    // The resolution is written and read back before the first conversion.
    assert_eq!(readings(&mut t), [(a_id.clone(), Ok(23_000)), (b_id.clone(), Ok(-10_500))]);
    assert_eq!((bus.resolution(&a_id), bus.resolution(&b_id)), (Resolution::Bits9, Resolution::Bits9));
    let before = bus.now();
    assert_eq!(readings(&mut t), [(a_id, Ok(23_000)), (b_id, Ok(-10_500))]);
    let took = bus.now() - before;
    assert!(took >= Duration::from_micros(93_750) && took < Duration::from_millis(150), "{took:?}");
    no_violations(&bus);
}

#[test]
fn a_sensor_whose_eeprom_says_9_bit_is_set_back_to_12_bit_before_its_first_conversion() {
    let bus = VirtualBus::new();
    let a = VirtualDevice::ds18b20(7, -25_062).with_resolution(Resolution::Bits9);
    let a_id = a.id();
    bus.attach(a);
    let mut t = backend(&bus, GpioConfig::default());
    // −25.0625 °C: 12-bit steps are 62.5 millidegrees, truncated toward zero.
    assert_eq!(readings(&mut t), [(a_id.clone(), Ok(-25_062))]);
    assert_eq!(bus.resolution(&a_id), Resolution::Bits12);
    no_violations(&bus);
}

#[test]
fn the_backend_is_a_boxed_thermometer_set() {
    let bus = VirtualBus::new();
    bus.attach(VirtualDevice::ds18b20(1, 125_000));
    let mut boxed: Box<dyn Thermometers> = Box::new(backend(&bus, GpioConfig::default()));
    assert_eq!(boxed.read_all().unwrap()[0].result, Ok(125_000));
}

/// The timing checks must be able to fail, or a clean run proves nothing.
#[test]
fn the_virtual_bus_flags_timing_the_datasheet_forbids() {
    use embedded_hal::blocking::delay::DelayUs;
    let bus = VirtualBus::new();
    bus.attach(VirtualDevice::ds18b20(1, 20_000));
    let (mut line, mut delay) = (bus.line(), bus.delay());
    // A reset whose presence is sampled too late, then a 30 µs pulse (neither a 1 nor a 0), then a
    // slot that starts 20 µs after the previous one and is sampled 40 µs in.
    line.drive_low().unwrap();
    delay.delay_us(480);
    line.release().unwrap();
    delay.delay_us(200);
    assert!(line.is_high().unwrap(), "the presence pulse is over by 200 µs");
    delay.delay_us(400);
    line.drive_low().unwrap();
    delay.delay_us(30);
    line.release().unwrap();
    line.drive_low().unwrap();
    delay.delay_us(5);
    line.release().unwrap();
    delay.delay_us(35);
    let _ = line.is_high().unwrap();
    let violations = bus.violations();
    assert_eq!(violations.len(), 4, "{violations:#?}");
    assert!(violations[0].contains("presence sampled 200 µs"), "{violations:#?}");
    assert!(violations[1].contains("low pulse of 30 µs"), "{violations:#?}");
    assert!(violations[2].contains("time slot of 30 µs"), "{violations:#?}");
    assert!(violations[3].contains("sampled 40 µs after its start"), "{violations:#?}");
}

fn at(resolution: Resolution, persist: bool) -> GpioConfig {
    GpioConfig { resolution, persist }
}

fn report(id: &str, outcome: ResolutionOutcome) -> ResolutionReport {
    ResolutionReport { sensor: SensorId::new(id).unwrap(), outcome }
}

#[test]
fn the_resolution_is_written_once_only_where_it_differs_and_never_copied_unless_asked() {
    let bus = VirtualBus::new();
    let a = VirtualDevice::ds18b20(1, 23_125);
    let b = VirtualDevice::ds18b20(2, 23_125).with_resolution(Resolution::Bits10);
    let (a_id, b_id) = (a.id(), b.id());
    bus.attach(a);
    bus.attach(b);
    let mut t = backend(&bus, at(Resolution::Bits10, false));
    for _ in 0..3 {
        assert_eq!(readings(&mut t), [(a_id.clone(), Ok(23_000)), (b_id.clone(), Ok(23_000))]);
    }
    assert_eq!((bus.scratchpad_writes(&a_id), bus.scratchpad_writes(&b_id)), (1, 0));
    assert_eq!((bus.copies(&a_id), bus.copies(&b_id)), (0, 0), "persist not asked");
    assert_eq!(bus.eeprom_resolution(&a_id), Resolution::Bits12, "powers up at 12 bits still");
    assert_eq!(
        t.take_resolution_reports(),
        [
            report(
                &a_id,
                ResolutionOutcome::Changed {
                    from: Resolution::Bits12,
                    to: Resolution::Bits10,
                    persisted: false
                }
            ),
            report(&b_id, ResolutionOutcome::Unchanged(Resolution::Bits10)),
        ]
    );
    assert!(t.take_resolution_reports().is_empty(), "once per start");
    no_violations(&bus);
}

#[test]
fn copy_scratchpad_only_when_asked_and_only_for_a_sensor_that_changed() {
    let bus = VirtualBus::new();
    let a = VirtualDevice::ds18b20(1, 20_000);
    let b = VirtualDevice::ds18b20(2, 20_000).with_resolution(Resolution::Bits11);
    let (a_id, b_id) = (a.id(), b.id());
    bus.attach(a);
    bus.attach(b);
    let mut t = backend(&bus, at(Resolution::Bits11, true));
    for _ in 0..3 {
        readings(&mut t);
    }
    assert_eq!((bus.copies(&a_id), bus.copies(&b_id)), (1, 0));
    assert_eq!(bus.eeprom_resolution(&a_id), Resolution::Bits11);
    let reports = t.take_resolution_reports();
    assert!(matches!(reports[0].outcome, ResolutionOutcome::Changed { persisted: true, .. }), "{reports:?}");
    // A power cycle: it comes back at 11 bits from its EEPROM, so a new start writes nothing.
    bus.set_present(&a_id, false);
    bus.set_present(&a_id, true);
    let mut t = backend(&bus, at(Resolution::Bits11, true));
    readings(&mut t);
    assert_eq!((bus.scratchpad_writes(&a_id), bus.copies(&a_id)), (1, 1));
    no_violations(&bus);
}

#[test]
fn a_sensor_that_ignores_the_resolution_is_reported_once_and_waited_for_at_its_own() {
    let bus = VirtualBus::new();
    let genuine = VirtualDevice::ds18b20(1, 20_000);
    let clone = VirtualDevice::ds18b20(2, 20_000).ignores_resolution();
    let (genuine_id, clone_id) = (genuine.id(), clone.id());
    bus.attach(genuine);
    bus.attach(clone);
    let mut t = backend(&bus, at(Resolution::Bits9, true));
    readings(&mut t);
    let before = bus.now();
    // Its 12-bit conversion is waited for, so its reading is a real one, at 12 bits.
    assert_eq!(readings(&mut t), [(genuine_id.clone(), Ok(20_000)), (clone_id.clone(), Ok(20_000))]);
    assert!(bus.now() - before >= Duration::from_millis(750));
    let reports = t.take_resolution_reports();
    assert_eq!(
        reports[1],
        report(
            &clone_id,
            ResolutionOutcome::Ignored { wanted: Resolution::Bits9, reads: Resolution::Bits12 }
        )
    );
    assert_eq!(reports.len(), 2);
    assert!(reports[1].to_string().contains(&clone_id));
    // Written once, never copied, not written again.
    assert_eq!((bus.scratchpad_writes(&clone_id), bus.copies(&clone_id)), (1, 0));
    assert_eq!(bus.copies(&genuine_id), 1);
    no_violations(&bus);
}

/// Eight sensors on one bus: the conversion wait follows the resolution (datasheet timings on the
/// virtual clock). From Convert T to the first Read Scratchpad is the conversion wait: at 9 bits
/// well under 150 ms, at 12 bits at least 750 ms. The ROMs found by the first sample's search are
/// kept, so a later sample is Convert T, the wait and eight addressed scratchpad reads (Match ROM
/// and 9 bytes with their CRC, ~12 ms each): by the datasheet's slot times it cannot be under
/// 150 ms at any resolution with every byte CRC-checked (the floor is ~190 ms at 9 bits: measured
/// here 188.9 ms at 9 bits, 844.9 ms at 12; before the ROMs were kept, each sample also searched
/// the bus, ~110 ms more: 308.6 ms at 9 bits).
#[test]
fn eight_sensors_sample_at_each_resolution_in_its_conversion_time() {
    let mut whole = Vec::new();
    for resolution in Resolution::ALL {
        let bus = VirtualBus::new();
        for serial in 1..=8 {
            bus.attach(VirtualDevice::ds18b20(serial, 21_500).with_resolution(resolution));
        }
        let ids: Vec<String> = (1..=8).map(|serial| VirtualDevice::ds18b20(serial, 0).id()).collect();
        let mut t = backend(&bus, at(resolution, false));
        readings(&mut t);
        let searches = bus.searches(&ids[0]);
        let start = bus.now();
        let samples = readings(&mut t);
        let took = bus.now() - start;
        assert_eq!(samples.len(), 8);
        assert!(samples.iter().all(|s| s.1 == Ok(21_500)), "{samples:?}");
        assert_eq!(bus.searches(&ids[0]), searches, "the ROMs found before are read without a search");
        assert!(took >= resolution.conversion_time(), "{resolution:?}: {took:?}");
        // Bus traffic for 8 sensors: Convert T (~2 ms) and 8 addressed reads (~12 ms each).
        let traffic = took - resolution.conversion_time();
        assert!(traffic < Duration::from_millis(100), "{resolution:?}: {traffic:?}");
        whole.push((resolution.bits(), took));
        // From the (shared) Convert T to each sensor's Read Scratchpad of this sample; the first
        // read comes once the conversion time is over, the others follow it on the bus.
        let convert = bus.commands(&ids[0]).iter().rev().find(|c| c.1 == 0x44).unwrap().0;
        assert!(convert >= start);
        let waits: Vec<Duration> = ids
            .iter()
            .map(|id| {
                let reads: Vec<Duration> =
                    bus.commands(id).iter().filter(|c| c.1 == 0xBE && c.0 > convert).map(|c| c.0).collect();
                assert_eq!(reads.len(), 1, "{id}: one read per sample");
                reads[0] - convert
            })
            .collect();
        let wait = *waits.iter().min().unwrap();
        assert!(wait >= resolution.conversion_time(), "{resolution:?}: {wait:?}");
        // Plus the first read's reset and Match ROM (~6 ms).
        assert!(wait < resolution.conversion_time() + Duration::from_millis(10), "{resolution:?}: {wait:?}");
        match resolution {
            Resolution::Bits9 => assert!(wait <= Duration::from_millis(150), "{wait:?}"),
            Resolution::Bits12 => assert!(wait >= Duration::from_millis(750), "{wait:?}"),
            _ => {}
        }
        no_violations(&bus);
    }
    let (nine, twelve) = (whole[0].1, whole[3].1);
    assert!(nine < Duration::from_millis(200), "{whole:?}");
    // 9 bits: the conversion is 93.75 ms instead of 750.
    // (The wait is whole milliseconds: 94 ms at 9 bits.)
    assert!(twelve - nine >= Duration::from_millis(750 - 94), "{whole:?}");
    assert!(twelve >= Duration::from_millis(750), "{whole:?}");
    println!("8 sensors, one sample (simulated): {whole:?}");
}

fn new_searches(bus: &VirtualBus, id: &str, before: &mut u32) -> u32 {
    let now = bus.searches(id);
    let new = now - *before;
    *before = now;
    new
}

#[test]
fn the_bus_is_searched_again_only_when_a_sensor_does_not_answer_or_the_rescan_is_due() {
    let bus = VirtualBus::new();
    let a = VirtualDevice::ds18b20(1, 20_000);
    let b = VirtualDevice::ds18b20(2, 21_000);
    let (a_id, b_id) = (a.id(), b.id());
    bus.attach(a);
    bus.attach(b);
    let mut t = backend(&bus, GpioConfig::default());
    let mut seen = 0;
    for _ in 0..3 {
        assert_eq!(readings(&mut t), [(a_id.clone(), Ok(20_000)), (b_id.clone(), Ok(21_000))]);
    }
    assert!(new_searches(&bus, &b_id, &mut seen) > 0, "the first read searches");
    // Unplugged: its addressed read gets nothing back, so the next read searches, and then reads
    // only the sensor still there.
    bus.set_present(&a_id, false);
    assert_eq!(readings(&mut t), [(a_id.clone(), Err(SensorError::Missing)), (b_id.clone(), Ok(21_000))]);
    assert_eq!(new_searches(&bus, &b_id, &mut seen), 0);
    assert_eq!(readings(&mut t), [(a_id.clone(), Err(SensorError::Missing)), (b_id.clone(), Ok(21_000))]);
    assert!(new_searches(&bus, &b_id, &mut seen) > 0, "searched after the silent read");
    readings(&mut t);
    assert_eq!(new_searches(&bus, &b_id, &mut seen), 0, "not again while every sensor answers");
    // A sensor plugged in is found by the periodic search (here: due before every read).
    bus.set_present(&a_id, true);
    let mut t = t.with_rescan_every(Duration::ZERO);
    assert_eq!(readings(&mut t), [(a_id, Ok(20_000)), (b_id.clone(), Ok(21_000))]);
    assert!(new_searches(&bus, &b_id, &mut seen) > 0);
    no_violations(&bus);
}

#[test]
fn a_plan_sets_each_sensor_as_it_asks_and_an_empty_plan_writes_nothing() {
    use cliser_hal::resolution::ResolutionPlan;
    let bus = VirtualBus::new();
    let a = VirtualDevice::ds18b20(1, 20_000);
    let b = VirtualDevice::ds18b20(2, 20_000).with_resolution(Resolution::Bits11);
    let c = VirtualDevice::ds18b20(3, 20_000).with_resolution(Resolution::Bits9);
    let (a_id, b_id, c_id) = (a.id(), b.id(), c.id());
    for d in [a, b, c] {
        bus.attach(d);
    }
    let mut t = backend(&bus, GpioConfig::default()).with_resolution_plan(ResolutionPlan::default());
    readings(&mut t);
    readings(&mut t);
    assert_eq!([&a_id, &b_id, &c_id].map(|id| bus.scratchpad_writes(id)), [0, 0, 0]);
    assert!(t.take_resolution_reports().is_empty());
    let resolutions: Vec<_> = t.take_sensor_facts().into_iter().map(|f| f.resolution).collect();
    assert_eq!(resolutions, [Some(Resolution::Bits12), Some(Resolution::Bits11), Some(Resolution::Bits9)]);

    let plan = ResolutionPlan {
        default: Some(Resolution::Bits10),
        per_sensor: [(SensorId::new(&c_id).unwrap(), Resolution::Bits9)].into_iter().collect(),
        persist: false,
    };
    let mut t = backend(&bus, GpioConfig::default()).with_resolution_plan(plan);
    readings(&mut t);
    assert_eq!(
        [&a_id, &b_id, &c_id].map(|id| bus.resolution(id)),
        [Resolution::Bits10, Resolution::Bits10, Resolution::Bits9]
    );
    assert_eq!([&a_id, &b_id, &c_id].map(|id| bus.scratchpad_writes(id)), [1, 1, 0]);
    assert!(matches!(
        t.take_resolution_reports()[2].outcome,
        ResolutionOutcome::Unchanged(Resolution::Bits9)
    ));
    no_violations(&bus);
}

#[test]
fn power_mode_is_read_once_per_sensor_and_parasite_power_gets_one_warning() {
    use cliser_hal::facts::{parasite_warning, PowerMode};
    let bus = VirtualBus::new();
    let external = VirtualDevice::ds18b20(1, 20_000);
    let parasite = VirtualDevice::ds18b20(2, 20_000).parasite();
    let (external_id, parasite_id) = (external.id(), parasite.id());
    bus.attach(external);
    bus.attach(parasite);
    let mut t = backend(&bus, GpioConfig::default());
    let facts = (0..3).flat_map(|_| {
        readings(&mut t);
        t.take_sensor_facts()
    });
    let facts: Vec<_> = facts.collect();
    assert_eq!(facts.len(), 2, "once per sensor per start: {facts:?}");
    assert_eq!((facts[0].power, facts[1].power), (Some(PowerMode::External), Some(PowerMode::Parasite)));
    assert_eq!(facts[0].to_string(), format!("{external_id}: external power, 12 bits"));
    assert_eq!(facts[1].to_string(), format!("{parasite_id}: parasite power, 12 bits"));
    let warning = parasite_warning(&facts).expect("a warning");
    assert!(warning.contains(&parasite_id) && !warning.contains(&external_id), "{warning}");
    assert!(warning.contains("does not drive the data line high"), "{warning}");
    assert!(warning.contains("pullup=1") && warning.contains("85 °C"), "{warning}");
    // Read Power Supply went to each sensor once.
    for id in [&external_id, &parasite_id] {
        assert_eq!(bus.commands(id).iter().filter(|c| c.1 == 0xB4).count(), 1, "{id}");
    }
    no_violations(&bus);
}

#[test]
fn the_facts_carry_the_clone_verdict_on_what_the_bus_showed() {
    use cliser_hal::clones::{assess, Signs};
    let bus = VirtualBus::new();
    // Just powered: the first look sees the 85 °C power-on scratchpad before any conversion.
    let d = VirtualDevice::ds18b20(0x0114_5561_3caa, 20_000).with_resolution(Resolution::Bits10);
    let id = d.id();
    bus.attach(d);
    let mut t = backend(&bus, at(Resolution::Bits9, false));
    assert_eq!(readings(&mut t), [(id.clone(), Ok(20_000))]);
    let facts = t.take_sensor_facts();
    assert_eq!(facts.len(), 1);
    let power_up = with_crc([0x50, 0x05, 0x4B, 0x46, Resolution::Bits10.config_byte(), 0xFF, 0x0C, 0x10]);
    // 20 °C at 9 bits: 0x0140 with the three undefined low bits set by the virtual device.
    let after = with_crc([0x47, 0x01, 0x4B, 0x46, Resolution::Bits9.config_byte(), 0xFF, 0x09, 0x10]);
    let signs = Signs {
        rom: Some([
            0x28,
            0xAA,
            0x3C,
            0x61,
            0x55,
            0x14,
            0x01,
            cliser_hal::scratchpad::crc8(&[0x28, 0xAA, 0x3C, 0x61, 0x55, 0x14, 0x01]),
        ]),
        scratchpad: Some(after),
        power_up_scratchpad: Some(power_up),
        ignores_resolution: Some(false),
    };
    assert_eq!(facts[0].signs, signs);
    assert_eq!(facts[0].clone, assess(&signs), "{facts:?}");
    assert_eq!(facts[0].resolution, Some(Resolution::Bits9));
}

#[test]
fn a_read_that_fails_its_crc_is_read_again_and_counted_as_a_retry() {
    let bus = VirtualBus::new();
    let (steady, flaky) = (VirtualDevice::ds18b20(1, 21_000), VirtualDevice::ds18b20(2, 22_000));
    let noisy = VirtualDevice::ds18b20(3, 23_000).corrupt_crc();
    let ids: Vec<String> = [&steady, &flaky, &noisy].iter().map(|d| d.id()).collect();
    for d in [steady, flaky, noisy] {
        bus.attach(d);
    }
    let mut t = backend(&bus, GpioConfig::default()).with_bus_name("gpio:4");
    readings(&mut t);
    let facts = t.take_sensor_facts();
    assert!(facts.iter().all(|f| f.bus.as_deref() == Some("gpio:4")), "{facts:?}");
    assert!(facts[0].to_string().ends_with(", on gpio:4"), "{}", facts[0]);
    t.take_retries();

    // One bad CRC: the retry passes. Two: the retry fails too, a CRC error.
    bus.corrupt_next_reads(&ids[1], 1);
    assert_eq!(readings(&mut t)[1], (ids[1].clone(), Ok(22_000)));
    bus.corrupt_next_reads(&ids[1], 2);
    assert_eq!(readings(&mut t)[1], (ids[1].clone(), Err(SensorError::Crc)));
    let id = |s: &str| SensorId::new(s).unwrap();
    assert_eq!(t.take_retries(), [(id(&ids[1]), 2), (id(&ids[2]), 2)]);
    assert_eq!(t.take_retries(), [], "taken once");
    no_violations(&bus);
}
