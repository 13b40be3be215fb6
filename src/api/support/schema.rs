//! JSON-schema-style validation with Barbican's error messages.
//!
//! Barbican validates bodies with the `jsonschema` library and reports one error:
//! `Provided object does not match schema '<Schema>': <reason>. Invalid property: '<prop>'`.
//! jsonschema picks the "best match" among all errors: the one with the shallowest instance
//! path, then the greatest path (so of two bad properties, the alphabetically later one), then
//! the first found; `<prop>` is the second element of the error's schema path (the top-level
//! property for errors under `properties`, `None` for top-level keywords). [`Errors`] collects
//! errors and applies that choice.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::json::py_repr;

/// One step of an instance path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

impl PartialOrd for Step {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Step {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Step::Key(a), Step::Key(b)) => a.cmp(b),
            (Step::Index(a), Step::Index(b)) => a.cmp(b),
            (Step::Index(_), Step::Key(_)) => Ordering::Less,
            (Step::Key(_), Step::Index(_)) => Ordering::Greater,
        }
    }
}

struct Found {
    path: Vec<Step>,
    reason: String,
    property: Option<String>,
}

/// The errors found validating one body against one schema.
pub struct Errors {
    schema: String,
    found: Vec<Found>,
}

impl Errors {
    pub fn new(schema: &str) -> Self {
        Errors {
            schema: schema.to_owned(),
            found: Vec::new(),
        }
    }

    /// Record an error at `path`, reported as `property`.
    pub fn add(&mut self, path: Vec<Step>, reason: String, property: Option<&str>) {
        self.found.push(Found {
            path,
            reason,
            property: property.map(str::to_owned),
        });
    }

    /// The best-matching error, as Barbican words it.
    pub fn into_result(self) -> Result<(), ApiError> {
        match self.best() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The best-matching error so far, if any.
    pub fn best(&self) -> Option<ApiError> {
        let mut best: Option<&Found> = None;
        for f in &self.found {
            let better = match best {
                None => true,
                Some(b) => {
                    // Shallower wins; at equal depth the greater path wins; ties keep the first.
                    match b.path.len().cmp(&f.path.len()) {
                        Ordering::Greater => true,
                        Ordering::Less => false,
                        Ordering::Equal => f.path > b.path,
                    }
                }
            };
            if better {
                best = Some(f);
            }
        }
        best.map(|f| ApiError::schema(&self.schema, &f.reason, f.property.as_deref()))
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }
}

/// The JSON-schema type name of a value.
fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "string" => v.is_string(),
        "null" => v.is_null(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "boolean" => v.is_boolean(),
        "number" => v.is_number(),
        "integer" => as_integer(v).is_some(),
        _ => false,
    }
}

/// JSON Schema's `integer`: integral numbers (not booleans).
pub fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        _ => None,
    }
}

/// Checks of one value at one place in the body.
pub struct At<'e, 'v> {
    pub errors: &'e mut Errors,
    pub path: Vec<Step>,
    pub property: Option<String>,
    pub value: &'v Value,
}

impl<'e, 'v> At<'e, 'v> {
    fn fail(&mut self, reason: String) {
        let property = self.property.clone();
        self.errors
            .add(self.path.clone(), reason, property.as_deref());
    }

    /// `type`: false (and an error) when the value is none of `types`.
    pub fn types(&mut self, types: &[&str]) -> bool {
        if types.iter().any(|t| is_type(self.value, t)) {
            return true;
        }
        let listed: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
        let reason = format!(
            "{} is not of type {}",
            py_repr(self.value),
            listed.join(", ")
        );
        self.fail(reason);
        false
    }

    /// `maxLength` / `minLength` of a string (other types pass).
    pub fn length(&mut self, min: Option<usize>, max: Option<usize>) -> bool {
        let Value::String(s) = self.value else {
            return true;
        };
        let n = s.chars().count();
        if let Some(m) = max.filter(|m| n > *m) {
            let word = if m == 0 {
                "is expected to be empty"
            } else {
                "is too long"
            };
            self.fail(format!("{} {word}", py_repr(self.value)));
            return false;
        }
        if let Some(m) = min.filter(|m| n < *m) {
            let word = if m == 1 {
                "should be non-empty"
            } else {
                "is too short"
            };
            self.fail(format!("{} {word}", py_repr(self.value)));
            return false;
        }
        true
    }

    /// `enum` of strings (`listed`: Python's repr of the list).
    pub fn one_of(&mut self, allowed: &[&str], listed: &str) -> bool {
        if self.value.as_str().is_some_and(|s| allowed.contains(&s)) {
            return true;
        }
        self.fail(format!("{} is not one of {listed}", py_repr(self.value)));
        false
    }

    /// `minimum` / `maximum` of an integer.
    pub fn range(&mut self, min: Option<i64>, max: Option<i64>) -> bool {
        let Some(n) = as_integer(self.value) else {
            return true;
        };
        if let Some(m) = min.filter(|m| n < *m) {
            self.fail(format!(
                "{} is less than the minimum of {m}",
                py_repr(self.value)
            ));
            return false;
        }
        if let Some(m) = max.filter(|m| n > *m) {
            self.fail(format!(
                "{} is greater than the maximum of {m}",
                py_repr(self.value)
            ));
            return false;
        }
        true
    }
}

