//! The GPIO backend's pin on a Raspberry Pi, through rppal (feature `gpio`).
//!
//! rppal's own embedded-hal 0.2 pins do not fit 1-Wire: its `IoPin::is_low()` returns `is_high()`, and
//! an output pin set high drives the line instead of letting go. So the `IoPin` is used through its
//! plain methods as an [`IoLine`]: low = output low, high = input (the pull-up raises the line), read =
//! the real level.

use std::convert::Infallible;

use rppal::gpio::{Bias, Gpio, IoPin, Level, Mode};

use crate::onewire::{GpioConfig, IoLine, OneWireThermometers, OpenDrain, SpinDelay};
use crate::HalError;

impl IoLine for IoPin {
    type Error = Infallible;

    fn drive_low(&mut self) -> Result<(), Infallible> {
        // The output latch first, so that switching to output never drives the line high.
        self.set_low();
        self.set_mode(Mode::Output);
        Ok(())
    }

    fn release(&mut self) -> Result<(), Infallible> {
        self.set_mode(Mode::Input);
        Ok(())
    }

    fn is_high(&self) -> Result<bool, Infallible> {
        Ok(self.read() == Level::High)
    }
}

/// The thermometers on BCM pin `pin`, bit-banged through rppal.
pub fn open_rppal(
    pin: u8,
    config: GpioConfig,
) -> Result<OneWireThermometers<OpenDrain<IoPin>, SpinDelay>, HalError> {
    let gpio = Gpio::new().map_err(|e| HalError::Unavailable(format!("rppal cannot open the GPIO: {e}")))?;
    let mut io = gpio
        .get(pin)
        .map_err(|e| HalError::Unavailable(format!("rppal cannot use GPIO{pin}: {e}")))?
        .into_io(Mode::Input);
    // The internal pull-up (~50 kΩ) is far too weak for 1-Wire on its own, but keeps a bus without
    // the external 4.7 kΩ from floating.
    io.set_bias(Bias::PullUp);
    let line = OpenDrain::new(io).unwrap_or_else(|never| match never {});
    OneWireThermometers::new(line, SpinDelay, config, format!("GPIO{pin}"))
}
