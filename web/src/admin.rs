//! What the page changes, past the guard (`guard.rs`): acknowledge an alert, make or end a silence,
//! forget a node or a sensor. Each is a write to the store on a pooled connection of its own (never
//! the sink's), answered once it is durable; the server's alerts thread reads the change back from
//! the store's admin changes within a second and acts on it (tells the command and webhook, holds
//! notifications, resolves a forgotten node's alerts), whichever server or command line wrote it.
//!
//! - `POST /api/alerts/ack` `{"kind","cid","sensor","by","note"}`
//! - `POST /api/silences` `{"cid","sensor","kind","duration" | "ends","by","comment"}`
//! - `POST /api/silences/end` `{"id"}`
//! - `POST /api/forget` `{"cid","sensor","delete_readings"}`

use crate::body::{bad, Body};
use crate::http::{Request, Response};
use crate::live::Shared;
use crate::store_pool::StorePool;
use cliser_protocol::{ClientId, SensorId};
use cliser_store::{Ack, Silence};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

/// The paths that take a `POST`.
pub(crate) const POST_PATHS: [&str; 4] =
    ["/api/alerts/ack", "/api/silences", "/api/silences/end", "/api/forget"];

/// The alert kinds a person may name (`*` too, in a silence).
pub(crate) const KINDS: [&str; 5] =
    ["above_max", "below_min", "sensor_error", "sensor_silent", "node_offline"];

/// Carries out a `POST` that passed the guard.
pub(crate) fn post(req: &Request, pool: &StorePool, shared: &Shared, now: SystemTime) -> Response {
    let now_ms = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let answer = match req.path.as_str() {
        "/api/alerts/ack" => ack(req, pool, now_ms),
        "/api/silences" => silence_add(req, pool, now_ms),
        "/api/silences/end" => silence_end(req, pool, now_ms),
        "/api/forget" => forget(req, pool, shared, now_ms),
        _ => Err(Response::error(404, "not found", None)),
    };
    answer.unwrap_or_else(|refused| refused).with("Cache-Control", "no-store")
}

/// Who did it: as given, or the page's address.
fn who(given: Option<String>, req: &Request) -> String {
    match given.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()) {
        Some(by) => by,
        None => format!("page from {}", req.peer.ip().to_canonical()),
    }
}

fn json_answer(status: u16, body: serde_json::Value) -> Response {
    Response::new(status, "application/json", body.to_string())
}

fn client_id(body: &Body, name: &str) -> Result<ClientId, Response> {
    let text = body.required_text(name)?;
    ClientId::new(&text).map_err(|e| bad(name, format!("{name} {text:?}: {e}")))
}

/// A sensor id, `None` when absent, null or empty (the node itself).
fn sensor_id(body: &Body) -> Result<Option<SensorId>, Response> {
    match body.text("sensor")?.filter(|s| !s.is_empty()) {
        Some(s) => SensorId::new(&s).map(Some).map_err(|e| bad("sensor", format!("sensor {s:?}: {e}"))),
        None => Ok(None),
    }
}

fn kind_of(text: &str, star: bool) -> Result<(), Response> {
    if KINDS.contains(&text) || (star && text == "*") {
        return Ok(());
    }
    let any = if star { " or *" } else { "" };
    Err(bad("kind", format!("kind {text:?}: not an alert kind ({}{any})", KINDS.join(", "))))
}

fn ack(req: &Request, pool: &StorePool, now_ms: i64) -> Result<Response, Response> {
    let body = Body::parse(&req.body, &["kind", "cid", "sensor", "by", "note"])?;
    let kind = body.required_text("kind")?;
    kind_of(&kind, false)?;
    let cid = client_id(&body, "cid")?;
    let sensor = sensor_id(&body)?.map(|s| s.to_string()).unwrap_or_default();
    let ack =
        Ack { by: who(body.text("by")?, req), note: body.text("note")?.unwrap_or_default(), at_ms: now_ms };
    let found = pool.with("acknowledging an alert", |s| s.alert_ack(&kind, cid.as_str(), &sensor, &ack))?;
    if !found {
        return Err(Response::error(404, &format!("no {kind} alert of {cid} {sensor} fires now"), None));
    }
    log::info!("web: {kind} alert of {cid} {sensor} acknowledged by {}", ack.by);
    Ok(json_answer(200, json!({ "acknowledged": true })))
}

