//! Validation of request bodies, with Barbican's rules and messages (see `schema.rs` for how
//! the reported error is chosen). String values are stripped of surrounding whitespace before
//! validation, as Barbican does.

use actix_web::http::StatusCode;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use plugin_api::{KeySpec, SecretType};
use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

use super::schema::{
    as_integer, body_object, no_additional, property, required, required_draft3, At, Errors, Step,
};
use crate::error::ApiError;
use crate::model::SecretRef;
use crate::service::acls::AclChange;
use crate::service::containers::NewContainer;
use crate::service::orders::NewOrder;
use crate::service::quotas::QuotaValues;
use crate::service::secrets::{is_text, NewSecret, Payload, SUPPORTED_CONTENT_TYPES};
use crate::timefmt;

const SECRET_TYPES: [&str; 6] = [
    "symmetric",
    "passphrase",
    "private",
    "public",
    "certificate",
    "opaque",
];
const SECRET_TYPES_LISTED: &str =
    "['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']";
const MAX_SMALL_INT: i64 = 32767;

/// Parse a JSON request body for `schema`; `Malformed JSON` when it is not JSON. String values
/// are stripped (in place), as Barbican does before validating; a NUL character in any key or
/// string is refused (PostgreSQL text cannot hold one, and no Barbican field needs one).
///
/// `secrets` are the paths of string values that hold secret material (`["payload"]`,
/// `["meta", "passphrase"]`): those are decoded from the body by [`body_json::parse`] into
/// buffers that are wiped when dropped — never through serde_json's scratch buffer, which is
/// freed unwiped — and may contain NUL.
pub fn parse_json(body: &[u8], schema: &str, secrets: &[&[&str]]) -> Result<Value, ApiError> {
    let mut v = if secrets.is_empty() {
        serde_json::from_slice(body).ok()
    } else {
        super::body_json::parse(body, secrets)
    }
    .ok_or_else(|| ApiError::bad_request("Malformed JSON"))?;
    if let Some((property, text)) = nul_in(&v, secrets, &mut Vec::new()) {
        return Err(ApiError::schema(
            schema,
            &format!(
                "{} contains a NUL character",
                crate::json::py_repr(&Value::String(text))
            ),
            Some(&property),
        ));
    }
    strip_strings(&mut v);
    Ok(v)
}

/// The first key or string (outside `secrets`) holding a NUL: its top-level property and the
/// text.
fn nul_in(v: &Value, secrets: &[&[&str]], path: &mut Vec<String>) -> Option<(String, String)> {
    let top = |path: &[String], key: &str| path.first().cloned().unwrap_or_else(|| key.to_owned());
    match v {
        Value::String(s) if s.contains('\0') => {
            let secret = secrets
                .iter()
                .any(|p| p.len() == path.len() && p.iter().zip(path.iter()).all(|(a, b)| a == b));
            (!secret).then(|| (top(path, ""), s.clone()))
        }
        Value::Array(items) => items.iter().find_map(|i| nul_in(i, secrets, path)),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            if k.contains('\0') {
                return Some((top(path, k), k.clone()));
            }
            path.push(k.clone());
            let found = nul_in(item, secrets, path);
            path.pop();
            found
        }),
        _ => None,
    }
}

/// Trim every string in place: no copy of a (possibly secret) value is left behind unwiped.
fn strip_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            let end = s.trim_end().len();
            s.truncate(end);
            let start = s.len() - s.trim_start().len();
            s.drain(..start);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_strings),
        Value::Object(map) => map.values_mut().for_each(strip_strings),
        _ => {}
    }
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

fn string<'v>(
    at: Option<At<'_, 'v>>,
    types: &[&str],
    min: Option<usize>,
    max: Option<usize>,
) -> Option<&'v str> {
    let mut at = at?;
    if at.types(types) && at.length(min, max) {
        at.value.as_str()
    } else {
        None
    }
}

