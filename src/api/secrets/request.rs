//! Reading secret requests, with Barbican's rules and messages: the `POST /v1/secrets` body
//! (Barbican's `NewSecretValidator`, also applied to an order's meta), the two-step `PUT`
//! payload, and the list's query parameters (filters, date filters, sort order).

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::HttpRequest;
use plugin_api::{AuthContext, SecretType};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::{Zeroize, Zeroizing};

use crate::api::support::paging::{self, param};
use crate::api::support::schema::{as_integer, body_object, property, Errors};
use crate::api::support::validate::{
    enumerated, lenient_base64, parse_json, string, MAX_SMALL_INT, SECRET_TYPES,
    SECRET_TYPES_LISTED,
};
use crate::error::ApiError;
use crate::model::{DateOp, SecretQuery, SortKey};
use crate::service::secrets::{is_text, ops, NewSecret, Payload, SUPPORTED_CONTENT_TYPES};
use crate::timefmt;

/// The body of `POST /v1/secrets` (unknown fields are ignored, as Barbican does).
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub struct NewSecretDoc {
    /// At most 255 characters.
    name: Option<String>,
    /// `symmetric`, `public`, `private`, `passphrase`, `certificate` or `opaque` (default).
    secret_type: Option<String>,
    algorithm: Option<String>,
    /// 1 to 32767.
    bit_length: Option<i32>,
    mode: Option<String>,
    /// ISO-8601, in the future.
    expiration: Option<String>,
    /// The payload: text, or base64 for binary content types. Absent for a metadata-only
    /// secret (its payload then comes with `PUT /v1/secrets/{id}`).
    payload: Option<String>,
    /// `text/plain` (optionally `; charset=utf-8`), `application/octet-stream` or
    /// `application/pkcs8`; required with `payload`.
    payload_content_type: Option<String>,
    /// `base64`; required for binary content types.
    payload_content_encoding: Option<String>,
}

/// A secret's fields after Barbican's `NewSecretValidator` (schema, then its own rules).
pub(in crate::api) struct SecretFields<'v> {
    pub(in crate::api) name: Option<&'v str>,
    pub(in crate::api) algorithm: Option<&'v str>,
    pub(in crate::api) mode: Option<&'v str>,
    pub(in crate::api) bit_length: Option<i64>,
    pub(in crate::api) secret_type: Option<&'v str>,
    pub(in crate::api) expiration: Option<chrono::NaiveDateTime>,
    pub(in crate::api) payload: Option<Payload>,
    pub(in crate::api) transport_key_needed: Option<&'v str>,
    pub(in crate::api) transport_key_id: Option<&'v str>,
}

