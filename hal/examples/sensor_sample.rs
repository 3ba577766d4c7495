//! Issue 27's figure: how long one sample of 8 DS18B20s on one bus takes at 9, 10, 11 and 12 bits,
//! through both hardware backends, without hardware. Prints a markdown table (run by
//! `bench/sensor-sample.sh`; `--samples N` w1 samples per cell, default 3).
//!
//! - **GPIO, simulated**: `OneWireThermometers` bit-banging the hal tests' virtual bus, whose
//!   DS18B20s answer by the datasheet's slot timings and conversion times (93.75 / 187.5 / 375 /
//!   750 ms); the time is the virtual clock's, so it is exact and does not depend on this machine.
//!   One sample is whatever the backend does per `read_all` (today: a ROM search, one Convert T for
//!   all, the conversion wait of the resolution, one Read Scratchpad per sensor).
//! - **w1**: `W1Thermometers` on the hal tests' fake sysfs tree, 8 sensors at the resolution with
//!   the `conv_time` the kernel shows for it (95 / 190 / 375 / 750 ms). The fake tree is only
//!   files: nothing in it waits. So the waits w1_therm makes are added here, in a read hook, as
//!   drivers/w1/slaves/w1_therm.c makes them: a write of `trigger` to the master's
//!   `therm_bulk_read` blocks for the largest `conv_time` on the bus and the next read of each
//!   sensor only reads its scratchpad; a read with no bulk conversion pending converts that sensor
//!   alone and waits its `conv_time`. The bus traffic itself (a reset, Match ROM and 9 bytes, about
//!   11 ms per sensor on a real bus) is not modelled. Two columns: the backend as it runs as root
//!   (it triggers a bulk conversion when a master has two or more sensors), and without
//!   `therm_bulk_read` (not root, or a kernel before 5.10), when it reads the sensors one after
//!   the other. Wall clock, median of the samples.

#[allow(dead_code, unused_imports)]
#[path = "../tests/it/common/mod.rs"]
mod common;
#[allow(dead_code, unused_imports)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cliser_hal::onewire::{GpioConfig, OneWireThermometers, OpenDrain};
use cliser_hal::resolution::ResolutionSetting;
use cliser_hal::scratchpad::Resolution;
use cliser_hal::w1_sysfs::W1Thermometers;
use cliser_hal::Thermometers;
use common::FakeW1;
use support::{VirtualBus, VirtualDevice};

const SENSORS: u64 = 8;
const MILLIDEGREES: i32 = 21_500;

fn main() {
    let samples = sample_count();
    println!("| bits | conversion (datasheet) | kernel `conv_time` | GPIO, simulated: one sample of 8 (virtual clock) | w1, bulk conversion: one sample of 8 (wall clock) | w1, one after another: one sample of 8 (wall clock) |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for resolution in Resolution::ALL {
        let gpio = gpio_sample(resolution);
        let bulk = w1_sample(resolution, true, samples);
        let one_by_one = w1_sample(resolution, false, samples);
        println!(
            "| {} | {} | {} ms | {} | {} | {} |",
            resolution.bits(),
            datasheet_ms(resolution.conversion_time()),
            common::kernel_conv_time_ms(resolution),
            ms(gpio),
            ms(bulk),
            ms(one_by_one)
        );
    }
}

fn sample_count() -> usize {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => 3,
        [flag, n] if flag == "--samples" => n.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| usage()),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: sensor_sample [--samples N]");
    std::process::exit(2)
}

