//! Pure decoding of a thermometer's 9-byte scratchpad, with the checks that reject phantom readings.
//!
//! Both hardware backends end here: the GPIO backend reads the scratchpad itself, and the kernel shows
//! the same 9 bytes in `w1_slave`. Layout (DS18B20 family): temperature LSB, MSB (signed 16-bit,
//! 1/16 °C), TH, TL, configuration (resolution in bits 5-6), reserved 0xFF, reserved (0x0C at power-on),
//! reserved 0x10, CRC. The DS18S20 has a 9-bit register (1/2 °C) and COUNT_REMAIN/COUNT_PER_C in bytes
//! 6 and 7 instead of a configuration register.

use std::fmt;
use std::time::Duration;

use crate::family;
use crate::SensorError;

/// The power-on value of the DS18B20 temperature register: 85 °C.
pub const POWER_ON_RAW_DS18B20: i16 = 0x0550;
/// The power-on value of the DS18S20 temperature register: 85 °C in half degrees.
pub const POWER_ON_RAW_DS18S20: i16 = 0x00AA;
/// Byte 6 of the scratchpad at power-on. After a real conversion a genuine sensor holds
/// `0x10 - (raw & 0x0F)` there, so a real 85.000 °C has 0x10.
pub const POWER_ON_BYTE6: u8 = 0x0C;
/// 127.9375 °C: what a DS18B20 family register reads when its bits are garbage (all data bits set).
pub const PHANTOM_RAW_07FF: i16 = 0x07FF;
/// The lowest temperature the sensors measure, in millidegrees.
pub const MIN_MILLIDEGREES: i32 = -55_000;
/// The highest temperature the sensors measure, in millidegrees.
pub const MAX_MILLIDEGREES: i32 = 125_000;

/// A DS18B20-family conversion resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Resolution {
    /// 0.5 °C steps, 93.75 ms conversion.
    Bits9,
    /// 0.25 °C steps, 187.5 ms conversion.
    Bits10,
    /// 0.125 °C steps, 375 ms conversion.
    Bits11,
    /// 0.0625 °C steps, 750 ms conversion (the power-on default).
    #[default]
    Bits12,
}

impl Resolution {
    /// Every resolution, coarsest first.
    pub const ALL: [Resolution; 4] =
        [Resolution::Bits9, Resolution::Bits10, Resolution::Bits11, Resolution::Bits12];

    /// The resolution from the number of bits (9-12).
    pub fn from_bits(bits: u8) -> Option<Resolution> {
        Some(match bits {
            9 => Resolution::Bits9,
            10 => Resolution::Bits10,
            11 => Resolution::Bits11,
            12 => Resolution::Bits12,
            _ => return None,
        })
    }

    /// The resolution from a number of bits as a user or the kernel wrote it, or why it is none.
    pub fn try_from_bits(bits: i64) -> Result<Resolution, ResolutionError> {
        u8::try_from(bits).ok().and_then(Resolution::from_bits).ok_or(ResolutionError::OutOfRange(bits))
    }

    /// The number of bits (9-12).
    pub fn bits(self) -> u8 {
        match self {
            Resolution::Bits9 => 9,
            Resolution::Bits10 => 10,
            Resolution::Bits11 => 11,
            Resolution::Bits12 => 12,
        }
    }

    /// The resolution a configuration register (scratchpad byte 4) selects. Only bits 5-6 count, as in
    /// the kernel, so every byte gives an answer.
    pub fn from_config_byte(config: u8) -> Resolution {
        match (config >> 5) & 0b11 {
            0 => Resolution::Bits9,
            1 => Resolution::Bits10,
            2 => Resolution::Bits11,
            _ => Resolution::Bits12,
        }
    }

    /// The configuration register value selecting this resolution (the other bits as the datasheet
    /// fixes them: bit 7 zero, bits 0-4 one).
    pub fn config_byte(self) -> u8 {
        ((self.bits() - 9) << 5) | 0x1F
    }

    /// The datasheet's maximum conversion time.
    pub fn conversion_time(self) -> Duration {
        Duration::from_micros(match self {
            Resolution::Bits9 => 93_750,
            Resolution::Bits10 => 187_500,
            Resolution::Bits11 => 375_000,
            Resolution::Bits12 => 750_000,
        })
    }

