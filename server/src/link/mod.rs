//! The clients' links: the Manager, each connection's session and I/O threads, and the limits on
//! how many the machine can hold.

pub mod capacity;
pub mod conn;
pub mod last_values;
pub mod manager;
pub mod plain_or_tls;
pub mod process_limits;
pub mod session;
pub mod small_thread;
