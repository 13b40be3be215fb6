//! Consumers: services registering their use of a secret (`service`, `resource_type`,
//! `resource_id`) or of a container (`name`, `URL`). Registration is idempotent.

use plugin_api::AuthContext;

use super::quotas::{over_quota, Resource};
use super::Services;
use super::{During, Operation, ServiceError};
use crate::db::consumers as consumer_db;
pub use crate::db::consumers::{ContainerConsumerRow, SecretConsumerRow};
use crate::db::containers::ContainerRow;
use crate::db::secrets::SecretRow;
use crate::db::{DbConn, DbError};
use crate::timefmt;

pub mod ops {
    pub const SECRET_LIST: &str = "SecretConsumers(s) retrieval";
    pub const SECRET_CREATE: &str = "SecretConsumer creation";
    pub const SECRET_DELETE: &str = "SecretConsumer deletion";
    pub const CONTAINER_LIST: &str = "ContainerConsumers(s) retrieval";
    pub const CONTAINER_CREATE: &str = "ContainerConsumer creation";
    pub const CONTAINER_DELETE: &str = "ContainerConsumer deletion";
}

fn not_found() -> ServiceError {
    ServiceError::not_found("Consumer not found.")
}

fn not_owner() -> ServiceError {
    ServiceError::NotAllowed("Not Allowed. Sorry, only the creator of a consumer can delete it.")
}

/// What differs between the consumers of a secret and those of a container; registering and
/// removing are written once, over this.
trait ConsumerKind {
    type Row: Send + 'static;
    const CREATE: &'static str;
    const DELETE: &'static str;
    const QUOTA: Resource;
    fn project(row: &Self::Row) -> &str;
    fn id(row: &Self::Row) -> &str;
    fn upsert(conn: &mut DbConn, row: &Self::Row) -> Result<(), DbError>;
    fn delete(conn: &mut DbConn, id: &str) -> Result<bool, DbError>;
}

struct OfSecret;

impl ConsumerKind for OfSecret {
    type Row = SecretConsumerRow;
    const CREATE: &'static str = ops::SECRET_CREATE;
    const DELETE: &'static str = ops::SECRET_DELETE;
    const QUOTA: Resource = Resource::SecretConsumers;
    fn project(row: &SecretConsumerRow) -> &str {
        &row.project_id
    }
    fn id(row: &SecretConsumerRow) -> &str {
        &row.id
    }
    fn upsert(conn: &mut DbConn, row: &SecretConsumerRow) -> Result<(), DbError> {
        consumer_db::upsert_secret_consumer(conn, row)
    }
    fn delete(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
        consumer_db::delete_secret_consumer(conn, id)
    }
}

struct OfContainer;

impl ConsumerKind for OfContainer {
    type Row = ContainerConsumerRow;
    const CREATE: &'static str = ops::CONTAINER_CREATE;
    const DELETE: &'static str = ops::CONTAINER_DELETE;
    const QUOTA: Resource = Resource::ContainerConsumers;
    fn project(row: &ContainerConsumerRow) -> &str {
        &row.project_id
    }
    fn id(row: &ContainerConsumerRow) -> &str {
        &row.id
    }
    fn upsert(conn: &mut DbConn, row: &ContainerConsumerRow) -> Result<(), DbError> {
        consumer_db::upsert_container_consumer(conn, row)
    }
    fn delete(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
        consumer_db::delete_container_consumer(conn, id)
    }
}

/// Consumers of secrets and of containers: register (idempotent, within the quota), list, remove
/// (by their creator's project only).
///
/// A view of [`Services`] (`services.consumers()`): cheap to make, borrowed for one call.
#[derive(Clone, Copy)]
pub struct Consumers<'a> {
    s: &'a Services,
}

impl Services {
    pub fn consumers(&self) -> Consumers<'_> {
        Consumers { s: self }
    }
}

