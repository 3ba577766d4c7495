//! Delays for bit-banging 1-Wire from Linux userspace.

use std::time::{Duration, Instant};

use embedded_hal::blocking::delay::{DelayMs, DelayUs};

/// Busy-waits for microseconds and sleeps for milliseconds.
///
/// 1-Wire slots need 6-15 µs accuracy; a sleeping delay (`linux-embedded-hal`'s `Delay`, or
/// `thread::sleep`) wakes up 50 µs or more late. The millisecond delay is only used to wait for a
/// conversion (up to 750 ms), where oversleeping is harmless and spinning would waste a core.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpinDelay;

impl DelayUs<u16> for SpinDelay {
    fn delay_us(&mut self, us: u16) {
        let start = Instant::now();
        let wait = Duration::from_micros(u64::from(us));
        while start.elapsed() < wait {
            std::hint::spin_loop();
        }
    }
}

impl DelayMs<u16> for SpinDelay {
    fn delay_ms(&mut self, ms: u16) {
        std::thread::sleep(Duration::from_millis(u64::from(ms)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_at_least_as_long_as_asked() {
        let mut delay = SpinDelay;
        for us in [0u16, 1, 6, 15, 70, 480] {
            let start = Instant::now();
            delay.delay_us(us);
            assert!(start.elapsed() >= Duration::from_micros(u64::from(us)));
        }
        let start = Instant::now();
        delay.delay_ms(2);
        assert!(start.elapsed() >= Duration::from_millis(2));
    }
}
