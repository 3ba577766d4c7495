//! The server's integration tests, one binary: each module was a test binary of its own, each
//! linking the whole server. Most start the real server binary (cliser-testkit's `ServerHandle`);
//! `handle` starts it in-process. Shared: `common` (the server on loopback, clients, HTTP, TLS,
//! a proxy), `alert_kit` (alert rules and their readings), `web_page_kit` (the page's browser tests).

// Shared by the tests below.
mod alert_kit;
mod common;
mod web_page_kit;

// One module per former test binary.
mod alerts_admin;
mod alerts_calibration;
mod alerts_delivery;
mod alerts_limits;
mod alerts_reload;
mod alerts_silence;
mod brake;
mod clients;
mod concurrency;
mod console;
mod console_limits;
mod core_threads;
mod exit_codes;
mod export_influx;
mod export_mqtt;
mod export_mqtt_restart;
mod failed_start;
mod fleet_alerts;
mod fleet_duties;
mod fleet_end_to_end;
mod fleet_news;
mod fleet_presence;
mod fleet_view;
mod handle;
mod handshake;
mod hostile;
mod keepalive;
mod layering;
mod malloc_arenas;
mod messages;
mod pg_outage;
mod postgres;
mod readings;
mod ready_file;
mod reload_keys;
mod replaced_sensor;
mod robustness;
mod sensor_cap;
mod sensor_names;
mod start_stop;
mod store_cli;
mod store_memory;
mod system_faults;
mod timestamps;
mod tls;
mod tls_capture;
mod tls_clear_pi;
mod tls_console_web;
mod web_api;
mod web_assets;
mod web_auth;
mod web_chart;
mod web_hostile;
mod web_page;
mod web_page_admin;
mod web_page_fleet;
mod web_page_health;
mod web_page_layout;
mod web_page_replaced;
mod web_post;
mod web_prometheus;
