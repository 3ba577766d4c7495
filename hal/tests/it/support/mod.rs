//! A simulated 1-Wire bus with simulated DS18B20/DS18S20 sensors, for testing the bit-banged backend
//! (`cliser_hal::onewire`) without hardware. Test code only: nothing in the crate's API depends on it.

mod virtual_bus;
mod virtual_device;

pub use virtual_bus::{VirtualBus, VirtualDelay, VirtualLine};
pub use virtual_device::VirtualDevice;