fn enumerated<'v>(
    at: Option<At<'_, 'v>>,
    max: Option<usize>,
    allowed: &[&str],
    listed: &str,
) -> Option<&'v str> {
    let mut at = at?;
    if at.types(&["string"]) && at.length(None, max) && at.one_of(allowed, listed) {
        at.value.as_str()
    } else {
        None
    }
}

/// A secret's fields after Barbican's `NewSecretValidator` (schema, then its own rules).
struct SecretFields<'v> {
    name: Option<&'v str>,
    algorithm: Option<&'v str>,
    mode: Option<&'v str>,
    bit_length: Option<i64>,
    secret_type: Option<&'v str>,
    expiration: Option<chrono::NaiveDateTime>,
    payload: Option<Payload>,
    transport_key_needed: Option<&'v str>,
    transport_key_id: Option<&'v str>,
}

/// `NewSecretValidator`: `schema_name` is `Secret`, or `Secret' within 'Order` for order meta.
fn secret_fields<'v>(
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

/// Validate a `POST /v1/orders` body.
pub fn new_order(body: &[u8], max_payload_bytes: usize) -> Result<NewOrder, ApiError> {
    let mut value = parse_json(body, "Order", &[&["meta", "passphrase"]])?;
    let result = new_order_from(&value, max_payload_bytes);
    if let Some(Value::String(p)) = value.get_mut("meta").and_then(|m| m.get_mut("passphrase")) {
        p.zeroize();
    }
    result
}

fn new_order_from(value: &Value, max_payload_bytes: usize) -> Result<NewOrder, ApiError> {
    let mut e = Errors::new("Order");
    let o = body_object(&mut e, value)?;
    required_draft3(&mut e, o, "meta");
    let meta =
        property(&mut e, o, "meta").and_then(|mut at| at.types(&["object"]).then_some(at.value));
    required_draft3(&mut e, o, "type");
    let order_type = enumerated(
        property(&mut e, o, "type"),
        None,
        &["key", "asymmetric"],
        "['key', 'asymmetric']",
    );
    e.into_result()?;
    let (Some(meta_value @ Value::Object(meta)), Some(order_type)) = (meta, order_type) else {
        return Err(ApiError::bad_request("Malformed JSON"));
    };
    let order_type = order_type.to_ascii_lowercase();
    let kind = if order_type == "key" {
        "key"
    } else {
        "asymmetric key"
    };
    let f = secret_fields("Secret' within 'Order", meta_value, max_payload_bytes, true)?;
    let invalid = |reason: &str| ApiError::schema("Order", reason, Some("meta"));
    if meta.get("payload").is_some_and(|p| !p.is_null()) {
        let which = if order_type == "key" {
            "key"
        } else {
            "asymmetric"
        };
        return Err(invalid(&format!(
            "'payload' not allowed for {which} type order"
        )));
    }
    if f.algorithm.is_none_or(str::is_empty) {
        return Err(invalid(&format!(
            "'algorithm' is required field for {kind} type order"
        )));
    }
    let Some(bits) = f.bit_length else {
        return Err(invalid(&format!(
            "'bit_length' is required field for {kind} type order"
        )));
    };
    // EC keys take curve sizes (521 is not a multiple of 8); everything else whole bytes.
    let bits_ok = if f.algorithm.is_some_and(|a| a.eq_ignore_ascii_case("ec")) {
        [256, 384, 521].contains(&bits)
    } else {
        bits % 8 == 0
    };
    if !bits_ok {
        return Err(ApiError::bad_request(
            "Provided field value is not supported",
        ));
    }
    let passphrase = match meta.get("passphrase") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if order_type == "asymmetric" && !p.is_empty() => {
            Some(Zeroizing::new(p.clone()))
        }
        Some(Value::String(_)) if order_type == "asymmetric" => None,
        Some(other) if order_type == "asymmetric" => {
            return Err(ApiError::schema(
                "Order",
                &format!("{} is not of type 'string'", crate::json::py_repr(other)),
                Some("meta"),
            ))
        }
        Some(_) => {
            return Err(ApiError::issue(
                StatusCode::BAD_REQUEST,
                crate::service::orders::ops::CREATE,
                "Generating keys encrypted with passphrases is not supported",
            ))
        }
    };
    // The meta as Barbican stores and echoes it: stripped, `name` and `expiration` normalized
    // (appended when absent). Coffer never stores or shows the passphrase.
    // Copy the meta without the passphrase (a clone would hold one more, unwiped, copy).
    let mut stored: Map<String, Value> = meta
        .iter()
        .filter(|(k, _)| k.as_str() != "passphrase")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    stored.insert(
        "name".into(),
        f.name.map_or(Value::Null, |n| Value::String(n.to_owned())),
    );
    stored.insert(
        "expiration".into(),
        f.expiration.map_or(Value::Null, |t| {
            Value::String(timefmt::isoformat_micros(&t))
        }),
    );
    let content_type = crate::service::orders::order_content_type(meta);
    let spec = KeySpec {
        algorithm: f.algorithm.map(str::to_owned),
        bit_length: u32::try_from(bits).ok(),
        mode: f.mode.map(str::to_owned),
        passphrase,
    };
    Ok(NewOrder {
        order_type,
        meta: stored,
        spec,
        fields: NewSecret {
            name: f.name.map(str::to_owned),
            secret_type: SecretType::Symmetric,
            algorithm: f.algorithm.map(str::to_owned),
            bit_length: i32::try_from(bits).ok(),
            mode: f.mode.map(str::to_owned),
            expiration: f.expiration,
            payload: None,
        },
        content_type,
    })
}

