//! The readings CSV: an append-only ledger, one reading a line, that also tells a restarted server
//! the highest seq already logged per client id (so dedupe survives `kill -9`).

use cliser_protocol::{ClientId, Reading, Value};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The first line of a new ledger.
pub const HEADER: &str = "ts,cid,sensor,temp_c,error,seq\n";

/// An open ledger.
#[derive(Debug)]
pub struct CsvLedger {
    file: File,
    path: PathBuf,
    /// Bytes known written: a failed append is cut back to this, so the file only ever holds whole lines.
    len: u64,
}

/// What reopening a ledger found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Highest seq per client id.
    pub high_water: HashMap<ClientId, u64>,
    /// Data lines read.
    pub lines: u64,
    /// Bytes of a torn last line that were cut off (a crash mid-write).
    pub torn_bytes: u64,
}

impl CsvLedger {
    /// Opens (or creates) the ledger and reads back the high-water marks.
    pub fn open(path: &Path) -> std::io::Result<(CsvLedger, Recovered)> {
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut rec = Recovered::default();
        let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if whole < bytes.len() {
            rec.torn_bytes = (bytes.len() - whole) as u64;
            file.set_len(whole as u64)?;
        }
        for line in String::from_utf8_lossy(&bytes[..whole]).lines() {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != 6 || line.starts_with("ts,") {
                continue;
            }
            rec.lines += 1;
            if let (Ok(cid), Ok(seq)) = (ClientId::new(fields[1]), fields[5].parse::<u64>()) {
                let hw = rec.high_water.entry(cid).or_insert(seq);
                *hw = (*hw).max(seq);
            }
        }
        let mut ledger = CsvLedger { file, path: path.to_owned(), len: whole as u64 };
        if whole == 0 {
            ledger.append(HEADER.as_bytes())?;
        }
        Ok((ledger, rec))
    }

    /// A ledger on an already open file, taken as holding `len` bytes of whole lines.
    #[cfg(test)]
    pub(crate) fn with_file(file: File, path: &Path, len: u64) -> CsvLedger {
        CsvLedger { file, path: path.to_owned(), len }
    }

    /// Where the ledger is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends whole lines and syncs them to disk. On any error the file is cut back to what it held
    /// before, so nothing half-written stays and the caller may retry the same lines later.
    pub fn append(&mut self, lines: &[u8]) -> std::io::Result<()> {
        let result = self.file.write_all(lines).and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += lines.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::End(0));
                Err(e)
            }
        }
    }
}

/// One reading as a ledger line.
pub fn csv_line(out: &mut String, ts: &str, cid: &ClientId, r: &Reading) {
    use std::fmt::Write as _;
    let (temp, err) = match &r.value {
        Value::Celsius(c) => (c.to_string(), String::new()),
        Value::Error(e) => (String::new(), e.to_string()),
    };
    let seq = r.seq.map(|s| s.to_string()).unwrap_or_default();
    let _ = writeln!(out, "{ts},{cid},{},{temp},{err},{seq}", r.sensor);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(token: &str) -> Reading {
        Reading::parse(token).unwrap()
    }

    #[test]
    fn reopening_recovers_high_water_marks_and_cuts_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let (mut l, rec) = CsvLedger::open(&path).unwrap();
        assert_eq!(rec.lines, 0);
        let (a, b) = (ClientId::new("a").unwrap(), ClientId::new("b").unwrap());
        let mut text = String::new();
        csv_line(&mut text, "2026-01-01T00:00:00.000Z", &a, &reading("t=1.5#7"));
        csv_line(&mut text, "2026-01-01T00:00:00.000Z", &a, &reading("t=err:crc#9"));
        csv_line(&mut text, "2026-01-01T00:00:00.000Z", &b, &reading("t=-3"));
        l.append(text.as_bytes()).unwrap();
        drop(l);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"2026,a,t,1,,99").unwrap();
        let (_, rec) = CsvLedger::open(&path).unwrap();
        assert_eq!(rec.high_water.get(&a), Some(&9));
        assert_eq!(rec.high_water.get(&b), None);
        assert_eq!(rec.lines, 3);
        assert_eq!(rec.torn_bytes, 14);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(HEADER) && text.ends_with(",b,t,-3,,\n"), "{text}");
        assert!(text.contains(",a,t,,crc,9\n"));
    }
}
