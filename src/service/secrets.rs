//! Secrets: create (one step or metadata only), read metadata and payload, add a payload
//! (two-step), list, delete.

use actix_web::http::StatusCode;
use chrono::NaiveDateTime;
use plugin_api::{
    AuthContext, KeySpec, SecretBytes, SecretDto, SecretType, StoreContext, StoreMetadata,
};

use super::{is_uuid4, Services};
use crate::db::secrets::{self as secret_db, SecretQuery, SecretRow};
use crate::error::ApiError;
use crate::policy::{self, Action, SecretTarget};
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

impl NewSecret {
    fn key_spec(&self) -> KeySpec {
        KeySpec {
            algorithm: self.algorithm.clone(),
            bit_length: self.bit_length.and_then(|b| u32::try_from(b).ok()),
            mode: self.mode.clone(),
            passphrase: None,
        }
    }
}

fn row_key_spec(row: &SecretRow) -> KeySpec {
    KeySpec {
        algorithm: row.algorithm.clone(),
        bit_length: row.bit_length.and_then(|b| u32::try_from(b).ok()),
        mode: row.mode.clone(),
        passphrase: None,
    }
}

fn secret_type_of(row: &SecretRow) -> SecretType {
    row.secret_type.parse().unwrap_or(SecretType::Opaque)
}

/// Check a secret-level action; 403 with Barbican's message for `operation` when refused.
pub fn authorize(
    caller: &AuthContext,
    action: Action,
    row: Option<&SecretRow>,
    operation: &str,
) -> Result<(), ApiError> {
    let target = row.map(|r| SecretTarget::new(&r.project_id, r.creator_id.as_deref()));
    if policy::allowed(action, caller, target.as_ref()) {
        Ok(())
    } else {
        Err(ApiError::forbidden(operation))
    }
}

impl Services {
    /// Store `payload` in the store new secrets go to; returns the store's name and metadata.
    fn store_payload(
        &self,
        operation: &str,
        project_id: &str,
        secret_id: &str,
        secret_type: SecretType,
        spec: KeySpec,
        payload: &Payload,
    ) -> Result<(String, StoreMetadata), ApiError> {
        let store = self.plugins.store_for_new_secret().ok_or_else(|| {
            ApiError::failure(operation, &"no store is configured for new secrets")
        })?;
        if !store.store.store_secret_supports(&spec) {
            return Err(ApiError::issue(
                StatusCode::BAD_REQUEST,
                operation,
                "Secret store supported plugin not found",
            ));
        }
        let keks = self.keks_for(project_id, &store.name);
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
        let meta = store
            .store
            .store_secret(ctx, &dto)
            .map_err(|e| ApiError::from_plugin(operation, e))?;
        Ok((store.name.clone(), meta))
    }

    /// Create a secret (with its payload, or metadata only).
    pub fn create_secret(
        &self,
        caller: &AuthContext,
        new: NewSecret,
    ) -> Result<SecretRow, ApiError> {
        let id = uuid::Uuid::new_v4().to_string();
        let (content_type, store_name, store_metadata) = match &new.payload {
            Some(p) => {
                let (store, meta) = self.store_payload(
                    ops::CREATE,
                    &caller.project_id,
                    &id,
                    new.secret_type,
                    new.key_spec(),
                    p,
                )?;
                let meta = secret_db::encode_metadata(&meta);
                (Some(p.content_type.clone()), Some(store), Some(meta))
            }
            None => (None, None, None),
        };
        let now = timefmt::now();
        let row = SecretRow {
            id,
            project_id: caller.project_id.clone(),
            creator_id: caller.user_id.clone(),
            name: new.name,
            secret_type: new.secret_type.as_str().to_owned(),
            algorithm: new.algorithm,
            bit_length: new.bit_length,
            mode: new.mode,
            expiration: new.expiration,
            status: "ACTIVE".to_owned(),
            content_type,
            store_name,
            store_metadata,
            created_at: now,
            updated_at: now,
        };
        let mut conn = self
            .db
            .conn()
            .map_err(|e| ApiError::from_db(ops::CREATE, e))?;
        secret_db::insert(&mut conn, &row).map_err(|e| ApiError::from_db(ops::CREATE, e))?;
        Ok(row)
    }

