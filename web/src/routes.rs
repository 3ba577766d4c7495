//! Which path does what, behind the login check.

use crate::http::{Outcome, Request, Response};
use crate::live::Shared;
use crate::login::{basic_password, challenge, LoginBrake, PasswordCheck};
use crate::store_pool::StorePool;
use std::sync::Arc;
use std::time::SystemTime;

/// What the routes need.
pub(crate) struct Routes {
    pub shared: Arc<Shared>,
    pub pool: StorePool,
    pub password: Option<Arc<PasswordCheck>>,
    pub brake: Arc<dyn LoginBrake>,
    pub keepalive_ms: u64,
    pub exporters: Arc<crate::ExportersFn>,
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
        if let Some(check) = &self.password {
            match basic_password(req.authorization.as_deref()) {
                Some(p) if check(&p) => {}
                Some(_) => {
                    log::warn!("web: wrong admin password from {ip}");
                    self.shared.metrics.auth_failures.inc();
                    self.brake.failed(ip);
                    return Outcome::Respond(challenge());
                }
                None => return Outcome::Respond(challenge()),
            }
        }
        Outcome::Respond(match req.path.as_str() {
            "/api/nodes" => {
                let settings = self.shared.settings.get();
                let body =
                    crate::api::nodes_json(&self.shared.fleet(), self.keepalive_ms, &settings).to_string();
                Response::new(200, "application/json", body).with("Cache-Control", "no-store")
            }
            "/api/alerts" => {
                let body = serde_json::json!({ "alerts": self.shared.alerts() }).to_string();
                Response::new(200, "application/json", body).with("Cache-Control", "no-store")
            }
            "/api/exporters" => {
                let body = serde_json::json!({ "exporters": (self.exporters)() }).to_string();
                Response::new(200, "application/json", body).with("Cache-Control", "no-store")
            }
            "/api/readings" => match crate::readings::params(&req.query, SystemTime::now()) {
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
                );
                Response::new(200, "text/plain; version=0.0.4; charset=utf-8", body)
            }
            path => match crate::assets::find(path) {
                Some((asset, name)) => crate::assets::respond(req, asset, name),
                None => Response::error(404, "not found", None),
            },
        })
    }
}
