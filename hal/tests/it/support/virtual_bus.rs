//! A simulated 1-Wire bus: a virtual GPIO line ([`VirtualLine`], an [`IoLine`]), a virtual clock that
//! only the delay advances ([`VirtualDelay`]), and simulated sensors ([`VirtualDevice`]) that answer
//! by the datasheet's timing.
//!
//! The master's pulses are classified by their length on the virtual clock: 480 µs or more is a
//! reset (answered by a presence pulse from 30 to 150 µs after it), under 15 µs writes a 1 or opens a
//! read slot (a device sending 0 holds the line low for 30 µs from the slot's start), 60-120 µs writes
//! a 0. Anything the datasheet does not allow is recorded in [`VirtualBus::violations`]: pulse lengths
//! between those ranges, slots shorter than 60 µs or with no recovery, a reset not followed by 480 µs
//! high, a read slot sampled later than 15 µs after its start, a presence pulse sampled outside
//! 60-75 µs after the reset. Everything is deterministic: there is no real time in it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use embedded_hal::blocking::delay::{DelayMs, DelayUs};

use cliser_hal::onewire::IoLine;
use cliser_hal::scratchpad::Resolution;

use super::virtual_device::VirtualDevice;

/// What the last completed low pulse was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pulse {
    None,
    Slot,
    Reset,
}

#[derive(Debug)]
struct BusState {
    now: u64,
    master_low: bool,
    fell_at: u64,
    rose_at: u64,
    last_pulse: Pulse,
    /// Whether the master already sampled after the last pulse (only the first sample is checked).
    sampled: bool,
    presence: Option<(u64, u64)>,
    shorted: bool,
    devices: Vec<VirtualDevice>,
    violations: Vec<String>,
}

impl BusState {
    fn violation(&mut self, what: String) {
        self.violations.push(format!("at {} µs: {what}", self.now));
    }

    fn level_high(&mut self) -> bool {
        let now = self.now;
        let presence = self.presence.is_some_and(|(from, until)| from <= now && now < until);
        let device_low = self.devices.iter_mut().any(|d| {
            d.settle(now);
            d.holds_low(now)
        });
        !(self.master_low || self.shorted || presence || device_low)
    }

    fn fall(&mut self) {
        if self.master_low {
            return;
        }
        let now = self.now;
        match self.last_pulse {
            Pulse::Slot if now - self.fell_at < 60 => {
                self.violation(format!("time slot of {} µs, shorter than 60 µs", now - self.fell_at))
            }
            Pulse::Slot if now == self.rose_at => self.violation("no recovery time between slots".into()),
            Pulse::Reset if now - self.rose_at < 480 => {
                self.violation(format!("only {} µs high after a reset, less than 480 µs", now - self.rose_at))
            }
            _ => {}
        }
        self.master_low = true;
        self.fell_at = now;
        for device in self.devices.iter_mut().filter(|d| d.present()) {
            device.slot_started(now);
        }
    }

    fn rise(&mut self) {
        if !self.master_low {
            return;
        }
        let now = self.now;
        let low = now - self.fell_at;
        self.master_low = false;
        self.rose_at = now;
        self.sampled = false;
        if low >= 480 {
            self.last_pulse = Pulse::Reset;
            let mut any = false;
            for device in self.devices.iter_mut().filter(|d| d.present()) {
                device.reset();
                any = true;
            }
            self.presence = any.then_some((now + 30, now + 150));
            return;
        }
        self.last_pulse = Pulse::Slot;
        // Devices sample about 30 µs into the slot.
        let bit = match low {
            1..=14 => true,
            60..=119 => false,
            _ => {
                self.violation(format!(
                    "low pulse of {low} µs: neither a 1 (<15), a 0 (60-120) nor a reset (>=480)"
                ));
                low < 30
            }
        };
        for device in self.devices.iter_mut().filter(|d| d.present()) {
            device.slot_ended(bit, now);
        }
    }

    fn check_sample(&mut self) {
        if self.master_low || self.sampled {
            return;
        }
        let now = self.now;
        match self.last_pulse {
            Pulse::Slot if now - self.fell_at < 60 => {
                self.sampled = true;
                if now - self.fell_at > 15 {
                    self.violation(format!(
                        "read slot sampled {} µs after its start, after 15 µs",
                        now - self.fell_at
                    ));
                }
            }
            Pulse::Reset if now - self.rose_at < 240 => {
                self.sampled = true;
                if !(60..=75).contains(&(now - self.rose_at)) {
                    self.violation(format!(
                        "presence sampled {} µs after the reset, outside 60-75 µs",
                        now - self.rose_at
                    ));
                }
            }
            _ => {}
        }
    }
}

fn lock(state: &Mutex<BusState>) -> MutexGuard<'_, BusState> {
    // A panicking test thread must not hide the bus from the assertions that follow.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A simulated 1-Wire bus with its sensors; hand out its [`VirtualLine`] and [`VirtualDelay`] to the
/// master and keep this handle to change the sensors and inspect the timing.
#[derive(Debug, Clone)]
pub struct VirtualBus {
    state: Arc<Mutex<BusState>>,
}