/// A silence's matcher field: `*` (the default) or a value without white space.
fn matcher(body: &Body, name: &str) -> Result<String, Response> {
    let value = body.text(name)?.unwrap_or_else(|| "*".into());
    if value.is_empty() {
        return Err(bad(name, format!("{name}: empty (use * for any)")));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(name, format!("{name} {value:?}: no spaces allowed")));
    }
    Ok(value)
}

fn silence_add(req: &Request, pool: &StorePool, now_ms: i64) -> Result<Response, Response> {
    let body = Body::parse(&req.body, &["cid", "sensor", "kind", "duration", "ends", "by", "comment"])?;
    let cid = matcher(&body, "cid")?;
    if cid != "*" {
        ClientId::new(&cid).map_err(|e| bad("cid", format!("cid {cid:?}: {e}")))?;
    }
    // An id or a name from [sensors].
    let sensor = matcher(&body, "sensor")?;
    let kind = matcher(&body, "kind")?;
    kind_of(&kind, true)?;
    let ends_ms = match (body.text("duration")?, body.integer("ends")?) {
        (Some(_), Some(_)) => return Err(bad("ends", "give duration or ends, not both".into())),
        (Some(d), None) => {
            let d = cliser_common::duration::parse_positive(&d)
                .map_err(|e| bad("duration", format!("duration {d:?}: {e}")))?;
            now_ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        }
        (None, Some(ends)) if ends > now_ms => ends,
        (None, Some(ends)) => {
            return Err(bad("ends", format!("ends {ends}: already past (now is {now_ms})")))
        }
        (None, None) => {
            return Err(bad("duration", "duration (e.g. \"2h\") or ends (Unix ms) is required".into()))
        }
    };
    let silence = Silence {
        id: 0,
        cid,
        sensor,
        kind,
        starts_ms: now_ms,
        ends_ms,
        by: who(body.text("by")?, req),
        comment: body.text("comment")?.unwrap_or_default(),
        ended_ms: None,
    };
    let id = pool.with("making a silence", |s| s.silence_add(&silence))?;
    log::info!(
        "web: silence {id} (cid={} sensor={} kind={}) made by {}",
        silence.cid,
        silence.sensor,
        silence.kind,
        silence.by
    );
    Ok(json_answer(201, json!({ "id": id })))
}

fn silence_end(req: &Request, pool: &StorePool, now_ms: i64) -> Result<Response, Response> {
    let body = Body::parse(&req.body, &["id"])?;
    let id = body.integer("id")?.ok_or_else(|| bad("id", "id is required".into()))?;
    let ended = pool.with("ending a silence", |s| s.silence_end(id, now_ms))?;
    if !ended {
        return Err(Response::error(404, &format!("no silence {id} in force"), None));
    }
    log::info!("web: silence {id} ended from {}", req.peer.ip().to_canonical());
    Ok(json_answer(200, json!({ "ended": true })))
}

fn forget(req: &Request, pool: &StorePool, shared: &Shared, now_ms: i64) -> Result<Response, Response> {
    let body = Body::parse(&req.body, &["cid", "sensor", "delete_readings"])?;
    let cid = client_id(&body, "cid")?;
    let sensor = sensor_id(&body)?;
    let delete = body.flag("delete_readings")?.unwrap_or(false);
    let sensor_text = sensor.as_ref().map(|s| s.to_string());
    let done = pool.with("forgetting", |s| s.forget(cid.as_str(), sensor_text.as_deref(), delete, now_ms))?;
    let what = match &sensor {
        Some(s) => format!("sensor {cid}/{s}"),
        None => format!("node {cid}"),
    };
    log::info!(
        "web: {what} forgotten from {} ({} readings deleted)",
        req.peer.ip().to_canonical(),
        done.readings_deleted
    );
    // The page drops it now; the alerts thread resolves its alerts from the store's change.
    shared.forget_now(cid, sensor);
    Ok(json_answer(200, json!({ "known": done.known, "readings_deleted": done.readings_deleted })))
}
