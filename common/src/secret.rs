//! Passwords and tokens from files and the environment, read by one rule in every binary, so that a
//! file that works for the server works for the Pi client too.
//!
//! The rule for a file: its first line is the secret, with the line ending (`\n` or `\r\n`) removed;
//! an empty secret is refused; a file with more than one non-empty line is refused rather than
//! silently cut (a second line is usually a mistake: two passwords pasted, or an editor's notes).

use std::path::{Path, PathBuf};

/// Why a secret could not be had. `what` names the setting as the user knows it ("the password
/// file", "the admin password file").
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds nothing before its first line ending.
    #[error("{what} {} is empty: put the password on its first line", path.display())]
    EmptyFile {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The file has more than one non-empty line.
    #[error(
        "{what} {} has more than one line: it must hold only the password, on one line",
        path.display()
    )]
    ManyLines {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// The environment variable is set but empty.
    #[error("the environment variable {var} is empty")]
    EmptyVar {
        /// The variable.
        var: &'static str,
    },
}

/// What is wrong with a file's text as a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Nothing on the first line.
    Empty,
    /// More than one non-empty line.
    ManyLines,
}

/// The secret in a file's text: the first line without its line ending.
pub fn parse_secret(text: &str) -> Result<&str, Problem> {
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    let first = first.strip_suffix('\r').unwrap_or(first);
    if lines.any(|l| !l.trim_end_matches('\r').is_empty()) {
        return Err(Problem::ManyLines);
    }
    if first.is_empty() {
        return Err(Problem::Empty);
    }
    Ok(first)
}

/// Reads the secret in `path`; `what` names the file in errors ("the password file").
pub fn read_secret_file(what: &'static str, path: &Path) -> Result<String, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    match parse_secret(&text) {
        Ok(s) => Ok(s.to_owned()),
        Err(Problem::Empty) => Err(SecretError::EmptyFile { what, path: path.to_owned() }),
        Err(Problem::ManyLines) => Err(SecretError::ManyLines { what, path: path.to_owned() }),
    }
}

/// The secret from `file` if one is named, else from the environment variable `var` (looked up
/// with `env`, so tests need not touch the process environment); `Ok(None)` when neither is set.
pub fn secret_from(
    what: &'static str,
    file: Option<&Path>,
    var: &'static str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, SecretError> {
    if let Some(path) = file {
        return read_secret_file(what, path).map(Some);
    }
    match env(var) {
        Some(v) if v.is_empty() => Err(SecretError::EmptyVar { var }),
        other => Ok(other),
    }
}

/// [`secret_from`] with the process environment.
pub fn secret_from_env(
    what: &'static str,
    file: Option<&Path>,
    var: &'static str,
) -> Result<Option<String>, SecretError> {
    secret_from(what, file, var, |k| std::env::var(k).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_without_its_ending_is_the_secret() {
        assert_eq!(parse_secret("s3cret"), Ok("s3cret"));
        assert_eq!(parse_secret("s3cret\n"), Ok("s3cret"));
        assert_eq!(parse_secret("s3cret\r\n"), Ok("s3cret"));
        assert_eq!(parse_secret("s3cret\n\n\r\n"), Ok("s3cret"));
        assert_eq!(parse_secret(" with spaces \n"), Ok(" with spaces "));
    }

    #[test]
    fn empty_and_many_lines_are_refused() {
        assert_eq!(parse_secret(""), Err(Problem::Empty));
        assert_eq!(parse_secret("\n"), Err(Problem::Empty));
        assert_eq!(parse_secret("\r\n"), Err(Problem::Empty));
        assert_eq!(parse_secret("s3cret\nignored\n"), Err(Problem::ManyLines));
        assert_eq!(parse_secret("\nsecond"), Err(Problem::ManyLines));
    }

    #[test]
    fn errors_name_the_file_and_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let e = read_secret_file("the password file", &missing).unwrap_err().to_string();
        assert!(e.starts_with(&format!("cannot read the password file {}: ", missing.display())), "{e}");
        let two = dir.path().join("two");
        std::fs::write(&two, "a\nb\n").unwrap();
        let e = read_secret_file("the password file", &two).unwrap_err().to_string();
        assert!(e.contains("more than one line"), "{e}");
    }

    #[test]
    fn a_file_wins_over_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "fromfile\n").unwrap();
        let env = |_: &str| Some("fromenv".to_owned());
        assert_eq!(secret_from("x", Some(&f), "V", env).unwrap().as_deref(), Some("fromfile"));
        assert_eq!(secret_from("x", None, "V", env).unwrap().as_deref(), Some("fromenv"));
        assert_eq!(secret_from("x", None, "V", |_| None).unwrap(), None);
        let empty = |_: &str| Some(String::new());
        assert!(matches!(secret_from("x", None, "V", empty), Err(SecretError::EmptyVar { var: "V" })));
    }
}
