//! `open` for each spec, and the sensor ids the backends give.

use cliser_hal::sim::SIM_SENSOR_IDS;
use cliser_hal::{format_millidegrees, open, HalError, SensorSpec, DEFAULT_W1_ROOT};

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[test]
fn sim_gives_two_plausible_sensors() {
    let mut t = open(&"sim".parse().unwrap()).unwrap();
    let ids = t.discover().unwrap();
    assert_eq!(ids, SIM_SENSOR_IDS);
    for sample in t.read_all().unwrap() {
        assert!(valid_id(sample.sensor.as_str()), "{}", sample.sensor);
        let m = sample.result.unwrap();
        assert!((15_000..=25_000).contains(&m), "{m}");
    }
}

#[test]
fn w1_on_a_machine_without_1_wire_is_unavailable() {
    let spec = SensorSpec::W1("/nonexistent/w1/devices".into());
    assert!(matches!(open(&spec), Err(HalError::Unavailable(why)) if why.contains("dtoverlay=w1-gpio")));
    assert_eq!("w1".parse::<SensorSpec>().unwrap(), SensorSpec::W1(DEFAULT_W1_ROOT.into()));
}

#[cfg(not(feature = "gpio"))]
#[test]
fn gpio_without_the_feature_says_how_to_build_it() {
    match open(&"gpio:4".parse().unwrap()) {
        Err(HalError::Unavailable(why)) => assert!(why.contains("--features gpio"), "{why}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("gpio must not open without the feature"),
    }
}

#[test]
fn millidegrees_format() {
    for (m, s) in
        [(23_125, "23.125"), (-10_125, "-10.125"), (-500, "-0.500"), (0, "0.000"), (85_000, "85.000")]
    {
        assert_eq!(format_millidegrees(m), s);
    }
}
