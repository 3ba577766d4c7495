//! Which path does what, behind the guard (`guard.rs`).

use crate::guard::Verdict;
use crate::http::{Method, Outcome, Request, Response};
use crate::live::Shared;
use crate::login::{challenge, LoginBrake, PasswordCheck};
use crate::store_pool::StorePool;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the routes need.
pub(crate) struct Routes {
    pub shared: Arc<Shared>,
    pub pool: StorePool,
    pub password: Option<Arc<PasswordCheck>>,
    pub brake: Arc<dyn LoginBrake>,
    pub keepalive_ms: u64,
    pub exporters: Arc<crate::ExportersFn>,
    /// This server speaks HTTPS (its own origin is `https://`).
    pub tls: bool,
}

/// The methods `path` takes (the `Allow` header of a `405`).
pub(crate) fn allow(path: &str) -> &'static str {
    match path {
        "/api/silences" => "GET, HEAD, POST",
        p if crate::admin::POST_PATHS.contains(&p) => "POST",
        _ => "GET, HEAD",
    }
}

fn json(body: serde_json::Value) -> Response {
    Response::new(200, "application/json", body.to_string()).with("Cache-Control", "no-store")
}

impl Routes {
    pub(crate) fn handle(&self, req: &Request) -> Outcome {
        let ip = req.peer.ip();
        if self.brake.is_blocked(ip) {
            let mut r =
                Response::error(429, "too many failed logins from this address; try again later", None);
            r.close = true;
            return Outcome::Respond(r);
        }
        match crate::guard::check(req, self.password.as_deref(), self.tls) {
            Verdict::Pass => {}
            Verdict::NoPassword => return Outcome::Respond(challenge()),
            Verdict::WrongPassword => {
                log::warn!("web: wrong admin password from {ip}");
                self.shared.metrics.auth_failures.inc();
                self.brake.failed(ip);
                return Outcome::Respond(challenge());
            }
            Verdict::Forbidden(why) => {
                log::warn!("web: refused {} {} from {ip}: {why}", req.method.as_str(), req.path);
                return Outcome::Respond(Response::error(403, why, None).with("Cache-Control", "no-store"));
            }
        }
        let now = SystemTime::now();
        if req.method == Method::Post {
            return Outcome::Respond(crate::admin::post(req, &self.pool, &self.shared, now));
        }
        let answer = match req.path.as_str() {
            "/api/nodes" => {
                let settings = self.shared.settings.get();
                let fleet = self.shared.fleet();
                json(crate::api::nodes_json(&fleet, self.keepalive_ms, &settings, &self.shared.source))
            }
            "/api/fleet" => {
                let online_here = self.shared.fleet().values().filter(|n| n.online).count();
                json(crate::fleet_view::fleet_json(&self.shared.source, online_here))
            }
            "/api/alerts" => json(serde_json::json!({ "alerts": self.shared.alerts() })),
            "/api/alerts/history" => crate::history::history(&req.query, &self.pool, now),
            "/api/silences" => {
                let now_ms = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
                crate::history::silences(&self.pool, now_ms)
            }
            "/api/health" => {
                let now_ms = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
                let facts = self.shared.facts().clone();
                crate::health::answer(&self.pool, &self.shared.settings.get(), &facts, now_ms)
            }
            "/api/exporters" => json(serde_json::json!({ "exporters": (self.exporters)() })),
            "/api/readings" => match crate::readings::params(&req.query, now) {
                Ok(p) => crate::readings::answer(&p, &self.pool, &self.shared.settings.get())
                    .with("Cache-Control", "no-store"),
                Err(r) => r,
            },
            "/api/events" if req.head_only => {
                Response::new(200, "text/event-stream", "").with("Cache-Control", "no-cache")
            }
            "/api/events" => {
                let (shared, keepalive_ms) = (self.shared.clone(), self.keepalive_ms);
                return Outcome::Stream(Box::new(move |s| crate::events::stream(s, shared, keepalive_ms)));
            }
            "/metrics" => {
                let settings = self.shared.settings.get();
                let alerts = self.shared.alerts();
                let body = self.shared.metrics.encode(
                    &self.shared.fleet(),
                    &alerts,
                    &(self.exporters)(),
                    self.shared.viewers(),
                    &settings,
                    self.shared.source.board.is_some().then_some(self.shared.source.name.as_str()),
                );
                Response::new(200, "text/plain; version=0.0.4; charset=utf-8", body)
            }
            path => {
                return Outcome::Respond(match crate::assets::find(path) {
                    Some((asset, name)) => crate::assets::respond(req, asset, name),
                    None => Response::error(404, "not found", None),
                })
            }
        };
        Outcome::Respond(crate::compress::maybe_gzip(req, answer))
    }
}
