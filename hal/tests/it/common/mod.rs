//! A fake w1 sysfs tree laid out like the kernel's, in a temporary directory.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cliser_hal::family;
use cliser_hal::scratchpad::{with_crc, Resolution};

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

    /// Bus master `n`'s directory (`w1_bus_master<n>`).
    pub fn master_n(&self, n: u32) -> PathBuf {
        self.root().join(format!("w1_bus_master{n}"))
    }

    /// The device's directory, under whichever master holds it (the root's link says).
    pub fn device(&self, id: &str) -> PathBuf {
        fs::read_link(self.root().join(id)).unwrap_or_else(|_| self.master().join(id))
    }

    fn write_slaves(&self) {
        let masters: Vec<PathBuf> = fs::read_dir(self.root())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("w1_bus_master"))
            .map(|e| e.path())
            .collect();
        for master in masters {
            Self::write_slaves_of(&master);
        }
    }

    fn write_slaves_of(master: &Path) {
        let mut ids: Vec<String> = fs::read_dir(master)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        ids.sort();
        let text = if ids.is_empty() { "not found.\n".to_owned() } else { ids.join("\n") + "\n" };
        fs::write(master.join("w1_master_slaves"), text).unwrap();
    }

    /// Adds a device directory (no attributes yet) and its link; a thermometer also brings the
    /// master's `therm_bulk_read` (reading "0") as the kernel does.
    pub fn add(&self, id: &str) -> PathBuf {
        self.add_on(1, id)
    }

    /// [`FakeW1::add`] under bus master `n` (made, with its `w1_master_slaves`, if it is new).
    pub fn add_on(&self, n: u32, id: &str) -> PathBuf {
        let master = self.master_n(n);
        if !master.exists() {
            fs::create_dir(&master).unwrap();
        }
        let dir = master.join(id);
        fs::create_dir(&dir).unwrap();
        symlink(&dir, self.root().join(id)).unwrap();
        let family = u8::from_str_radix(&id[..2], 16).unwrap();
        let bulk_read = master.join("therm_bulk_read");
        if [0x10, 0x22, 0x28, 0x3b, 0x42].contains(&family) && !bulk_read.exists() {
            fs::write(bulk_read, "0\n").unwrap();
        }
        self.write_slaves();
        dir
    }

    /// Adds a thermometer with the attributes of a current w1_therm (5.10 and later): `temperature`
    /// (millidegrees), a `w1_slave` with `scratchpad`, `ext_power` (externally powered),
    /// `conv_time`, the write-only `eeprom_cmd`, and on families with a configuration register
    /// `resolution` as the scratchpad's byte 4 says.
    pub fn add_sensor(&self, id: &str, millidegrees: i32, scratchpad: [u8; 9]) {
        self.add_sensor_on(1, id, millidegrees, scratchpad)
    }

    /// [`FakeW1::add_sensor`] under bus master `n`.
    pub fn add_sensor_on(&self, n: u32, id: &str, millidegrees: i32, scratchpad: [u8; 9]) {
        self.add_on(n, id);
        self.set_temperature(id, &format!("{millidegrees}\n"));
        self.set_w1_slave(id, &w1_slave_text(scratchpad, true, millidegrees));
        let dir = self.device(id);
        fs::write(dir.join("ext_power"), "1\n").unwrap();
        let eeprom_cmd = dir.join("eeprom_cmd");
        fs::write(&eeprom_cmd, "").unwrap();
        fs::set_permissions(&eeprom_cmd, fs::Permissions::from_mode(0o200)).unwrap();
        if family::has_config_register(u8::from_str_radix(&id[..2], 16).unwrap()) {
            self.set_resolution(id, Resolution::from_config_byte(scratchpad[4]));
        } else {
            fs::write(dir.join("conv_time"), "750\n").unwrap();
        }
    }

    /// What the sensor's `resolution` shows, with the `conv_time` the kernel derives from it.
    pub fn set_resolution(&self, id: &str, resolution: Resolution) {
        fs::write(self.device(id).join("resolution"), format!("{resolution}\n")).unwrap();
        fs::write(self.device(id).join("conv_time"), format!("{}\n", kernel_conv_time_ms(resolution)))
            .unwrap();
    }

    /// The sensor as w1_therm before Linux 5.9 shows it: `w1_slave` only (no `temperature`,
    /// `resolution`, `conv_time`, `ext_power` or `eeprom_cmd`).
    pub fn make_pre_5_9(&self, id: &str) {
        for name in ["temperature", "resolution", "conv_time", "ext_power", "eeprom_cmd"] {
            let _ = fs::remove_file(self.device(id).join(name));
        }
    }

    /// What `ext_power` shows: "1\n" external, "0\n" parasite, "-5\n" an error.
    pub fn set_ext_power(&self, id: &str, text: &str) {
        fs::write(self.device(id).join("ext_power"), text).unwrap();
    }

    pub fn attribute(&self, id: &str, name: &str) -> String {
        fs::read_to_string(self.device(id).join(name)).unwrap()
    }

    pub fn set_temperature(&self, id: &str, text: &str) {
        fs::write(self.device(id).join("temperature"), text).unwrap();
    }

    pub fn set_w1_slave(&self, id: &str, text: &str) {
        fs::write(self.device(id).join("w1_slave"), text).unwrap();
    }

    pub fn remove(&self, id: &str) {
        let dir = self.device(id);
        fs::remove_file(self.root().join(id)).unwrap();
        fs::remove_dir_all(dir).unwrap();
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

/// The conversion time w1_therm waits at `resolution` (`w1_DS18B20_convert_time`: the datasheet's
/// 93.75 and 187.5 ms rounded up to 95 and 190).
pub fn kernel_conv_time_ms(resolution: Resolution) -> u32 {
    match resolution {
        Resolution::Bits9 => 95,
        Resolution::Bits10 => 190,
        Resolution::Bits11 => 375,
        Resolution::Bits12 => 750,
    }
}

/// What a `w1_slave` shows: the scratchpad and the reading.
type Shown = ([u8; 9], i32);

/// One write to a sensor attribute: the sensor id, the attribute, the text written.
pub type Write = (String, String, String);

/// What the kernel's w1_therm does after a write to a sensor attribute, as a
/// `W1Thermometers::on_write` hook: a valid `resolution` write moves `conv_time` with it (a real
/// driver writes the scratchpad and reads it back on the next `cat`); a sensor listed in
/// [`W1Kernel::ignores`] keeps its resolution (a clone that ignores the configuration register).
/// Every write is logged.
#[derive(Clone, Default)]
pub struct W1Kernel {
    writes: Arc<Mutex<Vec<Write>>>,
    ignoring: Arc<Mutex<BTreeMap<String, Resolution>>>,
    /// Sensors whose `w1_slave` takes the precision as before 5.9: their scratchpad and reading.
    old_w1_slave: Arc<Mutex<BTreeMap<String, Shown>>>,
}

impl W1Kernel {
    pub fn new() -> W1Kernel {
        W1Kernel::default()
    }

    /// Sensor `id` keeps showing `keeps` whatever is written.
    pub fn ignores(&self, id: &str, keeps: Resolution) {
        self.ignoring.lock().unwrap().insert(id.to_owned(), keeps);
    }

    /// Sensor `id`'s `w1_slave` (showing `scratchpad` and `millidegrees`) takes writes as w1_therm
    /// did before 5.9: a number 9..12 sets the precision in the scratchpad's byte 4 (unless the
    /// sensor ignores it), 0 saves it to the EEPROM.
    pub fn old_w1_slave(&self, fake: &FakeW1, id: &str, scratchpad: [u8; 9], millidegrees: i32) {
        fake.set_w1_slave(id, &w1_slave_text(scratchpad, true, millidegrees));
        self.old_w1_slave.lock().unwrap().insert(id.to_owned(), (scratchpad, millidegrees));
    }

    /// The hook to give `W1Thermometers::on_write`.
    pub fn hook(&self) -> impl FnMut(&Path) + Send + 'static {
        let kernel = self.clone();
        move |path: &Path| {
            let id = path.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = fs::read_to_string(path).unwrap_or_default();
            kernel.writes.lock().unwrap().push((id.clone(), name.clone(), text.clone()));
            if name == "w1_slave" {
                let mut old = kernel.old_w1_slave.lock().unwrap();
                let (scratchpad, millidegrees) = old.get_mut(&id).expect("a w1_slave that takes writes");
                let kept = kernel.ignoring.lock().unwrap().get(&id).copied();
                if let (Ok(bits @ 9..=12), None) = (text.trim().parse::<u8>(), kept) {
                    let mut bytes: [u8; 8] = scratchpad[..8].try_into().unwrap();
                    bytes[4] = Resolution::from_bits(bits).unwrap().config_byte();
                    *scratchpad = with_crc(bytes);
                }
                fs::write(path, w1_slave_text(*scratchpad, true, *millidegrees)).unwrap();
                return;
            }
            if name != "resolution" {
                return;
            }
            let kept = kernel.ignoring.lock().unwrap().get(&id).copied();
            // The library only writes 9..12; anything else would be the kernel's -EINVAL.
            let written: Resolution = text.parse().expect("a resolution the kernel accepts");
            let shows = kept.unwrap_or(written);
            fs::write(path, format!("{shows}\n")).unwrap();
            fs::write(path.with_file_name("conv_time"), format!("{}\n", kernel_conv_time_ms(shows))).unwrap();
        }
    }

    /// Every write to attribute `name`, as (sensor id, text).
    pub fn writes_to(&self, name: &str) -> Vec<(String, String)> {
        let writes = self.writes.lock().unwrap();
        writes.iter().filter(|w| w.1 == name).map(|w| (w.0.clone(), w.2.clone())).collect()
    }

    pub fn write_count(&self) -> usize {
        self.writes.lock().unwrap().len()
    }
}