    /// Look a secret up by id and check `action` on it: 404 for malformed, unknown, deleted or
    /// expired ids, 403 when policy refuses.
    pub fn authorized_secret(
        &self,
        caller: &AuthContext,
        id: &str,
        action: Action,
        operation: &str,
    ) -> Result<SecretRow, ApiError> {
        if !is_uuid4(id) {
            return Err(ApiError::not_found(
                "Not Found. Provided secret id is invalid.",
            ));
        }
        let row = {
            let mut conn = self
                .db
                .conn()
                .map_err(|e| ApiError::from_db(operation, e))?;
            secret_db::get_live(&mut conn, id, timefmt::now())
                .map_err(|e| ApiError::from_db(operation, e))?
        }
        .ok_or_else(|| ApiError::not_found("Secret not found."))?;
        authorize(caller, action, Some(&row), operation)?;
        Ok(row)
    }

    /// The decrypted payload of a secret.
    pub fn payload(&self, row: &SecretRow, operation: &str) -> Result<SecretBytes, ApiError> {
        let Some(store_name) = row.store_name.as_deref().filter(|_| row.has_payload()) else {
            return Err(ApiError::not_found(
                "Not Found. Sorry but your secret has no payload.",
            ));
        };
        let store = self.store(operation, store_name)?;
        let meta = row
            .metadata()
            .map_err(|e| ApiError::from_db(operation, e))?;
        let keks = self.keks_for(&row.project_id, store_name);
        let ctx = StoreContext {
            project_id: &row.project_id,
            secret_id: &row.id,
            keks: &keks,
        };
        let dto = store
            .store
            .get_secret(ctx, secret_type_of(row), &meta)
            .map_err(|e| ApiError::from_plugin(operation, e))?;
        Ok(dto.payload)
    }

    /// Give a metadata-only secret its payload (the second step of a two-step creation).
    pub fn put_payload(&self, row: &SecretRow, payload: Payload) -> Result<(), ApiError> {
        let conflict = || ApiError::conflict("Secret already has data, cannot modify it.");
        if row.has_payload() {
            return Err(conflict());
        }
        let (store_name, meta) = self.store_payload(
            ops::UPDATE,
            &row.project_id,
            &row.id,
            secret_type_of(row),
            row_key_spec(row),
            &payload,
        )?;
        let mut conn = self
            .db
            .conn()
            .map_err(|e| ApiError::from_db(ops::UPDATE, e))?;
        let stored = secret_db::set_payload(
            &mut conn,
            &row.id,
            &payload.content_type,
            &store_name,
            &meta,
            timefmt::now(),
        )
        .map_err(|e| ApiError::from_db(ops::UPDATE, e))?;
        drop(conn);
        if stored {
            return Ok(());
        }
        // A concurrent PUT won: release what this one stored.
        if let Some(store) = self.plugins.stores.get(&store_name) {
            let keks = self.keks_for(&row.project_id, &store_name);
            let ctx = StoreContext {
                project_id: &row.project_id,
                secret_id: &row.id,
                keks: &keks,
            };
            if let Err(e) = store.store.delete_secret(ctx, &meta) {
                tracing::warn!(secret = %row.id, error = %e, "could not release the losing payload of a concurrent PUT");
            }
        }
        Err(conflict())
    }

    /// Delete a secret and its material.
    pub fn delete_secret(&self, row: &SecretRow) -> Result<(), ApiError> {
        if let Some(store_name) = row.store_name.as_deref().filter(|_| row.has_payload()) {
            let store = self.store(ops::DELETE, store_name)?;
            let meta = row
                .metadata()
                .map_err(|e| ApiError::from_db(ops::DELETE, e))?;
            let keks = self.keks_for(&row.project_id, store_name);
            let ctx = StoreContext {
                project_id: &row.project_id,
                secret_id: &row.id,
                keks: &keks,
            };
            store
                .store
                .delete_secret(ctx, &meta)
                .map_err(|e| ApiError::from_plugin(ops::DELETE, e))?;
        }
        let mut conn = self
            .db
            .conn()
            .map_err(|e| ApiError::from_db(ops::DELETE, e))?;
        if !secret_db::delete(&mut conn, &row.id).map_err(|e| ApiError::from_db(ops::DELETE, e))? {
            return Err(ApiError::not_found("Secret not found."));
        }
        Ok(())
    }

    /// A page of the caller's project's secrets and the total that match.
    pub fn list_secrets(&self, query: &SecretQuery) -> Result<(Vec<SecretRow>, i64), ApiError> {
        let mut conn = self
            .db
            .conn()
            .map_err(|e| ApiError::from_db(ops::LIST, e))?;
        secret_db::list(&mut conn, query, timefmt::now())
            .map_err(|e| ApiError::from_db(ops::LIST, e))
    }
}