impl Default for VirtualBus {
    fn default() -> Self {
        VirtualBus::new()
    }
}

impl VirtualBus {
    /// An idle bus with no devices, at time 0.
    pub fn new() -> VirtualBus {
        VirtualBus {
            state: Arc::new(Mutex::new(BusState {
                now: 0,
                master_low: false,
                fell_at: 0,
                rose_at: 0,
                last_pulse: Pulse::None,
                sampled: true,
                presence: None,
                shorted: false,
                devices: Vec::new(),
                violations: Vec::new(),
            })),
        }
    }

    /// Connects a device.
    pub fn attach(&self, device: VirtualDevice) {
        lock(&self.state).devices.push(device);
    }

    /// The master's GPIO line.
    pub fn line(&self) -> VirtualLine {
        VirtualLine { state: self.state.clone() }
    }

    /// The master's delay, which advances the virtual clock.
    pub fn delay(&self) -> VirtualDelay {
        VirtualDelay { state: self.state.clone() }
    }

    /// The virtual time since the start.
    pub fn now(&self) -> Duration {
        Duration::from_micros(lock(&self.state).now)
    }

    fn with_device<T>(&self, id: &str, f: impl FnOnce(&mut VirtualDevice) -> T) -> T {
        let mut state = lock(&self.state);
        let device = state.devices.iter_mut().find(|d| d.id() == id);
        f(device.unwrap_or_else(|| panic!("no virtual device {id}")))
    }

    /// Sets the temperature a device measures from its next conversion on.
    pub fn set_temperature(&self, id: &str, millidegrees: i32) {
        self.with_device(id, |d| d.set_temperature(millidegrees));
    }

    /// Sends a device's next `n` scratchpads with a wrong CRC byte (noise on a few reads).
    pub fn corrupt_next_reads(&self, id: &str, n: u32) {
        self.with_device(id, |d| d.corrupt_next(n));
    }

    /// Unplugs (`false`) or plugs in (`true`, a power-on) a device.
    pub fn set_present(&self, id: &str, present: bool) {
        self.with_device(id, |d| d.set_present(present));
    }

    /// The resolution a device is set to now.
    pub fn resolution(&self, id: &str) -> Resolution {
        self.with_device(id, |d| d.resolution())
    }

    /// How many Convert T commands a device has received.
    pub fn conversions(&self, id: &str) -> u32 {
        self.with_device(id, |d| d.conversions())
    }

    /// Every function command a device received (0x44 Convert T, 0xBE Read Scratchpad, 0x4E Write
    /// Scratchpad, 0x48 Copy Scratchpad, ...) with the virtual time it came.
    pub fn commands(&self, id: &str) -> Vec<(Duration, u8)> {
        self.with_device(id, |d| {
            d.commands().into_iter().map(|(t, c)| (Duration::from_micros(t), c)).collect()
        })
    }

    /// How many Copy Scratchpad commands a device has received.
    pub fn copies(&self, id: &str) -> u32 {
        self.with_device(id, |d| d.copies())
    }

    /// How many Write Scratchpad commands a device has completed.
    pub fn scratchpad_writes(&self, id: &str) -> u32 {
        self.with_device(id, |d| d.scratchpad_writes())
    }

    /// The resolution a device's EEPROM holds (what it powers up at).
    pub fn eeprom_resolution(&self, id: &str) -> Resolution {
        self.with_device(id, |d| d.eeprom_resolution())
    }

    /// How many Search ROM commands a device has received.
    pub fn searches(&self, id: &str) -> u32 {
        self.with_device(id, |d| d.searches())
    }

    /// Holds the line low (a short circuit) or stops doing so.
    pub fn set_shorted(&self, shorted: bool) {
        lock(&self.state).shorted = shorted;
    }

    /// Every timing rule the master broke so far.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.state).violations.clone()
    }
}

/// The master's GPIO on a [`VirtualBus`]: drives low or lets go; reading gives the wired-AND level.
#[derive(Debug, Clone)]
pub struct VirtualLine {
    state: Arc<Mutex<BusState>>,
}

impl IoLine for VirtualLine {
    type Error = Infallible;

    fn drive_low(&mut self) -> Result<(), Infallible> {
        lock(&self.state).fall();
        Ok(())
    }

    fn release(&mut self) -> Result<(), Infallible> {
        lock(&self.state).rise();
        Ok(())
    }

    fn is_high(&self) -> Result<bool, Infallible> {
        let mut state = lock(&self.state);
        state.check_sample();
        Ok(state.level_high())
    }
}

/// The master's delay on a [`VirtualBus`]: it advances the virtual clock instead of waiting.
#[derive(Debug, Clone)]
pub struct VirtualDelay {
    state: Arc<Mutex<BusState>>,
}

impl DelayUs<u16> for VirtualDelay {
    fn delay_us(&mut self, us: u16) {
        lock(&self.state).now += u64::from(us);
    }
}

impl DelayMs<u16> for VirtualDelay {
    fn delay_ms(&mut self, ms: u16) {
        lock(&self.state).now += u64::from(ms) * 1000;
    }
}
