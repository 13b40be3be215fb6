//! Reading container requests, with Barbican's rules and messages: the `POST /v1/containers`
//! body (its type's reference names, references to this host only, no duplicates) and the body
//! naming one secret reference (`POST`/`DELETE /v1/containers/{id}/secrets`).

use serde_json::Value;

use super::view::ContainerSecretRef;
use crate::api::support::schema::{body_object, property, required, At, Errors, Step};
use crate::api::support::validate::{enumerated, parse_json, string};
use crate::error::ApiError;
use crate::model::SecretRef;
use crate::service::containers::NewContainer;

/// The body of `POST /v1/containers` (documentation form).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct NewContainerDoc {
    /// At most 255 characters.
    name: Option<String>,
    /// `generic`, `rsa` or `certificate`.
    #[schema(rename = "type")]
    container_type: String,
    /// Named references to the project's secrets (`rsa`: `public_key`, `private_key`,
    /// `private_key_passphrase`; `certificate`: `certificate`, `private_key`, ...).
    secret_refs: Option<Vec<ContainerSecretRef>>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_rules() {
        let host = RefPolicy {
            host_href: "http://h",
            max_refs: 1000,
        };
        let err = |v: serde_json::Value| {
            new_container(
                v.to_string().as_bytes(),
                RefPolicy {
                    host_href: "http://h",
                    max_refs: 1000,
                },
            )
            .err()
            .map(|e| e.description().to_owned())
            .unwrap_or_default()
        };
        assert!(err(json!({"type": "bogus"})).contains(
            "'bogus' is not one of ['generic', 'rsa', 'certificate']. Invalid property: 'type'"
        ));
        assert!(err(json!({"name": "x"}))
            .contains("'type' is a required property. Invalid property: 'None'"));
        let s = "http://h/v1/secrets/";
        assert!(err(json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": format!("{s}1")}, {"name": "a", "secret_ref": format!("{s}2")}]}))
            .contains("Duplicate reference names are not allowed"));
        assert!(err(json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": format!("{s}1")}, {"name": "b", "secret_ref": format!("{s}1")}]}))
            .contains("Duplicate secret ids are not allowed"));
        assert_eq!(
            err(
                json!({"type": "generic", "secret_refs": [{"name": "a", "secret_ref": "http://evil/v1/secrets/1"}]})
            ),
            "Provided field value is not supported"
        );
        assert!(err(
            json!({"type": "rsa", "secret_refs": [{"name": "x", "secret_ref": format!("{s}1")}]})
        )
        .contains("only 'private_key', 'public_key'"));
        assert!(err(json!({"type": "rsa", "secret_refs": [{"name": "public_key", "secret_ref": format!("{s}1")}]})).contains("minimum required reference names"));
        assert!(err(json!({"type": "certificate", "secret_refs": [{"name": "private_key", "secret_ref": format!("{s}1")}]})).contains("minimum required reference name is 'certificate'"));
        assert!(
            err(json!({"type": "generic", "secret_refs": [{"name": "a"}]}))
                .contains("'secret_ref' is a required property. Invalid property: 'secret_refs'")
        );
        let c = new_container(
            json!({"type": "rsa", "name": "r", "secret_refs": []})
                .to_string()
                .as_bytes(),
            host,
        )
        .unwrap();
        assert!(c.refs.is_empty());
    }
}
