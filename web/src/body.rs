//! A `POST`'s JSON body, read field by field so that each mistake is a `400` naming its field
//! (`parameter`, as `/api/readings` names its query parameters).

use crate::http::Response;
use serde_json::{Map, Value};

/// A JSON object whose fields are all known to the route.
pub(crate) struct Body {
    fields: Map<String, Value>,
}

/// A `400` naming `field`.
pub(crate) fn bad(field: &str, message: String) -> Response {
    Response::error(400, &message, Some(field))
}

impl Body {
    /// Parses `bytes` as a JSON object with no field outside `known` (a misspelt field would
    /// otherwise be silently left at its default).
    pub(crate) fn parse(bytes: &[u8], known: &[&str]) -> Result<Body, Response> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| bad("body", format!("the body is not JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(bad("body", "the body must be a JSON object".into()));
        };
        if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(bad(unknown, format!("unknown field {unknown:?} (known: {})", known.join(", "))));
        }
        Ok(Body { fields })
    }

    /// A string field; `None` when it is absent or null.
    pub(crate) fn text(&self, name: &str) -> Result<Option<String>, Response> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(name, format!("{name}: expected a string, not {other}"))),
        }
    }

    /// A string field that must be there and not empty.
    pub(crate) fn required_text(&self, name: &str) -> Result<String, Response> {
        match self.text(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(bad(name, format!("{name} is required"))),
        }
    }

    /// An integer field; `None` when it is absent or null.
    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>, Response> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(other) => Err(bad(name, format!("{name}: expected a whole number, not {other}"))),
        }
    }

    /// A true/false field; `None` when it is absent or null.
    pub(crate) fn flag(&self, name: &str) -> Result<Option<bool>, Response> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(bad(name, format!("{name}: expected true or false, not {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field a refusal names.
    fn named(r: Response) -> String {
        assert_eq!(r.status, 400);
        let j: Value = serde_json::from_slice(&r.body).unwrap();
        j["parameter"].as_str().unwrap().to_owned()
    }

    #[test]
    fn each_mistake_names_its_field() {
        let known = ["id", "by", "gone"];
        assert_eq!(named(Body::parse(b"{\"id\": 1", &known).err().unwrap()), "body");
        assert_eq!(named(Body::parse(b"[1]", &known).err().unwrap()), "body");
        assert_eq!(named(Body::parse(b"", &known).err().unwrap()), "body");
        assert_eq!(named(Body::parse(b"{\"idd\": 1}", &known).err().unwrap()), "idd");
        let b = Body::parse(br#"{"id": "7", "by": 3, "gone": "yes"}"#, &known).unwrap();
        assert_eq!(named(b.integer("id").unwrap_err()), "id");
        assert_eq!(named(b.text("by").unwrap_err()), "by");
        assert_eq!(named(b.flag("gone").unwrap_err()), "gone");
        let b = Body::parse(br#"{"id": 1.5, "by": ""}"#, &known).unwrap();
        assert_eq!(named(b.integer("id").unwrap_err()), "id");
        assert_eq!(named(b.required_text("by").unwrap_err()), "by");
    }

    #[test]
    fn absent_and_null_are_the_same() {
        let b = Body::parse(br#"{"id": 7, "by": null, "gone": true}"#, &["id", "by", "gone"]).unwrap();
        assert_eq!(b.integer("id").unwrap(), Some(7));
        assert_eq!(b.text("by").unwrap(), None);
        assert_eq!(b.flag("gone").unwrap(), Some(true));
        assert_eq!(b.flag("missing").unwrap(), None);
    }
}
