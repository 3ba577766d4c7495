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
}
