//! A fake w1 sysfs tree laid out like the kernel's, in a temporary directory.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use cliser_hal::scratchpad::with_crc;

/// `root/w1_bus_master1/<id>/...` with a `root/<id>` link to each device, as the kernel has them.
pub struct FakeW1 {
    dir: tempfile::TempDir,
}

impl FakeW1 {
    /// A root with one bus master and no devices.
    pub fn new() -> FakeW1 {
        let fake = FakeW1 { dir: tempfile::tempdir().unwrap() };
        fs::create_dir(fake.master()).unwrap();
        fake.write_slaves();
        fake
    }

    /// A root with the w1 core loaded but no bus master.
    pub fn without_master() -> FakeW1 {
        FakeW1 { dir: tempfile::tempdir().unwrap() }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn master(&self) -> PathBuf {
        self.root().join("w1_bus_master1")
    }

    pub fn bulk_read(&self) -> PathBuf {
        self.master().join("therm_bulk_read")
    }

    pub fn device(&self, id: &str) -> PathBuf {
        self.master().join(id)
    }

    fn write_slaves(&self) {
        let mut ids: Vec<String> = fs::read_dir(self.master())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        ids.sort();
        let text = if ids.is_empty() { "not found.\n".to_owned() } else { ids.join("\n") + "\n" };
        fs::write(self.master().join("w1_master_slaves"), text).unwrap();
    }

    /// Adds a device directory (no attributes yet) and its link; a thermometer also brings the
    /// master's `therm_bulk_read` (reading "0") as the kernel does.
    pub fn add(&self, id: &str) -> PathBuf {
        let dir = self.device(id);
        fs::create_dir(&dir).unwrap();
        symlink(&dir, self.root().join(id)).unwrap();
        let family = u8::from_str_radix(&id[..2], 16).unwrap();
        if [0x10, 0x22, 0x28, 0x3b, 0x42].contains(&family) && !self.bulk_read().exists() {
            fs::write(self.bulk_read(), "0\n").unwrap();
        }
        self.write_slaves();
        dir
    }

    /// Adds a thermometer with both attributes: `temperature` (millidegrees) and a `w1_slave` with
    /// `scratchpad`.
    pub fn add_sensor(&self, id: &str, millidegrees: i32, scratchpad: [u8; 9]) {
        self.add(id);
        self.set_temperature(id, &format!("{millidegrees}\n"));
        self.set_w1_slave(id, &w1_slave_text(scratchpad, true, millidegrees));
    }

    pub fn set_temperature(&self, id: &str, text: &str) {
        fs::write(self.device(id).join("temperature"), text).unwrap();
    }

    pub fn set_w1_slave(&self, id: &str, text: &str) {
        fs::write(self.device(id).join("w1_slave"), text).unwrap();
    }

    pub fn remove(&self, id: &str) {
        fs::remove_file(self.root().join(id)).unwrap();
        fs::remove_dir_all(self.device(id)).unwrap();
        self.write_slaves();
    }
}

/// The kernel's `w1_slave` text: the 9 bytes and the CRC verdict, then the bytes and `t=`.
pub fn w1_slave_text(scratchpad: [u8; 9], crc_ok: bool, millidegrees: i32) -> String {
    let bytes: String = scratchpad.iter().map(|b| format!("{b:02x} ")).collect();
    let crc = cliser_hal::scratchpad::crc8(&scratchpad[..8]);
    let verdict = if crc_ok { "YES" } else { "NO" };
    format!("{bytes}: crc={crc:02x} {verdict}\n{bytes}t={millidegrees}\n")
}

/// A DS18B20 scratchpad as a genuine sensor leaves it after a 12-bit conversion of `raw`.
pub fn ds18b20_scratchpad(raw: i16) -> [u8; 9] {
    let [lsb, msb] = raw.to_le_bytes();
    with_crc([lsb, msb, 0x4B, 0x46, 0x7F, 0xFF, 0x10 - (lsb & 0x0F), 0x10])
}

/// The DS18B20 power-on scratchpad (85 °C, byte 6 = 0x0C).
pub const POWER_ON: [u8; 9] = [0x50, 0x05, 0x4B, 0x46, 0x7F, 0xFF, 0x0C, 0x10, 0x1C];
