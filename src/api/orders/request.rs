//! Reading order requests: the `POST /v1/orders` body, with Barbican's rules and messages
//! (its meta is validated as a secret within the order, then by the order type's rules); the
//! passphrase of an asymmetric order is read into a zeroizing buffer and never kept in the meta.

use actix_web::http::StatusCode;
use plugin_api::{KeySpec, SecretType};
use serde_json::{Map, Value};
use zeroize::{Zeroize, Zeroizing};

use crate::api::secrets::request::secret_fields;
use crate::api::support::schema::{body_object, property, required_draft3, Errors};
use crate::api::support::validate::{enumerated, parse_json};
use crate::error::ApiError;
use crate::service::orders::NewOrder;
use crate::service::secrets::NewSecret;
use crate::timefmt;

/// The body of `POST /v1/orders` (documentation form).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct NewOrderDoc {
    /// `key` or `asymmetric`.
    #[schema(rename = "type")]
    order_type: String,
    meta: NewOrderMetaDoc,
}

/// What an order generates.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct NewOrderMetaDoc {
    /// The generated secret's (or container's) name.
    name: Option<String>,
    /// `aes` for a key order, `rsa` for an asymmetric one.
    algorithm: String,
    bit_length: i32,
    mode: Option<String>,
    /// `application/octet-stream` for keys.
    payload_content_type: Option<String>,
    /// ISO-8601, in the future.
    expiration: Option<String>,
    /// Asymmetric orders: protects the private key.
    passphrase: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order_err(v: serde_json::Value) -> String {
        match new_order(v.to_string().as_bytes(), 20000) {
            Ok(_) => panic!("{v} must fail"),
            Err(e) => format!("{} {}", e.status().as_u16(), e.description()),
        }
    }

    #[test]
    fn order_messages() {
        assert_eq!(
            order_err(json!({"type": "bogus", "meta": {}})),
            "400 Provided object does not match schema 'Order': 'bogus' is not one of ['key', 'asymmetric']. Invalid property: 'type'"
        );
        assert_eq!(
            order_err(json!({"type": "key"})),
            "400 Provided object does not match schema 'Order': 'meta' is a required property. Invalid property: 'meta'"
        );
        assert_eq!(
            order_err(json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 100}})),
            "400 Provided field value is not supported"
        );
        assert_eq!(
            order_err(json!({"type": "key", "meta": {"bit_length": 128}})),
            "400 Provided object does not match schema 'Order': 'algorithm' is required field for key type order. Invalid property: 'meta'"
        );
        assert_eq!(
            order_err(json!({"type": "asymmetric", "meta": {"algorithm": "rsa"}})),
            "400 Provided object does not match schema 'Order': 'bit_length' is required field for asymmetric key type order. Invalid property: 'meta'"
        );
        assert_eq!(
            order_err(json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 128, "payload": "x", "payload_content_type": "text/plain"}})),
            "400 Provided object does not match schema 'Order': 'payload' not allowed for key type order. Invalid property: 'meta'"
        );
        assert!(
            order_err(json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": "x"}}))
                .contains("schema 'Secret' within 'Order': 'x' is not of type 'integer'")
        );
    }

    #[test]
    fn order_meta_is_normalized_without_passphrase() {
        let o = new_order(
            json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 2048, "passphrase": "pw", "name": " kp "}})
                .to_string()
                .as_bytes(),
            20000,
        )
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(o.meta.clone()),
            json!({"algorithm": "rsa", "bit_length": 2048, "name": "kp", "expiration": null})
        );
        assert_eq!(o.spec.passphrase.as_ref().map(|p| p.as_str()), Some("pw"));
        assert_eq!(o.content_type, "application/octet-stream");
        let keys: Vec<&String> = o.meta.keys().collect();
        assert_eq!(keys, ["algorithm", "bit_length", "name", "expiration"]);
    }

    #[test]
    fn an_empty_order_content_type_counts_as_absent() {
        let order = |ct: serde_json::Value| {
            new_order(
                json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 256, "payload_content_type": ct}})
                    .to_string()
                    .as_bytes(),
                20000,
            )
        };
        // Blank is empty too: string values are stripped when the body is read, as by Barbican.
        for (sent, echoed) in [
            (json!(""), json!("")),
            (json!("  "), json!("")),
            (json!(null), json!(null)),
        ] {
            let o = order(sent.clone()).unwrap_or_else(|e| panic!("{sent}: {}", e.description()));
            assert_eq!(o.content_type, "application/octet-stream");
            assert_eq!(o.meta["payload_content_type"], echoed);
        }
        assert_eq!(
            order(json!("text/plain")).ok().map(|o| o.content_type),
            Some("text/plain".to_owned())
        );
        // Only empty is absent: unknown types are still refused.
        for bad in ["text/html", "x"] {
            let e = order(json!(bad)).err().map(|e| e.description().to_owned());
            assert!(
                e.as_deref()
                    .is_some_and(|d| d.contains("payload_content_type is not one of")),
                "{bad:?}: {e:?}"
            );
        }
    }
}
