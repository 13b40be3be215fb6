//! Validation of request bodies, with Barbican's messages.
//!
//! Barbican validates with JSON Schema and reports the first violation as
//! `Provided object does not match schema '<Schema>': <reason>. Invalid property: '<prop>'`,
//! where `<reason>` is the jsonschema message (quoting the value with Python's `repr`). String
//! values are stripped of surrounding whitespace before validation.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

use super::json::py_repr;
use crate::error::ApiError;
use crate::service::secrets::{NewSecret, Payload};
use crate::timefmt;

/// Content types a payload may be given as.
pub const SUPPORTED_CONTENT_TYPES: [&str; 5] = [
    "text/plain",
    "text/plain;charset=utf-8",
    "text/plain; charset=utf-8",
    "application/octet-stream",
    "application/pkcs8",
];

const SECRET_TYPES: &str =
    "['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']";
const MAX_SMALL_INT: i64 = 32767;

/// Parse a JSON request body; `Malformed JSON` when it is not JSON. String values are
/// stripped, as Barbican does before validating.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    let mut v: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::bad_request("Malformed JSON"))?;
    strip_strings(&mut v);
    Ok(v)
}

fn strip_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            let t = s.trim();
            if t.len() != s.len() {
                *s = t.to_owned();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_strings),
        Value::Object(map) => map.values_mut().for_each(strip_strings),
        _ => {}
    }
}

/// JSON Schema checks, one property at a time, with jsonschema's wording.
pub struct Schema<'a> {
    pub name: &'a str,
    pub object: &'a Map<String, Value>,
}

/// JSON Schema's `integer`: integral numbers (not booleans).
fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        _ => None,
    }
}

impl<'a> Schema<'a> {
    /// The body as an object, or the schema's type error.
    pub fn object(name: &'a str, body: &'a Value) -> Result<Schema<'a>, ApiError> {
        match body {
            Value::Object(object) => Ok(Schema { name, object }),
            other => Err(ApiError::schema(
                name,
                &format!("{} is not of type 'object'", py_repr(other)),
                None,
            )),
        }
    }

    fn fail(&self, prop: &str, reason: String) -> ApiError {
        ApiError::schema(self.name, &reason, Some(prop))
    }

    /// A violation of an extra rule, in the same shape.
    pub fn invalid(&self, prop: &str, reason: &str) -> ApiError {
        self.fail(prop, reason.to_owned())
    }

    /// An optional string property (`nullable`: null allowed) of at most `max_len` characters.
    pub fn string(
        &self,
        prop: &str,
        nullable: bool,
        max_len: Option<usize>,
    ) -> Result<Option<&'a str>, ApiError> {
        match self.object.get(prop) {
            None => Ok(None),
            Some(Value::Null) if nullable => Ok(None),
            Some(Value::String(s)) => {
                if max_len.is_some_and(|m| s.chars().count() > m) {
                    return Err(self.fail(
                        prop,
                        format!("{} is too long", py_repr(&Value::String(s.clone()))),
                    ));
                }
                Ok(Some(s.as_str()))
            }
            Some(other) => {
                let types = if nullable {
                    "'string', 'null'"
                } else {
                    "'string'"
                };
                Err(self.fail(prop, format!("{} is not of type {types}", py_repr(other))))
            }
        }
    }

    /// An optional string property that must be one of `allowed` (`listed`: Python's repr of
    /// the list).
    pub fn enumerated(
        &self,
        prop: &str,
        max_len: Option<usize>,
        allowed: &[&str],
        listed: &str,
    ) -> Result<Option<&'a str>, ApiError> {
        let v = self.string(prop, false, max_len)?;
        match v {
            Some(s) if !allowed.contains(&s) => Err(self.fail(
                prop,
                format!(
                    "{} is not one of {listed}",
                    py_repr(&Value::String(s.to_owned()))
                ),
            )),
            _ => Ok(v),
        }
    }

    /// An optional integer property within `[min, max]`.
    pub fn integer(&self, prop: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.object.get(prop) else {
            return Ok(None);
        };
        let Some(n) = as_integer(v) else {
            return Err(self.fail(prop, format!("{} is not of type 'integer'", py_repr(v))));
        };
        if n < min {
            return Err(self.fail(
                prop,
                format!("{} is less than the minimum of {min}", py_repr(v)),
            ));
        }
        if n > max {
            return Err(self.fail(
                prop,
                format!("{} is greater than the maximum of {max}", py_repr(v)),
            ));
        }
        Ok(Some(n))
    }

    pub fn has(&self, prop: &str) -> bool {
        self.object.contains_key(prop)
    }
}

