//! Response bodies, with Barbican's field names and key order.

use serde::Serialize;
use utoipa::ToSchema;

use crate::service::secrets::SecretRow;
use crate::timefmt::isoformat;

/// `{"default": "<content type>"}`
#[derive(Serialize, ToSchema)]
pub struct ContentTypes {
    pub default: String,
}

/// A secret consumer as listed in secret metadata (microversion 1.1).
#[derive(Serialize, ToSchema)]
pub struct SecretConsumerRef {
    pub service: String,
    pub resource_type: String,
    pub resource_id: String,
}

/// A secret's metadata.
#[derive(Serialize, ToSchema)]
pub struct SecretView {
    /// Creation time, naive UTC ISO-8601.
    pub created: String,
    pub updated: String,
    /// Always `ACTIVE`.
    pub status: String,
    pub name: Option<String>,
    pub secret_type: String,
    pub expiration: Option<String>,
    pub algorithm: Option<String>,
    pub bit_length: Option<i32>,
    pub mode: Option<String>,
    pub creator_id: Option<String>,
    /// Present with microversion 1.1 and later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumers: Option<Vec<SecretConsumerRef>>,
    /// Absent for a secret without payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_types: Option<ContentTypes>,
    pub secret_ref: String,
}

/// The content types Barbican advertises in `content_types`.
const CONTENT_TYPE_MAPPINGS: [&str; 4] = [
    "text/plain",
    "application/octet-stream",
    "application/pkcs8",
    "application/aes",
];

impl SecretView {
    /// The metadata of a secret; `consumers` (shown from microversion 1.1) are its consumers.
    pub fn new(row: &SecretRow, href: &str, consumers: Option<Vec<SecretConsumerRef>>) -> Self {
        SecretView {
            created: isoformat(&row.created_at),
            updated: isoformat(&row.updated_at),
            status: row.status.clone(),
            name: row.name.clone(),
            secret_type: row.secret_type.clone(),
            expiration: row.expiration.as_ref().map(isoformat),
            algorithm: row.algorithm.clone(),
            bit_length: row.bit_length,
            mode: row.mode.clone(),
            creator_id: row.creator_id.clone(),
            consumers,
            content_types: row
                .content_type
                .as_deref()
                .filter(|ct| row.has_payload() && CONTENT_TYPE_MAPPINGS.contains(ct))
                .map(|ct| ContentTypes {
                    default: ct.to_owned(),
                }),
            secret_ref: secret_ref(href, &row.id),
        }
    }
}

/// The ref of a secret.
pub fn secret_ref(href: &str, id: &str) -> String {
    format!("{href}/v1/secrets/{id}")
}

/// `{"secret_ref": ...}`
#[derive(Serialize, ToSchema)]
pub struct SecretRefBody {
    pub secret_ref: String,
}

/// A page of secrets.
#[derive(Serialize, ToSchema)]
pub struct SecretList {
    pub secrets: Vec<SecretView>,
    /// The previous page (absent on the first page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The next page (absent on the last page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub total: i64,
}

/// A reference to a secret inside a container.
#[derive(Serialize, ToSchema)]
pub struct ContainerSecretRef {
    pub name: Option<String>,
    pub secret_ref: String,
}

/// A container consumer as listed inside a container.
#[derive(Serialize, ToSchema)]
pub struct ContainerConsumerRef {
    pub name: String,
    #[serde(rename = "URL")]
    pub url: String,
}

/// A container.
#[derive(Serialize, ToSchema)]
pub struct ContainerView {
    pub created: String,
    pub updated: String,
    pub status: String,
    pub name: Option<String>,
    /// `generic`, `rsa` or `certificate`.
    #[serde(rename = "type")]
    pub container_type: String,
    pub creator_id: Option<String>,
    pub secret_refs: Vec<ContainerSecretRef>,
    pub consumers: Vec<ContainerConsumerRef>,
    pub container_ref: String,
}

impl ContainerView {
    pub fn new(c: &crate::service::containers::ContainerFull, href: &str) -> Self {
        ContainerView {
            created: isoformat(&c.row.created_at),
            updated: isoformat(&c.row.updated_at),
            status: c.row.status.clone(),
            name: c.row.name.clone(),
            container_type: c.row.container_type.clone(),
            creator_id: c.row.creator_id.clone(),
            secret_refs: c
                .refs
                .iter()
                .map(|r| ContainerSecretRef {
                    name: r.name.clone(),
                    secret_ref: secret_ref(href, &r.secret_id),
                })
                .collect(),
            consumers: c
                .consumers
                .iter()
                .map(|x| ContainerConsumerRef {
                    name: x.name.clone(),
                    url: x.url.clone(),
                })
                .collect(),
            container_ref: container_ref(href, &c.row.id),
        }
    }
}

