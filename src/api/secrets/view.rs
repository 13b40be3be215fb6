//! Secret response bodies, with Barbican's field names and key order: a secret's metadata,
//! a page of secrets, the ref a create answers, and secret refs.

use serde::Serialize;
use utoipa::ToSchema;

use crate::service::consumers::SecretConsumerRow;
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

impl From<&SecretConsumerRow> for SecretConsumerRef {
    fn from(r: &SecretConsumerRow) -> Self {
        SecretConsumerRef {
            service: r.service.clone(),
            resource_type: r.resource_type.clone(),
            resource_id: r.resource_id.clone(),
        }
    }
}
