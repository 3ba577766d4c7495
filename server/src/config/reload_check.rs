//! What a reload cannot apply: the config file's keys that only a restart puts in force (the
//! addresses, the store, the passwords, the exporters, ...). The file as read at start is kept; on
//! each reload the file as it is now is compared with it, and every key that changed is named, so
//! an edit that needs a restart is never silently ignored.

use super::settings::{key, Cli};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Whether a reload puts top-level `key` in force (names, calibration, limits and alert targets,
/// and the clients file: the settings declared `=> reload`).
pub fn applied_on_reload(top: &str) -> bool {
    Cli::APPLIED_ON_RELOAD.iter().any(|field| key(field) == top)
}

/// The config file as the server started with it, and the keys a flag set (a flag wins over the
/// file, so the file's value of such a key changes nothing, now or after a restart).
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// The file's keys at start (empty without `--config`).
    pub file: toml::Table,
    /// Keys set by a flag, as dotted paths (`listen`, `mqtt.url`): [`Cli::flag_keys`].
    pub flags: Vec<String>,
}

impl Baseline {
    /// Whether a flag set `key` (a dotted path).
    pub fn from_flag(&self, key: &str) -> bool {
        self.flags.iter().any(|flag| flag == key)
    }

    /// The keys of `now` (the file as it is now) that differ from the start's, that a reload does
    /// not apply and that no flag overrides, as dotted paths (`listen`, `mqtt.prefix`), sorted.
    pub fn needing_restart(&self, now: &toml::Table) -> Vec<String> {
        let mut out = Vec::new();
        changed(&self.file, now, "", &mut out);
        out.retain(|key| {
            let top = key.split('.').next().unwrap_or(key);
            !applied_on_reload(top) && !self.from_flag(&canonical(key))
        });
        out
    }
}

/// `key` with its top-level part under the name the flags use (`backdoor` is `console`), so a
/// file written with an alias is matched against the flag that overrides it.
fn canonical(key: &str) -> String {
    let (top, rest) = key.split_once('.').map_or((key, None), |(top, rest)| (top, Some(rest)));
    let top = Cli::KEY_ALIASES.iter().find(|(alias, _)| *alias == top).map_or(top, |(_, name)| name);
    match rest {
        Some(rest) => format!("{top}.{rest}"),
        None => top.to_owned(),
    }
}

/// Why [`read_table`] has no table: the file cannot be read, or is not TOML.
#[derive(Debug, thiserror::Error)]
pub enum ReadTableError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{}: {}", path.display(), source.to_string().trim_end())]
    Toml {
        /// The file.
        path: PathBuf,
        /// Where and why.
        source: toml::de::Error,
    },
}

/// Reads `path` as a TOML table (for the baseline and for a reload's comparison).
pub fn read_table(path: &Path) -> Result<toml::Table, ReadTableError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ReadTableError::Read { path: path.to_owned(), source })?;
    text.parse::<toml::Table>().map_err(|source| ReadTableError::Toml { path: path.to_owned(), source })
}

/// Appends to `out` the keys whose values differ between `then` and `now`, one level into tables
/// (`mqtt.url`) so the message names what was edited.
fn changed(then: &toml::Table, now: &toml::Table, prefix: &str, out: &mut Vec<String>) {
    let keys: BTreeSet<&String> = then.keys().chain(now.keys()).collect();
    for key in keys {
        let name = format!("{prefix}{key}");
        match (then.get(key), now.get(key)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(toml::Value::Table(a)), Some(toml::Value::Table(b))) if prefix.is_empty() => {
                changed(a, b, &format!("{name}."), out)
            }
            _ => out.push(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn changed_added_and_removed_keys_are_named_but_not_those_a_reload_applies_or_a_flag_overrides() {
        let start = Baseline {
            file: table(
                "listen = \"0.0.0.0:1111\"\nstore = \"sqlite:a.db\"\nhttp = \"127.0.0.1:8080\"\n\
                 [mqtt]\nurl = \"mqtt://a:1883\"\nprefix = \"cliser\"\n[sensors.\"28-a\"]\nname = \"x\"\n",
            ),
            flags: vec!["http".into(), "mqtt.url".into()],
        };
        let now = table(
            "listen = \"0.0.0.0:2222\"\nstore = \"sqlite:a.db\"\nhttp = \"127.0.0.1:9090\"\n\
             keepalive = \"5s\"\nclients-file = \"c.toml\"\n\
             [mqtt]\nurl = \"mqtt://b:1883\"\nprefix = \"home\"\n[sensors.\"28-a\"]\nname = \"y\"\n",
        );
        assert_eq!(start.needing_restart(&now), ["keepalive", "listen", "mqtt.prefix"]);
        assert!(start.needing_restart(&start.file).is_empty());
        // A key written under its alias is still overridden by the flag of its name.
        let aliased = Baseline { file: table("backdoor = \"127.0.0.1:1\"\n"), flags: vec!["console".into()] };
        assert!(aliased.needing_restart(&table("backdoor = \"127.0.0.1:2\"\n")).is_empty());
        // A table removed whole is named whole.
        let gone = table("listen = \"0.0.0.0:1111\"\nstore = \"sqlite:a.db\"\nhttp = \"127.0.0.1:8080\"\n");
        assert_eq!(start.needing_restart(&gone), ["mqtt"]);
    }
}
