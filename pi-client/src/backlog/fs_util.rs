//! The file-system side of the backlog: an append-only file made durable by a sync, replaced whole
//! atomically, and the lock that keeps a state dir to one process.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the backlog could not be opened.
#[derive(Debug)]
pub enum StoreError {
    /// An I/O error on a file of the state dir.
    Io {
        /// What was being done to which file.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// Another client holds the state dir.
    Locked(PathBuf),
    /// The journal's header names a format version this client does not know (written by a newer
    /// client): it is left alone rather than guessed at.
    Version {
        /// The journal.
        path: PathBuf,
        /// The version its header names.
        found: String,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { context, source } => write!(f, "{context}: {source}"),
            StoreError::Locked(dir) => {
                write!(f, "state dir {} is in use by another cliser-pi-client", dir.display())
            }
            StoreError::Version { path, found } => write!(
                f,
                "{} is a journal of format version {found:?}, which this client (v1) does not know: \
                 run the client that wrote it, or move the file away to start an empty backlog",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            StoreError::Locked(_) | StoreError::Version { .. } => None,
        }
    }
}

pub(super) fn io_err(context: impl fmt::Display, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let context = format!("{context} {}", path.display());
    move |source| StoreError::Io { context, source }
}

/// Makes a file's data durable: `fdatasync` (a test puts a slow or gated one in its place).
pub(super) type SyncFn = Arc<dyn Fn(&File) -> io::Result<()> + Send + Sync>;

/// `fdatasync`.
pub(super) fn fdatasync() -> SyncFn {
    Arc::new(File::sync_data)
}

/// Locks `dir/name` (created if needed) for this process, or says the dir is in use. The kernel
/// lets go of the lock when the process dies.
pub(super) fn lock_dir(dir: &Path, name: &str) -> Result<File, StoreError> {
    let path = dir.join(name);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("open", &path))?;
    // `flock` on Linux, as earlier versions took it by hand: an old and a new client still exclude
    // each other.
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(TryLockError::WouldBlock) => Err(StoreError::Locked(dir.to_owned())),
        Err(TryLockError::Error(e)) => Err(io_err("lock", &path)(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync dir", dir))
}

/// Writes `data` to `dir/tmp`, syncs it, renames it over `dir/name` and syncs the directory, so that
/// after a crash the file is either the old one or the new one, whole.
fn replace_file(dir: &Path, tmp: &str, name: &str, data: &[u8], sync: &SyncFn) -> Result<(), StoreError> {
    let tmp_path = dir.join(tmp);
    let mut f = File::create(&tmp_path).map_err(io_err("create", &tmp_path))?;
    f.write_all(data).map_err(io_err("write", &tmp_path))?;
    sync(&f).map_err(io_err("fsync", &tmp_path))?;
    drop(f);
    let path = dir.join(name);
    std::fs::rename(&tmp_path, &path).map_err(io_err("rename to", &path))?;
    sync_dir(dir)
}

/// An append-only file `dir/name`, replaced whole through `dir/tmp`.
pub(super) struct AppendLog {
    dir: PathBuf,
    name: &'static str,
    tmp: &'static str,
    /// `None` until opened, and after a failed write until a [`replace`](Self::replace) succeeds.
    file: Option<File>,
    sync: SyncFn,
}

impl fmt::Debug for AppendLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppendLog")
            .field("path", &self.dir.join(self.name))
            .field("open", &self.is_open())
            .finish()
    }
}

impl AppendLog {
    /// The file, not opened yet.
    pub(super) fn new(dir: &Path, name: &'static str, tmp: &'static str, sync: SyncFn) -> AppendLog {
        AppendLog { dir: dir.to_owned(), name, tmp, file: None, sync }
    }

    /// Whether appends go to the file: false before [`open`](Self::open) and after a failed write.
    pub(super) fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Opens the file for appending, creating it (and syncing the directory) if needed.
    pub(super) fn open(&mut self) -> Result<(), StoreError> {
        let path = self.dir.join(self.name);
        let existed = path.exists();
        let f = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err("open", &path))?;
        if !existed {
            sync_dir(&self.dir)?;
        }
        self.file = Some(f);
        Ok(())
    }

    /// Appends `data` with one `write`, then syncs it if `sync`. On failure the file is closed: the
    /// caller rewrites it whole with [`replace`](Self::replace) before appending again.
    pub(super) fn append(&mut self, data: &[u8], sync: bool) -> Result<(), StoreError> {
        let path = self.dir.join(self.name);
        let Some(f) = self.file.as_mut() else {
            return Err(io_err("write", &path)(io::Error::other("closed after an earlier failure")));
        };
        let written = f.write_all(data).and_then(|()| if sync { (self.sync)(f) } else { Ok(()) });
        written.map_err(|e| {
            self.file = None;
            io_err("write", &path)(e)
        })
    }

    /// Replaces the file with `data` (see [`replace_file`]) and opens the new one for appending.
    pub(super) fn replace(&mut self, data: &[u8]) -> Result<(), StoreError> {
        self.file = None;
        replace_file(&self.dir, self.tmp, self.name, data, &self.sync)?;
        self.open()
    }
}
