//! A setting's value with where it came from ([`Given`], [`Source`]) and how a flag's value goes over
//! the file's ([`Layer`]): what the settings' declaration and the exporters' tables both use (a
//! module of its own, so that neither of those imports the other back).

use cliser_common::config_file;
use std::path::PathBuf;
use std::time::Duration;

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The command line.
    Flag,
    /// The `--config` file.
    File,
    /// The declaration's default.
    Default,
}

/// A setting's value, its field name and where the value came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Given<T> {
    /// The value.
    pub value: T,
    /// The declaring field (`max_clients`).
    pub field: &'static str,
    /// Where it came from.
    pub source: Source,
}

impl<T> Given<T> {
    /// The setting as the user wrote it: `--max-clients` for a flag, else `config key max-clients`
    /// (a default is named as the key that would change it).
    pub fn name(&self) -> String {
        config_file::setting_name(&key(self.field), self.source == Source::Flag)
    }
}

/// The config key (and long flag) of a field: `max_clients` -> `max-clients`.
pub fn key(field: &str) -> String {
    field.replace('_', "-")
}

/// How a flag's value goes over the file's. Most flags replace the key; a table's flag sets one key
/// of the table (`--mqtt URL` is `url` of `[mqtt]`) and the table's other keys still apply.
pub trait Layer: Sized {
    /// The key of the table a flag sets, if the setting is a table.
    const FLAG_SETS: Option<&'static str> = None;
    /// The flag's value over the file's.
    fn over(self, _file: Self) -> Self {
        self
    }
}

impl Layer for String {}
impl Layer for PathBuf {}
impl Layer for Duration {}
impl Layer for cliser_common::size::Size {}
impl Layer for u32 {}
impl Layer for usize {}
impl Layer for toml::Value {}
