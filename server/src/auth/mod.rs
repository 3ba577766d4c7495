//! Who may connect: the brake on failed attempts, the clients' credentials and their file, CIDRs.

pub mod brake;
pub mod cidr;
pub mod clients_file;
pub mod credentials;

pub use brake::{BrakeSettings, Secret};
