//! Where the readings go: `--store URL`, or by default the SQLite file `cliser.db` in the data dir
//! (`--data-dir`, else systemd's `$STATE_DIRECTORY`, else `./cliser-data`).

use std::path::{Path, PathBuf};

/// The file name of the default SQLite store inside the data dir.
pub const DEFAULT_DB: &str = "cliser.db";
/// The data dir when neither `--data-dir` nor `$STATE_DIRECTORY` says.
pub const DEFAULT_DATA_DIR: &str = "cliser-data";

/// The store chosen, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation {
    /// `sqlite:PATH` or a PostgreSQL URL.
    pub url: String,
    /// The data dir, when the store is the default SQLite file in it (created at start).
    pub data_dir: Option<PathBuf>,
}

/// Picks the store: `store` if given, else `sqlite:<data dir>/cliser.db`. `state_directory` is
/// systemd's `$STATE_DIRECTORY` (it may list several dirs separated by `:`; the first is ours).
pub fn locate(
    store: Option<String>,
    data_dir: Option<PathBuf>,
    state_directory: Option<String>,
) -> StoreLocation {
    if let Some(url) = store {
        return StoreLocation { url, data_dir: None };
    }
    let dir = data_dir
        .or_else(|| {
            state_directory.and_then(|s| s.split(':').next().filter(|d| !d.is_empty()).map(PathBuf::from))
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    StoreLocation { url: format!("sqlite:{}", dir.join(DEFAULT_DB).display()), data_dir: Some(dir) }
}

impl StoreLocation {
    /// Creates the data dir if the store lives in it.
    pub fn prepare(&self) -> std::io::Result<()> {
        match &self.data_dir {
            Some(dir) => std::fs::create_dir_all(dir),
            None => Ok(()),
        }
    }

    /// The data dir, for messages.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// Creates the data dir as [`prepare`](Self::prepare) does, remembering what did not exist
    /// before: a start that fails after this removes it again (see [`MadeAtStart`]).
    pub fn prepare_for_start(&self) -> std::io::Result<MadeAtStart> {
        let Some(dir) = &self.data_dir else { return Ok(MadeAtStart::nothing()) };
        let top = first_missing(dir);
        let db = dir.join(DEFAULT_DB);
        let db = (top.is_none() && !db.exists()).then_some(db);
        std::fs::create_dir_all(dir)?;
        Ok(MadeAtStart { dir: top, db })
    }
}

/// The outermost directory of `dir`'s path that does not exist yet (what `create_dir_all` makes).
fn first_missing(dir: &Path) -> Option<PathBuf> {
    let mut missing = None;
    for d in dir.ancestors().filter(|d| !d.as_os_str().is_empty()) {
        if d.exists() {
            break;
        }
        missing = Some(d.to_owned());
    }
    missing
}

/// What a start made for the default SQLite store: the data dir (or its outermost new parent),
/// else the database file in a data dir that was there. Dropped, it removes them, so a start
/// that fails (a port taken, a ready file that cannot be written) leaves nothing behind in the
/// working dir; [`keep`](Self::keep) once the server runs.
#[derive(Debug)]
#[must_use = "dropping it removes what the start made"]
pub struct MadeAtStart {
    dir: Option<PathBuf>,
    db: Option<PathBuf>,
}

impl MadeAtStart {
    fn nothing() -> Self {
        MadeAtStart { dir: None, db: None }
    }

    /// The server runs: what was made stays.
    pub fn keep(mut self) {
        (self.dir, self.db) = (None, None);
    }
}

impl Drop for MadeAtStart {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                log::warn!("cannot remove the data dir {} this failed start made: {e}", dir.display());
            }
        }
        if let Some(db) = self.db.take() {
            // SQLite's companions too, should a connection still hold them.
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut path = db.clone().into_os_string();
                path.push(suffix);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => log::warn!("cannot remove {} this failed start made: {e}", db.display()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_wins_then_data_dir_then_systemd_then_the_working_dir() {
        let l = locate(Some("postgres://u@h/db".into()), Some("/d".into()), Some("/s".into()));
        assert_eq!(l, StoreLocation { url: "postgres://u@h/db".into(), data_dir: None });
        assert_eq!(locate(None, Some("/d".into()), Some("/s".into())).url, "sqlite:/d/cliser.db");
        assert_eq!(
            locate(None, None, Some("/var/lib/cliser-server:/other".into())).url,
            "sqlite:/var/lib/cliser-server/cliser.db"
        );
        assert_eq!(locate(None, None, None).url, "sqlite:cliser-data/cliser.db");
    }

    #[test]
    fn a_failed_start_removes_only_what_it_made() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("a").join("b");
        let made = locate(None, Some(fresh.clone()), None).prepare_for_start().unwrap();
        std::fs::write(fresh.join(DEFAULT_DB), "x").unwrap();
        drop(made);
        assert!(!tmp.path().join("a").exists(), "the outermost new dir is gone");

        let there = tmp.path().join("there");
        std::fs::create_dir(&there).unwrap();
        std::fs::write(there.join("notes"), "mine").unwrap();
        let made = locate(None, Some(there.clone()), None).prepare_for_start().unwrap();
        std::fs::write(there.join(DEFAULT_DB), "x").unwrap();
        std::fs::write(there.join("cliser.db-wal"), "x").unwrap();
        drop(made);
        let left: Vec<_> = std::fs::read_dir(&there).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["notes"]);

        let made = locate(None, Some(fresh.clone()), None).prepare_for_start().unwrap();
        made.keep();
        assert!(fresh.is_dir(), "kept once the server runs");
        let made = locate(None, Some(fresh.clone()), None).prepare_for_start().unwrap();
        std::fs::write(fresh.join(DEFAULT_DB), "x").unwrap();
        made.keep();
        let kept = locate(None, Some(fresh.clone()), None).prepare_for_start().unwrap();
        drop(kept);
        assert!(fresh.join(DEFAULT_DB).exists(), "a store that was there is never removed");
    }
}
