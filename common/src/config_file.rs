//! The `--config FILE` of every binary: TOML whose keys are exactly the long flag names
//! (`server-timeout = "30s"`), unknown keys refused; a flag given on the command line wins.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Why the config file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// It could not be read.
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not TOML of the expected keys and values.
    #[error("config file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said (it names the key and shows the line).
        message: String,
    },
}

/// Reads and parses `path`.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigFileError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|e| ConfigFileError::Parse {
        path: path.to_owned(),
        message: e.to_string().trim_end().into(),
    })
}

/// Loads `path` if given, else the type's defaults (every key absent).
pub fn load_or_default<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T, ConfigFileError> {
    path.map_or_else(|| Ok(T::default()), load)
}

/// A setting given as a flag (which wins) or in the config file, with whether it came from the flag,
/// so a message about it can name it as the user wrote it ([`setting_name`]).
pub fn flag_or_file<T>(flag: Option<T>, file: Option<T>) -> Option<(T, bool)> {
    flag.map(|v| (v, true)).or(file.map(|v| (v, false)))
}

/// How a setting is named in a message: as a flag when it came from the command line, as a key of
/// the config file otherwise, so the user is pointed at what they actually wrote.
pub fn setting_name(key: &str, from_flag: bool) -> String {
    if from_flag {
        format!("--{key}")
    } else {
        format!("config key {key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    struct F {
        max_clients: Option<u32>,
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "max-clients = 7\n").unwrap();
        assert_eq!(load::<F>(&p).unwrap().max_clients, Some(7));
        std::fs::write(&p, "max-client = 7\n").unwrap();
        let e = load::<F>(&p).unwrap_err().to_string();
        assert!(e.starts_with(&format!("config file {}: ", p.display())) && e.contains("max-client"), "{e}");
        let e = load::<F>(&dir.path().join("none")).unwrap_err().to_string();
        assert!(e.starts_with("cannot read the config file "), "{e}");
        assert_eq!(load_or_default::<F>(None).unwrap().max_clients, None);
        assert_eq!(flag_or_file(Some(1), Some(2)), Some((1, true)));
        assert_eq!(flag_or_file(None, Some(2)), Some((2, false)));
        assert_eq!(setting_name("dead-after", true), "--dead-after");
        assert_eq!(setting_name("dead-after", false), "config key dead-after");
    }
}
