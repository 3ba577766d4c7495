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

/// The kinds a verdict can name: the study's families where the signs point to one, or a few
/// families the signs cannot tell apart, or a plain "unknown maker".
///
/// Not nameable from what is visible here (they need the undocumented function codes the study's
/// sketch sends, which this crate never sends: they can overwrite a chip's calibration): family
/// B1v2 (reads like a genuine chip; only its ROM gives it away, as "unknown maker"), and family
/// A1-Fishy (genuine Maxim chips without calibration, which read far too low).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Family A2: a good copy with a poor temperature offset.
    A2,
    /// Family A3: made to pass the study's 2019 tests.
    A3,
    /// Family B1: GXCAS (also sold as UMW).
    B1,
    /// Family B2: 7Q-Tek QT18B20.
    B2,
    /// Family B1 or B2: the write-scratchpad behaviour both share.
    B,
    /// Family C: fixed at 12 bits, a handful of EEPROM writes.
    C,
    /// Family C or F: the resolution setting is ignored.
    COrF,
    /// Byte 6 fixed at 0x0C after conversions: families B1, B2, C or F.
    ByteSixFixed,
    /// Family D1: Mysentech's first version.
    D1,
    /// Family D2: Mysentech MY18E20.
    D2,
    /// Family D1 or D2.
    D,
    /// Family E: NOVOSENSE NS18B20.
    E,
    /// Family F: Xinbole DS18B20T.
    F,
    /// Family G.
    G,
    /// Family H: HT18B20.
    H,
    /// Family G or H (same factory alarm setting, told apart only after a conversion).
    GOrH,
    /// A clone the signs do not tie to one family.
    Unknown,
}

impl Kind {
    /// The name shown as `kind ...`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::A2 => "A2 (unknown maker)",
            Kind::A3 => "A3 (made to pass as genuine)",
            Kind::B1 => "B1 (GXCAS/UMW 18B20)",
            Kind::B2 => "B2 (7Q-Tek QT18B20)",
            Kind::B => "B1 or B2 (GXCAS or 7Q-Tek)",
            Kind::C => "C (unknown maker)",
            Kind::COrF => "C or F (fixed 12-bit)",
            Kind::ByteSixFixed => "B1, B2, C or F (byte 6 fixed)",
            Kind::D1 => "D1 (Mysentech)",
            Kind::D2 => "D2 (Mysentech MY18E20)",
            Kind::D => "D (Mysentech)",
            Kind::E => "E (NOVOSENSE NS18B20)",
            Kind::F => "F (Xinbole DS18B20T)",
            Kind::G => "G (HX18B20, JSMSEMI and others)",
            Kind::H => "H (HT18B20)",
            Kind::GOrH => "G or H (HT18B20 and others)",
            Kind::Unknown => "unknown maker",
        }
    }

    /// One sentence of what matters to someone running it (paraphrased from the study).
    pub fn known_behaviour(self) -> &'static str {
        match self {
            Kind::A2 => {
                "reads about 2 to 3.5 °C low at 0 °C (outside the ±0.5 °C band) and may fail on \
                 parasite power"
            }
            Kind::A3 => {
                "reads like a genuine DS18B20, but a poll for the end of a conversion is valid only \
                 about 1 ms after the conversion starts"
            }
            Kind::B1 => {
                "works on parasite power with a small offset, but reserved byte 6 does not follow \
                 the temperature (a write of the configuration overwrites it), so a real reading of \
                 exactly 85 °C is taken for the power-up value"
            }
            Kind::B2 => {
                "reads up to 0.5 °C low at 0 °C, and reserved byte 6 does not follow the \
                 temperature, so a real reading of exactly 85 °C is taken for the power-up value"
            }
            Kind::B => {
                "works on parasite power, but reserved byte 6 does not follow the temperature (a \
                 write of the configuration overwrites it), so a real reading of exactly 85 °C is \
                 taken for the power-up value"
            }
            Kind::C => {
                "fixed at 12 bits (a resolution setting is ignored, though it converts in about \
                 30 ms) and its EEPROM survives only about 8 writes, so never persist a resolution \
                 to it"
            }
            Kind::COrF => {
                "always converts at 12 bits whatever resolution is set, and has few (C: about 8) \
                 or no (F) EEPROM writes, so never persist a resolution to it"
            }
            Kind::ByteSixFixed => {
                "reserved byte 6 does not follow the temperature, so a real reading of exactly \
                 85 °C is taken for the power-up value; families C and F also ignore the \
                 resolution and have few or no EEPROM writes"
            }
            Kind::D1 => {
                "reads 25 °C (or its last reading) instead of 85 °C after a power loss, is noisy \
                 with errors up to 3 °C, keeps its settings in a capacitor instead of an EEPROM, \
                 and many do not work on parasite power"
            }
            Kind::D2 => {
                "does not work on parasite power (it holds the data line low), reads 25 °C \
                 instead of 85 °C after a power loss, and takes about 0.5 s per conversion at any \
                 resolution"
            }
            Kind::D => {
                "reads 25 °C instead of 85 °C after a power loss (which passes as a real reading), \
                 most do not work on parasite power, and a lower resolution does not convert faster"
            }
            Kind::E => {
                "converts in about 25 ms at any resolution, and its 85 °C power-up value has the \
                 reserved bytes of a real reading, so a sensor that lost power reports 85 °C \
                 instead of an error"
            }
            Kind::F => {
                "has no EEPROM (settings are lost at power-off), always converts at 12 bits, \
                 cannot signal the end of a conversion, and on parasite power needs VDD left \
                 floating rather than grounded"
            }
            Kind::G => {
                "on parasite power, a read during a conversion makes it hold the data line low, \
                 hanging the bus for up to a second or more"
            }
            Kind::H => {
                "a 12-bit conversion takes about 280 ms, and on parasite power a read during a \
                 conversion leaves the data line floating"
            }
            Kind::GOrH => {
                "on parasite power, a read during a conversion can hang the bus (family G holds \
                 the data line low)"
            }
            Kind::Unknown => {
                "not a Maxim/Analog Devices chip; clones may fail on parasite power, have few or \
                 no EEPROM writes, or read outside the ±0.5 °C band, so check it against a \
                 reference"
            }
        }
    }

    /// The kind for a set of candidate families.
    fn of(candidates: Families) -> Kind {
        const SINGLE: [(Families, Kind); 12] = [
            (A2, Kind::A2),
            (A3, Kind::A3),
            (B1, Kind::B1),
            (B1V2, Kind::Unknown),
            (B2, Kind::B2),
            (C, Kind::C),
            (D1, Kind::D1),
            (D2, Kind::D2),
            (E, Kind::E),
            (F, Kind::F),
            (G, Kind::G),
            (H, Kind::H),
        ];
        const GROUPS: [(Families, Kind); 5] = [
            (B1 | B2, Kind::B),
            (D1 | D2, Kind::D),
            (C | F, Kind::COrF),
            (G | H, Kind::GOrH),
            (B1 | B2 | C | F, Kind::ByteSixFixed),
        ];
        if let Some(&(_, kind)) = SINGLE.iter().find(|(family, _)| *family == candidates) {
            return kind;
        }
        GROUPS
            .iter()
            .find(|(group, _)| candidates != 0 && candidates & !group == 0)
            .map_or(Kind::Unknown, |&(_, kind)| kind)
    }
}