/// The ref of a container.
pub fn container_ref(href: &str, id: &str) -> String {
    format!("{href}/v1/containers/{id}")
}

/// `{"container_ref": ...}`
#[derive(Serialize, ToSchema)]
pub struct ContainerRefBody {
    pub container_ref: String,
}

/// A page of containers.
#[derive(Serialize, ToSchema)]
pub struct ContainerList {
    pub containers: Vec<ContainerView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub total: i64,
}

/// A container consumer as listed by `GET .../consumers`.
#[derive(Serialize, ToSchema)]
pub struct ContainerConsumerView {
    pub created: String,
    pub updated: String,
    pub status: String,
    pub name: String,
    #[serde(rename = "URL")]
    pub url: String,
}

/// A secret consumer as listed by `GET .../consumers`.
#[derive(Serialize, ToSchema)]
pub struct SecretConsumerView {
    pub created: String,
    pub updated: String,
    pub status: String,
    pub service: String,
    pub resource_type: String,
    pub resource_id: String,
}

/// A page of consumers.
#[derive(Serialize, ToSchema)]
pub struct ConsumerList<T: Serialize> {
    pub consumers: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub total: i64,
}

impl From<&crate::service::consumers::ContainerConsumerRow> for ContainerConsumerView {
    fn from(r: &crate::service::consumers::ContainerConsumerRow) -> Self {
        ContainerConsumerView {
            created: isoformat(&r.created_at),
            updated: isoformat(&r.updated_at),
            status: "ACTIVE".into(),
            name: r.name.clone(),
            url: r.url.clone(),
        }
    }
}

impl From<&crate::service::consumers::SecretConsumerRow> for SecretConsumerView {
    fn from(r: &crate::service::consumers::SecretConsumerRow) -> Self {
        SecretConsumerView {
            created: isoformat(&r.created_at),
            updated: isoformat(&r.updated_at),
            status: "ACTIVE".into(),
            service: r.service.clone(),
            resource_type: r.resource_type.clone(),
            resource_id: r.resource_id.clone(),
        }
    }
}

impl From<&crate::service::consumers::SecretConsumerRow> for SecretConsumerRef {
    fn from(r: &crate::service::consumers::SecretConsumerRow) -> Self {
        SecretConsumerRef {
            service: r.service.clone(),
            resource_type: r.resource_type.clone(),
            resource_id: r.resource_id.clone(),
        }
    }
}

/// The `read` entry of an ACL.
#[derive(Serialize, ToSchema)]
pub struct AclEntry {
    #[serde(rename = "project-access")]
    pub project_access: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
}

/// An entity's ACL (the implicit `{"read": {"project-access": true}}` when it has none).
#[derive(Serialize, ToSchema)]
pub struct AclView {
    pub read: AclEntry,
}

impl AclView {
    pub fn new(acl: Option<&crate::model::Acl>) -> Self {
        AclView {
            read: match acl {
                None => AclEntry {
                    project_access: true,
                    users: None,
                    created: None,
                    updated: None,
                },
                Some(a) => AclEntry {
                    project_access: a.project_access,
                    users: Some(a.users.clone()),
                    created: Some(isoformat(&a.created_at)),
                    updated: Some(isoformat(&a.updated_at)),
                },
            },
        }
    }
}

/// `{"acl_ref": ...}`
#[derive(Serialize, ToSchema)]
pub struct AclRefBody {
    pub acl_ref: String,
}

/// An order, with Barbican's key order (which depends on what the order has).
pub fn order_view(o: &crate::service::orders::OrderRow, href: &str) -> serde_json::Value {
    use serde_json::{Map, Value};
    let mut m = Map::new();
    m.insert("created".into(), Value::String(isoformat(&o.created_at)));
    m.insert("updated".into(), Value::String(isoformat(&o.updated_at)));
    m.insert("status".into(), Value::String(o.status.clone()));
    m.insert("type".into(), Value::String(o.order_type.clone()));
    m.insert(
        "meta".into(),
        serde_json::from_str(&o.meta).unwrap_or(Value::Object(Map::new())),
    );
    if let Some(code) = o.error_status_code {
        // A string, as Barbican shows it (its column is a VARCHAR).
        m.insert("error_status_code".into(), Value::String(code.to_string()));
    }
    if let Some(reason) = &o.error_reason {
        m.insert("error_reason".into(), Value::String(reason.clone()));
    }
    if let Some(s) = &o.sub_status {
        m.insert("sub_status".into(), Value::String(s.clone()));
    }
    if let Some(s) = &o.sub_status_message {
        m.insert("sub_status_message".into(), Value::String(s.clone()));
    }
    if let Some(c) = &o.creator_id {
        m.insert("creator_id".into(), Value::String(c.clone()));
    }
    if let Some(s) = &o.secret_id {
        m.insert("secret_ref".into(), Value::String(secret_ref(href, s)));
    }
    m.insert("order_ref".into(), Value::String(order_ref(href, &o.id)));
    if let Some(c) = &o.container_id {
        m.insert(
            "container_ref".into(),
            Value::String(container_ref(href, c)),
        );
    }
    Value::Object(m)
}

