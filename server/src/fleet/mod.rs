//! Several servers on one PostgreSQL store as one fleet (docs/FLEET.md): [`presence`] keeps a
//! client registered on one server at a time, fleet-wide; [`duties`] chooses the one server that
//! runs retention and the exporters. With SQLite there is one server and none of this runs.

pub mod duties;
pub mod presence;
