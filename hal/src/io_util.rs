//! Turning file errors into per-sensor errors, shared by the file-based backends.

use std::io;
use std::path::Path;

use crate::SensorError;

/// A read error on a sensor's file: gone (the kernel removed the device, or the file was deleted) is
/// [`SensorError::Missing`]; anything else is [`SensorError::Io`] naming the file.
pub(crate) fn sensor_error(path: &Path, err: &io::Error) -> SensorError {
    let gone = err.kind() == io::ErrorKind::NotFound
        || matches!(err.raw_os_error(), Some(libc::ENODEV) | Some(libc::ENXIO));
    if gone {
        SensorError::Missing
    } else {
        SensorError::Io(format!("{}: {err}", path.display()))
    }
}

/// Reads a whole small file as text; invalid UTF-8 is an [`io::ErrorKind::InvalidData`] error.
pub(crate) fn read_text(path: &Path) -> io::Result<String> {
    String::from_utf8(std::fs::read(path)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not text"))
}
