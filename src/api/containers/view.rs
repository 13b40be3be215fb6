//! Container response bodies, with Barbican's field names and key order: a container (its
//! secret references and consumers), a page of containers, the ref a create answers.

use serde::Serialize;
use utoipa::ToSchema;

use crate::api::secrets::view::secret_ref;
use crate::service::containers::ContainerFull;
use crate::timefmt::isoformat;

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
    pub fn new(c: &ContainerFull, href: &str) -> Self {
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
