//! Several servers on one PostgreSQL store as one fleet (docs/FLEET.md): [`presence`] keeps a
//! client registered on one server at a time, fleet-wide; [`news`] tells every server what the
//! others commit and who comes and goes; [`duties`] chooses the one server that runs the alerts,
//! retention and the exporters. With SQLite there is one server and none of this runs.

pub mod duties;
pub mod news;
pub mod presence;
