//! An open-drain 1-Wire pin built from a GPIO that can switch between output and input.
//!
//! 1-Wire needs a pin that pulls the line low or lets go of it, so that the pull-up resistor (or a
//! sensor pulling low) sets the level. A GPIO driven high as an output would fight a sensor pulling
//! low, so "high" here means "switch to input".

use core::fmt::Debug;

use embedded_hal::digital::v2::{InputPin, OutputPin};

/// A GPIO line that can drive low, let go (become an input), and read the real level.
pub trait IoLine {
    /// The line's error.
    type Error: Debug;
    /// Drives the line low (output, level low).
    fn drive_low(&mut self) -> Result<(), Self::Error>;
    /// Stops driving (input): the pull-up raises the line unless a device holds it low.
    fn release(&mut self) -> Result<(), Self::Error>;
    /// Whether the line is high now, whoever drives it.
    fn is_high(&self) -> Result<bool, Self::Error>;
}

/// The embedded-hal 0.2 open-drain pin one-wire-bus wants, over an [`IoLine`]: `set_low` drives low,
/// `set_high` releases, `is_high`/`is_low` read the real level.
#[derive(Debug)]
pub struct OpenDrain<L>(L);

impl<L: IoLine> OpenDrain<L> {
    /// Wraps `line`, releasing it so the bus idles high.
    pub fn new(mut line: L) -> Result<OpenDrain<L>, L::Error> {
        line.release()?;
        Ok(OpenDrain(line))
    }

    /// The line back.
    pub fn into_inner(self) -> L {
        self.0
    }
}

impl<L: IoLine> OutputPin for OpenDrain<L> {
    type Error = L::Error;

    fn set_low(&mut self) -> Result<(), L::Error> {
        self.0.drive_low()
    }

    fn set_high(&mut self) -> Result<(), L::Error> {
        self.0.release()
    }
}

impl<L: IoLine> InputPin for OpenDrain<L> {
    type Error = L::Error;

    fn is_high(&self) -> Result<bool, L::Error> {
        self.0.is_high()
    }

    fn is_low(&self) -> Result<bool, L::Error> {
        self.0.is_high().map(|high| !high)
    }
}
