//! Bit-banged 1-Wire: the generic thermometer backend over the `one-wire-bus` and `ds18b20` crates,
//! and the open-drain pin and busy-wait delay it needs on Linux.
//!
//! The hardware glue (rppal, GPIO character device) lives behind the `gpio` feature; everything here
//! builds and is tested without it, against the simulated bus in `hal/tests/it/support/`.

mod delay;
mod open_drain;
mod thermometers;

pub use delay::SpinDelay;
pub use open_drain::{IoLine, OpenDrain};
pub use thermometers::{GpioConfig, OneWireThermometers};