    /// The low bits of the raw register that are undefined at this resolution.
    fn undefined_bits(self) -> i16 {
        (1 << (12 - self.bits())) - 1
    }
}

/// Why a number of bits is not a [`Resolution`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolutionError {
    /// A number outside 9..=12 (the DS18B20 family has no other resolution).
    OutOfRange(i64),
    /// Text that is not a whole number.
    NotANumber(String),
}

impl fmt::Display for ResolutionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolutionError::OutOfRange(bits) => {
                write!(f, "resolution {bits} is outside 9..=12 bits (9: 0.5 °C in 93.75 ms ... 12: 0.0625 °C in 750 ms)")
            }
            ResolutionError::NotANumber(text) => {
                write!(f, "resolution {text:?} is not a number of bits (9..=12)")
            }
        }
    }
}

impl std::error::Error for ResolutionError {}

impl TryFrom<u8> for Resolution {
    type Error = ResolutionError;
    fn try_from(bits: u8) -> Result<Resolution, ResolutionError> {
        Resolution::try_from_bits(i64::from(bits))
    }
}

/// `9`, `10`, `11` or `12` (surrounding white space allowed, as in a sysfs attribute's `12\n`).
impl std::str::FromStr for Resolution {
    type Err = ResolutionError;
    fn from_str(text: &str) -> Result<Resolution, ResolutionError> {
        let bits: i64 =
            text.trim().parse().map_err(|_| ResolutionError::NotANumber(text.trim().to_owned()))?;
        Resolution::try_from_bits(bits)
    }
}

/// The number of bits, as the kernel's `resolution` attribute and the client's config write it.
impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bits())
    }
}

/// The conversion time of a DS18S20 (it has no resolution setting).
pub const DS18S20_CONVERSION_TIME: Duration = Duration::from_millis(750);

/// The Dallas/Maxim CRC-8 (polynomial x^8 + x^5 + x^4 + 1, reflected) used for ROMs and scratchpads.
/// Over data followed by its CRC byte it gives 0.
pub fn crc8(data: &[u8]) -> u8 {
    data.iter().fold(0u8, |mut crc, &byte| {
        let mut byte = byte;
        for _ in 0..8 {
            let mix = (crc ^ byte) & 1;
            crc >>= 1;
            if mix != 0 {
                crc ^= 0x8C;
            }
            byte >>= 1;
        }
        crc
    })
}

/// The raw signed temperature register (bytes 0-1).
pub fn raw_temperature(scratchpad: &[u8; 9]) -> i16 {
    i16::from_le_bytes([scratchpad[0], scratchpad[1]])
}

/// Millidegrees from a DS18B20-family scratchpad at `resolution`: the undefined low bits are ignored,
/// and the result is truncated toward zero like the kernel's (12-bit steps are 62.5 millidegrees).
/// No plausibility checks: see [`interpret`].
pub fn decode_ds18b20(scratchpad: &[u8; 9], resolution: Resolution) -> i32 {
    let raw = raw_temperature(scratchpad) & !resolution.undefined_bits();
    i32::from(raw) * 1000 / 16
}

/// Millidegrees from a DS18S20 scratchpad, using COUNT_REMAIN for the datasheet's extended
/// resolution: `TEMP_READ - 0.25 + (COUNT_PER_C - COUNT_REMAIN) / COUNT_PER_C`, where `TEMP_READ` is
/// the register without its 0.5 °C bit. Fails with [`SensorError::Crc`] when the counts are impossible.
pub fn decode_ds18s20(scratchpad: &[u8; 9]) -> Result<i32, SensorError> {
    let count_remain = i32::from(scratchpad[6]);
    let count_per_c = i32::from(scratchpad[7]);
    if count_per_c == 0 || count_remain > count_per_c {
        return Err(SensorError::Crc);
    }
    // An arithmetic shift drops the half-degree bit toward minus infinity, as truncating bit 0 of a
    // two's complement value does.
    let whole_degrees = i32::from(raw_temperature(scratchpad) >> 1);
    Ok(whole_degrees * 1000 - 250 + 1000 * (count_per_c - count_remain) / count_per_c)
}

