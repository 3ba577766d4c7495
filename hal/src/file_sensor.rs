//! One simulated sensor whose value a person or a test writes into a file or a FIFO
//! (`echo 21.5 > /tmp/cliser-temp`), in decimal degrees Celsius.
//!
//! A regular file is read whole on every read. A FIFO is a stream: what was written since the last
//! read is taken (its last line counts) and the value stays until a new one is written. A FIFO is
//! opened non-blocking and waited on for at most [`FIFO_WAIT`], so a read never hangs for want of a
//! writer; a writer (`echo`) in turn waits until the next read opens the FIFO.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::io_util::{read_text, sensor_error};
use crate::{HalError, Sample, SensorError, SensorId, Thermometers};

/// The longest a read waits for something to arrive in an empty FIFO.
pub const FIFO_WAIT: Duration = Duration::from_millis(250);

/// The longest an id may be.
const MAX_ID_LEN: usize = 32;

/// The sensor id for `path`: `file-` and the file name, with every character outside
/// `[A-Za-z0-9._-]` replaced by `_`, at most 32 characters (`/tmp/cliser-temp` gives
/// `file-cliser-temp`).
pub fn file_sensor_id(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = if name.is_empty() { "sensor".to_owned() } else { name };
    let clean: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    format!("file-{clean}").chars().take(MAX_ID_LEN).collect()
}

/// Parses decimal degrees Celsius (`21.5`, `-3.25`, `+4`) into millidegrees, rounded.
pub fn parse_celsius(text: &str) -> Option<i32> {
    let value: f64 = text.trim().parse().ok()?;
    // Far beyond any thermometer, and keeps the millidegrees inside an i32.
    if !value.is_finite() || value.abs() > 1_000_000.0 {
        return None;
    }
    Some((value * 1000.0).round() as i32)
}

/// The `file:PATH` backend.
#[derive(Debug)]
pub struct FileThermometer {
    path: PathBuf,
    id: SensorId,
    last_from_fifo: Option<i32>,
}

impl FileThermometer {
    /// A sensor reading `path`, which need not exist yet.
    pub fn new(path: impl Into<PathBuf>) -> FileThermometer {
        let path = path.into();
        // `file_sensor_id` keeps to the protocol's alphabet and length.
        let id = SensorId::new(&file_sensor_id(&path)).expect("a file sensor id is a valid sensor id");
        FileThermometer { path, id, last_from_fifo: None }
    }

    /// The sensor's id.
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    fn read(&mut self) -> Result<i32, SensorError> {
        let meta = fs::metadata(&self.path).map_err(|e| sensor_error(&self.path, &e))?;
        if meta.file_type().is_fifo() {
            return self.read_fifo();
        }
        let text = read_text(&self.path).map_err(|e| sensor_error(&self.path, &e))?;
        self.parse(&text)
    }

    fn read_fifo(&mut self) -> Result<i32, SensorError> {
        let text = drain_fifo(&self.path, FIFO_WAIT).map_err(|e| sensor_error(&self.path, &e))?;
        if text.trim().is_empty() {
            return self.last_from_fifo.ok_or_else(|| {
                SensorError::Io(format!("{}: nothing written to the FIFO yet", self.path.display()))
            });
        }
        let value = self.parse(&text)?;
        self.last_from_fifo = Some(value);
        Ok(value)
    }

    fn parse(&self, text: &str) -> Result<i32, SensorError> {
        let line = text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("");
        parse_celsius(line).ok_or_else(|| {
            SensorError::Io(format!("{}: not a temperature in °C: {line:?}", self.path.display()))
        })
    }
}

impl Thermometers for FileThermometer {
    fn discover(&mut self) -> Result<Vec<String>, HalError> {
        Ok(vec![self.id.to_string()])
    }

    fn read_all(&mut self) -> Result<Vec<Sample>, HalError> {
        Ok(vec![Sample { sensor: self.id.clone(), result: self.read() }])
    }
}

/// Reads what is in a FIFO without blocking: waits up to `wait` for the first bytes, then takes what
/// is there until the writer closes or nothing more is ready.
fn drain_fifo(path: &Path, wait: Duration) -> io::Result<String> {
    let mut file = fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let deadline = Instant::now() + wait;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        // Once something arrived, only what is already there is taken.
        let timeout = if bytes.is_empty() {
            deadline.saturating_duration_since(Instant::now())
        } else {
            Duration::ZERO
        };
        if !wait_readable(&file, timeout)? {
            break;
        }
        match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {
                if !bytes.is_empty() || Instant::now() >= deadline {
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
    String::from_utf8(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not text"))
}

/// Whether `file` has data (or an end) to read within `timeout`.
fn wait_readable(file: &File, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is a valid pollfd for the duration of the call and the count is 1.
    let ready = unsafe { libc::poll(&mut pfd, 1, millis) };
    match ready {
        -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => Ok(true),
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(false),
        _ => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sanitised() {
        assert_eq!(file_sensor_id(Path::new("/tmp/cliser-temp")), "file-cliser-temp");
        assert_eq!(file_sensor_id(Path::new("/tmp/my temp (2).txt")), "file-my_temp__2_.txt");
        assert_eq!(file_sensor_id(Path::new("/")), "file-sensor");
        let long = file_sensor_id(Path::new("/tmp/a-very-long-file-name-for-a-sensor-value"));
        assert_eq!(long.len(), 32);
        assert!(long.starts_with("file-a-very-long"));
    }

    #[test]
    fn any_path_gives_a_valid_sensor_id() {
        for path in ["/tmp/température-ÿ-€", "/", "/tmp/a b\tc", &format!("/tmp/{}", "é".repeat(40))] {
            let id = FileThermometer::new(path).id().to_owned();
            assert_eq!(SensorId::new(&id).map(|s| s.to_string()), Ok(id));
        }
    }

    #[test]
    fn celsius_parsing() {
        assert_eq!(parse_celsius("21.5\n"), Some(21_500));
        assert_eq!(parse_celsius("-3.25"), Some(-3_250));
        assert_eq!(parse_celsius(" +4 "), Some(4_000));
        assert_eq!(parse_celsius("-0.0625"), Some(-63));
        for bad in ["", "abc", "21,5", "NaN", "inf", "1e9"] {
            assert_eq!(parse_celsius(bad), None, "{bad}");
        }
    }
}
