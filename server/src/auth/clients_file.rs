//! The clients file (`--clients-file`): one `id = "hash"` a line, the hash an argon2 PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`). It is TOML (a table of strings, no sections), read
//! line by line so that every error names its line and `add-client` / `remove-client` change only
//! the line of their id, keeping the operator's comments and order.
//!
//! Rewrites are atomic (a temp file in the same directory, 0600, synced, then renamed over the file)
//! and serialised by an exclusive lock on the file, so two `add-client` at once both land.

use argon2::password_hash::PasswordHash;
use cliser_protocol::{ClientId, IdentError};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One client: its id, its hash, and the line (from 1) it is on.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The client id.
    pub id: ClientId,
    /// The argon2 hash of its token, in PHC format.
    pub hash: Arc<str>,
    /// Where it is in the file.
    pub line: usize,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry({} on line {})", self.id, self.line)
    }
}

/// Why the file is unusable: read failures, and every parse error with its line.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// It cannot be read (or, for a rewrite, written).
    #[error("cannot {what} the clients file {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `lock`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `id = "argon2 hash"`.
    #[error("clients file {}, line {line}: {source}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        source: LineError,
    },
}

/// What is wrong with one line of the file (the file and line are [`FileError::Line`]'s).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// A quoted string was expected and the line ends.
    #[error("expected a quoted string")]
    NoQuotedString,
    /// A quoted string does not end on its line.
    #[error("no closing {quote}")]
    NoClosingQuote {
        /// The opening quote (`"` or `'`).
        quote: char,
    },
    /// A basic string with a backslash: ids and hashes need no escapes, so none are read.
    #[error("escapes (\\) are not used in this file")]
    Escapes,
    /// A `[table]` header.
    #[error("sections are not used: one `id = \"hash\"` a line")]
    Section,
    /// A bare id with a dot, which TOML reads as a dotted key.
    #[error("an id with a dot must be quoted: \"{key}\" = \"...\"")]
    UnquotedDot {
        /// The id as written.
        key: String,
    },
    /// No `=` after the id.
    #[error("expected `id = \"hash\"`")]
    NoEquals,
    /// The value is not a quoted string.
    #[error("the hash must be a quoted string: id = \"$argon2id$...\"")]
    HashNotQuoted,
    /// Something other than a comment after the hash.
    #[error("unexpected {after:?} after the hash")]
    Trailing {
        /// What follows the hash.
        after: String,
    },
    /// The id is not a client id.
    #[error("{key:?} is not a client id (1-32 of A-Z a-z 0-9 . _ -): {source}")]
    BadId {
        /// The id as written.
        key: String,
        /// Why not.
        source: IdentError,
    },
    /// The id is on an earlier line too.
    #[error("{id} is already on line {first}")]
    Duplicate {
        /// The id.
        id: ClientId,
        /// Its first line, from 1.
        first: usize,
    },
    /// The hash is not one the server can check tokens against.
    #[error("{id}: {source}")]
    Hash {
        /// The id whose hash it is.
        id: ClientId,
        /// What is wrong with it.
        source: HashError,
    },
}

/// What [`HashError`]'s message says a hash must be.
const PHC_FORM: &str = "not an argon2 hash in PHC format ($argon2id$v=19$m=...,t=...,p=...$salt$hash)";

/// Why a text is not an argon2 hash in PHC format whose parameters argon2 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Not PHC, not argon2, or parameters argon2 refuses.
    #[error("{PHC_FORM}: {0}")]
    Unusable(#[source] argon2::password_hash::Error),
    /// PHC without the salt or the hash itself.
    #[error("{PHC_FORM}: no salt or hash")]
    NoSaltOrHash,
}

/// What a line holds.
enum Parsed {
    Nothing,
    Entry(String, String),
}

/// A quoted TOML string at the start of `rest` (basic `"..."` or literal `'...'`, without escapes:
/// ids and PHC strings need none); returns it and what follows.
fn quoted(rest: &str) -> Result<(&str, &str), LineError> {
    let quote = rest.chars().next().ok_or(LineError::NoQuotedString)?;
    let body = &rest[1..];
    let end = body.find(quote).ok_or(LineError::NoClosingQuote { quote })?;
    let s = &body[..end];
    if quote == '"' && s.contains('\\') {
        return Err(LineError::Escapes);
    }
    Ok((s, &body[end + 1..]))
}