/// A set of the study's clone families, one bit each.
type Families = u16;
const A2: Families = 1;
const A3: Families = 1 << 1;
const B1: Families = 1 << 2;
const B1V2: Families = 1 << 3;
const B2: Families = 1 << 4;
const C: Families = 1 << 5;
const D1: Families = 1 << 6;
const D2: Families = 1 << 7;
const E: Families = 1 << 8;
const F: Families = 1 << 9;
const G: Families = 1 << 10;
const H: Families = 1 << 11;
const ALL: Families = (1 << 12) - 1;
/// The families whose scratchpad reads like a genuine chip's after a conversion.
const SCRATCHPAD_LIKE_GENUINE: Families = A2 | A3 | B1V2 | E | H;
/// 25 °C, family D's temperature register at power-up (a genuine chip's is 85 °C).
const FAMILY_D_POWER_UP_RAW: i16 = 0x0190;

// The texts of the signs. Paraphrased from cpetrich/counterfeit_DS18B20's README (text CC BY, code
// Apache-2.0, by Chris Petrich): nothing is copied verbatim.
const ROM_NOT_MAXIM: &str = "ROM bytes 5-6 are not 00-00 (Maxim's serial numbers have them 00-00)";
const ROM_PRE_C4: &str =
    "ROM bytes 4-6 are 00-00-00, a pattern that predates the genuine C4 die (over 15 years old)";
const ALARMS_A3: &str = "alarm bytes TH/TL are 7F/80, family A3's factory setting";
const BYTE5: &str = "reserved scratchpad byte 5 is not 0xFF";
const BYTE7: &str = "reserved scratchpad byte 7 is not 0x10";
const CONFIG_FORM: &str = "the configuration byte is not of the datasheet's form 0RR11111";
const BYTE6_FIXED: &str = "reserved scratchpad byte 6 stays 0x0C after a conversion \
     (a genuine chip sets it to 0x10 minus the low 4 bits of the temperature)";
const BYTE6_ECHO: &str =
    "reserved scratchpad byte 6 holds the configuration byte (a write of the configuration overwrote it)";
const BYTE6_PLUS_10: &str =
    "reserved scratchpad byte 6 is 0x10 above a genuine chip's (0x20 minus the low 4 bits of the temperature)";
const BYTE6_OTHER: &str = "reserved scratchpad byte 6 does not follow the temperature as on a genuine chip";
const POWER_UP_25: &str = "read 25 °C before its first conversion (a genuine chip reads 85 °C)";
const IGNORES_RESOLUTION: &str = "reads back another resolution than the one written";

/// What one scratchpad shows: the signs that a genuine chip never gives (`deviations`) and the
/// families that behave that way (`families`, [`ALL`] when it says nothing about the family).
struct ScratchpadSigns {
    deviations: Vec<&'static str>,
    families: Families,
}

