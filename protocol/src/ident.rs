use crate::error::IdentError;
use crate::MAX_IDENT;
use std::fmt;

fn check(s: &str, allowed: impl Fn(u8) -> bool) -> Result<(), IdentError> {
    if s.is_empty() || s.len() > MAX_IDENT {
        return Err(IdentError::Length(s.len()));
    }
    match s.bytes().position(|b| !allowed(b)) {
        None => Ok(()),
        Some(i) => Err(IdentError::Character(s[i..].chars().next().unwrap_or('?'))),
    }
}

fn id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

fn reason_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')
}

macro_rules! ident_type {
    ($(#[$doc:meta])* $name:ident, $allowed:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks `s` and wraps it.
            pub fn new(s: &str) -> Result<Self, IdentError> {
                check(s, $allowed)?;
                Ok(Self(s.to_owned()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdentError;
            fn from_str(s: &str) -> Result<Self, IdentError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

ident_type!(
    /// A client id: 1-32 bytes of `[A-Za-z0-9._-]`, e.g. `pi-kitchen`.
    ClientId,
    id_byte
);
ident_type!(
    /// A sensor id: 1-32 bytes of `[A-Za-z0-9._-]`, e.g. the kernel's `28-0316a2795aff`.
    SensorId,
    id_byte
);
ident_type!(
    /// Why a sensor gave no temperature: 1-32 bytes of `[A-Za-z0-9_-]`, e.g. `crc`.
    ErrorReason,
    reason_byte
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_kernel_rom_form_and_the_full_set() {
        assert!(SensorId::new("28-0316a2795aff").is_ok());
        assert!(ClientId::new("Pi_5.kitchen-01").is_ok());
        assert!(ClientId::new(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn refuses_empty_long_and_foreign_bytes() {
        assert_eq!(ClientId::new(""), Err(IdentError::Length(0)));
        assert_eq!(ClientId::new(&"a".repeat(33)), Err(IdentError::Length(33)));
        assert_eq!(ClientId::new("a b"), Err(IdentError::Character(' ')));
        assert_eq!(ClientId::new("pé"), Err(IdentError::Character('é')));
        assert_eq!(ErrorReason::new("a.b"), Err(IdentError::Character('.')));
    }
}
