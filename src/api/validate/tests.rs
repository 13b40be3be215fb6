use super::*;
use serde_json::json;

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
        err(r#"{"secret_type": "bogus", "payload": "x", "payload_content_type": "text/plain"}"#),
        format!("{P}'bogus' is not one of {SECRET_TYPES_LISTED}. Invalid property: 'secret_type'")
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
        format!("{P}40000 is greater than the maximum of 32767. Invalid property: 'bit_length'")
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
    assert!(
        err(r#"{"transport_key_needed": "true"}"#).starts_with("400 Secret creation issue seen")
    );
    assert!(
        err(r#"{"transport_key_needed": "yes"}"#).contains("'yes' is not one of ['true', 'false']")
    );
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
        crate::media::normalize("TEXT/PLAIN; Charset=UTF-8"),
        "text/plain"
    );
    assert_eq!(
        crate::media::normalize("text/plain; charset=latin-1"),
        "text/plain; charset=latin-1"
    );
    assert_eq!(crate::media::normalize("text/plain; x"), "text/plain; x");
    assert_eq!(
        crate::media::normalize("application/pkcs8"),
        "application/pkcs8"
    );
    assert_eq!(
        lenient_base64("AA EC\nAw==").unwrap().as_slice(),
        &[0, 1, 2, 3]
    );
    assert!(lenient_base64("YWJ").is_none());
    assert_eq!(lenient_base64("YR==").unwrap().as_slice(), b"a");
}

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

#[test]
fn acl_rules() {
    let err = |v: serde_json::Value| {
        acl(v.to_string().as_bytes())
            .err()
            .map(|e| e.description().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        err(json!({"write": {"users": ["u1"]}})),
        "Provided object does not match schema 'ACL': Additional properties are not allowed ('write' was unexpected). Invalid property: 'None'"
    );
    assert!(err(json!({"read": {"project-access": "yes"}}))
        .contains("'yes' is not of type 'boolean'. Invalid property: 'read'"));
    assert!(err(json!({"read": {"users": "u1"}}))
        .contains("'u1' is not of type 'array'. Invalid property: 'read'"));
    assert!(err(json!({"read": {"bogus": 1}}))
        .contains("('bogus' was unexpected). Invalid property: 'read'"));
    assert_eq!(acl(b"{}").unwrap(), None);
    assert_eq!(acl(br#"{"read": {}}"#).unwrap(), None);
    assert_eq!(
        acl(br#"{"read": {"users": ["a"], "project-access": false}}"#).unwrap(),
        Some(AclChange {
            project_access: Some(false),
            users: Some(vec!["a".into()])
        })
    );
}

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

#[test]
fn consumers_and_quotas() {
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
    let q = project_quotas(br#"{"project_quotas": {"secrets": 5, "orders": -1}}"#).unwrap();
    assert_eq!(
        (q.secrets, q.orders, q.containers),
        (Some(5), Some(-1), None)
    );
    assert!(project_quotas(br#"{"project_quotas": {"secrets": "x"}}"#)
        .unwrap_err()
        .description()
        .contains("'x' is not of type 'integer'"));
    assert!(project_quotas(br#"{}"#)
        .unwrap_err()
        .description()
        .contains("'project_quotas' is a required property"));
}
