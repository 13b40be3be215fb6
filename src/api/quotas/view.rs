//! Quota response bodies: quota values (`null` where unset), the caller's effective quotas, a
//! project's overrides and a page of them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::service::quotas::QuotaValues;

/// Quota values (`null` where unset).
#[derive(Serialize, ToSchema)]
pub struct QuotaBody {
    pub secrets: Option<i32>,
    pub orders: Option<i32>,
    pub containers: Option<i32>,
    pub consumers: Option<i32>,
    pub cas: Option<i32>,
}

impl From<QuotaValues> for QuotaBody {
    fn from(q: QuotaValues) -> Self {
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
