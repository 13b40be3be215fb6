//! The OpenAPI document, generated from the handlers' annotations. `coffer openapi` prints it;
//! `openapi/coffer.json` is the checked-in copy (a test fails when they differ); the server
//! serves it at `/openapi.json` with a browsable UI (the API console) at `/docs/index.html`.
//!
//! [`Console`] adds what the annotations cannot say once for all operations: the identity
//! headers as security schemes (so the console's Authorize button sets them once), the 401
//! every authenticated route can answer, and an example of each component schema.

use serde_json::{json, Value};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::OneOfBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{
    acls, consumers, containers, metadata, orders, quotas, secrets, stores, versions,
};
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Coffer",
        description = "A secret-management service speaking the OpenStack Key Manager (Barbican) v1 API.\n\n\
            Identity: with `auth.mode = \"trusted_headers\"` (the default) send `X-Project-Id` \
            (and optionally `X-Roles`, `X-User-Id`); with `auth.mode = \"keystone\"` send a \
            Keystone token in `X-Auth-Token`. In the console, set them once with **Authorize**.",
        license(name = "Apache-2.0"),
    ),
    modifiers(&Console),
    paths(
        versions::root,
        versions::v1,
        secrets::create,
        secrets::list,
        secrets::get,
        secrets::payload,
        secrets::put_payload,
        secrets::delete,
        metadata::get_all,
        metadata::put_all,
        metadata::post_one,
        metadata::get_one,
        metadata::put_one,
        metadata::delete_one,
        acls::secret_get,
        acls::secret_put,
        acls::secret_patch,
        acls::secret_delete,
        acls::container_get,
        acls::container_put,
        acls::container_patch,
        acls::container_delete,
        consumers::secret_add,
        consumers::secret_list,
        consumers::secret_remove,
        containers::create,
        containers::list,
        containers::get,
        containers::delete,
        containers::add_secret,
        containers::remove_secret,
        consumers::container_add,
        consumers::container_list,
        consumers::container_remove,
        orders::create,
        orders::list,
        orders::update,
        orders::get,
        orders::delete,
        quotas::effective,
        quotas::list,
        quotas::get,
        quotas::put,
        quotas::delete,
        stores::list,
        stores::global_default,
        stores::preferred,
        stores::get,
        stores::set_preferred,
        stores::clear_preferred,
        stores::transport_keys,
        stores::transport_key,
    ),
    components(schemas(
        ErrorBody,
        secrets::request::NewSecretDoc,
        containers::request::NewContainerDoc,
        orders::request::NewOrderDoc,
        orders::request::NewOrderMetaDoc,
        KeystoneErrorDoc,
        KeystoneErrorDetailDoc,
        secrets::view::SecretView,
        secrets::view::SecretList,
        secrets::view::SecretRefBody,
        secrets::view::ContentTypes,
        secrets::view::SecretConsumerRef,
        containers::view::ContainerView,
        containers::view::ContainerList,
        containers::view::ContainerRefBody,
        containers::view::ContainerSecretRef,
        containers::view::ContainerConsumerRef,
        consumers::view::ContainerConsumerView,
        consumers::view::SecretConsumerView,
        acls::view::AclView,
        acls::view::AclEntry,
        acls::view::AclRefBody,
        orders::view::OrderDoc,
        orders::view::OrderRefBody,
        stores::view::StoreView,
        stores::view::StoreList,
        quotas::view::QuotaBody,
        quotas::view::QuotasView,
        quotas::view::ProjectQuotasView,
        quotas::view::ProjectQuotasItem,
        quotas::view::ProjectQuotasList,
        stores::view::TransportKeyList,
        metadata::view::MetadataBody,
        metadata::view::MetadataRefBody,
        metadata::view::MetadatumBody,
        versions::VersionDoc,
        versions::VersionInfo,
        versions::Link,
        versions::MediaType,
    )),
    tags(
        (name = "versions", description = "Version discovery"),
        (name = "secrets", description = "Secrets and their payloads"),
        (name = "secret metadata", description = "User metadata of secrets"),
        (name = "acls", description = "Read ACLs of secrets and containers"),
        (name = "containers", description = "Groups of secret references"),
        (name = "consumers", description = "Services using secrets and containers"),
        (name = "orders", description = "Key and key-pair generation"),
        (name = "quotas", description = "Per-project quotas"),
        (name = "secret stores", description = "Configured stores and per-project preference"),
    )
)]
pub struct ApiDoc;