fn parse_line(line: &str) -> Result<Parsed, LineError> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(Parsed::Nothing);
    }
    if t.starts_with('[') {
        return Err(LineError::Section);
    }
    let (key, rest) = if t.starts_with('"') || t.starts_with('\'') {
        quoted(t)?
    } else {
        let end = t.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(t.len());
        let key = &t[..end];
        if key.contains('.') {
            return Err(LineError::UnquotedDot { key: key.to_owned() });
        }
        (key, &t[end..])
    };
    let rest = rest.trim_start();
    let Some(rest) = rest.strip_prefix('=') else {
        return Err(LineError::NoEquals);
    };
    let rest = rest.trim_start();
    if !rest.starts_with('"') && !rest.starts_with('\'') {
        return Err(LineError::HashNotQuoted);
    }
    let (value, after) = quoted(rest)?;
    let after = after.trim_start();
    if !after.is_empty() && !after.starts_with('#') {
        return Err(LineError::Trailing { after: after.to_owned() });
    }
    Ok(Parsed::Entry(key.to_owned(), value.to_owned()))
}

/// Checks that `hash` is an argon2 hash in PHC format whose parameters argon2 accepts.
pub fn check_hash(hash: &str) -> Result<(), HashError> {
    let parsed = PasswordHash::new(hash).map_err(HashError::Unusable)?;
    argon2::Algorithm::try_from(parsed.algorithm).map_err(HashError::Unusable)?;
    argon2::Params::try_from(&parsed).map_err(HashError::Unusable)?;
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(HashError::NoSaltOrHash);
    }
    Ok(())
}

/// Parses the file's text; an error names the line (from 1) and what is wrong.
pub fn parse(text: &str) -> Result<Vec<Entry>, (usize, LineError)> {
    let mut entries = Vec::new();
    let mut seen: HashMap<ClientId, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let (key, value) = match parse_line(line).map_err(|m| (n, m))? {
            Parsed::Nothing => continue,
            Parsed::Entry(k, v) => (k, v),
        };
        let id = ClientId::new(&key).map_err(|source| (n, LineError::BadId { key, source }))?;
        if let Some(first) = seen.insert(id.clone(), n) {
            return Err((n, LineError::Duplicate { id, first }));
        }
        if let Err(source) = check_hash(&value) {
            return Err((n, LineError::Hash { id, source }));
        }
        entries.push(Entry { id, hash: value.into(), line: n });
    }
    Ok(entries)
}

/// Reads and parses the file at `path`.
pub fn load(path: &Path) -> Result<Vec<Entry>, FileError> {
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
        what: "read",
        path: path.to_owned(),
        source,
    })?;
    parse(&text).map_err(|(line, source)| FileError::Line { path: path.to_owned(), line, source })
}

/// The line for an entry, as `add-client` writes it.
pub fn entry_line(id: &ClientId, hash: &str) -> String {
    if id.as_str().contains('.') {
        format!("\"{id}\" = \"{hash}\"")
    } else {
        format!("{id} = \"{hash}\"")
    }
}

/// Opens `path` (creating it empty, 0600, when `create`) and takes its exclusive lock. A rewrite
/// renames a new file over the path, so the lock may be won on a file that was replaced meanwhile:
/// then it tries again on the new one.
fn open_locked(path: &Path, create: bool) -> Result<File, FileError> {
    let io = |what, source| FileError::Io { what, path: path.to_owned(), source };
    loop {
        let file = OpenOptions::new().read(true).write(true).create(create).mode(0o600).open(path);
        let file = file.map_err(|e| io("open", e))?;
        file.lock().map_err(|e| io("lock", e))?;
        let held = file.metadata().map_err(|e| io("read", e))?;
        match std::fs::metadata(path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => return Ok(file),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => continue,
            Err(e) => return Err(io("read", e)),
        }
    }
}

