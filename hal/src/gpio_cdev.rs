//! The GPIO backend's pin on any Linux board, through the GPIO character device and
//! `linux-embedded-hal`'s `CdevPin` (feature `gpio`). For boards rppal does not know.
//!
//! The line is requested as an open-drain output: writing 1 lets go of it (the kernel switches it to
//! input where the chip has no open-drain mode) and reading gives the real level.

use std::path::{Path, PathBuf};

use linux_embedded_hal::gpio_cdev::{chips, Chip, LineRequestFlags};
use linux_embedded_hal::CdevPin;

use crate::onewire::{GpioConfig, OneWireThermometers, SpinDelay};
use crate::HalError;

/// Labels of the GPIO chips that carry a Raspberry Pi's 40-pin header.
const HEADER_CHIP_LABELS: [&str; 3] = ["pinctrl-rp1", "pinctrl-bcm2711", "pinctrl-bcm2835"];

/// The GPIO chip carrying the 40-pin header on a Raspberry Pi (its number changed between kernels on
/// the Pi 5), else `/dev/gpiochip0`.
pub fn header_chip() -> PathBuf {
    let found = chips().ok().and_then(|mut all| {
        all.find_map(|chip| {
            let chip = chip.ok()?;
            HEADER_CHIP_LABELS.contains(&chip.label()).then(|| chip.path().to_path_buf())
        })
    });
    found.unwrap_or_else(|| PathBuf::from("/dev/gpiochip0"))
}

/// The thermometers on `line` of the GPIO chip `chip` (e.g. `/dev/gpiochip0`), bit-banged.
pub fn open_cdev(
    chip: &Path,
    line: u32,
    config: GpioConfig,
) -> Result<OneWireThermometers<CdevPin, SpinDelay>, HalError> {
    let unavailable = |e: &dyn std::fmt::Display| {
        HalError::Unavailable(format!("cannot use line {line} of {}: {e}", chip.display()))
    };
    let mut gpio_chip = Chip::new(chip).map_err(|e| unavailable(&e))?;
    let handle = gpio_chip
        .get_line(line)
        .and_then(|l| l.request(LineRequestFlags::OUTPUT | LineRequestFlags::OPEN_DRAIN, 1, "cliser"))
        .map_err(|e| unavailable(&e))?;
    let pin = CdevPin::new(handle).map_err(|e| unavailable(&e))?;
    OneWireThermometers::new(pin, SpinDelay, config, format!("{} line {line}", chip.display()))
}
