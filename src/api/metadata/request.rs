//! Reading secret-metadata requests: the body of all of a secret's metadata and the body of
//! one key (`{"key", "value"}`); keys are lower-cased, as Barbican stores them.

use serde_json::Value;

use crate::api::support::schema::{body_object, no_additional, property, required_draft3, Errors};
use crate::api::support::validate::{parse_json, string};
use crate::error::ApiError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_rules() {
        assert_eq!(
            metadata(br#"{"metadata": {"Color": "red", "size": "xl"}}"#).unwrap(),
            vec![("color".into(), "red".into()), ("size".into(), "xl".into())]
        );
        assert_eq!(
            metadata(br#"{"metadata": {"a": 1}}"#)
                .unwrap_err()
                .description(),
            "Invalid Metadata. Keys and Values must be Strings."
        );
        assert_eq!(
            metadata(br#"{"metadata": {"a b": "1"}}"#)
                .unwrap_err()
                .description(),
            "Invalid Key. Key must be URL safe."
        );
        assert!(metadata(br#"{}"#)
            .unwrap_err()
            .description()
            .contains("'metadata' is a required property. Invalid property: 'metadata'"));
        assert_eq!(
            metadatum(br#"{"key": "Shape", "value": "round"}"#).unwrap(),
            ("shape".into(), "round".into())
        );
        assert!(metadatum(br#"{"key": "a", "value": "b", "x": 1}"#)
            .unwrap_err()
            .description()
            .contains("('x' was unexpected)"));
        assert!(metadatum(br#"{"value": "b"}"#)
            .unwrap_err()
            .description()
            .contains("'key' is a required property"));
    }
}