impl Consumers<'_> {
    /// Register (or refresh) a consumer, within the caller's project's consumer quota.
    fn register_consumer<K: ConsumerKind>(&self, row: K::Row) -> Result<(), ServiceError> {
        let defaults = self.s.quota_defaults;
        self.s.write_checked(
            K::CREATE,
            move |c| -> Result<Result<(), ServiceError>, DbError> {
                if over_quota(c, &defaults, K::project(&row), K::QUOTA)? {
                    return Ok(Err(ServiceError::QuotaReached(K::CREATE)));
                }
                K::upsert(c, &row)?;
                Ok(Ok(()))
            },
        )
    }

    /// Remove the consumer `found` (looked up by the caller, on a connection it has let go):
    /// allowed to the consumer's project and to the project owning what it consumes.
    fn remove_consumer<K: ConsumerKind>(
        &self,
        caller: &AuthContext,
        owner_project: &str,
        found: Result<Option<K::Row>, DbError>,
    ) -> Result<(), ServiceError> {
        let consumer = found.during(K::DELETE)?.ok_or_else(not_found)?;
        if K::project(&consumer) != caller.project_id && owner_project != caller.project_id {
            return Err(not_owner());
        }
        let id = K::id(&consumer).to_owned();
        if !self.s.write(K::DELETE, move |c| K::delete(c, &id))? {
            return Err(not_found());
        }
        Ok(())
    }

    pub fn register_for_secret(
        &self,
        caller: &AuthContext,
        secret: &SecretRow,
        service: &str,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<(), ServiceError> {
        let now = timefmt::now();
        self.register_consumer::<OfSecret>(SecretConsumerRow {
            id: uuid::Uuid::new_v4().to_string(),
            secret_id: secret.id.clone(),
            project_id: caller.project_id.clone(),
            service: service.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
            created_at: now,
            updated_at: now,
        })
    }

    pub fn of_secret(
        &self,
        secret_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<SecretConsumerRow>, i64), ServiceError> {
        let mut conn = self.s.conn(ops::SECRET_LIST)?;
        consumer_db::secret_consumers(&mut conn, secret_id, offset, limit).during(ops::SECRET_LIST)
    }

    /// Every consumer of these secrets (for metadata with microversion 1.1+).
    pub fn of_secrets(
        &self,
        ids: &[String],
        operation: Operation,
    ) -> Result<Vec<SecretConsumerRow>, ServiceError> {
        let mut conn = self.s.conn(operation)?;
        consumer_db::secret_consumers_of(&mut conn, ids).during(operation)
    }

    /// Remove a secret consumer: allowed to the consumer's project and the secret's.
    pub fn remove_from_secret(
        &self,
        caller: &AuthContext,
        secret: &SecretRow,
        service: &str,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<(), ServiceError> {
        let found = {
            let mut conn = self.s.conn(ops::SECRET_DELETE)?;
            consumer_db::find_secret_consumer(
                &mut conn,
                &secret.id,
                service,
                resource_type,
                resource_id,
            )
        };
        self.remove_consumer::<OfSecret>(caller, &secret.project_id, found)
    }

    pub fn register_for_container(
        &self,
        caller: &AuthContext,
        container: &ContainerRow,
        name: &str,
        url: &str,
    ) -> Result<(), ServiceError> {
        let now = timefmt::now();
        self.register_consumer::<OfContainer>(ContainerConsumerRow {
            id: uuid::Uuid::new_v4().to_string(),
            container_id: container.id.clone(),
            project_id: caller.project_id.clone(),
            name: name.to_owned(),
            url: url.to_owned(),
            created_at: now,
            updated_at: now,
        })
    }

    pub fn of_container(
        &self,
        container_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ContainerConsumerRow>, i64), ServiceError> {
        let mut conn = self.s.conn(ops::CONTAINER_LIST)?;
        consumer_db::container_consumers(&mut conn, container_id, offset, limit)
            .during(ops::CONTAINER_LIST)
    }

    /// Remove a container consumer: allowed to the consumer's project and the container's.
    pub fn remove_from_container(
        &self,
        caller: &AuthContext,
        container: &ContainerRow,
        name: &str,
        url: &str,
    ) -> Result<(), ServiceError> {
        let found = {
            let mut conn = self.s.conn(ops::CONTAINER_DELETE)?;
            consumer_db::find_container_consumer(&mut conn, &container.id, name, url)
        };
        self.remove_consumer::<OfContainer>(caller, &container.project_id, found)
    }
}
