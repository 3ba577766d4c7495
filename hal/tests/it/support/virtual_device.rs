//! A simulated DS18B20 / DS18S20: the 1-Wire slave's state machine, fed one time slot at a time by
//! [`super::virtual_bus`].

use cliser_hal::family::{self, rom_id};
use cliser_hal::scratchpad::{crc8, Resolution, DS18S20_CONVERSION_TIME};

/// How long a device holds the line low to send a 0 in a read slot, from the slot's start (the
/// datasheet guarantees the data valid for 15 µs; real parts release after ~30 µs).
pub(crate) const HOLD_ZERO_US: u64 = 30;

/// Collects bits, least significant first, until it has `want` of them.
#[derive(Debug, Clone, Copy)]
struct Receiver {
    value: u64,
    bits: u8,
    want: u8,
}

impl Receiver {
    fn new(want: u8) -> Receiver {
        Receiver { value: 0, bits: 0, want }
    }

    fn push(&mut self, bit: bool) -> Option<u64> {
        self.value |= u64::from(bit) << self.bits;
        self.bits += 1;
        (self.bits == self.want).then_some(self.value)
    }
}

/// Where the device is in a transaction.
#[derive(Debug, Clone)]
enum Phase {
    /// Waiting for a reset.
    Idle,
    /// Receiving the ROM command after a reset.
    RomCommand(Receiver),
    /// Receiving the 64-bit ROM of a Match ROM.
    MatchRom(Receiver),
    /// Search ROM at bit `bit`: step 0 sends the bit, 1 its complement, 2 receives the master's choice.
    Search { bit: u8, step: u8 },
    /// Selected, receiving a function command.
    Function(Receiver),
    /// Receiving TH, TL (and the configuration on the DS18B20 family).
    WriteScratchpad(Receiver),
    /// Sending bytes, least significant bit first; 1s after the end.
    Send { data: Vec<u8>, bit: usize },
    /// After Convert T: read slots give 0 while converting, 1 when done.
    Converting,
}

/// One simulated thermometer on a [`super::VirtualBus`].
#[derive(Debug, Clone)]
pub struct VirtualDevice {
    rom: [u8; 8],
    temperature: i32,
    eeprom_resolution: Resolution,
    resolution: Resolution,
    register: [u8; 8],
    present: bool,
    corrupt_crc: bool,
    /// The next this many scratchpads sent go with a wrong CRC byte (noise on a few reads).
    corrupt_next: u32,
    never_converts: bool,
    fixed_scratchpad: Option<[u8; 9]>,
    converting_until: Option<u64>,
    conversions: u32,
    copies: u32,
    scratchpad_writes: u32,
    searches: u32,
    /// Every function command with the virtual time (µs) it was received.
    commands: Vec<(u64, u8)>,
    ignores_resolution: bool,
    parasite: bool,
    phase: Phase,
    hold: Option<(u64, u64)>,
}

impl VirtualDevice {
    /// A device of `family` with a 48-bit `serial`, at `millidegrees`, freshly powered on.
    pub fn new(family: u8, serial: u64, millidegrees: i32) -> VirtualDevice {
        let mut rom = [0u8; 8];
        rom[0] = family;
        rom[1..7].copy_from_slice(&serial.to_le_bytes()[..6]);
        rom[7] = crc8(&rom[..7]);
        let mut device = VirtualDevice {
            rom,
            temperature: millidegrees,
            eeprom_resolution: Resolution::Bits12,
            resolution: Resolution::Bits12,
            register: [0; 8],
            present: true,
            corrupt_crc: false,
            corrupt_next: 0,
            never_converts: false,
            fixed_scratchpad: None,
            converting_until: None,
            conversions: 0,
            copies: 0,
            scratchpad_writes: 0,
            searches: 0,
            commands: Vec::new(),
            ignores_resolution: false,
            parasite: false,
            phase: Phase::Idle,
            hold: None,
        };
        device.power_on();
        device
    }

    /// A DS18B20 (family 0x28).
    pub fn ds18b20(serial: u64, millidegrees: i32) -> VirtualDevice {
        VirtualDevice::new(family::DS18B20, serial, millidegrees)
    }

    /// A DS18S20 (family 0x10).
    pub fn ds18s20(serial: u64, millidegrees: i32) -> VirtualDevice {
        VirtualDevice::new(family::DS18S20, serial, millidegrees)
    }

    /// Sends every scratchpad with a wrong CRC byte.
    pub fn corrupt_crc(mut self) -> VirtualDevice {
        self.corrupt_crc = true;
        self
    }

    /// Never converts, so it keeps its power-on scratchpad (85 °C): a sensor short of power.
    pub fn never_converts(mut self) -> VirtualDevice {
        self.never_converts = true;
        self
    }

    /// Sends exactly these 9 bytes for every Read Scratchpad (phantom patterns).
    pub fn with_scratchpad(mut self, bytes: [u8; 9]) -> VirtualDevice {
        self.fixed_scratchpad = Some(bytes);
        self
    }