/// `NewSecretValidator`: `schema_name` is `Secret`, or `Secret' within 'Order` for order meta.
pub(in crate::api) fn secret_fields<'v>(
    schema_name: &str,
    value: &'v Value,
    max_payload_bytes: usize,
    in_order: bool,
) -> Result<SecretFields<'v>, ApiError> {
    let mut e = Errors::new(schema_name);
    let o = body_object(&mut e, value)?;
    let name = string(
        property(&mut e, o, "name"),
        &["string", "null"],
        None,
        Some(255),
    );
    let algorithm = string(
        property(&mut e, o, "algorithm"),
        &["string"],
        None,
        Some(255),
    );
    let mode = string(property(&mut e, o, "mode"), &["string"], None, Some(255));
    let bit_length = property(&mut e, o, "bit_length").and_then(|mut at| {
        (at.types(&["integer"]) && at.range(Some(1), Some(MAX_SMALL_INT)))
            .then(|| as_integer(at.value))
            .flatten()
    });
    let expiration_raw = string(
        property(&mut e, o, "expiration"),
        &["string"],
        None,
        Some(255),
    );
    let payload = string(property(&mut e, o, "payload"), &["string"], None, None);
    let secret_type = enumerated(
        property(&mut e, o, "secret_type"),
        Some(80),
        &SECRET_TYPES,
        SECRET_TYPES_LISTED,
    );
    let content_type = string(
        property(&mut e, o, "payload_content_type"),
        &["string", "null"],
        None,
        Some(255),
    );
    let encoding = enumerated(
        property(&mut e, o, "payload_content_encoding"),
        Some(255),
        &["base64"],
        "['base64']",
    );
    let transport_key_needed = enumerated(
        property(&mut e, o, "transport_key_needed"),
        None,
        &["true", "false"],
        "['true', 'false']",
    );
    let transport_key_id = string(
        property(&mut e, o, "transport_key_id"),
        &["string"],
        None,
        None,
    );
    e.into_result()?;

    let invalid = |prop: &str, reason: &str| ApiError::schema(schema_name, reason, Some(prop));
    let expiration = match expiration_raw.filter(|x| !x.is_empty()) {
        None => None,
        Some(raw) => {
            let t = timefmt::parse_isotime(raw)
                .ok_or_else(|| invalid("expiration", "Invalid date for 'expiration'"))?;
            if t <= timefmt::now() {
                return Err(invalid("expiration", "'expiration' is before current time"));
            }
            Some(t)
        }
    };
    let supported_list = format!(
        "payload_content_type is not one of ['{}']",
        SUPPORTED_CONTENT_TYPES.join("', '")
    );
    let payload = match payload {
        Some(text) => {
            let Some(ct) = content_type else {
                return Err(invalid(
                    "payload_content_type",
                    "If 'payload' is supplied, 'payload_content_type' must also be supplied.",
                ));
            };
            let normalized = crate::media::normalize(ct);
            if !SUPPORTED_CONTENT_TYPES.contains(&normalized.as_str()) {
                return Err(invalid("payload_content_type", &supported_list));
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
                return Err(invalid(
                    "payload_content_encoding",
                    &format!("payload_content_encoding is not one of {supported}"),
                ));
            }
            if text.len() > max_payload_bytes {
                return Err(ApiError::too_large());
            }
            if text.is_empty() {
                return Err(invalid(
                    "payload",
                    "If 'payload' specified, must be non empty",
                ));
            }
            let bytes = if is_text(&normalized) {
                Zeroizing::new(text.as_bytes().to_vec())
            } else {
                lenient_base64(text)
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| {
                        invalid("payload", "Invalid payload for payload_content_encoding")
                    })?
            };
            Some(Payload {
                bytes,
                content_type: normalized,
            })
        }
        None if o.contains_key("payload_content_type") => {
            if !in_order {
                return Err(invalid(
                    "payload",
                    "payload must be provided when payload_content_type is specified",
                ));
            }
            // An empty (or null) content type counts as absent, as in Barbican (`if
            // content_type:`); the generated secret gets the default type.
            if let Some(ct) = content_type.filter(|c| !c.is_empty()) {
                if !SUPPORTED_CONTENT_TYPES.contains(&crate::media::normalize(ct).as_str()) {
                    return Err(invalid("payload_content_type", &supported_list));
                }
            }
            None
        }
        None => None,
    };
    Ok(SecretFields {
        name,
        algorithm,
        mode,
        bit_length,
        secret_type,
        expiration,
        payload,
        transport_key_needed,
        transport_key_id,
    })
}

/// Validate a `POST /v1/secrets` body into a new secret.
pub fn new_secret(body: &[u8], max_payload_bytes: usize) -> Result<NewSecret, ApiError> {
    let mut value = parse_json(body, "Secret", &[&["payload"]])?;
    let result = new_secret_from(&value, max_payload_bytes);
    // The parsed payload text is plaintext: wipe it before it is freed.
    if let Some(Value::String(text)) = value.get_mut("payload") {
        text.zeroize();
    }
    result
}

