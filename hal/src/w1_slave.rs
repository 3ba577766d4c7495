//! Parsing the kernel's `w1_slave` attribute of a `w1_therm` device.
//!
//! Two lines, each the 9 scratchpad bytes in hex followed by a space: the first ends with the CRC the
//! kernel computed and its verdict, the second with the kernel's own conversion:
//!
//! ```text
//! 72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
//! 72 01 4b 46 7f ff 0e 10 57 t=23125
//! ```
//!
//! Only the first line is used: it holds the bytes just read (the second holds the last bytes that
//! passed the CRC), and the temperature is decoded from the bytes so that the glitch checks of
//! [`crate::scratchpad`] apply.

/// The first line of `w1_slave`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct W1SlaveReading {
    /// The 9 scratchpad bytes just read.
    pub scratchpad: [u8; 9],
    /// The kernel's verdict: `YES` (the CRC matched) is true.
    pub crc_ok: bool,
}

/// Why `w1_slave` text could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum W1SlaveError {
    /// Nothing in the file: current kernels return this when the sensor is gone or its CRC keeps
    /// failing.
    Empty,
    /// Text that is not the kernel's format; the string says what was wrong.
    Malformed(String),
}

/// Parses the text of a `w1_slave` attribute.
pub fn parse(text: &str) -> Result<W1SlaveReading, W1SlaveError> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).ok_or(W1SlaveError::Empty)?;
    let bad = |why: &str| W1SlaveError::Malformed(format!("{why} in {first:?}"));
    let (hex, verdict) = first.split_once(':').ok_or_else(|| bad("no ':'"))?;
    let bytes: Vec<u8> = hex
        .split_whitespace()
        .map(|b| if b.len() == 2 { u8::from_str_radix(b, 16).ok() } else { None })
        .collect::<Option<_>>()
        .ok_or_else(|| bad("a byte that is not two hex digits"))?;
    let scratchpad: [u8; 9] = bytes.try_into().map_err(|_| bad("not 9 bytes"))?;
    let mut words = verdict.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(crc), Some(yes_no), None) if crc.starts_with("crc=") => {
            let crc_ok = match yes_no {
                "YES" => true,
                "NO" => false,
                _ => return Err(bad("a verdict other than YES or NO")),
            };
            Ok(W1SlaveReading { scratchpad, crc_ok })
        }
        _ => Err(bad("no 'crc=.. YES|NO'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_and_no_lines() {
        let yes = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
        assert_eq!(
            parse(yes),
            Ok(W1SlaveReading {
                scratchpad: [0x72, 0x01, 0x4b, 0x46, 0x7f, 0xff, 0x0e, 0x10, 0x57],
                crc_ok: true
            })
        );
        let no = "ff ff ff ff ff ff ff ff ff : crc=c9 NO\n72 01 4b 46 7f ff 0e 10 57 t=-62\n";
        assert!(!parse(no).unwrap().crc_ok);
    }

    #[test]
    fn empty_and_malformed() {
        assert_eq!(parse(""), Err(W1SlaveError::Empty));
        assert_eq!(parse("\n\n"), Err(W1SlaveError::Empty));
        for text in [
            "72 01 4b 46 7f ff 0e 10 : crc=57 YES",
            "72 01 4b 46 7f ff 0e 10 57 crc=57 YES",
            "72 01 4b 46 7f ff 0e 10 5g : crc=57 YES",
            "72 01 4b 46 7f ff 0e 10 57 : crc=57 MAYBE",
            "72 01 4b 46 7f ff 0e 10 57 : 57 YES",
            "t=23125",
        ] {
            assert!(matches!(parse(text), Err(W1SlaveError::Malformed(_))), "{text}");
        }
    }
}
