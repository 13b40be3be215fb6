//! Secret user metadata.

use super::Services;
use super::{During, ServiceError};
use crate::db::metadata as meta_db;
use crate::timefmt;

pub mod ops {
    pub const GET_ALL: &str = "Secret metadata retrieval";
    pub const PUT_ALL: &str = "Secret metadata creation";
    pub const POST: &str = "Secret metadatum creation";
    pub const GET: &str = "Secret metadatum retrieval";
    pub const PUT: &str = "Secret metadatum update";
    pub const DELETE: &str = "Secret metadatum removal";
}

fn missing() -> ServiceError {
    ServiceError::not_found("Secret metadata not found.")
}

/// Everything a secret's user metadata can do: read all or one key, replace all, add, update or
/// delete one key.
///
/// A view of [`Services`] (`services.secret_metadata()`): cheap to make, borrowed for one call.
#[derive(Clone, Copy)]
pub struct SecretMetadata<'a> {
    s: &'a Services,
}

impl Services {
    pub fn secret_metadata(&self) -> SecretMetadata<'_> {
        SecretMetadata { s: self }
    }
}

impl SecretMetadata<'_> {
    pub fn all(&self, secret_id: &str) -> Result<Vec<(String, String)>, ServiceError> {
        let mut conn = self.s.conn(ops::GET_ALL)?;
        meta_db::all(&mut conn, secret_id).during(ops::GET_ALL)
    }

    pub fn replace(
        &self,
        secret_id: &str,
        entries: &[(String, String)],
    ) -> Result<(), ServiceError> {
        let (id, entries) = (secret_id.to_owned(), entries.to_vec());
        self.s.write(ops::PUT_ALL, move |c| {
            meta_db::replace_all(c, &id, &entries, timefmt::now())
        })
    }

    pub fn add(&self, secret_id: &str, key: &str, value: &str) -> Result<(), ServiceError> {
        let (id, k, v) = (secret_id.to_owned(), key.to_owned(), value.to_owned());
        if self.s.write(ops::POST, move |c| {
            meta_db::insert(c, &id, &k, &v, timefmt::now())
        })? {
            Ok(())
        } else {
            Err(ServiceError::Conflict(
                "Conflict. Key in request is already in the secret metadata",
            ))
        }
    }

    pub fn get(&self, secret_id: &str, key: &str) -> Result<String, ServiceError> {
        let mut conn = self.s.conn(ops::GET)?;
        meta_db::get(&mut conn, secret_id, key)
            .during(ops::GET)?
            .ok_or_else(missing)
    }

    /// Whether the key exists (checked before the body is read, as Barbican does).
    pub fn has(&self, secret_id: &str, key: &str) -> Result<bool, ServiceError> {
        let mut conn = self.s.conn(ops::PUT)?;
        Ok(meta_db::get(&mut conn, secret_id, key)
            .during(ops::PUT)?
            .is_some())
    }

    pub fn update(&self, secret_id: &str, key: &str, value: &str) -> Result<(), ServiceError> {
        let (id, k, v) = (secret_id.to_owned(), key.to_owned(), value.to_owned());
        if self.s.write(ops::PUT, move |c| {
            meta_db::update(c, &id, &k, &v, timefmt::now())
        })? {
            Ok(())
        } else {
            Err(missing())
        }
    }

    pub fn delete(&self, secret_id: &str, key: &str) -> Result<(), ServiceError> {
        let (id, k) = (secret_id.to_owned(), key.to_owned());
        self.s
            .write(ops::DELETE, move |c| meta_db::delete(c, &id, &k))
    }
}

/// Check metadata the way Barbican does: keys URL-safe (`[A-Za-z0-9_-]*`), stored lower-case.
pub fn key_is_url_safe(key: &str) -> bool {
    key.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    #[test]
    fn url_safe_keys() {
        assert!(super::key_is_url_safe("Color_1-x"));
        assert!(super::key_is_url_safe(""));
        assert!(!super::key_is_url_safe("a b"));
        assert!(!super::key_is_url_safe("é"));
    }
}
