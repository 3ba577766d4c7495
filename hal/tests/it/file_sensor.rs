//! The `file:` backend on regular files and FIFOs.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cliser_hal::file_sensor::{FileThermometer, FIFO_WAIT};
use cliser_hal::{open, SensorError, SensorSpec, Thermometers};

fn read(t: &mut dyn Thermometers) -> Result<i32, SensorError> {
    let mut samples = t.read_all().unwrap();
    assert_eq!(samples.len(), 1);
    samples.remove(0).result
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[test]
fn a_regular_file_drives_the_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cliser-temp");
    let spec: SensorSpec = format!("file:{}", path.display()).parse().unwrap();
    let mut t = open(&spec).unwrap();
    assert_eq!(t.discover().unwrap(), ["file-cliser-temp"]);
    assert_eq!(read(&mut *t), Err(SensorError::Missing));
    fs::write(&path, "21.5\n").unwrap();
    assert_eq!(read(&mut *t), Ok(21_500));
    fs::write(&path, "-3.25").unwrap();
    assert_eq!(read(&mut *t), Ok(-3_250));
    fs::write(&path, "20\n19.75\n\n").unwrap();
    assert_eq!(read(&mut *t), Ok(19_750), "the last line counts");
    fs::write(&path, "").unwrap();
    assert!(matches!(read(&mut *t), Err(SensorError::Io(_))));
    fs::write(&path, "warm\n").unwrap();
    assert!(matches!(read(&mut *t), Err(SensorError::Io(why)) if why.contains("warm")));
    fs::remove_file(&path).unwrap();
    assert_eq!(read(&mut *t), Err(SensorError::Missing));
}

#[test]
fn a_fifo_keeps_the_last_value_written_and_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cliser-temp");
    mkfifo(&path);
    let mut t = FileThermometer::new(&path);

    let start = Instant::now();
    assert!(matches!(read(&mut t), Err(SensorError::Io(why)) if why.contains("nothing written")));
    assert!(start.elapsed() < FIFO_WAIT + Duration::from_secs(5), "bounded wait");

    // Opening read-write keeps the FIFO open as a writer would, with the data already in it.
    let mut writer = OpenOptions::new().read(true).write(true).open(&path).unwrap();
    writer.write_all(b"21.5\n").unwrap();
    assert_eq!(read(&mut t), Ok(21_500));
    writer.write_all(b"22\n-3.25\n").unwrap();
    assert_eq!(read(&mut t), Ok(-3_250));
    assert_eq!(read(&mut t), Ok(-3_250), "nothing new: the last value stays");
    drop(writer);
    assert_eq!(read(&mut t), Ok(-3_250), "no writer left: the last value stays");
}

#[test]
fn echo_into_a_fifo_reaches_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cliser-temp");
    mkfifo(&path);
    let done = Arc::new(AtomicBool::new(false));
    let (fifo, stop) = (path.clone(), done.clone());
    // Like `echo 21.5 > fifo` run again and again: each open blocks until a reader opens the FIFO.
    let echo = std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let mut f = OpenOptions::new().write(true).open(&fifo).unwrap();
            let _ = f.write_all(b"21.5\n");
        }
    });
    let mut t = FileThermometer::new(&path);
    let got = (0..400).map(|_| read(&mut t)).find(|r| r.is_ok());
    done.store(true, Ordering::SeqCst);
    // A reader kept open until the writer is gone lets it through open() to see the stop flag.
    let reader = OpenOptions::new().read(true).write(true).open(&path).unwrap();
    echo.join().unwrap();
    drop(reader);
    assert_eq!(got, Some(Ok(21_500)));
}