/// keystonemiddleware's error body: a 401 with Keystone authentication (documentation form).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct KeystoneErrorDoc {
    error: KeystoneErrorDetailDoc,
}

/// The `error` of keystonemiddleware's body.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct KeystoneErrorDetailDoc {
    code: u16,
    title: String,
    message: String,
}

/// The identity headers, one security scheme each: (scheme name = header, description).
const IDENTITY_HEADERS: [(&str, &str); 4] = [
    (
        "X-Project-Id",
        "`auth.mode = \"trusted_headers\"` (the default): the caller's project. Required in \
         that mode (401 without it).",
    ),
    (
        "X-Roles",
        "`trusted_headers`: the caller's roles, comma-separated, e.g. `creator` or \
         `key-manager:service-admin` (`admin` when absent).",
    ),
    (
        "X-User-Id",
        "`trusted_headers`: the caller's user (the `creator_id` of what it creates).",
    ),
    (
        "X-Auth-Token",
        "`auth.mode = \"keystone\"`: a Keystone token, validated against Keystone.",
    ),
];

/// The alternatives a request may authenticate with: the project header alone or with roles
/// and/or user (trusted headers), or a Keystone token.
const SECURITY_ALTERNATIVES: [&[&str]; 5] = [
    &["X-Project-Id"],
    &["X-Project-Id", "X-Roles"],
    &["X-Project-Id", "X-User-Id"],
    &["X-Project-Id", "X-Roles", "X-User-Id"],
    &["X-Auth-Token"],
];

/// What the annotations do not say per operation: security schemes and the global
/// requirement, the 401 of authenticated operations, and component examples.
struct Console;

impl Modify for Console {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (header, description) in IDENTITY_HEADERS {
            components.add_security_scheme(
                header,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    header,
                    description,
                ))),
            );
        }
        components.responses.insert(
            "Unauthorized".to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description(
                        "No identity: `X-Project-Id` missing (trusted headers), or no valid \
                         `X-Auth-Token` (Keystone, with `WWW-Authenticate`)",
                    )
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(
                                OneOfBuilder::new()
                                    .item(Ref::from_schema_name("ErrorBody"))
                                    .item(Ref::from_schema_name("KeystoneErrorDoc")),
                            ))
                            .examples_from_iter([
                                (
                                    "trusted_headers",
                                    ExampleBuilder::new()
                                        .summary("trusted headers")
                                        .value(Some(unauthorized_examples().0)),
                                ),
                                (
                                    "keystone",
                                    ExampleBuilder::new()
                                        .summary("Keystone")
                                        .value(Some(unauthorized_examples().1)),
                                ),
                            ])
                            .build(),
                    )
                    .build(),
            ),
        );
        for (name, example) in schema_examples() {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                object.examples = vec![example];
            }
        }

        openapi.security = Some(
            SECURITY_ALTERNATIVES
                .iter()
                .map(|names| {
                    names.iter().fold(SecurityRequirement::default(), |r, n| {
                        r.add(*n, Vec::<String>::new())
                    })
                })
                .collect(),
        );
        // An operation without its own `security` is authenticated (the global requirement);
        // `GET /` says `security(())`.
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                if op.security.is_none() {
                    op.responses
                        .responses
                        .entry("401".to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Unauthorized")));
                }
            }
        }
    }
}

/// Every operation of a path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

const HREF: &str = "http://127.0.0.1:9311";
const SECRET_ID: &str = "f543e732-336f-4a85-8258-61feed491453";
const KEY_SECRET_ID: &str = "0c6f071c-85b1-4e93-b465-91105453145c";
const CONTAINER_ID: &str = "b8d85b0d-1f94-4a9e-b4b8-82e6853397e3";
const ORDER_ID: &str = "f0daa1b4-6fca-458c-a32d-9a9dec104208";
const STORE_ID: &str = "9c2b5e8a-4d1f-4b7e-a3c6-2f8d0e1b7a54";
const PROJECT_ID: &str = "7a1c2f9e0b4d4c3e8f5a6b7c8d9e0f1a";
const USER_ID: &str = "3a5e6b2f0c9d4e1f8a7b6c5d4e3f2a1b";
const OTHER_USER_ID: &str = "c4f2a1b3d5e64789a0b1c2d3e4f5a6b7";
const CREATED: &str = "2026-03-02T09:41:07.512394";