    /// Keeps its resolution whatever is written to the configuration register (a clone).
    pub fn ignores_resolution(mut self) -> VirtualDevice {
        self.ignores_resolution = true;
        self
    }

    /// Powered from the data line (VDD grounded): it answers Read Power Supply with a 0.
    pub fn parasite(mut self) -> VirtualDevice {
        self.parasite = true;
        self
    }

    /// The resolution its EEPROM holds, which it takes at power-on.
    pub fn with_resolution(mut self, resolution: Resolution) -> VirtualDevice {
        self.eeprom_resolution = resolution;
        self.power_on();
        self
    }

    /// The 64-bit ROM as one-wire-bus holds it (little-endian bytes).
    pub fn rom(&self) -> u64 {
        u64::from_le_bytes(self.rom)
    }

    /// The kernel-form id, e.g. `28-000000000001`.
    pub fn id(&self) -> String {
        rom_id(self.rom())
    }

    pub(crate) fn family(&self) -> u8 {
        self.rom[0]
    }

    pub(crate) fn present(&self) -> bool {
        self.present
    }

    pub(crate) fn resolution(&self) -> Resolution {
        self.resolution
    }

    pub(crate) fn conversions(&self) -> u32 {
        self.conversions
    }

    pub(crate) fn commands(&self) -> Vec<(u64, u8)> {
        self.commands.clone()
    }

    pub(crate) fn searches(&self) -> u32 {
        self.searches
    }

    pub(crate) fn copies(&self) -> u32 {
        self.copies
    }

    pub(crate) fn scratchpad_writes(&self) -> u32 {
        self.scratchpad_writes
    }

    pub(crate) fn eeprom_resolution(&self) -> Resolution {
        self.eeprom_resolution
    }

    pub(crate) fn set_temperature(&mut self, millidegrees: i32) {
        self.temperature = millidegrees;
    }

    /// Unplugging loses everything volatile; plugging in again is a power-on.
    pub(crate) fn set_present(&mut self, present: bool) {
        if present && !self.present {
            self.power_on();
        }
        self.present = present;
        self.phase = Phase::Idle;
        self.hold = None;
    }

    fn power_on(&mut self) {
        self.resolution = self.eeprom_resolution;
        self.converting_until = None;
        self.phase = Phase::Idle;
        self.register = if self.family() == family::DS18S20 {
            [0xAA, 0x00, 0x4B, 0x46, 0xFF, 0xFF, 0x0C, 0x10]
        } else {
            [0x50, 0x05, 0x4B, 0x46, self.resolution.config_byte(), 0xFF, 0x0C, 0x10]
        };
    }

    /// Whether the device holds the line low at `now`.
    pub(crate) fn holds_low(&self, now: u64) -> bool {
        self.hold.is_some_and(|(from, until)| from <= now && now < until)
    }

    /// Finishes a conversion whose time is up.
    pub(crate) fn settle(&mut self, now: u64) {
        if self.converting_until.is_some_and(|done| now >= done) {
            self.converting_until = None;
            self.store_conversion();
        }
    }

    fn store_conversion(&mut self) {
        // The temperature in 1/16 °C, rounded.
        let sixteenths = (i64::from(self.temperature) * 16 + 500).div_euclid(1000);
        let sixteenths = sixteenths.clamp(i64::from(i16::MIN / 2), i64::from(i16::MAX / 2)) as i16;
        if self.family() == family::DS18S20 {
            let raw = (sixteenths + 4).div_euclid(8);
            let count_remain = 12 - (sixteenths - 16 * (raw >> 1));
            let [lsb, msb] = raw.to_le_bytes();
            self.register[0] = lsb;
            self.register[1] = msb;
            self.register[6] = count_remain as u8;
        } else {
            // Bits below the resolution are undefined: set them, so a decoder that uses them is caught.
            let undefined = (1i16 << (12 - self.resolution.bits())) - 1;
            let raw = sixteenths | undefined;
            let [lsb, msb] = raw.to_le_bytes();
            self.register[0] = lsb;
            self.register[1] = msb;
            self.register[6] = 0x10 - (lsb & 0x0F);
        }
    }

    fn scratchpad(&mut self) -> Vec<u8> {
        if let Some(fixed) = self.fixed_scratchpad {
            return fixed.to_vec();
        }
        let mut bytes = self.register.to_vec();
        let crc = crc8(&bytes);
        let corrupt = self.corrupt_crc || self.corrupt_next > 0;
        self.corrupt_next = self.corrupt_next.saturating_sub(1);
        bytes.push(if corrupt { crc ^ 0x5A } else { crc });
        bytes
    }

    /// Sends the next `n` scratchpads with a wrong CRC byte, then good ones again.
    pub(crate) fn corrupt_next(&mut self, n: u32) {
        self.corrupt_next = n;
    }

