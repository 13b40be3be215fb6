//! Secret-store response bodies: a configured store (with Coffer's plugin-status fields), the
//! list of stores, and the (always empty) list of transport keys.

use serde::Serialize;
use utoipa::ToSchema;

use crate::service::stores::StoreInfo;
use crate::timefmt::isoformat;

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
    pub fn new(s: &StoreInfo<'_>, href: &str) -> Self {
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

/// `{"transport_keys": [], "total": 0}`
#[derive(Serialize, ToSchema)]
pub struct TransportKeyList {
    pub transport_keys: Vec<String>,
    pub total: i64,
}
