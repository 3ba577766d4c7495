//! The schema's migrations, embedded in the binary: element `i` takes a database from version `i`
//! to `i + 1`. The two lists move in step (one schema, two dialects). Each backend applies the
//! missing ones in one transaction and records the version in `cliser_schema`.

/// SQLite's migrations.
pub(crate) const SQLITE: &[&str] = &[
    include_str!("../migrations/sqlite/0001_initial.sql"),
    include_str!("../migrations/sqlite/0002_alerts.sql"),
    include_str!("../migrations/sqlite/0003_ts_quality.sql"),
    include_str!("../migrations/sqlite/0004_export_cursors.sql"),
    include_str!("../migrations/sqlite/0005_alert_history.sql"),
    include_str!("../migrations/sqlite/0006_pruned_before.sql"),
    include_str!("../migrations/sqlite/0007_fleet.sql"),
    include_str!("../migrations/sqlite/0008_sensor_health.sql"),
    include_str!("../migrations/sqlite/0009_ts_quality_check.sql"),
];

/// PostgreSQL's migrations.
pub(crate) const POSTGRES: &[&str] = &[
    include_str!("../migrations/postgres/0001_initial.sql"),
    include_str!("../migrations/postgres/0002_alerts.sql"),
    include_str!("../migrations/postgres/0003_ts_quality.sql"),
    include_str!("../migrations/postgres/0004_export_cursors.sql"),
    include_str!("../migrations/postgres/0005_alert_history.sql"),
    include_str!("../migrations/postgres/0006_pruned_before.sql"),
    include_str!("../migrations/postgres/0007_fleet.sql"),
    include_str!("../migrations/postgres/0008_sensor_health.sql"),
    include_str!("../migrations/postgres/0009_ts_quality_check.sql"),
];

const _: () = assert!(SQLITE.len() == POSTGRES.len(), "one schema version, two dialects");

/// The tables of our schema: a database without `cliser_schema` that holds one of these is not ours.
pub(crate) const OUR_TABLES: &[&str] = &[
    "cliser_schema",
    "nodes",
    "sensors",
    "readings",
    "rollups",
    "alerts",
    "export_cursors",
    "alert_events",
    "silences",
    "admin_changes",
    "fleet_presence",
    "fleet_duties",
    "fleet_servers",
    "sensor_health",
];
