//! Containers: groups of secret references (`generic`, `rsa`, `certificate`).

use plugin_api::AuthContext;

use super::acls::read_acl;
use super::quotas::{over_quota, Resource};
use super::{is_uuid4, Services};
use super::{During, Operation, ServiceError};
use crate::db::consumers::{self as consumer_db, ContainerConsumerRow};
use crate::db::containers as container_db;
pub use crate::db::containers::ContainerRow;
use crate::db::{secrets as secret_db, DbConn, DbError};
use crate::model::SecretRef;
use crate::policy::{entity_target, Entity, Target};
use crate::timefmt;

pub mod ops {
    pub const CREATE: &str = "Container creation";
    pub const LIST: &str = "Containers(s) retrieval";
    pub const GET: &str = "Container retrieval";
    pub const DELETE: &str = "Container deletion";
    pub const ADD_SECRET: &str = "Container Secret creation";
    pub const REMOVE_SECRET: &str = "Container Secret deletion";
}

/// A container with its secret references and consumers.
#[derive(Debug, Clone)]
pub struct ContainerFull {
    pub row: ContainerRow,
    pub refs: Vec<SecretRef>,
    pub consumers: Vec<ContainerConsumerRow>,
}

/// A validated new container.
pub struct NewContainer {
    pub name: Option<String>,
    pub container_type: String,
    pub refs: Vec<SecretRef>,
}

/// The policy target of a container: its project, creator and read ACL.
pub fn container_target(row: &ContainerRow, caller: &AuthContext) -> Target {
    entity_target(
        Entity::Container,
        &row.project_id,
        row.creator_id.as_deref(),
        &read_acl(row.acl().as_ref()),
        caller,
    )
}

/// Attach references and consumers to container rows (two queries for any number of rows).
fn complete(conn: &mut DbConn, rows: Vec<ContainerRow>) -> Result<Vec<ContainerFull>, DbError> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let refs = container_db::refs_of(conn, &ids)?;
    let consumers = consumer_db::container_consumers_of(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|row| ContainerFull {
            refs: refs
                .iter()
                .filter(|(c, _)| *c == row.id)
                .map(|(_, r)| r.clone())
                .collect(),
            consumers: consumers
                .iter()
                .filter(|c| c.container_id == row.id)
                .cloned()
                .collect(),
            row,
        })
        .collect())
}

/// Whether a live secret with this id belongs to `project_id`.
fn secret_in_project(
    conn: &mut DbConn,
    secret_id: &str,
    project_id: &str,
) -> Result<bool, DbError> {
    Ok(is_uuid4(secret_id)
        && secret_db::get_live(conn, secret_id, timefmt::now())?
            .is_some_and(|s| s.project_id == project_id))
}

/// A container may not hold more than `max` references.
pub fn too_many_refs(max: usize) -> ServiceError {
    ServiceError::Invalid(format!(
        "A container holds at most {max} secret references (containers.max_secret_refs)."
    ))
}

/// The 404 for the first reference that is not a live secret of `project_id` (one query).
fn missing_ref(
    conn: &mut DbConn,
    refs: &[SecretRef],
    project_id: &str,
) -> Result<Option<ServiceError>, DbError> {
    let ids: Vec<&str> = refs
        .iter()
        .map(|r| r.secret_id.as_str())
        .filter(|id| is_uuid4(id))
        .collect();
    let live = secret_db::live_in_project(conn, &ids, project_id, timefmt::now())?;
    Ok(refs.iter().find(|r| !live.contains(&r.secret_id)).map(|r| {
        ServiceError::not_found(format!(
            "Secret provided for '{}' doesn't exist.",
            r.name.as_deref().unwrap_or("None")
        ))
    }))
}

/// Everything a container can do: create (its references checked against live secrets), find and
/// authorize, read with its references and consumers, list, delete, add or remove a secret
/// reference. Its ACL is [`super::acls::Acls`], its consumers [`super::consumers::Consumers`].
///
/// A view of [`Services`] (`services.containers()`): cheap to make, borrowed for one call.
#[derive(Clone, Copy)]
pub struct Containers<'a> {
    s: &'a Services,
}

impl Services {
    pub fn containers(&self) -> Containers<'_> {
        Containers { s: self }
    }
}

