//! The readings: the sink that commits them, the ack table it publishes acks in, where the store
//! is, duplicates, registrations, the sensor cap, retention and the CSV format.

pub mod ack_table;
pub mod csv_format;
pub mod duplicates;
pub mod reading_log;
pub mod registrations;
pub mod retention;
pub mod sensor_cap;
pub mod sink;
pub mod store_location;
pub mod watchers;
