//! Secrets: create (one step or metadata only), read metadata and payload, add a payload
//! (two-step), list, delete.

use chrono::NaiveDateTime;
use plugin_api::{
    AuthContext, KeySpec, SecretBytes, SecretDto, SecretType, StoreContext, StoreMetadata,
};

use super::acls::read_acl;
use super::quotas::{over_quota, Resource};
use super::{is_uuid4, Services};
use super::{During, Operation, ServiceError};
use crate::db::secrets as secret_db;
pub use crate::db::secrets::SecretRow;
use crate::db::{consumers as consumer_db, DbError};
use crate::model::SecretQuery;
use crate::policy::{entity_target, Entity, Target};
use crate::timefmt;

/// Operation names, as Barbican words them in error messages.
pub mod ops {
    pub const CREATE: &str = "Secret creation";
    pub const LIST: &str = "Secret(s) retrieval";
    pub const GET: &str = "Secret retrieval";
    pub const PAYLOAD: &str = "Secret payload retrieval";
    pub const UPDATE: &str = "Secret update";
    pub const DELETE: &str = "Secret deletion";
}

/// Content types a payload may be given as.
pub const SUPPORTED_CONTENT_TYPES: [&str; 5] = [
    "text/plain",
    "text/plain;charset=utf-8",
    "text/plain; charset=utf-8",
    "application/octet-stream",
    "application/pkcs8",
];

/// Whether a normalized content type is text (stored as UTF-8) rather than binary.
pub fn is_text(normalized: &str) -> bool {
    normalized == "text/plain"
}

/// A payload with its normalized content type.
pub struct Payload {
    pub bytes: SecretBytes,
    pub content_type: String,
}

/// A validated new secret.
pub struct NewSecret {
    pub name: Option<String>,
    pub secret_type: SecretType,
    pub algorithm: Option<String>,
    pub bit_length: Option<i32>,
    pub mode: Option<String>,
    pub expiration: Option<NaiveDateTime>,
    pub payload: Option<Payload>,
}

/// The key spec of a secret's fields.
pub fn key_spec(algorithm: Option<&str>, bit_length: Option<i32>, mode: Option<&str>) -> KeySpec {
    KeySpec {
        algorithm: algorithm.map(str::to_owned),
        bit_length: bit_length.and_then(|b| u32::try_from(b).ok()),
        mode: mode.map(str::to_owned),
        passphrase: None,
    }
}

fn secret_type_of(row: &SecretRow) -> SecretType {
    row.secret_type.parse().unwrap_or(SecretType::Opaque)
}

/// The policy target of a secret: its project, creator and read ACL.
pub fn secret_target(row: &SecretRow, caller: &AuthContext) -> Target {
    entity_target(
        Entity::Secret,
        &row.project_id,
        row.creator_id.as_deref(),
        &read_acl(row.acl().as_ref()),
        caller,
    )
}

/// A new secret row (no payload, no ACL yet).
pub fn new_row(
    id: String,
    project_id: &str,
    creator_id: Option<&str>,
    fields: &NewSecret,
    now: NaiveDateTime,
) -> SecretRow {
    SecretRow {
        id,
        project_id: project_id.to_owned(),
        creator_id: creator_id.map(str::to_owned),
        name: fields.name.clone(),
        secret_type: fields.secret_type.as_str().to_owned(),
        algorithm: fields.algorithm.clone(),
        bit_length: fields.bit_length,
        mode: fields.mode.clone(),
        expiration: fields.expiration,
        status: "ACTIVE".to_owned(),
        content_type: None,
        store_name: None,
        store_metadata: None,
        acl_project_access: None,
        acl_users: None,
        acl_created_at: None,
        acl_updated_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// Everything a secret can do: create (with its payload or metadata only), find and authorize, read
/// its payload, add a payload (two-step creation), list, delete. Its user metadata is
/// [`super::metadata::SecretMetadata`], its ACL [`super::acls::Acls`], its consumers
/// [`super::consumers::Consumers`].
///
/// A view of [`Services`] (`services.secrets()`): cheap to make, borrowed for one call.
#[derive(Clone, Copy)]
pub struct Secrets<'a> {
    s: &'a Services,
}

impl Services {
    pub fn secrets(&self) -> Secrets<'_> {
        Secrets { s: self }
    }
}