/// 93.75 ms as the datasheet writes it.
fn datasheet_ms(d: Duration) -> String {
    format!("{} ms", d.as_secs_f64() * 1000.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// One `read_all` of 8 simulated sensors at `resolution`, on the virtual clock, after a first one
/// that sets the resolution (a start).
fn gpio_sample(resolution: Resolution) -> Duration {
    let bus = VirtualBus::new();
    for serial in 1..=SENSORS {
        bus.attach(VirtualDevice::ds18b20(serial, MILLIDEGREES).with_resolution(resolution));
    }
    let pin = OpenDrain::new(bus.line()).expect("the virtual line");
    let config = GpioConfig { resolution, persist: false };
    let mut backend =
        OneWireThermometers::new(pin, bus.delay(), config, "virtual bus").expect("the virtual bus opens");
    read_all_ok(&mut backend);
    let start = bus.now();
    read_all_ok(&mut backend);
    let took = bus.now() - start;
    let violations = bus.violations();
    assert!(violations.is_empty(), "the backend broke the bus timing: {violations:?}");
    took
}

/// The median wall-clock time of `samples` `read_all`s of 8 fake w1 sensors at `resolution`, with
/// w1_therm's waits (see [`KernelWaits`]); `bulk` keeps the master's `therm_bulk_read`.
fn w1_sample(resolution: Resolution, bulk: bool, samples: usize) -> Duration {
    let fake = FakeW1::new();
    for serial in 1..=SENSORS {
        let id = format!("28-{serial:012x}");
        fake.add_sensor(&id, MILLIDEGREES, common::ds18b20_scratchpad(0x0158));
        fake.set_resolution(&id, resolution);
    }
    if !bulk {
        fs::remove_file(fake.bulk_read()).expect("therm_bulk_read");
    }
    let mut waits = KernelWaits::new(fake.root(), &fake.master());
    let mut backend = W1Thermometers::open(fake.root())
        .expect("the fake tree")
        .with_resolution(ResolutionSetting { resolution, persist: false })
        .on_read(move |path| waits.after_read(path));
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            read_all_ok(&mut backend);
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn read_all_ok(backend: &mut impl Thermometers) {
    let samples = backend.read_all().expect("the bus reads");
    assert_eq!(samples.len(), SENSORS as usize, "{samples:?}");
    assert!(samples.iter().all(|s| s.result == Ok(MILLIDEGREES)), "{samples:?}");
}

/// The waits w1_therm makes, applied after the backend's reads of a fake tree (the same total per
/// sample as the kernel's, which blocks in the `therm_bulk_read` write instead of the next read).
struct KernelWaits {
    root: PathBuf,
    master: PathBuf,
    /// Sensors with a bulk conversion done and not read yet (the kernel's `convert_triggered`).
    converted: BTreeSet<String>,
}

impl KernelWaits {
    fn new(root: &Path, master: &Path) -> KernelWaits {
        KernelWaits { root: root.to_owned(), master: master.to_owned(), converted: BTreeSet::new() }
    }

    fn after_read(&mut self, path: &Path) {
        let name = path.file_name().and_then(|n| n.to_str());
        if !matches!(name, Some("temperature" | "w1_slave")) {
            return;
        }
        let id = path.parent().and_then(Path::file_name).and_then(|n| n.to_str()).expect("a sensor's file");
        let trigger = self.master.join("therm_bulk_read");
        if fs::read_to_string(&trigger).is_ok_and(|text| text.starts_with("trigger")) {
            // trigger_bulk_read: Skip ROM, Convert T, sleep the largest conv_time on the bus.
            let ids = cliser_hal::w1_sysfs::thermometer_ids(&self.root).expect("the fake tree");
            let longest = ids.iter().map(|id| self.conv_time(id)).max().unwrap_or_default();
            std::thread::sleep(longest);
            self.converted.extend(ids);
            fs::write(&trigger, "0\n").expect("therm_bulk_read");
        }
        if !self.converted.remove(id) {
            // convert_t: this sensor alone, then its conv_time.
            std::thread::sleep(self.conv_time(id));
        }
    }

    fn conv_time(&self, id: &str) -> Duration {
        let text = fs::read_to_string(self.root.join(id).join("conv_time")).expect("conv_time");
        Duration::from_millis(text.trim().parse().expect("conv_time in ms"))
    }
}
