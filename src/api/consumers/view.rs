//! Consumer response bodies, with Barbican's field names and key order: a secret consumer and
//! a container consumer as listed, and a page of either.

use serde::Serialize;
use utoipa::ToSchema;

use crate::service::consumers::{ContainerConsumerRow, SecretConsumerRow};
use crate::timefmt::isoformat;

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

impl From<&ContainerConsumerRow> for ContainerConsumerView {
    fn from(r: &ContainerConsumerRow) -> Self {
        ContainerConsumerView {
            created: isoformat(&r.created_at),
            updated: isoformat(&r.updated_at),
            status: "ACTIVE".into(),
            name: r.name.clone(),
            url: r.url.clone(),
        }
    }
}

impl From<&SecretConsumerRow> for SecretConsumerView {
    fn from(r: &SecretConsumerRow) -> Self {
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