/// The reserved bytes of one scratchpad against the datasheet and the genuine chip's byte 6.
///
/// Byte 6 of a genuine chip is 0x0C at power-up (85 °C) and after a failed conversion (127.94 °C),
/// and `0x10 - (byte 0 & 0x0F)` after every completed conversion, at any resolution (the study's
/// Family A1 section, and the DS18S20's COUNT_REMAIN it stems from). Both states are accepted
/// whatever the backend says the scratchpad is: a scratchpad passed as "power-up" may be the last
/// conversion of a sensor that was never powered off.
fn scratchpad_signs(sp: &[u8; 9], power_up: bool) -> ScratchpadSigns {
    let mut deviations = Vec::new();
    let mut families = ALL;
    let raw = crate::scratchpad::raw_temperature(sp);
    let low_nibble = sp[0] & 0x0F;
    let genuine_byte6 = 0x10 - low_nibble;
    let power_up_state = sp[6] == crate::scratchpad::POWER_ON_BYTE6
        && (raw == crate::scratchpad::POWER_ON_RAW_DS18B20 || raw == crate::scratchpad::PHANTOM_RAW_07FF);
    if sp[5] != 0xFF {
        deviations.push(BYTE5);
        families &= D1 | D2;
    } else if sp[7] != 0x10 {
        // Families B1 and B2 store two user bytes in bytes 6 and 7 when five bytes are written.
        families &= B1 | B2;
    }
    if sp[7] != 0x10 {
        deviations.push(BYTE7);
    }
    if sp[4] & 0x9F != 0x1F {
        deviations.push(CONFIG_FORM);
        if sp[4] & 0x80 != 0 {
            // Family F's extended (150 °C) mode is bit 7 of the configuration byte.
            families &= F;
        }
    }
    if sp[6] != genuine_byte6 && !power_up_state {
        if sp[6] == crate::scratchpad::POWER_ON_BYTE6 {
            deviations.push(BYTE6_FIXED);
            families &= B1 | B2 | C | F;
        } else if sp[6] == sp[4] {
            deviations.push(BYTE6_ECHO);
            families &= B1 | B2;
        } else if sp[6] == 0x20 - low_nibble {
            deviations.push(BYTE6_PLUS_10);
            families &= G;
        } else {
            deviations.push(BYTE6_OTHER);
        }
    }
    if power_up && raw == FAMILY_D_POWER_UP_RAW && sp[5] != 0xFF {
        // 25 °C before any conversion, with family D's reserved bytes: its power-up value.
        deviations.push(POWER_UP_25);
    }
    if deviations.is_empty() && sp[6] != crate::scratchpad::POWER_ON_BYTE6 {
        // Byte 6 follows the temperature (and is not the 0x0C a fixed byte 6 shares with it once
        // in 16 readings): only the families that copy the genuine byte 6 remain.
        families &= SCRATCHPAD_LIKE_GENUINE;
    }
    ScratchpadSigns { deviations, families }
}

/// A hint from a ROM or alarm pattern: the families that use it and the sign to show when it
/// names the family.
struct Hint {
    families: Families,
    sign: &'static str,
}

/// The ROM patterns of the study's families (they only name a family; a clone is told by
/// [`ROM_NOT_MAXIM`] or the scratchpad).
fn rom_hints(rom: &[u8; 8]) -> Vec<Hint> {
    let mut hints = Vec::new();
    let mut hint = |families, sign| hints.push(Hint { families, sign });
    match (rom[1], rom[2], rom[3], rom[4]) {
        (0xFF | 0x61, 0x64, _, _) => hint(C, "ROM starts 28-FF-64 or 28-61-64 (family C's pattern)"),
        (0xFF, _, _, _) => hint(B2, "ROM starts 28-FF (family B2's pattern)"),
        (0xAA, _, _, _) => hint(B1, "ROM starts 28-AA (family B1's GXCAS pattern)"),
        (0x00, _, 0x00, _) | (_, 0x00, _, _) => hint(A2, "ROM has family A2's zero bytes"),
        (0x00, _, _, _) => hint(E, "ROM starts 28-00 (family E's pattern)"),
        (_, _, 0x77, 0x91) | (_, _, 0x46, 0x92) => hint(D1, "ROM bytes 3-4 are family D1's"),
        (_, _, 0x79, 0x97)
        | (_, _, 0x94, 0x97)
        | (_, _, 0x79, 0xA2)
        | (_, _, 0x16, 0xA8)
        | (_, _, 0x56, 0xB5)
        | (_, _, 0x07, 0xD6) => hint(D2, "ROM bytes 3-4 are family D2's"),
        _ => {}
    }
    hints
}

/// The factory alarm settings (TH, TL) the study lists per family. Users can write them, so they
/// only ever name a family.
fn alarm_hint(sp: &[u8; 9]) -> Option<Hint> {
    let (families, sign) = match (sp[2], sp[3]) {
        (0x7F, 0x80) => (A3, ALARMS_A3),
        (0x55, 0x00) => (B2 | C | F, "alarm bytes TH/TL are 55/00 (factory setting of families B2, C, F)"),
        (0x55, 0x05) => (D1 | D2, "alarm bytes TH/TL are 55/05 (family D's factory setting)"),
        (0x00, 0x00) => (D2, "alarm bytes TH/TL are 00/00 (family D2's factory setting since 2024)"),
        (0x55, 0xAA) => (G | H, "alarm bytes TH/TL are 55/AA (factory setting of families G and H)"),
        _ => return None,
    };
    Some(Hint { families, sign })
}

