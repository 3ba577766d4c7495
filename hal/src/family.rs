//! 1-Wire family codes of the thermometers the kernel's `w1_therm` driver handles, and the kernel's
//! form of a ROM id (`28-0316a2795aff`).

use cliser_protocol::SensorId;

/// DS18S20 and the older DS1820: 9-bit register plus COUNT_REMAIN for extra resolution.
pub const DS18S20: u8 = 0x10;
/// DS1822: DS18B20 register layout.
pub const DS1822: u8 = 0x22;
/// DS18B20.
pub const DS18B20: u8 = 0x28;
/// DS1825 (and MAX31850 in thermometer mode): DS18B20 register layout.
pub const DS1825: u8 = 0x3B;
/// DS28EA00: DS18B20 register layout.
pub const DS28EA00: u8 = 0x42;

/// Whether `family` is one of the thermometers the kernel's `w1_therm` driver (and this crate) reads.
pub fn is_thermometer(family: u8) -> bool {
    matches!(family, DS18S20 | DS1822 | DS18B20 | DS1825 | DS28EA00)
}

/// Whether the family has a configuration register (resolution 9-12 bit); the DS18S20 has none.
pub fn has_config_register(family: u8) -> bool {
    is_thermometer(family) && family != DS18S20
}

/// A human name for the family, for diagnostics.
pub fn name(family: u8) -> &'static str {
    match family {
        DS18S20 => "DS18S20/DS1820",
        DS1822 => "DS1822",
        DS18B20 => "DS18B20",
        DS1825 => "DS1825",
        DS28EA00 => "DS28EA00",
        _ => "not a thermometer",
    }
}

/// The kernel's id for a 64-bit ROM as one-wire-bus holds it (the 8 ROM bytes little-endian, family
/// code in the low byte): family, `-`, then the 48-bit serial number as 12 hex digits, most significant
/// first. The CRC byte is not part of it.
pub fn rom_id(rom: u64) -> String {
    format!("{:02x}-{:012x}", rom & 0xff, (rom >> 8) & 0xffff_ffff_ffff)
}

/// [`rom_id`] as a [`SensorId`].
pub fn rom_sensor_id(rom: u64) -> SensorId {
    // 15 bytes of hex digits and one `-`: always within the protocol's 1-32 of `[A-Za-z0-9._-]`.
    SensorId::new(&rom_id(rom)).expect("the kernel form of a ROM id is a valid sensor id")
}

/// A kernel-form id (as [`family_of_id`] accepts it) as a [`SensorId`]; `None` for anything else.
pub fn sensor_id(id: &str) -> Option<SensorId> {
    family_of_id(id)?;
    SensorId::new(id).ok()
}

/// The family code of a kernel-form id (`28-0316a2795aff` gives `0x28`), if it has that form.
pub fn family_of_id(id: &str) -> Option<u8> {
    let (family, serial) = id.split_once('-')?;
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    if family.len() != 2 || serial.len() != 12 || !hex(family) || !hex(serial) {
        return None;
    }
    u8::from_str_radix(family, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rom_id_is_the_kernel_form() {
        // ROM bytes on the wire: 28 ff 5a 79 a2 16 03 <crc>; the kernel prints the serial big-endian.
        let rom = u64::from_le_bytes([0x28, 0xff, 0x5a, 0x79, 0xa2, 0x16, 0x03, 0x9b]);
        assert_eq!(rom_id(rom), "28-0316a2795aff");
        assert_eq!(family_of_id("28-0316a2795aff"), Some(0x28));
        assert_eq!(family_of_id("10-000802b4c1d2"), Some(0x10));
        assert_eq!(rom_sensor_id(rom).as_str(), "28-0316a2795aff");
        assert_eq!(sensor_id("28-0316a2795aff"), Some(rom_sensor_id(rom)));
    }

    #[test]
    fn every_kernel_form_id_is_a_sensor_id() {
        for rom in [0, u64::MAX, 0x8000_0000_0000_0028, 0x0000_ffff_ffff_ff10] {
            let id = rom_id(rom);
            assert_eq!(sensor_id(&id).map(|s| s.as_str().to_owned()), Some(id));
        }
        assert_eq!(sensor_id("w1_bus_master1"), None);
    }

    #[test]
    fn non_ids_have_no_family() {
        for s in
            ["w1_bus_master1", "28-0316a2795af", "28-0316a2795afff", "zz-0316a2795aff", "28_0316a2795aff"]
        {
            assert_eq!(family_of_id(s), None, "{s}");
            assert_eq!(sensor_id(s), None, "{s}");
        }
    }

    #[test]
    fn thermometer_families() {
        for f in [0x10, 0x22, 0x28, 0x3b, 0x42] {
            assert!(is_thermometer(f));
        }
        assert!(!is_thermometer(0x00));
        assert!(!is_thermometer(0x01));
        assert!(!has_config_register(DS18S20));
        assert!(has_config_register(DS18B20));
    }
}