/// The 401 bodies: (trusted headers, Keystone).
fn unauthorized_examples() -> (Value, Value) {
    (
        json!({"code": 401, "title": "Unauthorized", "description": "Missing X-Project-Id"}),
        json!({"error": {"code": 401, "title": "Unauthorized",
                         "message": "The request you have made requires authentication."}}),
    )
}

/// An example of each component schema, as Coffer answers (refs on `127.0.0.1:9311`).
fn schema_examples() -> Vec<(&'static str, Value)> {
    let secret_ref = format!("{HREF}/v1/secrets/{SECRET_ID}");
    let container_ref = format!("{HREF}/v1/containers/{CONTAINER_ID}");
    let secret = json!({
        "created": CREATED, "updated": CREATED, "status": "ACTIVE",
        "name": "db-password", "secret_type": "passphrase", "expiration": null,
        "algorithm": null, "bit_length": null, "mode": null, "creator_id": USER_ID,
        "content_types": {"default": "text/plain"}, "secret_ref": secret_ref,
    });
    let secret_consumer = json!({
        "service": "nova", "resource_type": "instance",
        "resource_id": "5f7c3d2e-1a4b-4c6d-8e9f-0a1b2c3d4e5f",
    });
    let container_consumer = json!({
        "name": "octavia", "URL": "http://198.51.100.7:9876/v2/lbaas/listeners/4d1e2f3a",
    });
    let container = json!({
        "created": CREATED, "updated": CREATED, "status": "ACTIVE",
        "name": "db-credentials", "type": "generic", "creator_id": USER_ID,
        "secret_refs": [{"name": "password", "secret_ref": secret_ref}],
        "consumers": [container_consumer], "container_ref": container_ref,
    });
    let acl_entry = json!({
        "project-access": false, "users": [OTHER_USER_ID],
        "created": CREATED, "updated": CREATED,
    });
    let order_meta = json!({
        "name": "backup-key", "algorithm": "aes", "bit_length": 256, "mode": "cbc",
        "payload_content_type": "application/octet-stream",
    });
    let quotas =
        json!({"secrets": 500, "orders": 100, "containers": 100, "consumers": -1, "cas": 0});
    let store = json!({
        "created": CREATED, "updated": CREATED, "status": "ACTIVE",
        "crypto_plugin": "simple_crypto", "global_default": true, "name": "software",
        "secret_store_plugin": "store_crypto",
        "secret_store_ref": format!("{HREF}/v1/secret-stores/{STORE_ID}"),
        "store_plugin_status": "stable", "crypto_plugin_status": "stable",
    });
    let links = json!([
        {"rel": "self", "href": format!("{HREF}/v1/")},
        {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
    ]);
    let media_type = json!({
        "base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json",
    });
    let version = json!({
        "id": "v1", "status": "stable", "links": links, "media-types": [media_type],
    });
    vec![
        (
            "ErrorBody",
            json!({"code": 404, "title": "Not Found", "description": "Secret not found."}),
        ),
        ("KeystoneErrorDoc", unauthorized_examples().1),
        (
            "KeystoneErrorDetailDoc",
            unauthorized_examples().1["error"].clone(),
        ),
        (
            "NewSecretDoc",
            json!({
                "name": "db-password", "secret_type": "passphrase",
                "payload": "correct horse battery staple", "payload_content_type": "text/plain",
            }),
        ),
        ("SecretView", secret.clone()),
        ("SecretList", json!({"secrets": [secret], "total": 1})),
        ("SecretRefBody", json!({"secret_ref": secret_ref})),
        ("ContentTypes", json!({"default": "text/plain"})),
        ("SecretConsumerRef", secret_consumer.clone()),
        ("ContainerView", container.clone()),
        (
            "NewContainerDoc",
            json!({
                "name": "db-credentials", "type": "generic",
                "secret_refs": [{"name": "password", "secret_ref": secret_ref}],
            }),
        ),
        (
            "ContainerList",
            json!({"containers": [container], "total": 1}),
        ),
        ("ContainerRefBody", json!({"container_ref": container_ref})),
        (
            "ContainerSecretRef",
            json!({"name": "password", "secret_ref": secret_ref}),
        ),
        ("ContainerConsumerRef", container_consumer.clone()),
        (
            "ContainerConsumerView",
            json!({"created": CREATED, "updated": CREATED, "status": "ACTIVE",
                   "name": "octavia", "URL": container_consumer["URL"]}),
        ),
        (
            "ConsumerList_ContainerConsumerView",
            json!({"consumers": [{"created": CREATED, "updated": CREATED, "status": "ACTIVE",
                                  "name": "octavia", "URL": container_consumer["URL"]}],
                   "total": 1}),
        ),
        (
            "SecretConsumerView",
            json!({"created": CREATED, "updated": CREATED, "status": "ACTIVE",
                   "service": "nova", "resource_type": "instance",
                   "resource_id": secret_consumer["resource_id"]}),
        ),
        (
            "ConsumerList_SecretConsumerView",
            json!({"consumers": [{"created": CREATED, "updated": CREATED, "status": "ACTIVE",
                                  "service": "nova", "resource_type": "instance",
                                  "resource_id": secret_consumer["resource_id"]}],
                   "total": 1}),
        ),
        ("AclView", json!({"read": acl_entry})),
        ("AclEntry", acl_entry.clone()),
        (
            "AclRefBody",
            json!({"acl_ref": format!("{secret_ref}/acl")}),
        ),
        (
            "OrderDoc",
            json!({
                "created": CREATED, "updated": "2026-03-02T09:41:07.514922", "status": "ACTIVE",
                "type": "key",
                "meta": {"name": "backup-key", "algorithm": "aes", "bit_length": 256,
                         "mode": "cbc", "payload_content_type": "application/octet-stream",
                         "expiration": null},
                "sub_status": "Unknown", "sub_status_message": "Unknown", "creator_id": USER_ID,
                "secret_ref": format!("{HREF}/v1/secrets/{KEY_SECRET_ID}"),
                "order_ref": format!("{HREF}/v1/orders/{ORDER_ID}"),
            }),
        ),
        ("NewOrderDoc", json!({"type": "key", "meta": order_meta})),
        ("NewOrderMetaDoc", order_meta),
        (
            "OrderRefBody",
            json!({"order_ref": format!("{HREF}/v1/orders/{ORDER_ID}")}),
        ),
        ("StoreView", store.clone()),
        ("StoreList", json!({"secret_stores": [store]})),
        ("QuotaBody", quotas.clone()),
        (
            "QuotasView",
            json!({"quotas": {"secrets": -1, "orders": -1, "containers": -1,
                              "consumers": -1, "cas": -1}}),
        ),
        ("ProjectQuotasView", json!({"project_quotas": quotas})),
        (
            "ProjectQuotasItem",
            json!({"project_id": PROJECT_ID, "project_quotas": quotas}),
        ),
        (
            "ProjectQuotasList",
            json!({"project_quotas": [{"project_id": PROJECT_ID, "project_quotas": quotas}],
                   "total": 1}),
        ),
        (
            "TransportKeyList",
            json!({"transport_keys": [], "total": 0}),
        ),
        (
            "MetadataBody",
            json!({"metadata": {"environment": "production", "owner": "db-team"}}),
        ),
        (
            "MetadataRefBody",
            json!({"metadata_ref": format!("{secret_ref}/metadata")}),
        ),
        (
            "MetadatumBody",
            json!({"key": "environment", "value": "production"}),
        ),
        ("VersionDoc", json!({"version": version})),
        ("VersionInfo", version),
        (
            "Link",
            json!({"rel": "self", "href": format!("{HREF}/v1/")}),
        ),
        ("MediaType", media_type),
    ]
}

/// The document as pretty JSON with a trailing newline (the checked-in form).
pub fn json_text() -> String {
    let mut text = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

/// The browsable documentation (serves `/openapi.json` too).
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;
    use utoipa::OpenApi;

    use super::{schema_examples, ApiDoc, IDENTITY_HEADERS};

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).expect("the document is JSON")
    }

    /// (path, method, operation) of every operation.
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
        out
    }

    #[test]
    fn every_operation_id_is_unique() {
        let doc = document();
        let ops = operations(&doc);
        let mut seen = BTreeSet::new();
        for (path, method, op) in &ops {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            assert!(
                seen.insert(id.to_owned()),
                "operationId {id} twice ({method} {path})"
            );
        }
        assert_eq!(seen.len(), 52);
    }

    #[test]
    fn identity_headers_are_security_schemes_required_by_every_v1_operation() {
        let doc = document();
        let schemes = &doc["components"]["securitySchemes"];
        for (header, _) in IDENTITY_HEADERS {
            assert_eq!(schemes[header]["type"], "apiKey");
            assert_eq!(schemes[header]["in"], "header");
            assert_eq!(schemes[header]["name"], header);
        }
        let global = doc["security"].as_array().expect("a global requirement");
        assert!(global.contains(&serde_json::json!({"X-Project-Id": []})));
        assert!(global.contains(&serde_json::json!({"X-Auth-Token": []})));
        for (path, method, op) in operations(&doc) {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in &params {
                let name = p["name"].as_str().unwrap_or_default();
                assert!(
                    !IDENTITY_HEADERS
                        .iter()
                        .any(|(h, _)| h.eq_ignore_ascii_case(name)),
                    "{method} {path} declares {name} as a parameter: it is a security scheme"
                );
            }
            if path == "/" {
                // Version discovery needs no identity.
                assert_eq!(op["security"], serde_json::json!([{}]));
                assert!(op["responses"].get("401").is_none());
            } else {
                assert!(op.get("security").is_none(), "{method} {path}");
                assert_eq!(
                    op["responses"]["401"]["$ref"], "#/components/responses/Unauthorized",
                    "{method} {path}"
                );
            }
        }
    }

    #[test]
    fn microversion_and_media_type_choices_are_declared_where_they_matter() {
        let doc = document();
        let has_version = |path: &str, method: &str| {
            doc["paths"][path][method]["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "OpenStack-API-Version"))
        };
        for (path, method) in [
            ("/", "get"),
            ("/v1", "get"),
            ("/v1/secrets", "get"),
            ("/v1/secrets/{secret_id}", "get"),
            ("/v1/secrets/{secret_id}", "delete"),
        ] {
            assert!(has_version(path, method), "{method} {path}");
        }
        // `Accept` is chosen through the responses' media types (a header parameter named
        // Accept is ignored by OpenAPI and by the console); text first, so the console asks
        // for text by default.
        let types = |path: &str| -> Vec<String> {
            doc["paths"][path]["get"]["responses"]["200"]["content"]
                .as_object()
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(
            types("/v1/secrets/{secret_id}/payload"),
            ["text/plain", "application/octet-stream"]
        );
        assert_eq!(
            types("/v1/secrets/{secret_id}"),
            ["application/json", "text/plain", "application/octet-stream"]
        );
    }

    #[test]
    fn every_error_response_has_an_example_with_its_own_code() {
        let doc = document();
        let mut checked = 0;
        for (path, method, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().expect("responses") {
                let json = &response["content"]["application/json"];
                if json["schema"]["$ref"] != "#/components/schemas/ErrorBody" {
                    continue;
                }
                let code: u16 = status.parse().expect("a numeric status");
                let example = &json["example"];
                let title = crate::error::title(
                    actix_web::http::StatusCode::from_u16(code).expect("a status"),
                );
                assert_eq!(example["code"], code, "{method} {path} {status}");
                assert_eq!(example["title"], title, "{method} {path} {status}");
                assert!(
                    example["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status}"
                );
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
        let unauthorized = &doc["components"]["responses"]["Unauthorized"]["content"];
        let examples = &unauthorized["application/json"]["examples"];
        assert_eq!(examples["trusted_headers"]["value"]["code"], 401);
        assert_eq!(examples["keystone"]["value"]["error"]["code"], 401);
    }

    #[test]
    fn every_component_schema_has_an_example() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let named: BTreeSet<&str> = schema_examples().iter().map(|(n, _)| *n).collect();
        for (name, schema) in schemas {
            assert!(named.contains(name.as_str()), "no example for {name}");
            assert_eq!(
                schema["examples"].as_array().map(Vec::len),
                Some(1),
                "{name}"
            );
        }
        for name in named {
            assert!(
                schemas.contains_key(name),
                "an example for no schema: {name}"
            );
        }
    }

    #[test]
    fn checked_in_document_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/coffer.json");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        let generated = super::json_text();
        if on_disk != generated {
            if std::env::var_os("COFFER_UPDATE_OPENAPI").is_some() {
                std::fs::write(path, &generated).expect("write openapi/coffer.json");
                return;
            }
            panic!(
                "openapi/coffer.json is out of date; regenerate it with \
                 `cargo run -q -- openapi > openapi/coffer.json` (or run this test with \
                 COFFER_UPDATE_OPENAPI=1)"
            );
        }
    }
}