/// Checks a scratchpad for the readings that pass the CRC yet are not temperatures.
///
/// - the CRC itself ([`SensorError::Crc`]);
/// - all zeros (the CRC of zeros is zero) or all ones: [`SensorError::Crc`];
/// - 127.9375 °C (raw 0x07FF) on the DS18B20 family: [`SensorError::Crc`];
/// - the power-on 85 °C with byte 6 = 0x0C: [`SensorError::Reset`] (the conversion did not happen,
///   usually because the sensor lost power). A real 85 °C has another byte 6 and passes.
pub fn check(family: u8, scratchpad: &[u8; 9]) -> Result<(), SensorError> {
    if crc8(scratchpad) != 0 {
        return Err(SensorError::Crc);
    }
    if scratchpad.iter().all(|&b| b == 0) || scratchpad.iter().all(|&b| b == 0xFF) {
        return Err(SensorError::Crc);
    }
    let raw = raw_temperature(scratchpad);
    let power_on = if family == family::DS18S20 {
        POWER_ON_RAW_DS18S20
    } else {
        if raw == PHANTOM_RAW_07FF {
            return Err(SensorError::Crc);
        }
        POWER_ON_RAW_DS18B20
    };
    if raw == power_on && scratchpad[6] == POWER_ON_BYTE6 {
        return Err(SensorError::Reset);
    }
    Ok(())
}

/// The temperature a scratchpad holds, in millidegrees, or why it holds none: [`check`], then the
/// family's decoding (DS18B20 family at the resolution its own configuration byte says), then the
/// sensors' range (−55…+125 °C; anything outside is corrupt data, reported as [`SensorError::Crc`]).
pub fn interpret(family: u8, scratchpad: &[u8; 9]) -> Result<i32, SensorError> {
    check(family, scratchpad)?;
    let millis = if family == family::DS18S20 {
        decode_ds18s20(scratchpad)?
    } else {
        decode_ds18b20(scratchpad, Resolution::from_config_byte(scratchpad[4]))
    };
    if (MIN_MILLIDEGREES..=MAX_MILLIDEGREES).contains(&millis) {
        Ok(millis)
    } else {
        Err(SensorError::Crc)
    }
}

