//! Core services: what the API does, independent of HTTP. Every method here is blocking
//! (database and plugin calls); the API layer runs them on the blocking pool.

pub mod acls;
pub mod consumers;
pub mod containers;
mod error;
pub mod keks;
pub mod metadata;
pub mod orders;
pub mod quotas;
pub mod secrets;
pub mod stores;

use std::sync::Arc;

use plugin_api::AuthContext;

use crate::config::QuotaSettings;
use crate::db::{Conn, Db};
use crate::plugins::{LoadedStore, Plugins};
use crate::policy::{Policy, Target};
pub use error::{During, Operation, ServiceError};

/// Limits from `[secrets]`.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_payload_bytes: usize,
    pub default_limit_paging: i64,
    pub max_limit_paging: i64,
    /// `containers.max_secret_refs`.
    pub max_container_refs: usize,
}

/// Everything a request needs: the database, the loaded plugins, policy and shared caches.
pub struct Services {
    pub db: Db,
    pub plugins: Arc<Plugins>,
    pub keks: keks::KekCache,
    pub limits: Limits,
    pub policy: Policy,
    pub quota_defaults: QuotaSettings,
    pub store_directory: stores::StoreDirectory,
    pub order_queue: orders::OrderQueue,
}

impl Services {
    /// A pooled connection, or the error for `operation`.
    pub fn conn(&self, operation: Operation) -> Result<Conn, ServiceError> {
        self.db.conn().during(operation)
    }

    /// Run a write in the next group commit (durable when this returns).
    pub fn write<T, F>(&self, operation: Operation, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&mut crate::db::DbConn) -> Result<T, crate::db::DbError> + Send + 'static,
    {
        self.db.write(f).during(operation)
    }

    /// A write that may refuse (quota, missing references): `Ok(Err(..))` from `f` is that
    /// refusal, and nothing `f` wrote is kept.
    pub fn write_checked<T, F>(&self, operation: Operation, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&mut crate::db::DbConn) -> Result<Result<T, ServiceError>, crate::db::DbError>
            + Send
            + 'static,
    {
        self.write(operation, f)?
    }

    /// Check `action` on `target`; 403 with Barbican's message for `operation` when refused.
    pub fn authorize(
        &self,
        caller: &AuthContext,
        action: &str,
        target: &Target,
        operation: Operation,
    ) -> Result<(), ServiceError> {
        if self.policy.allows(action, caller, target) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(operation))
        }
    }

    /// Authorize a collection-level action (no target entity).
    pub fn authorize_collection(
        &self,
        caller: &AuthContext,
        action: &str,
        operation: Operation,
    ) -> Result<(), ServiceError> {
        self.authorize(caller, action, &Target::new(), operation)
    }

    /// A configured store by name; a secret whose store is no longer configured cannot be
    /// served, which is an operator error worth a clear log line.
    fn store(&self, operation: Operation, name: &str) -> Result<&Arc<LoadedStore>, ServiceError> {
        self.plugins.stores.get(name).ok_or_else(|| {
            ServiceError::internal(
                operation,
                format!("the secret is held by store '{name}', which is not configured any more"),
            )
        })
    }

    /// The KEK resolver plugins use for `project_id` in `store`.
    fn keks_for<'a>(&'a self, project_id: &'a str, store: &'a str) -> keks::CoreKeks<'a> {
        keks::CoreKeks {
            db: &self.db,
            cache: &self.keks,
            project_id,
            store_name: store,
        }
    }
}

/// Whether `id` is a canonical (lower-case, hyphenated) version-4 UUID, as Barbican requires
/// of the ids it generates.
pub fn is_uuid4(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok_and(|u| {
        u.get_version_num() == 4 && u.get_variant() == uuid::Variant::RFC4122 && u.to_string() == id
    })
}

/// The longest project id Coffer accepts (Barbican's `projects.external_id` is a
/// `String(255)`; both databases index it).
pub const MAX_PROJECT_ID: usize = 255;

/// Whether `id` can be a project id: 1 to [`MAX_PROJECT_ID`] bytes, no control character
/// (NUL included), no surrounding whitespace.
pub fn is_project_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_PROJECT_ID
        && id.trim() == id
        && !id.chars().any(char::is_control)
}

/// The id at the end of a ref (`.../v1/secrets/<id>`, tolerating a trailing slash).
pub fn id_from_ref(reference: &str) -> &str {
    reference
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid4_check_matches_barbican() {
        assert!(is_uuid4("d2b7e1ad-4d33-4c3b-9c6f-2b8f5b1d8e9a"));
        assert!(!is_uuid4("D2B7E1AD-4D33-4C3B-9C6F-2B8F5B1D8E9A"));
        assert!(!is_uuid4("00000000-0000-0000-0000-000000000000"));
        assert!(
            !is_uuid4("d2b7e1ad-4d33-1c3b-9c6f-2b8f5b1d8e9a"),
            "version 1"
        );
        assert!(
            !is_uuid4("d2b7e1ad-4d33-4c3b-2c6f-2b8f5b1d8e9a"),
            "bad variant"
        );
        assert!(!is_uuid4("d2b7e1ad4d334c3b9c6f2b8f5b1d8e9a"));
        assert!(!is_uuid4("not-a-uuid"));
    }

    #[test]
    fn ids_from_refs() {
        assert_eq!(id_from_ref("http://h/v1/secrets/abc"), "abc");
        assert_eq!(id_from_ref("http://h/v1/secrets/abc/"), "abc");
        assert_eq!(id_from_ref("abc"), "abc");
    }
}
