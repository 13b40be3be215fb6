//! Consumers: services registering their use of a secret (`service`, `resource_type`,
//! `resource_id`) or of a container (`name`, `URL`). Registration is idempotent.

use plugin_api::AuthContext;

use super::quotas::{over_quota, quota_reached, Resource};
use super::Services;
use crate::db::consumers::{self as consumer_db, ContainerConsumerRow, SecretConsumerRow};
use crate::db::containers::ContainerRow;
use crate::db::secrets::SecretRow;
use crate::db::DbError;
use crate::error::ApiError;
use crate::timefmt;

pub mod ops {
    pub const SECRET_LIST: &str = "SecretConsumers(s) retrieval";
    pub const SECRET_CREATE: &str = "SecretConsumer creation";
    pub const SECRET_DELETE: &str = "SecretConsumer deletion";
    pub const CONTAINER_LIST: &str = "ContainerConsumers(s) retrieval";
    pub const CONTAINER_CREATE: &str = "ContainerConsumer creation";
    pub const CONTAINER_DELETE: &str = "ContainerConsumer deletion";
}

fn not_found() -> ApiError {
    ApiError::not_found("Consumer not found.")
}

fn not_owner() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::FORBIDDEN,
        "Not Allowed. Sorry, only the creator of a consumer can delete it.",
    )
}

impl Services {
    pub fn register_secret_consumer(
        &self,
        caller: &AuthContext,
        secret: &SecretRow,
        service: &str,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<(), ApiError> {
        let now = timefmt::now();
        let row = SecretConsumerRow {
            id: uuid::Uuid::new_v4().to_string(),
            secret_id: secret.id.clone(),
            project_id: caller.project_id.clone(),
            service: service.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
            created_at: now,
            updated_at: now,
        };
        let defaults = self.quota_defaults;
        self.write_checked(
            ops::SECRET_CREATE,
            move |c| -> Result<Result<(), ApiError>, DbError> {
                if over_quota(c, &defaults, &row.project_id, Resource::SecretConsumers)? {
                    return Ok(Err(quota_reached(ops::SECRET_CREATE)));
                }
                consumer_db::upsert_secret_consumer(c, &row)?;
                Ok(Ok(()))
            },
        )
    }

    pub fn secret_consumers(
        &self,
        secret_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<SecretConsumerRow>, i64), ApiError> {
        let mut conn = self.conn(ops::SECRET_LIST)?;
        consumer_db::secret_consumers(&mut conn, secret_id, offset, limit)
            .map_err(|e| ApiError::from_db(ops::SECRET_LIST, e))
    }

    /// Every consumer of these secrets (for metadata with microversion 1.1+).
    pub fn consumers_of_secrets(
        &self,
        ids: &[String],
        operation: &str,
    ) -> Result<Vec<SecretConsumerRow>, ApiError> {
        let mut conn = self.conn(operation)?;
        consumer_db::secret_consumers_of(&mut conn, ids)
            .map_err(|e| ApiError::from_db(operation, e))
    }

    /// Remove a secret consumer: allowed to the consumer's project and the secret's.
    pub fn remove_secret_consumer(
        &self,
        caller: &AuthContext,
        secret: &SecretRow,
        service: &str,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<(), ApiError> {
        let op = ops::SECRET_DELETE;
        let mut conn = self.conn(op)?;
        let consumer = consumer_db::find_secret_consumer(
            &mut conn,
            &secret.id,
            service,
            resource_type,
            resource_id,
        )
        .map_err(|e| ApiError::from_db(op, e))?
        .ok_or_else(not_found)?;
        if consumer.project_id != caller.project_id && secret.project_id != caller.project_id {
            return Err(not_owner());
        }
        drop(conn);
        if !self.write(op, move |c| {
            consumer_db::delete_secret_consumer(c, &consumer.id)
        })? {
            return Err(not_found());
        }
        Ok(())
    }

    pub fn register_container_consumer(
        &self,
        caller: &AuthContext,
        container: &ContainerRow,
        name: &str,
        url: &str,
    ) -> Result<(), ApiError> {
        let now = timefmt::now();
        let row = ContainerConsumerRow {
            id: uuid::Uuid::new_v4().to_string(),
            container_id: container.id.clone(),
            project_id: caller.project_id.clone(),
            name: name.to_owned(),
            url: url.to_owned(),
            created_at: now,
            updated_at: now,
        };
        let defaults = self.quota_defaults;
        self.write_checked(
            ops::CONTAINER_CREATE,
            move |c| -> Result<Result<(), ApiError>, DbError> {
                if over_quota(c, &defaults, &row.project_id, Resource::ContainerConsumers)? {
                    return Ok(Err(quota_reached(ops::CONTAINER_CREATE)));
                }
                consumer_db::upsert_container_consumer(c, &row)?;
                Ok(Ok(()))
            },
        )
    }

    pub fn container_consumers(
        &self,
        container_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ContainerConsumerRow>, i64), ApiError> {
        let mut conn = self.conn(ops::CONTAINER_LIST)?;
        consumer_db::container_consumers(&mut conn, container_id, offset, limit)
            .map_err(|e| ApiError::from_db(ops::CONTAINER_LIST, e))
    }

    pub fn remove_container_consumer(
        &self,
        caller: &AuthContext,
        container: &ContainerRow,
        name: &str,
        url: &str,
    ) -> Result<(), ApiError> {
        let op = ops::CONTAINER_DELETE;
        let mut conn = self.conn(op)?;
        let consumer = consumer_db::find_container_consumer(&mut conn, &container.id, name, url)
            .map_err(|e| ApiError::from_db(op, e))?
            .ok_or_else(not_found)?;
        if consumer.project_id != caller.project_id && container.project_id != caller.project_id {
            return Err(not_owner());
        }
        drop(conn);
        if !self.write(op, move |c| {
            consumer_db::delete_container_consumer(c, &consumer.id)
        })? {
            return Err(not_found());
        }
        Ok(())
    }
}