/// The ref of an order.
pub fn order_ref(href: &str, id: &str) -> String {
    format!("{href}/v1/orders/{id}")
}

/// `{"order_ref": ...}`
#[derive(Serialize, ToSchema)]
pub struct OrderRefBody {
    pub order_ref: String,
}

/// An order (documentation form; the body is built by `order_view`).
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub struct OrderDoc {
    pub created: String,
    pub updated: String,
    /// `PENDING`, `ACTIVE` or `ERROR`.
    pub status: String,
    /// `key` or `asymmetric`.
    #[serde(rename = "type")]
    pub order_type: String,
    pub meta: serde_json::Value,
    /// ERROR orders: the failure's HTTP status, as a string (`"400"`), as Barbican shows it.
    pub error_status_code: Option<String>,
    pub error_reason: Option<String>,
    pub sub_status: String,
    pub sub_status_message: String,
    pub creator_id: Option<String>,
    /// Key orders, once ACTIVE.
    pub secret_ref: Option<String>,
    pub order_ref: String,
    /// Asymmetric orders, once ACTIVE.
    pub container_ref: Option<String>,
}

/// A configured secret store.
#[derive(Serialize, ToSchema)]
pub struct StoreView {
    pub created: String,
    pub updated: String,
    pub status: String,
    pub crypto_plugin: Option<String>,
    pub global_default: bool,
    pub name: String,
    pub secret_store_plugin: String,
    pub secret_store_ref: String,
    /// Coffer extension: the store plugin's status (`stable`, `experimental`, `out-of-tree`).
    pub store_plugin_status: Option<String>,
    /// Coffer extension: the crypto plugin's status.
    pub crypto_plugin_status: Option<String>,
}

impl StoreView {
    pub fn new(s: &crate::service::stores::StoreInfo<'_>, href: &str) -> Self {
        StoreView {
            created: isoformat(&s.row.created_at),
            updated: isoformat(&s.row.updated_at),
            status: "ACTIVE".into(),
            crypto_plugin: s.row.crypto_plugin.clone(),
            global_default: s.row.global_default,
            name: s.row.name.clone(),
            secret_store_plugin: s.row.store_plugin.clone(),
            secret_store_ref: format!("{href}/v1/secret-stores/{}", s.row.id),
            store_plugin_status: s.loaded.map(|l| l.store_plugin.status.as_str().to_owned()),
            crypto_plugin_status: s
                .loaded
                .and_then(|l| l.crypto_plugin)
                .map(|d| d.status.as_str().to_owned()),
        }
    }
}

/// `{"secret_stores": [...]}`
#[derive(Serialize, ToSchema)]
pub struct StoreList {
    pub secret_stores: Vec<StoreView>,
}

/// Quota values (`null` where unset).
#[derive(Serialize, ToSchema)]
pub struct QuotaBody {
    pub secrets: Option<i32>,
    pub orders: Option<i32>,
    pub containers: Option<i32>,
    pub consumers: Option<i32>,
    pub cas: Option<i32>,
}

impl From<crate::service::quotas::QuotaValues> for QuotaBody {
    fn from(q: crate::service::quotas::QuotaValues) -> Self {
        QuotaBody {
            secrets: q.secrets,
            orders: q.orders,
            containers: q.containers,
            consumers: q.consumers,
            cas: q.cas,
        }
    }
}

/// `{"quotas": {...}}`: the caller's effective quotas.
#[derive(Serialize, ToSchema)]
pub struct QuotasView {
    pub quotas: QuotaBody,
}

/// `{"project_quotas": {...}}`
#[derive(Serialize, ToSchema)]
pub struct ProjectQuotasView {
    pub project_quotas: QuotaBody,
}

/// One project's overrides in the list.
#[derive(Serialize, ToSchema)]
pub struct ProjectQuotasItem {
    pub project_id: String,
    pub project_quotas: QuotaBody,
}

/// A page of project quotas.
#[derive(Serialize, ToSchema)]
pub struct ProjectQuotasList {
    pub project_quotas: Vec<ProjectQuotasItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub total: i64,
}

/// `{"transport_keys": [], "total": 0}`
#[derive(Serialize, ToSchema)]
pub struct TransportKeyList {
    pub transport_keys: Vec<String>,
    pub total: i64,
}