/// Where containers' secret refs must point (Barbican refuses refs to other hosts).
pub struct RefPolicy<'a> {
    /// The most references a container may hold.
    pub max_refs: usize,
    pub host_href: &'a str,
}

fn secret_ref_items(e: &mut Errors, items: &[Value], prop: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let base = vec![Step::Key(prop.to_owned()), Step::Index(i)];
        let Value::Object(obj) = item else {
            e.add(
                base,
                format!("{} is not of type 'object'", crate::json::py_repr(item)),
                Some(prop),
            );
            continue;
        };
        if !obj.contains_key("secret_ref") {
            e.add(
                base.clone(),
                "'secret_ref' is a required property".into(),
                Some(prop),
            );
        }
        let name = obj.get("name").and_then(|v| {
            let mut path = base.clone();
            path.push(Step::Key("name".into()));
            let mut at = At {
                errors: e,
                path,
                property: Some(prop.to_owned()),
                value: v,
            };
            (at.types(&["string", "null"]) && at.length(None, Some(255)))
                .then(|| v.as_str().map(str::to_owned))
                .flatten()
        });
        let secret_ref = obj.get("secret_ref").and_then(|v| {
            let mut path = base.clone();
            path.push(Step::Key("secret_ref".into()));
            let mut at = At {
                errors: e,
                path,
                property: Some(prop.to_owned()),
                value: v,
            };
            (at.types(&["string"]) && at.length(Some(1), None))
                .then(|| v.as_str().map(str::to_owned))
                .flatten()
        });
        if let Some(r) = secret_ref {
            out.push((name, r));
        }
    }
    out
}