fn new_secret_from(value: &Value, max_payload_bytes: usize) -> Result<NewSecret, ApiError> {
    let f = secret_fields("Secret", value, max_payload_bytes, false)?;
    let create_issue = |reason: &str| {
        ApiError::issue(
            StatusCode::BAD_REQUEST,
            crate::service::secrets::ops::CREATE,
            reason,
        )
    };
    if f.payload.is_some() && f.transport_key_id.is_some() {
        return Err(create_issue("Provided transport key was not found."));
    }
    if f.transport_key_needed == Some("true") {
        // No configured store offers transport keys.
        return Err(create_issue("Secret store supported plugin not found."));
    }
    Ok(NewSecret {
        name: f.name.map(str::to_owned),
        secret_type: f
            .secret_type
            .and_then(|t| t.parse().ok())
            .unwrap_or(SecretType::Opaque),
        algorithm: f.algorithm.map(str::to_owned),
        bit_length: f.bit_length.and_then(|b| i32::try_from(b).ok()),
        mode: f.mode.map(str::to_owned),
        expiration: f.expiration,
        payload: f.payload,
    })
}

const SORT_KEYS: [(&str, SortKey); 9] = [
    ("algorithm", SortKey::Algorithm),
    ("bit_length", SortKey::BitLength),
    ("created", SortKey::Created),
    ("expiration", SortKey::Expiration),
    ("mode", SortKey::Mode),
    ("name", SortKey::Name),
    ("secret_type", SortKey::SecretType),
    ("status", SortKey::Status),
    ("updated", SortKey::Updated),
];

/// 400: the query string is not one Barbican accepts.
pub fn bad_query() -> ApiError {
    ApiError::bad_request("URI provided invalid query string parameters.")
}

/// `sort=key[:asc|desc],...`; each key once.
fn parse_sort(text: &str) -> Result<Vec<(SortKey, bool)>, ApiError> {
    let mut out: Vec<(SortKey, bool)> = Vec::new();
    for part in text.split(',') {
        let (key, dir) = match part.split_once(':') {
            Some((k, d)) if !d.contains(':') => (k, d),
            Some(_) => return Err(bad_query()),
            None => (part, "asc"),
        };
        let key = SORT_KEYS
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, k)| *k)
            .ok_or_else(bad_query)?;
        let desc = match dir {
            "asc" => false,
            "desc" => true,
            _ => return Err(bad_query()),
        };
        if out.iter().any(|(k, _)| *k == key) {
            return Err(bad_query());
        }
        out.push((key, desc));
    }
    Ok(out)
}

