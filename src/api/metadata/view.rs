//! Secret-metadata response bodies: all of a secret's metadata, one key, and the ref a
//! replacement answers.

use serde::Serialize;
use utoipa::ToSchema;

use crate::api::secrets::view::secret_ref;

/// `{"metadata": {...}}`
#[derive(Serialize, ToSchema)]
pub struct MetadataBody {
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// `{"metadata_ref": ...}`
#[derive(Serialize, ToSchema)]
pub struct MetadataRefBody {
    pub metadata_ref: String,
}

/// `{"key": ..., "value": ...}`
#[derive(Serialize, ToSchema)]
pub struct MetadatumBody {
    pub key: String,
    pub value: String,
}

/// The ref of a secret's metadata.
pub fn metadata_ref(href: &str, secret_id: &str) -> String {
    format!("{}/metadata", secret_ref(href, secret_id))
}
