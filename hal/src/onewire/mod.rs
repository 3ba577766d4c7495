//! Bit-banged 1-Wire: the generic thermometer backend over the `one-wire-bus` and `ds18b20` crates,
//! the open-drain pin and busy-wait delay it needs on Linux, and a simulated bus to test it on.
//!
//! The hardware glue (rppal, GPIO character device) lives behind the `gpio` feature; everything here
//! builds and is tested without it.

mod delay;
mod open_drain;
mod thermometers;
mod virtual_bus;
mod virtual_device;

pub use delay::SpinDelay;
pub use open_drain::{IoLine, OpenDrain};
pub use thermometers::{GpioConfig, OneWireThermometers};
pub use virtual_bus::{VirtualBus, VirtualDelay, VirtualLine};
pub use virtual_device::VirtualDevice;