/// `created=gt:T,lt:T` and friends, with Barbican's rules on combining them.
fn parse_date_filter(text: &str) -> Result<Vec<(DateOp, chrono::NaiveDateTime)>, ApiError> {
    let mut out: Vec<(DateOp, chrono::NaiveDateTime)> = Vec::new();
    let has = |out: &[(DateOp, _)], ops: &[DateOp]| out.iter().any(|(o, _)| ops.contains(o));
    for part in text.split(',') {
        let (op, rest, conflicts): (DateOp, &str, &[DateOp]) =
            if let Some(r) = part.strip_prefix("gt:") {
                (DateOp::Gt, r, &[DateOp::Gt, DateOp::Gte])
            } else if let Some(r) = part.strip_prefix("gte:") {
                (DateOp::Gte, r, &[DateOp::Gt, DateOp::Gte, DateOp::Eq])
            } else if let Some(r) = part.strip_prefix("lt:") {
                (DateOp::Lt, r, &[DateOp::Lt, DateOp::Lte])
            } else if let Some(r) = part.strip_prefix("lte:") {
                (DateOp::Lte, r, &[DateOp::Lt, DateOp::Lte, DateOp::Eq])
            } else {
                (DateOp::Eq, part, &[DateOp::Eq, DateOp::Gte, DateOp::Lte])
            };
        if has(&out, conflicts) {
            return Err(bad_query());
        }
        let t = timefmt::parse_isotime(rest).ok_or_else(bad_query)?;
        out.push((op, t));
    }
    Ok(out)
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The `GET /v1/secrets` query of `caller`'s project from the request's parameters: filters
/// (`name`, `alg`, `mode`, `bits`, `secret_type`, `acl_only`), date filters (`created`,
/// `updated`, `expiration`) and sort order; `offset` and `limit` are already cleaned. 400 for
/// an invalid date filter or sort order.
pub fn list_query(
    pairs: &[(String, String)],
    caller: &AuthContext,
    offset: i64,
    limit: i64,
) -> Result<SecretQuery, ApiError> {
    let mut query = SecretQuery {
        project_id: caller.project_id.clone(),
        // Barbican unquotes the (already decoded) name once more.
        name: non_empty(param(pairs, "name")).map(|n| paging::unquote_plus(&n)),
        algorithm: non_empty(param(pairs, "alg")),
        mode: non_empty(param(pairs, "mode")),
        bit_length: param(pairs, "bits")
            .and_then(paging::py_int)
            .filter(|b| *b > 0)
            .and_then(|b| i32::try_from(b).ok()),
        secret_type: non_empty(param(pairs, "secret_type")),
        acl_user: caller
            .user_id
            .clone()
            .filter(|_| param(pairs, "acl_only").is_some_and(|v| v.eq_ignore_ascii_case("true"))),
        offset,
        limit,
        ..SecretQuery::default()
    };
    for (name, slot) in [
        ("created", &mut query.created),
        ("updated", &mut query.updated),
        ("expiration", &mut query.expiration),
    ] {
        if let Some(f) = param(pairs, name).filter(|s| !s.is_empty()) {
            *slot = parse_date_filter(f)?;
        }
    }
    if let Some(sort) = param(pairs, "sort").filter(|s| !s.is_empty()) {
        query.sort = parse_sort(sort)?;
    }
    Ok(query)
}

/// Turn a PUT body into a payload by its content type and encoding.
pub fn put_body(req: &HttpRequest, media_type: &str, body: &[u8]) -> Result<Payload, ApiError> {
    let bad = |reason: &str| ApiError::issue(StatusCode::BAD_REQUEST, ops::UPDATE, reason);
    if media_type == "text/plain" {
        return Ok(Payload {
            bytes: zeroize::Zeroizing::new(body.to_vec()),
            content_type: "text/plain".to_owned(),
        });
    }
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase());
    let bytes = match encoding.as_deref() {
        None | Some("") => zeroize::Zeroizing::new(body.to_vec()),
        Some("base64") => std::str::from_utf8(body)
            .ok()
            .and_then(lenient_base64)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| bad("Problem decoding payload"))?,
        Some(_) => {
            return Err(bad(
                "Text-based binary secret payloads must specify a content-encoding of 'base64'",
            ))
        }
    };
    Ok(Payload {
        bytes,
        content_type: media_type.to_owned(),
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
            format!(
                "{P}'bogus' is not one of {SECRET_TYPES_LISTED}. Invalid property: 'secret_type'"
            )
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
    fn sort_validation() {
        assert_eq!(
            parse_sort("name:desc,created").unwrap(),
            vec![(SortKey::Name, true), (SortKey::Created, false)]
        );
        for bad in ["bogus", "name:up", "name:desc:x", "name,name:desc", ""] {
            assert!(parse_sort(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn date_filter_validation() {
        assert_eq!(
            parse_date_filter("gt:2026-01-01T00:00:00,lt:2026-02-01")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(parse_date_filter("2026-01-01").unwrap()[0].0, DateOp::Eq);
        for bad in [
            "gt:2026-01-01,gte:2026-01-02",
            "lte:2026-01-01,2026-01-01",
            "2026-01-01,gte:2026-01-01",
            "gt:x",
            "lt:2026-01-01,lt:2026-01-02",
        ] {
            assert!(parse_date_filter(bad).is_err(), "{bad}");
        }
    }
}
