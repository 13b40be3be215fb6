//! The OpenAPI document, generated from the handlers' annotations. `coffer openapi` prints it;
//! `openapi/coffer.json` is the checked-in copy (a test fails when they differ); the server
//! serves it at `/openapi.json` with a browsable UI at `/docs/index.html`.

use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{
    acls, consumers, containers, metadata, orders, quotas, secrets, stores, versions, views,
};
use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Coffer",
        description = "A secret-management service speaking the OpenStack Key Manager (Barbican) v1 API.",
        license(name = "Apache-2.0"),
    ),
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
        consumers::add,
        consumers::list,
        consumers::remove,
        containers::create,
        containers::list,
        containers::get,
        containers::delete,
        containers::add_secret,
        containers::remove_secret,
        containers::add_consumer,
        containers::list_consumers,
        containers::remove_consumer,
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
        secrets::NewSecretDoc,
        views::SecretView,
        views::SecretList,
        views::SecretRefBody,
        views::ContentTypes,
        views::SecretConsumerRef,
        views::ContainerView,
        views::ContainerList,
        views::ContainerRefBody,
        views::ContainerSecretRef,
        views::ContainerConsumerRef,
        views::ContainerConsumerView,
        views::SecretConsumerView,
        views::AclView,
        views::AclEntry,
        views::AclRefBody,
        views::OrderDoc,
        views::OrderRefBody,
        views::StoreView,
        views::StoreList,
        views::QuotaBody,
        views::QuotasView,
        views::ProjectQuotasView,
        views::ProjectQuotasItem,
        views::ProjectQuotasList,
        views::TransportKeyList,
        metadata::MetadataBody,
        metadata::MetadataRefBody,
        metadata::MetadatumBody,
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