/// The verdict on one sensor: `None` when nothing seen departs from a genuine DS18B20 (which does
/// not prove it genuine), otherwise the kind it looks like. Only for family 0x28 (DS18B20); other
/// families give `None`, and so does a missing ROM (the family is then unknown).
///
/// A clone is only ever called on a sign no genuine chip shows: a ROM outside Maxim's pattern,
/// reserved scratchpad bytes off the datasheet or off the genuine chip's byte 6, 25 °C at power-up
/// with such bytes, or a resolution read back other than written. The ROM pattern of family A3
/// (bytes 4-6 zero) is also that of genuine chips made before 2009, so it counts only together with
/// A3's factory alarm setting 7F/80. ROM prefixes and factory alarm settings then name the family.
pub fn assess(signs: &Signs) -> Option<CloneLook> {
    let rom = signs.rom?;
    if rom[0] != crate::family::DS18B20 {
        return None;
    }
    let mut shown = Vec::new();
    let mut candidates = ALL;
    if rom[5] != 0 || rom[6] != 0 {
        shown.push(ROM_NOT_MAXIM);
        candidates &= !A3;
    }
    let scratchpads = [(signs.scratchpad, false), (signs.power_up_scratchpad, true)];
    for (sp, power_up) in scratchpads.into_iter().filter_map(|(sp, power_up)| Some((sp?, power_up))) {
        let seen = scratchpad_signs(&sp, power_up);
        for sign in seen.deviations {
            if !shown.contains(&sign) {
                shown.push(sign);
            }
        }
        candidates &= seen.families;
    }
    if signs.ignores_resolution == Some(true) {
        shown.push(IGNORES_RESOLUTION);
        candidates &= C | F;
    }
    let alarms = signs.scratchpad.or(signs.power_up_scratchpad).and_then(|sp| alarm_hint(&sp));
    if shown.is_empty() {
        let pre_c4_rom = rom[4] == 0;
        let a3_alarms = alarms.as_ref().is_some_and(|hint| hint.families == A3);
        if !(pre_c4_rom && a3_alarms && candidates & A3 != 0) {
            return None;
        }
        return Some(look(Kind::A3, vec![ROM_PRE_C4, ALARMS_A3]));
    }
    candidates &= !A3;
    let mut hints = rom_hints(&rom);
    hints.extend(alarms);
    if let Some(sp) = signs.power_up_scratchpad {
        if crate::scratchpad::raw_temperature(&sp) == crate::scratchpad::POWER_ON_RAW_DS18B20 && sp[6] == 0x10
        {
            hints.push(Hint {
                families: E,
                sign: "reserved byte 6 is 0x10 at power-up (0x0C on a genuine chip)",
            });
        }
    }
    for hint in hints {
        if candidates & hint.families != 0 && candidates & !hint.families != 0 {
            candidates &= hint.families;
            shown.push(hint.sign);
        }
    }
    Some(look(Kind::of(candidates), shown))
}