impl Secrets<'_> {
    /// Store `payload` in the caller project's store; returns the store's name and metadata.
    fn store_payload(
        &self,
        operation: Operation,
        project_id: &str,
        secret_id: &str,
        secret_type: SecretType,
        spec: KeySpec,
        payload: &Payload,
    ) -> Result<(String, StoreMetadata), ServiceError> {
        let store = self.s.secret_stores().for_project(project_id, operation)?;
        if !store.store.store_secret_supports(&spec) {
            return Err(ServiceError::Refused {
                operation,
                reason: "Secret store supported plugin not found.",
            });
        }
        let keks = self.s.keks_for(project_id, &store.name);
        let ctx = StoreContext {
            project_id,
            secret_id,
            keks: &keks,
        };
        let dto = SecretDto {
            secret_type,
            payload: payload.bytes.clone(),
            content_type: payload.content_type.clone(),
            key_spec: spec,
        };
        let meta = store.store.store_secret(ctx, &dto).during(operation)?;
        Ok((store.name.clone(), meta))
    }

    /// Best-effort release of material a store holds for a secret that was not persisted.
    fn release(&self, project_id: &str, secret_id: &str, store_name: &str, meta: &StoreMetadata) {
        if let Some(store) = self.s.plugins.stores.get(store_name) {
            let keks = self.s.keks_for(project_id, store_name);
            let ctx = StoreContext {
                project_id,
                secret_id,
                keks: &keks,
            };
            if let Err(e) = store.store.delete_secret(ctx, meta) {
                tracing::warn!(secret = %secret_id, error = %e, "could not release stored material");
            }
        }
    }

    /// Create a secret (with its payload, or metadata only), within the project's quota.
    pub fn create(&self, caller: &AuthContext, new: NewSecret) -> Result<SecretRow, ServiceError> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut row = new_row(
            id,
            &caller.project_id,
            caller.user_id.as_deref(),
            &new,
            timefmt::now(),
        );
        let mut stored = None;
        if let Some(p) = &new.payload {
            let spec = key_spec(
                new.algorithm.as_deref(),
                new.bit_length,
                new.mode.as_deref(),
            );
            let (store, meta) = self.store_payload(
                ops::CREATE,
                &caller.project_id,
                &row.id,
                new.secret_type,
                spec,
                p,
            )?;
            row.content_type = Some(p.content_type.clone());
            row.store_name = Some(store.clone());
            row.store_metadata = Some(secret_db::encode_metadata(&meta));
            stored = Some((store, meta));
        }
        let defaults = self.s.quota_defaults;
        let inserted = row.clone();
        let outcome = self.s.db.write(move |c| -> Result<bool, DbError> {
            if over_quota(c, &defaults, &inserted.project_id, Resource::Secrets)? {
                return Ok(false);
            }
            secret_db::insert(c, &inserted)?;
            Ok(true)
        });
        match outcome {
            Ok(true) => Ok(row),
            Ok(false) | Err(_) => {
                if let Some((store, meta)) = &stored {
                    self.release(&caller.project_id, &row.id, store, meta);
                }
                match outcome {
                    Ok(_) => Err(ServiceError::QuotaReached(ops::CREATE)),
                    Err(e) => Err(e).during(ops::CREATE),
                }
            }
        }
    }

    /// Look a secret up by id: 404 for malformed, unknown, deleted or expired ids.
    pub fn find(&self, id: &str, operation: Operation) -> Result<SecretRow, ServiceError> {
        if !is_uuid4(id) {
            return Err(ServiceError::not_found(
                "Not Found. Provided secret id is invalid.",
            ));
        }
        let mut conn = self.s.conn(operation)?;
        secret_db::get_live(&mut conn, id, timefmt::now())
            .during(operation)?
            .ok_or_else(|| ServiceError::not_found("Secret not found."))
    }

    /// Look a secret up and check `action` on it (with its ACL): 404 first, then 403.
    pub fn authorized(
        &self,
        caller: &AuthContext,
        id: &str,
        action: &str,
        operation: Operation,
    ) -> Result<SecretRow, ServiceError> {
        let row = self.find(id, operation)?;
        self.s
            .authorize(caller, action, &secret_target(&row, caller), operation)?;
        Ok(row)
    }

    /// The decrypted payload of a secret.
    pub fn payload(
        &self,
        row: &SecretRow,
        operation: Operation,
    ) -> Result<SecretBytes, ServiceError> {
        let Some(store_name) = row.store_name.as_deref().filter(|_| row.has_payload()) else {
            return Err(ServiceError::not_found(
                "Not Found. Sorry but your secret has no payload.",
            ));
        };
        let store = self.s.store(operation, store_name)?;
        let meta = row.metadata().during(operation)?;
        let keks = self.s.keks_for(&row.project_id, store_name);
        let ctx = StoreContext {
            project_id: &row.project_id,
            secret_id: &row.id,
            keks: &keks,
        };
        let dto = store
            .store
            .get_secret(ctx, secret_type_of(row), &meta)
            .during(operation)?;
        Ok(dto.payload)
    }

    /// Give a metadata-only secret its payload (the second step of a two-step creation).
    pub fn put_payload(&self, row: &SecretRow, payload: Payload) -> Result<(), ServiceError> {
        let conflict = || ServiceError::Conflict("Secret already has data, cannot modify it.");
        if row.has_payload() {
            return Err(conflict());
        }
        let spec = key_spec(
            row.algorithm.as_deref(),
            row.bit_length,
            row.mode.as_deref(),
        );
        let (store_name, meta) = self.store_payload(
            ops::UPDATE,
            &row.project_id,
            &row.id,
            secret_type_of(row),
            spec,
            &payload,
        )?;
        let (id, ct, store, m) = (
            row.id.clone(),
            payload.content_type.clone(),
            store_name.clone(),
            meta.clone(),
        );
        let stored = self.s.write(ops::UPDATE, move |c| {
            secret_db::set_payload(c, &id, &ct, &store, &m, timefmt::now())
        })?;
        if stored {
            return Ok(());
        }
        // A concurrent PUT won: release what this one stored.
        self.release(&row.project_id, &row.id, &store_name, &meta);
        Err(conflict())
    }

    /// Delete a secret and its material. From microversion 1.2 a secret with consumers is
    /// only deleted with `force`.
    pub fn delete(
        &self,
        row: &SecretRow,
        guard_consumers: bool,
        force: bool,
    ) -> Result<(), ServiceError> {
        if guard_consumers && !force {
            let mut conn = self.s.conn(ops::DELETE)?;
            let (_, n) =
                consumer_db::secret_consumers(&mut conn, &row.id, 0, 1).during(ops::DELETE)?;
            if n > 0 {
                return Err(ServiceError::Refused {
                    operation: ops::DELETE,
                    reason: "Secret cannot be deleted as it has consumers.",
                });
            }
        }
        // The row goes first: once that is committed the secret is gone for every reader, and
        // only then is its material removed. The other order could leave a row pointing at
        // nothing when the write fails.
        let id = row.id.clone();
        if !self
            .s
            .write(ops::DELETE, move |c| secret_db::delete(c, &id))?
        {
            return Err(ServiceError::not_found("Secret not found."));
        }
        if let Some(store_name) = row.store_name.as_deref().filter(|_| row.has_payload()) {
            if let Err(e) = self.delete_material(row, store_name) {
                // The secret is deleted; what is left is orphaned material in its store.
                tracing::error!(secret = %row.id, store = store_name, error = %e,
                    "secret deleted, but its material could not be removed from its store");
            }
        }
        Ok(())
    }

    /// Remove a (deleted) secret's material from its store.
    fn delete_material(&self, row: &SecretRow, store_name: &str) -> Result<(), String> {
        let store = self
            .s
            .store(ops::DELETE, store_name)
            .map_err(|e| e.to_string())?;
        let meta = row.metadata().map_err(|e| e.to_string())?;
        let keks = self.s.keks_for(&row.project_id, store_name);
        let ctx = StoreContext {
            project_id: &row.project_id,
            secret_id: &row.id,
            keks: &keks,
        };
        store
            .store
            .delete_secret(ctx, &meta)
            .map_err(|e| e.to_string())
    }

    /// A page of the caller's project's secrets and the total that match.
    pub fn list(&self, query: &SecretQuery) -> Result<(Vec<SecretRow>, i64), ServiceError> {
        let mut conn = self.s.conn(ops::LIST)?;
        secret_db::list(&mut conn, query, timefmt::now()).during(ops::LIST)
    }
}
