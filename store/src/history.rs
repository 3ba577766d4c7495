//! The SQL of schema 5 (alert history, silences, admin changes) that both backends share, and the
//! decoding of its rows: the backends differ only in how a parameter is spelt.

use crate::query::{Param, Sql};
use crate::{Ack, AdminChange, EventQuery, StoreError};

/// The columns of an [`AlertEvent`](crate::AlertEvent), in its fields' order.
pub(crate) const EVENT_COLUMNS: &str =
    "id, at_ms, event, kind, cid, sensor, name, since_ms, value, message, by_who, note";

/// The columns of a [`Silence`](crate::Silence), in its fields' order.
pub(crate) const SILENCE_COLUMNS: &str =
    "id, cid, sensor, kind, starts_ms, ends_ms, by_who, comment, ended_ms";

/// When a silence stops being in force: its end, or when it was ended early if that is sooner.
const SILENCE_END: &str =
    "CASE WHEN ended_ms IS NOT NULL AND ended_ms < ends_ms THEN ended_ms ELSE ends_ms END";

/// The alert events matching `q`, newest first; `placeholder` spells the n-th parameter.
pub(crate) fn events(placeholder: fn(usize) -> String, q: &EventQuery) -> Sql {
    let mut params = Vec::new();
    let mut clauses = Vec::new();
    let mut bind = |clause: &str, p: Param| {
        params.push(p);
        clauses.push(format!("{clause} {}", placeholder(params.len())));
    };
    if let Some(c) = &q.cid {
        bind("cid =", Param::Text(c.clone()));
    }
    if let Some(s) = &q.sensor {
        bind("sensor =", Param::Text(s.clone()));
    }
    if let Some(k) = &q.kind {
        bind("kind =", Param::Text(k.clone()));
    }
    if let Some(t) = q.since_ms {
        bind("at_ms >=", Param::Int(t));
    }
    if let Some(t) = q.until_ms {
        bind("at_ms <", Param::Int(t));
    }
    if q.pending_delivery {
        clauses.push("delivery = 1".to_owned());
    }
    let mut text = format!("SELECT {EVENT_COLUMNS} FROM alert_events");
    if !clauses.is_empty() {
        text.push_str(" WHERE ");
        text.push_str(&clauses.join(" AND "));
    }
    text.push_str(" ORDER BY at_ms DESC, id DESC");
    if q.limit > 0 {
        params.push(Param::Int(i64::try_from(q.limit).unwrap_or(i64::MAX)));
        text.push_str(&format!(" LIMIT {}", placeholder(params.len())));
    }
    Sql { text, params, series: None }
}

/// The silences whose end is after `after_ms` (all with `None`), by id.
pub(crate) fn silences(placeholder: fn(usize) -> String, after_ms: Option<i64>) -> Sql {
    match after_ms {
        None => Sql::plain(&format!("SELECT {SILENCE_COLUMNS} FROM silences ORDER BY id")),
        Some(t) => Sql {
            text: format!(
                "SELECT {SILENCE_COLUMNS} FROM silences WHERE {SILENCE_END} > {} ORDER BY id",
                placeholder(1)
            ),
            params: vec![Param::Int(t)],
            series: None,
        },
    }
}

/// The acknowledgement of a stored alert row (`ack_by`, `ack_note`, `ack_ms`), if it has one.
pub(crate) fn ack(by: Option<String>, note: Option<String>, at_ms: Option<i64>) -> Option<Ack> {
    Some(Ack { by: by?, note: note.unwrap_or_default(), at_ms: at_ms? })
}

/// An admin change as stored: `what`, kind, cid, sensor.
pub(crate) fn encode(c: &AdminChange) -> (&'static str, Option<&str>, Option<&str>, Option<&str>) {
    match c {
        AdminChange::Acked { kind, cid, sensor } => ("acked", Some(kind), Some(cid), Some(sensor)),
        AdminChange::Silences => ("silences", None, None, None),
        AdminChange::Forgot { cid, sensor } => ("forgot", None, Some(cid), sensor.as_deref()),
    }
}

/// The admin change of a stored row (`what`, kind, cid, sensor).
pub(crate) fn decode(
    location: &str,
    id: i64,
    what: &str,
    kind: Option<String>,
    cid: Option<String>,
    sensor: Option<String>,
) -> Result<AdminChange, StoreError> {
    let bad = |detail: &str| StoreError::BadData {
        location: location.to_owned(),
        detail: format!("admin change {id} ({what}): {detail}"),
    };
    match (what, kind, cid) {
        ("acked", Some(kind), Some(cid)) => {
            Ok(AdminChange::Acked { kind, cid, sensor: sensor.ok_or_else(|| bad("no sensor"))? })
        }
        ("acked", _, _) => Err(bad("no kind or client id")),
        ("silences", _, _) => Ok(AdminChange::Silences),
        ("forgot", _, Some(cid)) => Ok(AdminChange::Forgot { cid, sensor }),
        ("forgot", _, None) => Err(bad("no client id")),
        _ => Err(bad("not a kind of change this binary knows")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: usize) -> String {
        format!("?{n}")
    }

    #[test]
    fn an_event_query_binds_each_filter_in_order_and_the_limit_last() {
        let q = EventQuery {
            cid: Some("a".into()),
            sensor: None,
            kind: Some("k".into()),
            since_ms: Some(5),
            until_ms: None,
            limit: 3,
            pending_delivery: true,
        };
        let sql = events(p, &q);
        assert_eq!(
            sql.text,
            format!(
                "SELECT {EVENT_COLUMNS} FROM alert_events WHERE cid = ?1 AND kind = ?2 AND at_ms >= ?3 \
                 AND delivery = 1 ORDER BY at_ms DESC, id DESC LIMIT ?4"
            )
        );
        assert_eq!(
            sql.params,
            vec![Param::Text("a".into()), Param::Text("k".into()), Param::Int(5), Param::Int(3)]
        );
        let all = events(p, &EventQuery::default());
        assert_eq!(
            all.text,
            format!("SELECT {EVENT_COLUMNS} FROM alert_events ORDER BY at_ms DESC, id DESC")
        );
        assert!(all.params.is_empty());
    }

    #[test]
    fn admin_changes_round_trip_and_unknown_ones_are_bad_data() {
        for c in [
            AdminChange::Acked { kind: "k".into(), cid: "a".into(), sensor: "".into() },
            AdminChange::Silences,
            AdminChange::Forgot { cid: "a".into(), sensor: None },
            AdminChange::Forgot { cid: "a".into(), sensor: Some("t".into()) },
        ] {
            let (what, kind, cid, sensor) = encode(&c);
            let back =
                decode("x", 1, what, kind.map(Into::into), cid.map(Into::into), sensor.map(Into::into));
            assert_eq!(back.unwrap(), c);
        }
        assert!(matches!(decode("x", 1, "renamed", None, None, None), Err(StoreError::BadData { .. })));
        assert!(matches!(decode("x", 1, "forgot", None, None, None), Err(StoreError::BadData { .. })));
    }
}
