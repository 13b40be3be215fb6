//! ACL response bodies, with Barbican's field names: an entity's ACL (the implicit one when it
//! has none) and the ref a change answers.

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::Acl;
use crate::timefmt::isoformat;

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
    pub fn new(acl: Option<&Acl>) -> Self {
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
