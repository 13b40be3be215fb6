//! Reading consumer requests: the body naming a secret consumer (`service`, `resource_type`,
//! `resource_id`) or a container consumer (`name`, `URL`).

use crate::api::support::schema::{body_object, property, required, Errors};
use crate::api::support::validate::{parse_json, string};
use crate::error::ApiError;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_rules() {
        assert!(container_consumer(br#"{"name": "", "URL": "u"}"#)
            .unwrap_err()
            .description()
            .contains("'' should be non-empty. Invalid property: 'name'"));
        assert!(container_consumer(br#"{"URL": "u"}"#)
            .unwrap_err()
            .description()
            .contains("'name' is a required property. Invalid property: 'None'"));
        assert_eq!(
            secret_consumer(br#"{"service": "s", "resource_type": "t", "resource_id": "i"}"#)
                .unwrap()
                .2,
            "i"
        );
    }
}