/// Rewrites the file under its lock: `change` gets the current entries and text and returns the new
/// text (or why not, which leaves the file as it was). The new file is 0600 and keeps the old one's
/// owner and group when run as root (the server reads it as its service user).
pub fn rewrite<T, E: From<FileError>>(
    path: &Path,
    create: bool,
    change: impl FnOnce(&[Entry], &str) -> Result<(String, T), E>,
) -> Result<T, E> {
    let io = |what, source| FileError::Io { what, path: path.to_owned(), source };
    let mut file = open_locked(path, create)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| io("read", e))?;
    let entries =
        parse(&text).map_err(|(line, source)| FileError::Line { path: path.to_owned(), line, source })?;
    let (new_text, answer) = change(&entries, &text)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut out = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            let old = file.metadata()?;
            std::os::unix::fs::fchown(&out, Some(old.uid()), Some(old.gid()))?;
        }
        out.write_all(new_text.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("write", e).into());
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Oj0uXa9NR9uvhQyY0H3UkKyr1WQ4bLQ+PvsdyxyCzBY";

    #[test]
    fn entries_comments_and_quoted_ids_parse() {
        let text = format!(
            "# the fleet\n\npi-1 = \"{HASH}\"\n\"pi.kitchen\" = '{HASH}'  # the fridge\n  pi_2=\"{HASH}\"\n"
        );
        let e = parse(&text).unwrap();
        let got: Vec<(&str, usize)> = e.iter().map(|e| (e.id.as_str(), e.line)).collect();
        assert_eq!(got, [("pi-1", 3), ("pi.kitchen", 4), ("pi_2", 5)]);
        assert_eq!(&*e[0].hash, HASH);
        assert_eq!(parse("").unwrap(), []);
        // What add-client writes reads back.
        let id = ClientId::new("a.b").unwrap();
        assert_eq!(parse(&entry_line(&id, HASH)).unwrap()[0].id, id);
    }

    #[test]
    fn every_mistake_names_its_line() {
        let cases = [
            (format!("pi-1 = \"{HASH}\"\npi-1 = \"{HASH}\"\n"), 2, "already on line 1"),
            ("\n\npi-1 = \"plain\"\n".into(), 3, "not an argon2 hash"),
            ("pi-1 = \"$2b$12$abcdefghijklmnopqrstuv\"\n".into(), 1, "not an argon2 hash"),
            (format!("pi.1 = \"{HASH}\"\n"), 1, "must be quoted"),
            (format!("\"two words\" = \"{HASH}\"\n"), 1, "not a client id"),
            (format!("pi-1 \"{HASH}\"\n"), 1, "expected `id = \"hash\"`"),
            ("pi-1 = 7\n".into(), 1, "must be a quoted string"),
            (format!("# ok\n[clients]\npi-1 = \"{HASH}\"\n"), 2, "sections are not used"),
            (format!("pi-1 = \"{HASH}\" x\n"), 1, "unexpected"),
            ("pi-1 = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA\n".into(), 1, "no closing"),
        ];
        for (text, line, says) in cases {
            let (n, message) = parse(&text).unwrap_err();
            assert_eq!(n, line, "{text:?}: {message}");
            assert!(message.to_string().contains(says), "{text:?}: {message}");
        }
    }

    #[test]
    fn a_rewrite_is_0600_atomic_and_a_refused_change_leaves_the_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.toml");
        let line = entry_line(&ClientId::new("pi-1").unwrap(), HASH);
        rewrite::<_, FileError>(&path, true, |e, text| {
            assert!(e.is_empty() && text.is_empty());
            Ok((format!("# mine\n{line}\n"), ()))
        })
        .unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load(&path).unwrap().len(), 1);
        let refused: Result<(), FileError> = rewrite(&path, false, |_, _| {
            Err(FileError::Line { path: path.clone(), line: 0, source: LineError::Section })
        });
        assert!(refused.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("# mine\n{line}\n"));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "no temp file left: {names:?}");
        let missing = dir.path().join("none.toml");
        let e = rewrite::<(), FileError>(&missing, false, |_, _| unreachable!()).unwrap_err();
        assert!(e.to_string().starts_with("cannot open the clients file"), "{e}");
        assert!(!missing.exists());
    }
}
