//! `--sensor` specs print as the user writes them, and what they print parses back.

use cliser_hal::SensorSpec;

#[test]
fn specs_print_as_written_on_the_flag() {
    for text in ["w1:/sys/bus/w1/devices", "gpio:4", "sim", "sim:crc-every=20", "file:/tmp/t"] {
        let spec: SensorSpec = text.parse().unwrap();
        assert_eq!(spec.to_string(), text);
        assert_eq!(spec.to_string().parse::<SensorSpec>().unwrap(), spec);
    }
    assert_eq!("w1".parse::<SensorSpec>().unwrap().to_string(), "w1:/sys/bus/w1/devices");
    for bad in ["sim:", "sim:crc-every=0", "sim:crc-every=ten", "sim:noise=1"] {
        let err = bad.parse::<SensorSpec>().unwrap_err().to_string();
        assert!(err.contains(bad) && err.contains("sim:crc-every=N"), "{err}");
    }
}