/// Barbican's normalization of a payload content type: the lower-cased media type when any
/// charset is UTF-8, otherwise the value as given (which then fails the support check).
pub fn normalize_content_type(ct: &str) -> String {
    let mut parts = ct.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("").to_ascii_lowercase();
    if let Some(param) = parts.next() {
        let param = param.to_ascii_lowercase();
        let Some((_, charset)) = param.split_once('=') else {
            return ct.to_owned();
        };
        if charset.trim() != "utf-8" {
            return ct.to_owned();
        }
    }
    match mime.as_str() {
        "text/plain" | "application/octet-stream" | "application/pkcs8" => mime,
        _ => ct.to_owned(),
    }
}

/// Whether a normalized content type is text (stored as UTF-8) rather than binary.
pub fn is_text(normalized: &str) -> bool {
    normalized == "text/plain"
}

/// Base64 the way Python's `base64.b64decode` reads it: characters outside the alphabet are
/// ignored, padding is required, stray trailing bits are tolerated.
pub fn lenient_base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
            .with_decode_allow_trailing_bits(true),
    );
    let filtered: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
            .collect(),
    );
    ENGINE.decode(filtered.as_bytes()).ok().map(Zeroizing::new)
}

/// Validate a `POST /v1/secrets` body into a new secret.
pub fn new_secret(body: &[u8], max_payload_bytes: usize) -> Result<NewSecret, ApiError> {
    let mut value = parse_json(body)?;
    let result = new_secret_from(&value, max_payload_bytes);
    // The parsed payload text is plaintext: wipe it before it is freed.
    if let Some(Value::String(text)) = value.get_mut("payload") {
        text.zeroize();
    }
    result
}