/// The body as an object, or the schema's type error as the request's answer.
pub fn body_object<'v>(
    errors: &mut Errors,
    body: &'v Value,
) -> Result<&'v Map<String, Value>, ApiError> {
    object(errors, body).ok_or_else(|| {
        errors
            .best()
            .unwrap_or_else(|| ApiError::bad_request("Malformed JSON"))
    })
}

/// The body as an object (else the schema's type error).
pub fn object<'v>(errors: &mut Errors, body: &'v Value) -> Option<&'v Map<String, Value>> {
    match body {
        Value::Object(m) => Some(m),
        other => {
            errors.add(
                Vec::new(),
                format!("{} is not of type 'object'", py_repr(other)),
                None,
            );
            None
        }
    }
}

/// Checks of a top-level property (reported under its name), if present.
pub fn property<'e, 'v>(
    errors: &'e mut Errors,
    object: &'v Map<String, Value>,
    name: &str,
) -> Option<At<'e, 'v>> {
    object.get(name).map(|value| At {
        errors,
        path: vec![Step::Key(name.to_owned())],
        property: Some(name.to_owned()),
        value,
    })
}

/// `required` (draft 4+): one top-level error per missing property, reported as `None`.
pub fn required(errors: &mut Errors, object: &Map<String, Value>, names: &[&str]) {
    for name in names {
        if !object.contains_key(*name) {
            errors.add(Vec::new(), format!("'{name}' is a required property"), None);
        }
    }
}

/// Draft 3's `required: true` on a property: reported under the property.
pub fn required_draft3(errors: &mut Errors, object: &Map<String, Value>, name: &str) {
    if !object.contains_key(name) {
        errors.add(
            vec![Step::Key(name.to_owned())],
            format!("'{name}' is a required property"),
            Some(name),
        );
    }
}

/// `additionalProperties: false` at `path` (reported as `property`).
pub fn no_additional(
    errors: &mut Errors,
    object: &Map<String, Value>,
    allowed: &[&str],
    path: Vec<Step>,
    property: Option<&str>,
) {
    let mut extras: Vec<&String> = object
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if extras.is_empty() {
        return;
    }
    extras.sort();
    let verb = if extras.len() == 1 { "was" } else { "were" };
    let listed: Vec<String> = extras.iter().map(|e| crate::json::py_str_repr(e)).collect();
    errors.add(
        path,
        format!(
            "Additional properties are not allowed ({} {verb} unexpected)",
            listed.join(", ")
        ),
        property,
    );
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(body: Value) -> String {
        let mut e = Errors::new("S");
        if let Some(o) = object(&mut e, &body) {
            required(&mut e, o, &["a"]);
            if let Some(mut at) = property(&mut e, o, "b") {
                at.types(&["string"]);
            }
            if let Some(mut at) = property(&mut e, o, "z") {
                at.types(&["integer"]);
            }
            no_additional(&mut e, o, &["a", "b", "z"], Vec::new(), None);
        }
        match e.into_result() {
            Ok(()) => "ok".into(),
            Err(err) => err.description().to_owned(),
        }
    }

    #[test]
    fn best_match_like_jsonschema() {
        assert_eq!(check(json!({"a": 1})), "ok");
        assert_eq!(check(json!([1])), "Provided object does not match schema 'S': [1] is not of type 'object'. Invalid property: 'None'");
        // Top-level errors beat property errors.
        assert!(
            check(json!({"b": 1})).contains("'a' is a required property. Invalid property: 'None'")
        );
        // Of two bad properties the alphabetically later wins.
        assert!(check(json!({"a": 1, "b": 1, "z": "x"}))
            .contains("'x' is not of type 'integer'. Invalid property: 'z'"));
        assert!(check(json!({"a": 1, "y": 1, "c": 2}))
            .contains("Additional properties are not allowed ('c', 'y' were unexpected)"));
    }

    #[test]
    fn keyword_messages() {
        let v = json!("");
        let mut e = Errors::new("S");
        let mut at = At {
            errors: &mut e,
            path: vec![],
            property: Some("p".into()),
            value: &v,
        };
        assert!(!at.length(Some(1), Some(3)));
        let v = json!("abcd");
        let mut at = At {
            errors: &mut e,
            path: vec![],
            property: Some("p".into()),
            value: &v,
        };
        assert!(!at.length(Some(1), Some(3)));
        let v = json!(5);
        let mut at = At {
            errors: &mut e,
            path: vec![],
            property: Some("p".into()),
            value: &v,
        };
        assert!(!at.range(Some(10), None));
        assert!(!at.one_of(&["a"], "['a']"));
        let reasons: Vec<String> = e.found.iter().map(|f| f.reason.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                "'' should be non-empty",
                "'abcd' is too long",
                "5 is less than the minimum of 10",
                "5 is not one of ['a']"
            ]
        );
    }
}