/// Validate a `POST /v1/containers` body.
pub fn new_container(body: &[u8], refs: RefPolicy<'_>) -> Result<NewContainer, ApiError> {
    let schema_name = "Container";
    let value = parse_json(body, schema_name, &[])?;
    let mut e = Errors::new(schema_name);
    let o = body_object(&mut e, &value)?;
    let name = string(
        property(&mut e, o, "name"),
        &["string", "null"],
        None,
        Some(255),
    );
    let container_type = enumerated(
        property(&mut e, o, "type"),
        None,
        &["generic", "rsa", "certificate"],
        "['generic', 'rsa', 'certificate']",
    );
    let items = property(&mut e, o, "secret_refs").and_then(|mut at| {
        at.types(&["array"])
            .then(|| at.value.as_array().cloned())
            .flatten()
    });
    let parsed = items
        .as_deref()
        .map(|items| secret_ref_items(&mut e, items, "secret_refs"));
    required(&mut e, o, &["type"]);
    e.into_result()?;
    let container_type = container_type.unwrap_or("generic").to_owned();
    let parsed = parsed.unwrap_or_default();
    if parsed.len() > refs.max_refs {
        return Err(crate::service::containers::too_many_refs(refs.max_refs).into());
    }
    let invalid = |reason: &str| ApiError::schema(schema_name, reason, Some("secret_refs"));
    if !parsed.is_empty() {
        let mut names: Vec<Option<&str>> = parsed.iter().map(|(n, _)| n.as_deref()).collect();
        names.sort();
        names.dedup();
        if names.len() != parsed.len() {
            return Err(invalid("Duplicate reference names are not allowed"));
        }
        let mut ids: Vec<&str> = parsed
            .iter()
            .map(|(_, r)| crate::service::id_from_ref(r))
            .collect();
        ids.sort();
        ids.dedup();
        if ids.len() != parsed.len() {
            return Err(invalid("Duplicate secret ids are not allowed"));
        }
        if parsed.iter().any(|(_, r)| !r.starts_with(refs.host_href)) {
            return Err(ApiError::bad_request(
                "Provided field value is not supported",
            ));
        }
        let names: Vec<&str> = parsed
            .iter()
            .map(|(n, _)| n.as_deref().unwrap_or(""))
            .collect();
        let only = |allowed: &[&str]| names.iter().all(|n| allowed.contains(n));
        let has = |needed: &[&str]| needed.iter().all(|n| names.contains(n));
        match container_type.as_str() {
            "rsa" => {
                if !only(&["public_key", "private_key", "private_key_passphrase"]) {
                    return Err(invalid(
                        "only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type",
                    ));
                }
                if !has(&["public_key", "private_key"]) {
                    return Err(invalid(
                        "The minimum required reference names are 'public_key' and'private_key' for RSA type",
                    ));
                }
            }
            "certificate" => {
                if !only(&[
                    "certificate",
                    "private_key",
                    "private_key_passphrase",
                    "intermediates",
                ]) {
                    return Err(invalid(
                        "only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type",
                    ));
                }
                if !has(&["certificate"]) {
                    return Err(invalid(
                        "The minimum required reference name is 'certificate' for Certificate type",
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(NewContainer {
        name: name.map(str::to_owned),
        container_type,
        refs: parsed
            .into_iter()
            .map(|(name, r)| SecretRef {
                name,
                secret_id: crate::service::id_from_ref(&r).to_owned(),
            })
            .collect(),
    })
}

/// Validate a `POST`/`DELETE /v1/containers/{id}/secrets` body: (reference, full ref).
pub fn container_secret(body: &[u8]) -> Result<(SecretRef, String), ApiError> {
    let value = parse_json(body, "ContainerSecret", &[])?;
    let mut e = Errors::new("ContainerSecret");
    let o = body_object(&mut e, &value)?;
    let name = string(property(&mut e, o, "name"), &["string"], None, Some(255));
    let secret_ref = string(
        property(&mut e, o, "secret_ref"),
        &["string"],
        Some(1),
        None,
    );
    required(&mut e, o, &["secret_ref"]);
    e.into_result()?;
    let secret_ref = secret_ref.unwrap_or_default().to_owned();
    Ok((
        SecretRef {
            name: name.map(str::to_owned),
            secret_id: crate::service::id_from_ref(&secret_ref).to_owned(),
        },
        secret_ref,
    ))
}

/// Validate a container consumer body: (name, URL).
pub fn container_consumer(body: &[u8]) -> Result<(String, String), ApiError> {
    let value = parse_json(body, "Consumer", &[])?;
    let mut e = Errors::new("Consumer");
    let o = body_object(&mut e, &value)?;
    let url = string(property(&mut e, o, "URL"), &["string"], Some(1), Some(255));
    let name = string(property(&mut e, o, "name"), &["string"], Some(1), Some(36));
    required(&mut e, o, &["name", "URL"]);
    e.into_result()?;
    Ok((
        name.unwrap_or_default().to_owned(),
        url.unwrap_or_default().to_owned(),
    ))
}

/// Validate a secret consumer body: (service, resource_type, resource_id).
pub fn secret_consumer(body: &[u8]) -> Result<(String, String, String), ApiError> {
    let value = parse_json(body, "Secret Consumer", &[])?;
    let mut e = Errors::new("Secret Consumer");
    let o = body_object(&mut e, &value)?;
    let service = string(
        property(&mut e, o, "service"),
        &["string"],
        Some(1),
        Some(255),
    );
    let resource_type = string(
        property(&mut e, o, "resource_type"),
        &["string"],
        Some(1),
        Some(255),
    );
    // Indexed (with service and resource type) on both databases: bounded like the others.
    let resource_id = string(
        property(&mut e, o, "resource_id"),
        &["string"],
        Some(1),
        Some(255),
    );
    required(&mut e, o, &["service", "resource_type", "resource_id"]);
    e.into_result()?;
    Ok((
        service.unwrap_or_default().to_owned(),
        resource_type.unwrap_or_default().to_owned(),
        resource_id.unwrap_or_default().to_owned(),
    ))
}

/// Validate an ACL body; `None` when it names no operation (or an empty one).
pub fn acl(body: &[u8]) -> Result<Option<AclChange>, ApiError> {
    let value = parse_json(body, "ACL", &[])?;
    let mut e = Errors::new("ACL");
    let o = body_object(&mut e, &value)?;
    let mut change = None;
    if let Some(read) = o.get("read") {
        let base = vec![Step::Key("read".into())];
        match read {
            Value::Object(r) => {
                let mut c = AclChange::default();
                if let Some(users) = r.get("users") {
                    let mut path = base.clone();
                    path.push(Step::Key("users".into()));
                    match users {
                        Value::Array(items) => {
                            let mut list = Vec::new();
                            for (i, item) in items.iter().enumerate() {
                                let mut p = path.clone();
                                p.push(Step::Index(i));
                                let mut at = At {
                                    errors: &mut e,
                                    path: p,
                                    property: Some("read".into()),
                                    value: item,
                                };
                                if at.types(&["string"]) && at.length(None, Some(255)) {
                                    list.push(item.as_str().unwrap_or_default().to_owned());
                                }
                            }
                            c.users = Some(list);
                        }
                        other => e.add(
                            path,
                            format!("{} is not of type 'array'", crate::json::py_repr(other)),
                            Some("read"),
                        ),
                    }
                }
                if let Some(pa) = r.get("project-access") {
                    let mut path = base.clone();
                    path.push(Step::Key("project-access".into()));
                    let mut at = At {
                        errors: &mut e,
                        path,
                        property: Some("read".into()),
                        value: pa,
                    };
                    if at.types(&["boolean"]) {
                        c.project_access = pa.as_bool();
                    }
                }
                no_additional(&mut e, r, &["users", "project-access"], base, Some("read"));
                if !r.is_empty() {
                    change = Some(c);
                }
            }
            other => e.add(
                base,
                format!("{} is not of type 'object'", crate::json::py_repr(other)),
                Some("read"),
            ),
        }
    }
    no_additional(&mut e, o, &["read"], Vec::new(), None);
    e.into_result()?;
    Ok(change)
}

/// Validate a `PUT /v1/secrets/{id}/metadata` body: keys lower-cased.
pub fn metadata(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let value = parse_json(body, "SecretMetadata", &[])?;
    let mut e = Errors::new("SecretMetadata");
    let o = body_object(&mut e, &value)?;
    required_draft3(&mut e, o, "metadata");
    let meta = property(&mut e, o, "metadata")
        .and_then(|mut at| at.types(&["object"]).then_some(at.value));
    e.into_result()?;
    let Some(Value::Object(meta)) = meta else {
        return Err(ApiError::bad_request("Malformed JSON"));
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in meta {
        let Value::String(v) = v else {
            return Err(ApiError::bad_request(
                "Invalid Metadata. Keys and Values must be Strings.",
            ));
        };
        if !crate::service::metadata::key_is_url_safe(k) {
            return Err(ApiError::bad_request("Invalid Key. Key must be URL safe."));
        }
        if k.chars().count() > 255 {
            return Err(ApiError::bad_request(
                "Invalid Key. Key must be at most 255 characters.",
            ));
        }
        let key = k.to_lowercase();
        out.retain(|(existing, _)| *existing != key);
        out.push((key, v.clone()));
    }
    Ok(out)
}

/// Validate a metadatum body (`{"key", "value"}`): key lower-cased.
pub fn metadatum(body: &[u8]) -> Result<(String, String), ApiError> {
    let value = parse_json(body, "SecretMetadatum", &[])?;
    let mut e = Errors::new("SecretMetadatum");
    let o = body_object(&mut e, &value)?;
    required_draft3(&mut e, o, "key");
    let key = string(property(&mut e, o, "key"), &["string"], None, Some(255));
    required_draft3(&mut e, o, "value");
    let value_ = string(property(&mut e, o, "value"), &["string"], None, Some(255));
    no_additional(&mut e, o, &["key", "value"], Vec::new(), None);
    e.into_result()?;
    let key = key.unwrap_or_default();
    if !crate::service::metadata::key_is_url_safe(key) {
        return Err(ApiError::bad_request("Invalid Key. Key must be URL safe."));
    }
    Ok((key.to_lowercase(), value_.unwrap_or_default().to_owned()))
}

/// Validate a `PUT /v1/project-quotas/{id}` body.
pub fn project_quotas(body: &[u8]) -> Result<QuotaValues, ApiError> {
    let value = parse_json(body, "Project Quota", &[])?;
    let mut e = Errors::new("Project Quota");
    let o = body_object(&mut e, &value)?;
    let mut q = QuotaValues::default();
    if let Some(pq) = o.get("project_quotas") {
        let base = vec![Step::Key("project_quotas".into())];
        match pq {
            Value::Object(m) => {
                for (name, slot) in [
                    ("secrets", &mut q.secrets),
                    ("orders", &mut q.orders),
                    ("containers", &mut q.containers),
                    ("consumers", &mut q.consumers),
                    ("cas", &mut q.cas),
                ] {
                    if let Some(v) = m.get(name) {
                        let mut path = base.clone();
                        path.push(Step::Key(name.into()));
                        let mut at = At {
                            errors: &mut e,
                            path,
                            property: Some("project_quotas".into()),
                            value: v,
                        };
                        // Quotas are stored as 32-bit integers: beyond is refused, never dropped.
                        if at.types(&["integer"])
                            && at.range(Some(i32::MIN.into()), Some(i32::MAX.into()))
                        {
                            *slot = as_integer(v).and_then(|n| i32::try_from(n).ok());
                        }
                    }
                }
                no_additional(
                    &mut e,
                    m,
                    &["secrets", "orders", "containers", "consumers", "cas"],
                    base,
                    Some("project_quotas"),
                );
            }
            other => e.add(
                base,
                format!("{} is not of type 'object'", crate::json::py_repr(other)),
                Some("project_quotas"),
            ),
        }
    }
    required(&mut e, o, &["project_quotas"]);
    no_additional(&mut e, o, &["project_quotas"], Vec::new(), None);
    e.into_result()?;
    Ok(q)
}

#[cfg(test)]
mod tests;
