//! The sensor layer's integration tests, one binary. `common`: fake w1 sysfs trees; `support`: a
//! simulated 1-Wire bus for the bit-banged backend.

// Shared by the tests below.
mod common;
mod support;

// One module per former test binary.
mod diagnose;
mod file_sensor;
mod gpio_sim;
mod open;
mod spec_display;
mod w1_sysfs;
