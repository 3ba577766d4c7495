//! Opening the GPIO backend (feature `gpio`): rppal on a Raspberry Pi, else the GPIO character device.

use crate::onewire::GpioConfig;
use crate::resolution::ResolutionPlan;
use crate::{gpio_cdev, gpio_rppal, HalError, Thermometers};

/// The thermometers on BCM pin `pin`: through rppal where it knows the board, else through the GPIO
/// character device (line `pin` of the header's chip).
pub fn open_gpio(pin: u8, config: GpioConfig) -> Result<Box<dyn Thermometers>, HalError> {
    open_with(pin, config, None)
}

/// [`open_gpio`] with each sensor set as `plan` asks (an empty plan writes nothing).
pub fn open_gpio_planned(pin: u8, plan: ResolutionPlan) -> Result<Box<dyn Thermometers>, HalError> {
    let config = GpioConfig { persist: plan.persist, ..GpioConfig::default() };
    open_with(pin, config, Some(plan))
}

fn open_with(
    pin: u8,
    config: GpioConfig,
    plan: Option<ResolutionPlan>,
) -> Result<Box<dyn Thermometers>, HalError> {
    // The name the sensors' facts give their bus, as the user wrote it on --sensor.
    let name = format!("gpio:{pin}");
    let rppal_error = match gpio_rppal::open_rppal(pin, config) {
        Ok(bus) => {
            let bus = bus.with_bus_name(name);
            return Ok(match plan {
                Some(plan) => Box::new(bus.with_resolution_plan(plan)),
                None => Box::new(bus),
            });
        }
        Err(e) => e,
    };
    log::info!("{rppal_error}; trying the GPIO character device");
    let chip = gpio_cdev::header_chip();
    match gpio_cdev::open_cdev(&chip, u32::from(pin), config) {
        Ok(bus) => {
            let bus = bus.with_bus_name(name);
            Ok(match plan {
                Some(plan) => Box::new(bus.with_resolution_plan(plan)),
                None => Box::new(bus),
            })
        }
        Err(cdev_error) => Err(HalError::Unavailable(format!(
            "GPIO{pin}: {rppal_error}; {cdev_error}. On a Raspberry Pi the kernel's w1 driver \
             (--sensor w1, dtoverlay=w1-gpio) is the recommended path"
        ))),
    }
}