    fn rom_bit(&self, bit: u8) -> bool {
        self.rom() >> bit & 1 == 1
    }

    /// What the device sends in a read slot starting at `now`: `Some(bit)` while it is sending,
    /// `None` when it is listening or idle (the line stays released).
    pub(crate) fn output(&mut self, now: u64) -> Option<bool> {
        self.settle(now);
        match &self.phase {
            Phase::Search { bit, step: 0 } => Some(self.rom_bit(*bit)),
            Phase::Search { bit, step: 1 } => Some(!self.rom_bit(*bit)),
            Phase::Send { data, bit } => {
                Some(data.get(bit / 8).copied().unwrap_or(0xFF) >> (bit % 8) & 1 == 1)
            }
            Phase::Converting => Some(self.converting_until.is_none()),
            _ => None,
        }
    }

    /// A time slot began at `now`: a device sending a 0 pulls the line low for [`HOLD_ZERO_US`].
    pub(crate) fn slot_started(&mut self, now: u64) {
        self.hold = (self.output(now) == Some(false)).then_some((now, now + HOLD_ZERO_US));
    }

    /// A reset pulse ended: every device listens for a ROM command.
    pub(crate) fn reset(&mut self) {
        self.hold = None;
        self.phase = Phase::RomCommand(Receiver::new(8));
    }

    /// A time slot ended; `bit` is what the device sampled (1 when the master let go early).
    pub(crate) fn slot_ended(&mut self, bit: bool, now: u64) {
        let next = match &mut self.phase {
            Phase::Idle | Phase::Converting => None,
            Phase::Send { bit: sent, .. } => {
                *sent += 1;
                None
            }
            Phase::RomCommand(r) => r.push(bit).map(|command| {
                if command == 0xF0 {
                    self.searches += 1;
                }
                self.rom_command(command as u8)
            }),
            Phase::MatchRom(r) => r.push(bit).map(|rom| {
                if rom == self.rom() {
                    Phase::Function(Receiver::new(8))
                } else {
                    Phase::Idle
                }
            }),
            Phase::Search { step: step @ (0 | 1), .. } => {
                *step += 1;
                None
            }
            Phase::Search { bit: index, .. } => {
                let index = *index;
                Some(if bit != self.rom_bit(index) {
                    Phase::Idle
                } else if index == 63 {
                    Phase::Function(Receiver::new(8))
                } else {
                    Phase::Search { bit: index + 1, step: 0 }
                })
            }
            Phase::Function(r) => r.push(bit).map(|command| self.function_command(command as u8, now)),
            Phase::WriteScratchpad(r) => r.push(bit).map(|value| {
                let [th, tl, config, ..] = value.to_le_bytes();
                self.register[2] = th;
                self.register[3] = tl;
                self.scratchpad_writes += 1;
                if family::has_config_register(self.family()) && !self.ignores_resolution {
                    self.resolution = Resolution::from_config_byte(config);
                    self.register[4] = self.resolution.config_byte();
                }
                Phase::Idle
            }),
        };
        if let Some(phase) = next {
            self.phase = phase;
        }
    }

    fn rom_command(&self, command: u8) -> Phase {
        match command {
            0xF0 => Phase::Search { bit: 0, step: 0 },
            0x55 => Phase::MatchRom(Receiver::new(64)),
            0xCC => Phase::Function(Receiver::new(8)),
            0x33 => Phase::Send { data: self.rom.to_vec(), bit: 0 },
            // Alarm search (0xEC): never in alarm. Anything else is not understood.
            _ => Phase::Idle,
        }
    }

    fn function_command(&mut self, command: u8, now: u64) -> Phase {
        self.commands.push((now, command));
        match command {
            0x44 => {
                self.conversions += 1;
                if !self.never_converts {
                    let time = if self.family() == family::DS18S20 {
                        DS18S20_CONVERSION_TIME
                    } else {
                        self.resolution.conversion_time()
                    };
                    self.converting_until = Some(now + time.as_micros() as u64);
                }
                Phase::Converting
            }
            0xBE => Phase::Send { data: self.scratchpad(), bit: 0 },
            0x4E => {
                let bytes = if family::has_config_register(self.family()) { 3 } else { 2 };
                Phase::WriteScratchpad(Receiver::new(8 * bytes))
            }
            // Copy Scratchpad: TH, TL and the configuration to EEPROM (done at once here; the
            // master waits tWR).
            0x48 => {
                self.copies += 1;
                self.eeprom_resolution = self.resolution;
                Phase::Idle
            }
            // Read Power Supply: a parasite-powered device pulls the read slots low.
            0xB4 => Phase::Send { data: vec![if self.parasite { 0x00 } else { 0xFF }], bit: 0 },
            // Recall E2: done at once (read slots give 1).
            0xB8 => Phase::Send { data: vec![0xFF], bit: 0 },
            _ => Phase::Idle,
        }
    }
}