fn new_secret_from(value: &Value, max_payload_bytes: usize) -> Result<NewSecret, ApiError> {
    let s = Schema::object("Secret", value)?;

    // Schema properties, in the schema's order.
    let name = s.string("name", true, Some(255))?;
    let algorithm = s.string("algorithm", false, Some(255))?;
    let mode = s.string("mode", false, Some(255))?;
    let bit_length = s.integer("bit_length", 1, MAX_SMALL_INT)?;
    let expiration_raw = s.string("expiration", false, Some(255))?;
    let payload = s.string("payload", false, None)?;
    let secret_type = s.enumerated(
        "secret_type",
        Some(80),
        &[
            "symmetric",
            "passphrase",
            "private",
            "public",
            "certificate",
            "opaque",
        ],
        SECRET_TYPES,
    )?;
    let content_type = s.string("payload_content_type", true, Some(255))?;
    let encoding = s.enumerated(
        "payload_content_encoding",
        Some(255),
        &["base64"],
        "['base64']",
    )?;
    let transport_key_needed = s.enumerated(
        "transport_key_needed",
        None,
        &["true", "false"],
        "['true', 'false']",
    )?;
    let transport_key_id = s.string("transport_key_id", false, None)?;

    // Rules beyond the schema.
    let expiration = match expiration_raw.filter(|e| !e.is_empty()) {
        None => None,
        Some(raw) => {
            let t = timefmt::parse_isotime(raw)
                .ok_or_else(|| s.invalid("expiration", "Invalid date for 'expiration'"))?;
            if t <= timefmt::now() {
                return Err(s.invalid("expiration", "'expiration' is before current time"));
            }
            Some(t)
        }
    };

    let payload = match payload {
        Some(text) => {
            let Some(ct) = content_type else {
                return Err(s.invalid(
                    "payload_content_type",
                    "If 'payload' is supplied, 'payload_content_type' must also be supplied.",
                ));
            };
            let normalized = normalize_content_type(ct);
            if !SUPPORTED_CONTENT_TYPES.contains(&normalized.as_str()) {
                return Err(s.invalid(
                    "payload_content_type",
                    &format!(
                        "payload_content_type is not one of ['{}']",
                        SUPPORTED_CONTENT_TYPES.join("', '")
                    ),
                ));
            }
            let encoding_ok = if is_text(&normalized) {
                encoding.is_none()
            } else {
                matches!(encoding, Some("base64" | "binary"))
            };
            if !encoding_ok {
                let supported = if is_text(&normalized) {
                    "None"
                } else {
                    "['base64', 'binary']"
                };
                return Err(s.invalid(
                    "payload_content_encoding",
                    &format!("payload_content_encoding is not one of {supported}"),
                ));
            }
            if text.len() > max_payload_bytes {
                return Err(ApiError::too_large());
            }
            if text.is_empty() {
                return Err(s.invalid("payload", "If 'payload' specified, must be non empty"));
            }
            let bytes = if is_text(&normalized) {
                Zeroizing::new(text.as_bytes().to_vec())
            } else {
                lenient_base64(text)
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| {
                        s.invalid("payload", "Invalid payload for payload_content_encoding")
                    })?
            };
            if transport_key_id.is_some() {
                return Err(ApiError::issue(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    crate::service::secrets::ops::CREATE,
                    "Provided transport key was not found",
                ));
            }
            Some(Payload {
                bytes,
                content_type: normalized,
            })
        }
        None if s.has("payload_content_type") => {
            return Err(s.invalid(
                "payload",
                "payload must be provided when payload_content_type is specified",
            ));
        }
        None => None,
    };
    if transport_key_needed == Some("true") {
        // No configured store offers transport keys.
        return Err(ApiError::issue(
            actix_web::http::StatusCode::BAD_REQUEST,
            crate::service::secrets::ops::CREATE,
            "Secret store supported plugin not found",
        ));
    }

    Ok(NewSecret {
        name: name.map(str::to_owned),
        secret_type: secret_type
            .and_then(|t| t.parse().ok())
            .unwrap_or(plugin_api::SecretType::Opaque),
        algorithm: algorithm.map(str::to_owned),
        bit_length: bit_length.and_then(|b| i32::try_from(b).ok()),
        mode: mode.map(str::to_owned),
        expiration,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> String {
        match new_secret(body.as_bytes(), 20000) {
            Ok(_) => panic!("{body} must fail"),
            Err(e) => format!("{} {}", e.status().as_u16(), e.description()),
        }
    }

    const P: &str = "400 Provided object does not match schema 'Secret': ";

    #[test]
    fn barbicans_messages() {
        assert_eq!(err("{not json"), "400 Malformed JSON");
        assert_eq!(
            err("[1, 2]"),
            format!("{P}[1, 2] is not of type 'object'. Invalid property: 'None'")
        );
        assert_eq!(
            err(r#"{"payload": "hello"}"#),
            format!("{P}If 'payload' is supplied, 'payload_content_type' must also be supplied.. Invalid property: 'payload_content_type'")
        );
        assert_eq!(
            err(r#"{"payload": "hello", "payload_content_type": "application/octet-stream"}"#),
            format!("{P}payload_content_encoding is not one of ['base64', 'binary']. Invalid property: 'payload_content_encoding'")
        );
        assert_eq!(
            err(
                r#"{"payload": "%%%notbase64", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}"#
            ),
            format!("{P}Invalid payload for payload_content_encoding. Invalid property: 'payload'")
        );
        assert_eq!(
            err(r#"{"payload": "x", "payload_content_type": "text/html"}"#),
            format!("{P}payload_content_type is not one of ['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']. Invalid property: 'payload_content_type'")
        );
        assert_eq!(
            err(r#"{"payload": "  ", "payload_content_type": "text/plain"}"#),
            format!("{P}If 'payload' specified, must be non empty. Invalid property: 'payload'")
        );
        assert_eq!(
            err(
                r#"{"secret_type": "bogus", "payload": "x", "payload_content_type": "text/plain"}"#
            ),
            format!("{P}'bogus' is not one of {SECRET_TYPES}. Invalid property: 'secret_type'")
        );
        assert_eq!(
            err(
                r#"{"payload": "x", "payload_content_type": "text/plain", "expiration": "2000-01-01T00:00:00"}"#
            ),
            format!("{P}'expiration' is before current time. Invalid property: 'expiration'")
        );
        assert_eq!(
            err(r#"{"expiration": "soon"}"#),
            format!("{P}Invalid date for 'expiration'. Invalid property: 'expiration'")
        );
        assert_eq!(
            err(r#"{"payload": "x", "payload_content_type": "text/plain", "bit_length": "abc"}"#),
            format!("{P}'abc' is not of type 'integer'. Invalid property: 'bit_length'")
        );
        assert_eq!(
            err(r#"{"bit_length": 0}"#),
            format!("{P}0 is less than the minimum of 1. Invalid property: 'bit_length'")
        );
        assert_eq!(
            err(r#"{"bit_length": 40000}"#),
            format!(
                "{P}40000 is greater than the maximum of 32767. Invalid property: 'bit_length'"
            )
        );
        assert_eq!(
            err(r#"{"name": 5}"#),
            format!("{P}5 is not of type 'string', 'null'. Invalid property: 'name'")
        );
        assert_eq!(
            err(r#"{"algorithm": null}"#),
            format!("{P}None is not of type 'string'. Invalid property: 'algorithm'")
        );
        let long = "n".repeat(256);
        assert_eq!(
            err(&format!(r#"{{"name": "{long}"}}"#)),
            format!("{P}'{long}' is too long. Invalid property: 'name'")
        );
        assert_eq!(
            err(r#"{"payload_content_type": "text/plain"}"#),
            format!("{P}payload must be provided when payload_content_type is specified. Invalid property: 'payload'")
        );
        assert_eq!(
            err(r#"{"payload": "x", "payload_content_type": "text/plain", "payload_content_encoding": "base64"}"#),
            format!("{P}payload_content_encoding is not one of None. Invalid property: 'payload_content_encoding'")
        );
        let big = "a".repeat(20001);
        assert_eq!(
            err(&format!(
                r#"{{"payload": "{big}", "payload_content_type": "text/plain"}}"#
            )),
            "413 Provided information too large to process"
        );
        assert!(err(r#"{"transport_key_needed": "true"}"#)
            .starts_with("400 Secret creation issue seen"));
        assert!(err(r#"{"transport_key_needed": "yes"}"#)
            .contains("'yes' is not one of ['true', 'false']"));
    }

    #[test]
    fn valid_bodies() {
        let s = new_secret(br#"{"name": " x ", "payload": "caf\u00e9", "payload_content_type": "text/plain; charset=utf-8", "bogus": 1}"#, 20000).unwrap();
        assert_eq!(s.name.as_deref(), Some("x"));
        let p = s.payload.unwrap();
        assert_eq!(p.content_type, "text/plain");
        assert_eq!(p.bytes.as_slice(), "café".as_bytes());
        assert_eq!(s.secret_type, plugin_api::SecretType::Opaque);

        let s = new_secret(
            br#"{"secret_type": "symmetric", "algorithm": "aes", "bit_length": 256.0, "mode": "cbc", "expiration": "2099-12-31T19:14:44.180394", "payload": "AAECAw==", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}"#,
            20000,
        )
        .unwrap();
        assert_eq!(s.bit_length, Some(256));
        assert_eq!(s.payload.unwrap().bytes.as_slice(), &[0, 1, 2, 3]);
        assert!(s.expiration.is_some());

        let s = new_secret(br#"{"name": null, "expiration": ""}"#, 20000).unwrap();
        assert!(s.payload.is_none() && s.name.is_none() && s.expiration.is_none());
    }

    #[test]
    fn normalization_and_base64() {
        assert_eq!(
            normalize_content_type("TEXT/PLAIN; Charset=UTF-8"),
            "text/plain"
        );
        assert_eq!(
            normalize_content_type("text/plain; charset=latin-1"),
            "text/plain; charset=latin-1"
        );
        assert_eq!(normalize_content_type("text/plain; x"), "text/plain; x");
        assert_eq!(
            normalize_content_type("application/pkcs8"),
            "application/pkcs8"
        );
        assert_eq!(
            lenient_base64("AA EC\nAw==").unwrap().as_slice(),
            &[0, 1, 2, 3]
        );
        assert!(lenient_base64("YWJ").is_none());
        assert_eq!(lenient_base64("YR==").unwrap().as_slice(), b"a");
    }
}