/// Appends the CRC to 8 scratchpad bytes (for tests and the simulated sensors).
pub fn with_crc(bytes: [u8; 8]) -> [u8; 9] {
    let mut out = [0; 9];
    out[..8].copy_from_slice(&bytes);
    out[8] = crc8(&bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DS18B20 scratchpad as a genuine sensor leaves it after converting `raw` at `resolution`.
    fn ds18b20(raw: i16, resolution: Resolution) -> [u8; 9] {
        let [lsb, msb] = raw.to_le_bytes();
        let byte6 = 0x10 - (raw as u8 & 0x0F);
        with_crc([lsb, msb, 0x4B, 0x46, resolution.config_byte(), 0xFF, byte6, 0x10])
    }

    /// The DS18B20 datasheet's table (raw 12-bit register) with the millidegrees expected at 12, 11,
    /// 10 and 9 bits, once the low bits undefined at that resolution are ignored. The 12-bit odd
    /// sixteenths truncate toward zero as the kernel's do.
    const DS18B20_TABLE: [(i16, [i32; 4]); 10] = [
        (0x07D0, [125_000, 125_000, 125_000, 125_000]),
        (0x0550, [85_000, 85_000, 85_000, 85_000]),
        (0x0191, [25_062, 25_000, 25_000, 25_000]),
        (0x00A2, [10_125, 10_125, 10_000, 10_000]),
        (0x0008, [500, 500, 500, 500]),
        (0x0000, [0, 0, 0, 0]),
        (0xFFF8u16 as i16, [-500, -500, -500, -500]),
        (0xFF5Eu16 as i16, [-10_125, -10_125, -10_250, -10_500]),
        (0xFE6Fu16 as i16, [-25_062, -25_125, -25_250, -25_500]),
        (0xFC90u16 as i16, [-55_000, -55_000, -55_000, -55_000]),
    ];

    const RESOLUTIONS: [Resolution; 4] =
        [Resolution::Bits12, Resolution::Bits11, Resolution::Bits10, Resolution::Bits9];

    #[test]
    fn ds18b20_datasheet_table_at_every_resolution() {
        for (raw, expected) in DS18B20_TABLE {
            for (resolution, want) in RESOLUTIONS.into_iter().zip(expected) {
                let undefined = resolution.undefined_bits();
                let defined = raw & !undefined;
                // Whatever the sensor leaves in the undefined bits must not change the reading.
                for garbage in [0, undefined, undefined & 0b101] {
                    let sp = ds18b20(defined | garbage, resolution);
                    assert_eq!(decode_ds18b20(&sp, resolution), want, "raw {raw:#06x} at {resolution:?}");
                    assert_eq!(interpret(0x28, &sp), Ok(want), "raw {raw:#06x} at {resolution:?}");
                }
            }
        }
    }

    #[test]
    fn the_kernels_example_line_decodes() {
        // `72 01 4b 46 7f ff 0e 10 57 t=23125`
        let sp = [0x72, 0x01, 0x4b, 0x46, 0x7f, 0xff, 0x0e, 0x10, 0x57];
        assert_eq!(crc8(&sp[..8]), 0x57);
        assert_eq!(interpret(0x28, &sp), Ok(23_125));
    }

    #[test]
    fn crc8_agrees_with_one_wire_bus() {
        let mut state = 0x1234_5678u32;
        for len in 0..40 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            assert_eq!(crc8(&data), one_wire_bus::crc::crc8(&data));
        }
    }

    #[test]
    fn resolution_config_bytes() {
        for (bits, byte) in [(9, 0x1F), (10, 0x3F), (11, 0x5F), (12, 0x7F)] {
            let r = Resolution::from_bits(bits).unwrap();
            assert_eq!(r.config_byte(), byte);
            assert_eq!(Resolution::from_config_byte(byte), r);
            assert_eq!(r.bits(), bits);
        }
        assert_eq!(Resolution::from_bits(8), None);
        assert_eq!(Resolution::default(), Resolution::Bits12);
        assert_eq!(Resolution::Bits9.conversion_time(), Duration::from_micros(93_750));
    }

    /// DS18B20 datasheet, figure 10 and table 2: the configuration register is `0 R1 R0 1 1 1 1 1`,
    /// and R1 R0 = 00, 01, 10, 11 select 9 (93.75 ms), 10 (187.5 ms), 11 (375 ms), 12 bits (750 ms).
    #[test]
    fn configuration_register_and_conversion_time_per_the_datasheet() {
        let table = [(9, 0b00, 93_750), (10, 0b01, 187_500), (11, 0b10, 375_000), (12, 0b11, 750_000)];
        for (resolution, (bits, r1r0, micros)) in Resolution::ALL.into_iter().zip(table) {
            let byte = resolution.config_byte();
            assert_eq!(byte >> 7, 0, "bit 7 reads 0");
            assert_eq!(byte & 0x1F, 0x1F, "bits 0-4 read 1");
            assert_eq!((byte >> 5) & 0b11, r1r0);
            assert_eq!(resolution.bits(), bits);
            assert_eq!(resolution.conversion_time(), Duration::from_micros(micros));
            // Back from the byte, whatever a clone leaves in the reserved bits.
            for reserved in [0x00, 0x1F, 0x80, 0x9F, 0x15] {
                assert_eq!(Resolution::from_config_byte((r1r0 << 5) | reserved), resolution);
            }
            assert_eq!(resolution.to_string(), bits.to_string());
            assert_eq!(format!("{bits}\n").parse::<Resolution>(), Ok(resolution));
            assert_eq!(Resolution::try_from(bits), Ok(resolution));
        }
        // Coarser is faster: each step halves the conversion time.
        for pair in Resolution::ALL.windows(2) {
            assert_eq!(pair[0].conversion_time() * 2, pair[1].conversion_time());
        }
    }

    #[test]
    fn a_resolution_outside_9_to_12_is_a_typed_error() {
        for bits in [0u8, 8, 13, 14, 255] {
            assert_eq!(Resolution::try_from(bits), Err(ResolutionError::OutOfRange(i64::from(bits))));
        }
        assert_eq!("-1".parse::<Resolution>(), Err(ResolutionError::OutOfRange(-1)));
        assert_eq!("16".parse::<Resolution>(), Err(ResolutionError::OutOfRange(16)));
        assert_eq!("twelve".parse::<Resolution>(), Err(ResolutionError::NotANumber("twelve".into())));
        assert_eq!("".parse::<Resolution>(), Err(ResolutionError::NotANumber(String::new())));
        let message = ResolutionError::OutOfRange(13).to_string();
        assert!(message.contains("13") && message.contains("9..=12"), "{message}");
    }

    /// A DS18S20 scratchpad for `sixteenths` of a degree, with COUNT_REMAIN as the sensor computes it.
    fn ds18s20(sixteenths: i32) -> [u8; 9] {
        let raw = (sixteenths + 4).div_euclid(8) as i16;
        let count_remain = 12 - (sixteenths - 16 * i32::from(raw >> 1));
        let [lsb, msb] = raw.to_le_bytes();
        with_crc([lsb, msb, 0x4B, 0x46, 0xFF, 0xFF, count_remain as u8, 0x10])
    }

    #[test]
    fn ds18s20_datasheet_table_with_count_remain() {
        // (°C in sixteenths, register from the DS18S20 datasheet, millidegrees)
        let table: [(i32, u16, i32); 9] = [
            (85 * 16, 0x00AA, 85_000),
            (25 * 16, 0x0032, 25_000),
            (8, 0x0001, 500),
            (0, 0x0000, 0),
            (-8, 0xFFFF, -500),
            (-25 * 16, 0xFFCE, -25_000),
            (-55 * 16, 0xFF92, -55_000),
            // Beyond half degrees, from COUNT_REMAIN:
            (401, 0x0032, 25_062),
            (-162, 0xFFEC, -10_125),
        ];
        for (sixteenths, register, want) in table {
            let sp = ds18s20(sixteenths);
            assert_eq!(raw_temperature(&sp) as u16, register, "{sixteenths}/16 °C");
            if want == 85_000 {
                // COUNT_REMAIN is 0x0C at exactly 85.000 °C, the same as the power-on scratchpad.
                assert_eq!(interpret(0x10, &sp), Err(SensorError::Reset));
                assert_eq!(decode_ds18s20(&sp), Ok(85_000));
            } else {
                assert_eq!(interpret(0x10, &sp), Ok(want), "{sixteenths}/16 °C");
            }
        }
    }

    #[test]
    fn ds18s20_impossible_counts_are_crc() {
        let sp = with_crc([0x32, 0x00, 0x4B, 0x46, 0xFF, 0xFF, 0x0C, 0x00]);
        assert_eq!(interpret(0x10, &sp), Err(SensorError::Crc));
        let sp = with_crc([0x32, 0x00, 0x4B, 0x46, 0xFF, 0xFF, 0x11, 0x10]);
        assert_eq!(interpret(0x10, &sp), Err(SensorError::Crc));
    }

    #[test]
    fn power_on_85_is_reset_but_a_real_85_is_kept() {
        let power_on = with_crc([0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10]);
        assert_eq!(interpret(0x28, &power_on), Err(SensorError::Reset));
        let real = ds18b20(0x0550, Resolution::Bits12);
        assert_eq!(real[6], 0x10);
        assert_eq!(interpret(0x28, &real), Ok(85_000));
        let s20_power_on = with_crc([0xAA, 0x00, 0x4B, 0x46, 0xFF, 0xFF, 0x0C, 0x10]);
        assert_eq!(interpret(0x10, &s20_power_on), Err(SensorError::Reset));
    }

    #[test]
    fn phantoms_that_pass_the_crc_are_crc() {
        assert_eq!(crc8(&[0; 9]), 0);
        assert_eq!(interpret(0x28, &[0; 9]), Err(SensorError::Crc));
        assert_eq!(interpret(0x10, &[0; 9]), Err(SensorError::Crc));
        let stuck = with_crc([0xFF, 0x07, 0x4B, 0x46, 0x7F, 0xFF, 0x01, 0x10]);
        assert_eq!(interpret(0x28, &stuck), Err(SensorError::Crc));
        let stuck_power = with_crc([0xFF, 0x07, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10]);
        assert_eq!(interpret(0x28, &stuck_power), Err(SensorError::Crc));
    }

    #[test]
    fn bad_crc_and_out_of_range_are_crc() {
        let mut sp = ds18b20(0x0191, Resolution::Bits12);
        sp[8] ^= 0x01;
        assert_eq!(interpret(0x28, &sp), Err(SensorError::Crc));
        assert_eq!(interpret(0x28, &[0xFF; 9]), Err(SensorError::Crc));
        // 126 °C and −56 °C are beyond what the sensor measures.
        assert_eq!(interpret(0x28, &ds18b20(126 * 16, Resolution::Bits12)), Err(SensorError::Crc));
        assert_eq!(interpret(0x28, &ds18b20(-56 * 16, Resolution::Bits12)), Err(SensorError::Crc));
    }
}