fn look(kind: Kind, signs: Vec<&'static str>) -> CloneLook {
    CloneLook { kind: kind.name(), known_behaviour: kind.known_behaviour(), signs }
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
    //! Fixtures from cpetrich/counterfeit_DS18B20 (README, 30 Nov 2024 version; text CC BY, Chris
    //! Petrich): each test names the README section its ROMs and scratchpads come from. ROMs go
    //! through the kernel's id form and [`rom_of_id`], as the w1 backend sees them.
    use super::*;
    use crate::scratchpad::{with_crc, Resolution};

    /// Bytes written `28-AA-3C-61-55-14-01-F0` or `50/05/4B/46/7F/FF/0C/10/1C`, as the README does.
    fn bytes<const N: usize>(text: &str) -> [u8; N] {
        let parsed: Vec<u8> =
            text.split(['-', '/']).map(|b| u8::from_str_radix(b, 16).expect("a hex byte")).collect();
        parsed.try_into().expect("the right number of bytes")
    }

    /// The kernel's id for a README ROM (its CRC byte dropped, as the kernel drops it).
    fn kernel_id(rom: &str) -> String {
        crate::family::rom_id(u64::from_le_bytes(bytes::<8>(rom)))
    }

    /// The README's scratchpad with its CRC byte recomputed (see `the_study_s_fixtures_check_out`).
    fn scratchpad(text: &str) -> [u8; 9] {
        let sp: [u8; 9] = bytes(text);
        with_crc(sp[..8].try_into().unwrap())
    }

    /// The signs of a sensor of kernel id `id` (the w1 path).
    fn signs_of(rom: &str) -> Signs {
        Signs { rom: rom_of_id(&kernel_id(rom)), ..Signs::default() }
    }

    /// A scratchpad after a conversion of `raw` at `resolution`, with byte 6 as `byte6` makes it.
    fn converted(raw: i16, alarms: [u8; 2], resolution: Resolution, byte6: impl Fn(u8) -> u8) -> [u8; 9] {
        let raw = raw & !((1 << (12 - resolution.bits())) - 1);
        let [lsb, msb] = raw.to_le_bytes();
        with_crc([lsb, msb, alarms[0], alarms[1], resolution.config_byte(), 0xFF, byte6(lsb), 0x10])
    }

    /// Family A1's rule (README, Family A1: "byte 6 = 0x10 - (byte 0 & 0x0f)").
    fn genuine_byte6(lsb: u8) -> u8 {
        0x10 - (lsb & 0x0F)
    }

    /// Raw registers across the range, including the datasheet's table and a real 85 °C.
    const TEMPERATURES: [i16; 10] = [-880, -162, -1, 0, 1, 0x0158, 0x0191, 0x0190, 0x0550, 0x07D0];

    #[test]
    fn the_kernel_id_gives_the_bus_order_rom_with_its_crc() {
        // Family A1's example ROM in cpetrich/counterfeit_DS18B20's README: 28-13-9B-BB-0B-00-00-1F.
        assert_eq!(rom_of_id("28-00000bbb9b13"), Some([0x28, 0x13, 0x9b, 0xbb, 0x0b, 0x00, 0x00, 0x1f]));
        assert_eq!(rom_of_id("t"), None);
    }

    #[test]
    fn the_study_s_fixtures_check_out() {
        // Every example ROM of the README's family sections, through the kernel id: the CRC
        // rom_of_id computes is the README's, except for two where the README's last byte does
        // not check (transcription slips in the study; the first seven bytes are used as given).
        let slips = ["28-9B-9E-CB-03-00-00-1F", "28-94-77-5F-33-23-09-37"];
        for rom in ALL_EXAMPLE_ROMS {
            let computed = rom_of_id(&kernel_id(rom)).expect("a kernel id");
            assert_eq!(computed[..7], bytes::<8>(rom)[..7], "{rom}");
            assert_eq!(computed == bytes::<8>(rom), !slips.contains(&rom), "{rom}");
        }
        // README, Family D1: "Initial Scratchpad: 90/01/55/05/7F/7E/81/66/27", whose CRC is 0x96.
        assert_eq!(scratchpad("90/01/55/05/7F/7E/81/66/27")[8], 0x96);
        for sp in ["50/05/4B/46/7F/FF/0C/10/1C", "50/05/7F/80/7F/FF/0C/10/93", "50/05/4B/46/7F/FF/10/10/BD"] {
            assert_eq!(scratchpad(sp), bytes::<9>(sp), "{sp}");
        }
    }

    /// Every README example ROM (family sections A1 to H and "Obsolete as of 2019").
    const ALL_EXAMPLE_ROMS: [&str; 36] = [
        "28-13-9B-BB-0B-00-00-1F",
        "28-CA-D6-10-10-00-00-FE",
        "28-9B-9E-CB-03-00-00-1F",
        "28-19-00-00-B7-5B-00-41",
        "28-3E-43-87-00-00-00-18",
        "28-CA-BA-61-00-00-00-A3",
        "28-06-64-2B-00-00-00-46",
        "28-AA-3C-61-55-14-01-F0",
        "28-AB-9C-B1-33-14-01-81",
        "28-E4-FA-2F-57-23-0B-AF",
        "28-0D-72-9A-20-23-07-C3",
        "28-94-77-5F-33-23-09-37",
        "28-FF-7C-5A-61-16-04-EE",
        "28-FF-E8-E8-54-E2-1F-24",
        "28-FF-64-1D-CD-96-F2-01",
        "28-48-1B-77-91-17-02-55",
        "28-24-1D-77-91-04-02-CE",
        "28-B8-0E-77-91-0E-02-D7",
        "28-21-6D-46-92-0A-02-B7",
        "28-90-FE-79-97-00-03-20",
        "28-FD-58-94-97-14-03-05",
        "28-FB-10-79-A2-00-03-88",
        "28-29-7D-16-A8-01-3C-84",
        "28-DF-54-56-B5-01-3C-F5",
        "28-AF-EC-07-D6-01-3C-0A",
        "28-75-02-80-33-8B-06-DC",
        "28-00-74-28-59-43-0F-7A",
        "28-00-2A-50-0C-41-02-DB",
        "28-03-60-00-00-01-24-D0",
        "28-C7-9E-A3-59-83-D9-74",
        "28-95-77-37-3F-4A-FB-1F",
        "28-CE-71-E6-6F-8C-E5-3C",
        "28-0C-80-53-5C-AA-8E-A2",
        "28-9E-9C-1F-00-00-80-04",
        "28-61-64-11-8D-F1-15-DE",
        "28-EE-58-49-25-16-01-45",
    ];

    #[test]
    fn genuine_a1_fixtures_are_not_flagged() {
        // README, Family A1: example ROMs 28-13-9B-BB-0B-00-00-1F and 28-CA-D6-10-10-00-00-FE,
        // initial scratchpad 50/05/4B/46/7F/FF/0C/10/1C, byte 6 = 0x10 - (byte 0 & 0x0f) after
        // every conversion. Family A1-Fishy (genuine chips): 28-9B-9E-CB-03-00-00-1F, initial
        // scratchpad 50/05/00/00/1F/FF/0C/10/74 (alarms 00/00, 9 bits).
        let genuine = [
            ("28-13-9B-BB-0B-00-00-1F", "50/05/4B/46/7F/FF/0C/10/1C"),
            ("28-CA-D6-10-10-00-00-FE", "50/05/4B/46/7F/FF/0C/10/1C"),
            ("28-9B-9E-CB-03-00-00-1F", "50/05/00/00/1F/FF/0C/10/74"),
        ];
        for (rom, initial) in genuine {
            let power_up = scratchpad(initial);
            let alarms = [power_up[2], power_up[3]];
            assert_eq!(assess(&signs_of(rom)), None, "{rom}");
            let signs = Signs { power_up_scratchpad: Some(power_up), ..signs_of(rom) };
            assert_eq!(assess(&signs), None, "{rom} at power-up");
            for resolution in Resolution::ALL {
                for raw in TEMPERATURES {
                    let after = converted(raw, alarms, resolution, genuine_byte6);
                    for power_up_scratchpad in [None, Some(power_up), Some(after)] {
                        let signs = Signs {
                            scratchpad: Some(after),
                            power_up_scratchpad,
                            ignores_resolution: Some(false),
                            ..signs_of(rom)
                        };
                        assert_eq!(assess(&signs), None, "{rom} {raw:#x} at {resolution} bits");
                    }
                }
            }
            // A failed conversion (127.94 °C, byte 6 still 0x0C; README, Family A1) is no sign either.
            let failed = with_crc([0xFF, 0x07, alarms[0], alarms[1], 0x7F, 0xFF, 0x0C, 0x10]);
            assert_eq!(assess(&Signs { scratchpad: Some(failed), ..signs_of(rom) }), None);
        }
    }

    #[test]
    fn alarms_a_user_wrote_do_not_flag_a_genuine_chip() {
        // Family A3's factory alarms 7F/80 (README, Family A3) on a Family A1 ROM with a C4-era
        // serial: a user may well have written them.
        let rom = "28-13-9B-BB-0B-00-00-1F";
        for alarms in [[0x7F, 0x80], [0x55, 0x00], [0x55, 0x05], [0x55, 0xAA], [0x00, 0x00]] {
            let after = converted(0x0158, alarms, Resolution::Bits12, genuine_byte6);
            assert_eq!(assess(&Signs { scratchpad: Some(after), ..signs_of(rom) }), None);
        }
    }

    #[test]
    fn other_families_and_a_missing_rom_are_not_judged() {
        let odd = converted(0x0158, [0x4B, 0x46], Resolution::Bits12, |_| 0x0C);
        let ds18s20 = Signs { rom: rom_of_id("10-000802b4f4f1"), scratchpad: Some(odd), ..Signs::default() };
        assert_eq!(assess(&ds18s20), None);
        assert_eq!(assess(&Signs { scratchpad: Some(odd), ..Signs::default() }), None);
    }

    /// The verdict, which must exist.
    fn verdict(signs: &Signs) -> CloneLook {
        assess(signs).unwrap_or_else(|| panic!("not recognised: {signs:?}"))
    }

    #[test]
    fn family_a2_by_its_rom() {
        // README, Family A2: example ROM 28-19-00-00-B7-5B-00-41, initial scratchpad
        // 50/05/xx/xx/7F/FF/0C/10/xx (alarms random: 4B/46 here), genuine-like byte 6.
        let rom = "28-19-00-00-B7-5B-00-41";
        let after = converted(0x0158, [0x12, 0x34], Resolution::Bits12, genuine_byte6);
        let look = verdict(&Signs { scratchpad: Some(after), ..signs_of(rom) });
        assert_eq!(look.kind, Kind::A2.name());
        assert!(look.signs.contains(&ROM_NOT_MAXIM));
        assert_eq!(verdict(&signs_of(rom)).kind, Kind::A2.name());
    }

    #[test]
    fn family_a3_needs_its_rom_and_its_factory_alarms() {
        // README, Family A3: example ROMs 28-3E-43-87-00-00-00-18, 28-CA-BA-61-00-00-00-A3,
        // 28-06-64-2B-00-00-00-46; initial scratchpad 50/05/7F/80/7F/FF/0C/10/93; byte 6 as A1's.
        // The ROM pattern alone is also that of genuine chips from before 2009: not enough.
        for rom in ["28-3E-43-87-00-00-00-18", "28-CA-BA-61-00-00-00-A3", "28-06-64-2B-00-00-00-46"] {
            assert_eq!(assess(&signs_of(rom)), None, "{rom}");
            let factory = scratchpad("50/05/7F/80/7F/FF/0C/10/93");
            let look = verdict(&Signs { power_up_scratchpad: Some(factory), ..signs_of(rom) });
            assert_eq!(look.kind, Kind::A3.name());
            assert_eq!(look.signs, vec![ROM_PRE_C4, ALARMS_A3]);
            let after = converted(0x0191, [0x7F, 0x80], Resolution::Bits10, genuine_byte6);
            assert_eq!(verdict(&Signs { scratchpad: Some(after), ..signs_of(rom) }).kind, Kind::A3.name());
            let user_alarms = converted(0x0191, [0x4B, 0x46], Resolution::Bits10, genuine_byte6);
            assert_eq!(assess(&Signs { scratchpad: Some(user_alarms), ..signs_of(rom) }), None);
        }
    }

    #[test]
    fn family_b1_by_its_rom_and_its_fixed_byte_6() {
        // README, Family B1: example ROMs 28-AA-3C-61-55-14-01-F0 (GXCAS) and
        // 28-AB-9C-B1-33-14-01-81 (UMW); initial scratchpad 50/05/4B/46/7F/FF/0C/10/1C; byte 6
        // stays 0x0C after conversions, and takes the third byte of a Write Scratchpad (which
        // is what w1_therm's and our resolution writes send: TH, TL, configuration).
        let gxcas = "28-AA-3C-61-55-14-01-F0";
        let initial = scratchpad("50/05/4B/46/7F/FF/0C/10/1C");
        let look = verdict(&Signs { power_up_scratchpad: Some(initial), ..signs_of(gxcas) });
        assert_eq!(look.kind, Kind::B1.name());
        let fixed = converted(0x0158, [0x4B, 0x46], Resolution::Bits12, |_| 0x0C);
        let look = verdict(&Signs { scratchpad: Some(fixed), ..signs_of(gxcas) });
        assert_eq!(look.kind, Kind::B1.name());
        assert!(look.signs.contains(&BYTE6_FIXED), "{look:?}");

        let umw = "28-AB-9C-B1-33-14-01-81";
        assert_eq!(verdict(&signs_of(umw)).kind, Kind::Unknown.name());
        let look = verdict(&Signs { scratchpad: Some(fixed), ..signs_of(umw) });
        assert_eq!(look.kind, Kind::ByteSixFixed.name());
        let written_11_bits = converted(0x0158, [0x4B, 0x46], Resolution::Bits11, |_| 0x5F);
        let look = verdict(&Signs { scratchpad: Some(written_11_bits), ..signs_of(umw) });
        assert_eq!(look.kind, Kind::B.name());
        assert!(look.signs.contains(&BYTE6_ECHO), "{look:?}");
    }

    #[test]
    fn family_b1v2_is_a_clone_of_unknown_maker() {
        // README, Family B1v2: example ROMs 28-E4-FA-2F-57-23-0B-AF, 28-0D-72-9A-20-23-07-C3,
        // 28-94-77-5F-33-23-09-37; byte 6 acts like Family A1's. Only the ROM gives it away.
        for rom in ["28-E4-FA-2F-57-23-0B-AF", "28-0D-72-9A-20-23-07-C3", "28-94-77-5F-33-23-09-37"] {
            let after = converted(0x0158, [0x4B, 0x46], Resolution::Bits12, genuine_byte6);
            let look = verdict(&Signs { scratchpad: Some(after), ..signs_of(rom) });
            assert_eq!(look.kind, Kind::Unknown.name(), "{rom}");
            assert_eq!(look.signs, vec![ROM_NOT_MAXIM]);
        }
    }

    #[test]
    fn family_b2_by_its_rom() {
        // README, Family B2: example ROMs 28-FF-7C-5A-61-16-04-EE, 28-FF-E8-E8-54-E2-1F-24;
        // initial scratchpads 50/05/4B/46/7F/FF/0C/10/1C and 50/05/55/00/7F/FF/0C/10/21; byte 6
        // does not change with the temperature.
        for (rom, initial) in [
            ("28-FF-7C-5A-61-16-04-EE", "50/05/4B/46/7F/FF/0C/10/1C"),
            ("28-FF-E8-E8-54-E2-1F-24", "50/05/55/00/7F/FF/0C/10/21"),
        ] {
            let initial = scratchpad(initial);
            let fixed = converted(0x0191, [initial[2], initial[3]], Resolution::Bits12, |_| 0x0C);
            for signs in [
                signs_of(rom),
                Signs { power_up_scratchpad: Some(initial), ..signs_of(rom) },
                Signs { scratchpad: Some(fixed), power_up_scratchpad: Some(initial), ..signs_of(rom) },
            ] {
                assert_eq!(verdict(&signs).kind, Kind::B2.name(), "{signs:?}");
            }
        }
    }

    #[test]
    fn family_c_by_its_rom_and_its_fixed_resolution() {
        // README, Family C: example ROM 28-FF-64-1D-CD-96-F2-01 (and 28-61-64-11-8D-F1-15-DE,
        // "Obsolete as of 2019", which appears to be Family C); initial scratchpad
        // 50/05/55/00/7F/FF/0C/10/21; configuration byte always 0x7F; byte 6 0x0C.
        let initial = scratchpad("50/05/55/00/7F/FF/0C/10/21");
        let fixed = converted(0x0158, [0x55, 0x00], Resolution::Bits12, |_| 0x0C);
        for rom in ["28-FF-64-1D-CD-96-F2-01", "28-61-64-11-8D-F1-15-DE"] {
            let signs = Signs {
                scratchpad: Some(fixed),
                power_up_scratchpad: Some(initial),
                ignores_resolution: Some(true),
                ..signs_of(rom)
            };
            let look = verdict(&signs);
            assert_eq!(look.kind, Kind::C.name(), "{rom}");
            assert!(look.signs.contains(&IGNORES_RESOLUTION));
            assert_eq!(verdict(&signs_of(rom)).kind, Kind::C.name());
        }
    }

    #[test]
    fn family_d_reads_25_degrees_at_power_up() {
        // README, Family D1: example ROMs 28-48-1B-77-91-17-02-55, 28-24-1D-77-91-04-02-CE,
        // 28-B8-0E-77-91-0E-02-D7, 28-21-6D-46-92-0A-02-B7; initial scratchpad
        // 90/01/55/05/7F/7E/81/66 (25 °C; its CRC recomputed). Family D2: example ROMs below;
        // initial scratchpad 90/01/55/05/7F/xx/xx/66/xx (the xx filled with D1's bytes).
        let initial = scratchpad("90/01/55/05/7F/7E/81/66/27");
        let d1 = [
            "28-48-1B-77-91-17-02-55",
            "28-24-1D-77-91-04-02-CE",
            "28-B8-0E-77-91-0E-02-D7",
            "28-21-6D-46-92-0A-02-B7",
        ];
        let d2 = [
            "28-90-FE-79-97-00-03-20",
            "28-FD-58-94-97-14-03-05",
            "28-FB-10-79-A2-00-03-88",
            "28-29-7D-16-A8-01-3C-84",
            "28-DF-54-56-B5-01-3C-F5",
            "28-AF-EC-07-D6-01-3C-0A",
        ];
        for (roms, kind) in [(&d1[..], Kind::D1), (&d2[..], Kind::D2)] {
            for rom in roms {
                let look = verdict(&Signs { power_up_scratchpad: Some(initial), ..signs_of(rom) });
                assert_eq!(look.kind, kind.name(), "{rom}");
                assert!(look.signs.contains(&POWER_UP_25), "{look:?}");
                assert!(look.signs.contains(&BYTE5), "{look:?}");
                assert_eq!(verdict(&signs_of(rom)).kind, kind.name(), "{rom}");
            }
        }
        // README, Family D2 (2024): 28-75-02-80-33-8B-06-DC, initial scratchpad
        // 90/01/00/00/7F/xx/xx/xx/xx (the xx filled with D1's bytes): no ROM pattern, D by the
        // scratchpad, D2 by its 2024 factory alarms.
        let rom = "28-75-02-80-33-8B-06-DC";
        assert_eq!(verdict(&signs_of(rom)).kind, Kind::Unknown.name());
        let look = verdict(&Signs { power_up_scratchpad: Some(initial), ..signs_of(rom) });
        assert_eq!(look.kind, Kind::D.name());
        let initial_2024 = scratchpad("90/01/00/00/7F/7E/81/66/00");
        let look = verdict(&Signs { power_up_scratchpad: Some(initial_2024), ..signs_of(rom) });
        assert_eq!(look.kind, Kind::D2.name());
    }

    #[test]
    fn family_e_by_its_rom_and_its_power_up_byte_6() {
        // README, Family E: example ROMs 28-00-74-28-59-43-0F-7A and 28-00-2A-50-0C-41-02-DB;
        // initial scratchpad 50/05/4B/46/7F/FF/10/10/BD (byte 6 0x10 at power-up).
        let initial = scratchpad("50/05/4B/46/7F/FF/10/10/BD");
        for rom in ["28-00-74-28-59-43-0F-7A", "28-00-2A-50-0C-41-02-DB"] {
            assert_eq!(verdict(&signs_of(rom)).kind, Kind::E.name(), "{rom}");
            let after = converted(0x0158, [0x4B, 0x46], Resolution::Bits9, genuine_byte6);
            let signs =
                Signs { scratchpad: Some(after), power_up_scratchpad: Some(initial), ..signs_of(rom) };
            assert_eq!(verdict(&signs).kind, Kind::E.name(), "{rom}");
        }
    }

    #[test]
    fn family_f_by_its_fixed_resolution_and_extended_mode() {
        // README, Family F: example ROM 28-03-60-00-00-01-24-D0; initial scratchpad
        // 50/05/55/00/7F/FF/0C/10/21; byte 6 fixed 0x0C; always 12 bits; bit 7 of the
        // configuration byte enables the extended (150 °C) mode.
        let rom = "28-03-60-00-00-01-24-D0";
        let initial = scratchpad("50/05/55/00/7F/FF/0C/10/21");
        let fixed = converted(0x0158, [0x55, 0x00], Resolution::Bits12, |_| 0x0C);
        let signs = Signs {
            scratchpad: Some(fixed),
            power_up_scratchpad: Some(initial),
            ignores_resolution: Some(true),
            ..signs_of(rom)
        };
        assert_eq!(verdict(&signs).kind, Kind::COrF.name());
        let mut extended = fixed;
        extended[4] = 0xFF;
        let extended = with_crc(extended[..8].try_into().unwrap());
        let look = verdict(&Signs { scratchpad: Some(extended), ..signs_of(rom) });
        assert_eq!(look.kind, Kind::F.name());
        assert!(look.signs.contains(&CONFIG_FORM));
    }

    #[test]
    fn families_g_and_h_by_byte_6_after_a_conversion() {
        // README, Family G: example ROMs 28-C7-9E-A3-59-83-D9-74, 28-95-77-37-3F-4A-FB-1F,
        // 28-CE-71-E6-6F-8C-E5-3C; byte 6 = 0x20 - (byte 0 & 0x0f) after a conversion.
        // Family H: example ROM 28-0C-80-53-5C-AA-8E-A2; byte 6 as Family A1's. Both: initial
        // scratchpad 50/05/55/AA/7F/FF/0C/10/AF.
        let initial = scratchpad("50/05/55/AA/7F/FF/0C/10/AF");
        let g = ["28-C7-9E-A3-59-83-D9-74", "28-95-77-37-3F-4A-FB-1F", "28-CE-71-E6-6F-8C-E5-3C"];
        for rom in g.into_iter().chain(["28-0C-80-53-5C-AA-8E-A2"]) {
            let look = verdict(&Signs { power_up_scratchpad: Some(initial), ..signs_of(rom) });
            assert_eq!(look.kind, Kind::GOrH.name(), "{rom}");
        }
        for rom in g {
            for raw in TEMPERATURES {
                let after = converted(raw, [0x55, 0xAA], Resolution::Bits12, |lsb| 0x20 - (lsb & 0x0F));
                let look = verdict(&Signs { scratchpad: Some(after), ..signs_of(rom) });
                assert_eq!(look.kind, Kind::G.name(), "{rom} {raw:#x}");
                assert!(look.signs.contains(&BYTE6_PLUS_10));
            }
        }
        let after = converted(0x0191, [0x55, 0xAA], Resolution::Bits12, genuine_byte6);
        let h = Signs {
            scratchpad: Some(after),
            power_up_scratchpad: Some(initial),
            ..signs_of("28-0C-80-53-5C-AA-8E-A2")
        };
        assert_eq!(verdict(&h).kind, Kind::H.name());
    }

    #[test]
    fn every_example_rom_outside_maxim_s_pattern_is_a_clone() {
        // README, "TLDR; How do I know?": a ROM not of the form 28-xx-xx-xx-xx-00-00-xx is a
        // clone. Every example ROM of the clone families is, except Family A3's.
        for rom in ALL_EXAMPLE_ROMS {
            let bytes = bytes::<8>(rom);
            let flagged = assess(&signs_of(rom)).is_some();
            assert_eq!(flagged, bytes[5] != 0 || bytes[6] != 0, "{rom}");
        }
        // "Obsolete as of 2019": 28-9E-9C-1F-00-00-80-04.
        assert_eq!(verdict(&signs_of("28-9E-9C-1F-00-00-80-04")).kind, Kind::Unknown.name());
    }

    #[test]
    fn the_verdict_reads_as_one_line() {
        let look = verdict(&signs_of("28-FF-7C-5A-61-16-04-EE"));
        let line = look.to_string();
        assert!(
            line.starts_with("looks like a clone (kind B2 (7Q-Tek QT18B20)): known behaviour: reads up to"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        for kind in [Kind::A2, Kind::A3, Kind::B1, Kind::B2, Kind::B, Kind::C, Kind::COrF, Kind::ByteSixFixed]
            .into_iter()
            .chain([
                Kind::D1,
                Kind::D2,
                Kind::D,
                Kind::E,
                Kind::F,
                Kind::G,
                Kind::H,
                Kind::GOrH,
                Kind::Unknown,
            ])
        {
            assert!(!kind.known_behaviour().contains("  "), "{kind:?}");
            assert!(!kind.known_behaviour().ends_with('.'), "{kind:?}");
        }
    }
}
