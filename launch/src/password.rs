//! A throwaway password, so that nothing that runs the system keeps a fixed secret in the repo.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// 32 hex digits (128 bits) from `/dev/urandom`.
pub fn random_password() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `text` and a line ending to a new file that only its owner can read. The file must not
/// exist yet: a file planted in its place (or a symlink) is refused rather than followed.
pub fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    writeln!(f, "{text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn passwords_are_32_hex_digits_and_differ() {
        let (a, b) = (random_password().unwrap(), random_password().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn the_password_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        write_secret(&p, &random_password().unwrap()).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&p).unwrap().trim().len(), 32);
    }

    #[test]
    fn an_existing_file_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "planted\n").unwrap();
        assert!(write_secret(&p, "new").is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "planted\n");
    }
}