impl Containers<'_> {
    /// A container by id: 404 for malformed or unknown ids.
    pub fn find(&self, id: &str, operation: Operation) -> Result<ContainerRow, ServiceError> {
        if !is_uuid4(id) {
            return Err(ServiceError::not_found(
                "Not Found. Provided container id is invalid.",
            ));
        }
        let mut conn = self.s.conn(operation)?;
        container_db::get(&mut conn, id)
            .during(operation)?
            .ok_or_else(|| ServiceError::not_found("Secrets container not found."))
    }

    /// Look a container up and check `action` on it: 404 first, then 403.
    pub fn authorized(
        &self,
        caller: &AuthContext,
        id: &str,
        action: &str,
        operation: Operation,
    ) -> Result<ContainerRow, ServiceError> {
        let row = self.find(id, operation)?;
        self.s
            .authorize(caller, action, &container_target(&row, caller), operation)?;
        Ok(row)
    }

    /// A container's references and consumers.
    pub fn full(
        &self,
        row: ContainerRow,
        operation: Operation,
    ) -> Result<ContainerFull, ServiceError> {
        let mut conn = self.s.conn(operation)?;
        let mut all = complete(&mut conn, vec![row]).during(operation)?;
        all.pop()
            .ok_or_else(|| ServiceError::internal(operation, "container vanished"))
    }

    /// Create a container whose references all point at live secrets of the caller's project.
    pub fn create(
        &self,
        caller: &AuthContext,
        new: NewContainer,
    ) -> Result<ContainerRow, ServiceError> {
        let now = timefmt::now();
        let row = ContainerRow {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: caller.project_id.clone(),
            creator_id: caller.user_id.clone(),
            name: new.name,
            container_type: new.container_type,
            status: "ACTIVE".to_owned(),
            acl_project_access: None,
            acl_users: None,
            acl_created_at: None,
            acl_updated_at: None,
            created_at: now,
            updated_at: now,
        };
        let defaults = self.s.quota_defaults;
        let refs = new.refs;
        // The references are looked up in one query before the write (which, on SQLite, holds
        // the single writer), and once more inside it in one query, for a secret deleted
        // meanwhile.
        {
            let mut conn = self.s.conn(ops::CREATE)?;
            missing_ref(&mut conn, &refs, &row.project_id)
                .during(ops::CREATE)?
                .map_or(Ok(()), Err)?;
        }
        let inserted = row.clone();
        self.s.write_checked(
            ops::CREATE,
            move |c| -> Result<Result<(), ServiceError>, DbError> {
                if over_quota(c, &defaults, &row.project_id, Resource::Containers)? {
                    return Ok(Err(ServiceError::QuotaReached(ops::CREATE)));
                }
                if let Some(missing) = missing_ref(c, &refs, &row.project_id)? {
                    return Ok(Err(missing));
                }
                container_db::insert(c, &row, &refs)?;
                Ok(Ok(()))
            },
        )?;
        Ok(inserted)
    }

    /// A page of the caller's project's containers.
    pub fn list(
        &self,
        project_id: &str,
        name: Option<&str>,
        container_type: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ContainerFull>, i64), ServiceError> {
        let mut conn = self.s.conn(ops::LIST)?;
        let (rows, total) =
            container_db::list(&mut conn, project_id, name, container_type, offset, limit)
                .during(ops::LIST)?;
        let full = complete(&mut conn, rows).during(ops::LIST)?;
        Ok((full, total))
    }

    pub fn delete(&self, id: &str) -> Result<(), ServiceError> {
        let id = id.to_owned();
        if self
            .s
            .write(ops::DELETE, move |c| container_db::delete(c, &id))?
        {
            Ok(())
        } else {
            Err(ServiceError::not_found("Secrets container not found."))
        }
    }

    /// Add a reference to a generic container.
    pub fn add_secret(
        &self,
        caller: &AuthContext,
        container: &ContainerRow,
        r: SecretRef,
    ) -> Result<(), ServiceError> {
        let project = caller.project_id.clone();
        let container_id = container.id.clone();
        let max_refs = self.s.limits.max_container_refs;
        self.s.write_checked(
            ops::ADD_SECRET,
            move |c| -> Result<Result<(), ServiceError>, DbError> {
                if !secret_in_project(c, &r.secret_id, &project)? {
                    return Ok(Err(ServiceError::not_found(
                        "Secret provided doesn't exist.",
                    )));
                }
                let existing = container_db::refs_of(c, std::slice::from_ref(&container_id))?;
                if existing.len() >= max_refs {
                    return Ok(Err(too_many_refs(max_refs)));
                }
                if existing
                    .iter()
                    .any(|(_, e)| e.secret_id == r.secret_id && e.name == r.name)
                {
                    return Ok(Err(ServiceError::Conflict(
                    "Conflict. A secret with that name and ID is already stored in this container. \
                     The same secret can exist in a container as long as the name is unique.",
                )));
                }
                container_db::add_ref(c, &container_id, &r, timefmt::now())?;
                Ok(Ok(()))
            },
        )
    }

    /// Remove a reference from a container.
    pub fn remove_secret(
        &self,
        caller: &AuthContext,
        container: &ContainerRow,
        r: SecretRef,
        secret_ref: &str,
    ) -> Result<(), ServiceError> {
        let mut conn = self.s.conn(ops::REMOVE_SECRET)?;
        if !secret_in_project(&mut conn, &r.secret_id, &caller.project_id)
            .during(ops::REMOVE_SECRET)?
        {
            return Err(ServiceError::not_found(format!(
                "Secret '{}' with reference '{secret_ref}' doesn't exist.",
                r.name.as_deref().unwrap_or("None")
            )));
        }
        drop(conn);
        let container_id = container.id.clone();
        let removed = self.s.write(ops::REMOVE_SECRET, move |c| {
            container_db::remove_ref(c, &container_id, &r, timefmt::now())
        })?;
        if removed == 0 {
            return Err(ServiceError::not_found(
                "Secret provided is not in the container",
            ));
        }
        Ok(())
    }
}
