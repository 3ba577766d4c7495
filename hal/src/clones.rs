//! Whether a DS18B20 looks like one of the clones catalogued by cpetrich/counterfeit_DS18B20
//! (<https://github.com/cpetrich/counterfeit_DS18B20>), from what can be seen without undocumented
//! function codes: the ROM's layout, the scratchpad's reserved bytes, the value read before a first
//! conversion (85 °C on a genuine chip), and whether the resolution setting is obeyed.
//!
//! A verdict is a hint for the person reading `probe` or the health line, never a reason to refuse a
//! sensor: clones read temperatures, only some of their behaviour differs.
//!
//! INTERFACE FIXED FOR ISSUE 27 (the client and probe are written against it): [`Signs`],
//! [`CloneLook`], [`assess`], [`rom_of_id`].

use std::fmt;

/// What was seen of one sensor. Fields not known are `None`; [`assess`] uses what is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Signs {
    /// The 64-bit ROM in bus order: family code first, CRC last (`28-AA-BB-CC-DD-EE-FF-crc`, which
    /// the kernel writes `28-ffeeddccbbaa`). See [`rom_of_id`].
    pub rom: Option<[u8; 8]>,
    /// A scratchpad read after a completed conversion (with a valid CRC).
    pub scratchpad: Option<[u8; 9]>,
    /// The scratchpad read right after power-up, before any conversion, when the backend saw one.
    pub power_up_scratchpad: Option<[u8; 9]>,
    /// `Some(true)` when the sensor read back another resolution than the one written.
    pub ignores_resolution: Option<bool>,
}

/// A sensor that looks like a clone: which kind, and what is known of that kind's behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneLook {
    /// The study's family, e.g. `B1 (GXCAS)`, or a plain description when the signs do not point
    /// to one family (`unknown maker`).
    pub kind: &'static str,
    /// What people running it should know, in one sentence (e.g. that it may not work on parasite
    /// power, or that it reads 25 °C instead of 85 °C at power-up).
    pub known_behaviour: &'static str,
    /// What gave it away, for the curious (`ROM bytes 5-6 are not 00-00`, ...).
    pub signs: Vec<&'static str>,
}

impl fmt::Display for CloneLook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "looks like a clone (kind {}): known behaviour: {}", self.kind, self.known_behaviour)
    }
}

/// The verdict on one sensor: `None` when nothing seen departs from a genuine DS18B20 (which does
/// not prove it genuine), otherwise the kind it looks like. Only for family 0x28 (DS18B20); other
/// families give `None`.
pub fn assess(signs: &Signs) -> Option<CloneLook> {
    let _ = signs;
    None
}

/// The bus-order ROM of a kernel-form id (`28-ffeeddccbbaa` gives `[0x28, 0xaa, 0xbb, 0xcc, 0xdd,
/// 0xee, 0xff, crc]`, the CRC computed as the datasheet defines it); `None` when `id` is not of that
/// form.
pub fn rom_of_id(id: &str) -> Option<[u8; 8]> {
    let family = crate::family::family_of_id(id)?;
    let serial = u64::from_str_radix(id.split_once('-')?.1, 16).ok()?;
    let mut rom = [0u8; 8];
    rom[0] = family;
    for (i, b) in rom[1..7].iter_mut().enumerate() {
        *b = (serial >> (8 * i)) as u8;
    }
    rom[7] = crate::scratchpad::crc8(&rom[..7]);
    Some(rom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_id_gives_the_bus_order_rom_with_its_crc() {
        // Family A1's example ROM in cpetrich/counterfeit_DS18B20's README: 28-13-9B-BB-0B-00-00-1F.
        assert_eq!(rom_of_id("28-00000bbb9b13"), Some([0x28, 0x13, 0x9b, 0xbb, 0x0b, 0x00, 0x00, 0x1f]));
        assert_eq!(rom_of_id("t"), None);
    }
}
