//! Queries on `secrets`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use plugin_api::StoreMetadata;

use super::acl;
use super::schema::secrets;
use super::sql::json_array_has;
use super::{per_backend, DbConn, DbError};
use crate::model::Acl;
use crate::model::{DateOp, SecretQuery, SortKey};

diesel::define_sql_function!(fn lower(x: Nullable<Text>) -> Nullable<Text>);

/// A secret row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq)]
#[diesel(table_name = secrets)]
pub struct SecretRow {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub name: Option<String>,
    pub secret_type: String,
    pub algorithm: Option<String>,
    pub bit_length: Option<i32>,
    pub mode: Option<String>,
    pub expiration: Option<NaiveDateTime>,
    pub status: String,
    pub content_type: Option<String>,
    pub store_name: Option<String>,
    pub store_metadata: Option<String>,
    pub acl_project_access: Option<bool>,
    pub acl_users: Option<String>,
    pub acl_created_at: Option<NaiveDateTime>,
    pub acl_updated_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl SecretRow {
    /// The secret's `read` ACL, if it has one.
    pub fn acl(&self) -> Option<Acl> {
        Acl::from_columns(
            self.acl_project_access,
            self.acl_users.as_deref(),
            self.acl_created_at,
            self.acl_updated_at,
        )
    }

    /// Whether the secret has a payload (metadata-only secrets have none).
    pub fn has_payload(&self) -> bool {
        self.store_metadata.is_some()
    }

    /// The store metadata, decoded.
    pub fn metadata(&self) -> Result<StoreMetadata, DbError> {
        match &self.store_metadata {
            None => Ok(StoreMetadata::new()),
            Some(text) => serde_json::from_str(text).map_err(|e| {
                DbError::Corrupt(format!("store metadata of secret {}: {e}", self.id))
            }),
        }
    }
}

/// Encode store metadata for the `store_metadata` column.
pub fn encode_metadata(meta: &StoreMetadata) -> String {
    serde_json::to_string(meta).unwrap_or_else(|_| "{}".to_owned())
}

/// Insert a new secret.
pub fn insert(conn: &mut DbConn, row: &SecretRow) -> Result<(), DbError> {
    per_backend!(conn, |c| diesel::insert_into(secrets::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// The live (not expired) secret with this id, whatever its project.
pub fn get_live(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
) -> Result<Option<SecretRow>, DbError> {
    Ok(per_backend!(conn, |c| secrets::table
        .filter(secrets::id.eq(id))
        .filter(
            secrets::expiration
                .is_null()
                .or(secrets::expiration.gt(now)),
        )
        .select(SecretRow::as_select())
        .first(c)
        .optional())?)
}

/// Which of `ids` are live secrets of `project_id` (one query).
pub fn live_in_project(
    conn: &mut DbConn,
    ids: &[&str],
    project_id: &str,
    now: NaiveDateTime,
) -> Result<std::collections::HashSet<String>, DbError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let found: Vec<String> = per_backend!(conn, |c| secrets::table
        .filter(secrets::id.eq_any(ids))
        .filter(secrets::project_id.eq(project_id))
        .filter(
            secrets::expiration
                .is_null()
                .or(secrets::expiration.gt(now)),
        )
        .select(secrets::id)
        .load(c))?;
    Ok(found.into_iter().collect())
}

/// Give a metadata-only secret its payload. `false` when it already has one (nothing changed).
pub fn set_payload(
    conn: &mut DbConn,
    id: &str,
    content_type: &str,
    store_name: &str,
    metadata: &StoreMetadata,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = per_backend!(conn, |c| diesel::update(
        secrets::table
            .filter(secrets::id.eq(id))
            .filter(secrets::store_metadata.is_null()),
    )
    .set((
        secrets::content_type.eq(content_type),
        secrets::store_name.eq(store_name),
        secrets::store_metadata.eq(encode_metadata(metadata)),
        secrets::updated_at.eq(now),
    ))
    .execute(c))?;
    Ok(n == 1)
}

/// Set (`Some`) or remove (`None`) a secret's read ACL.
pub fn set_acl(conn: &mut DbConn, id: &str, new: Option<&Acl>) -> Result<(), DbError> {
    let (access, users, created, updated) = acl::to_columns(new);
    per_backend!(conn, |c| diesel::update(
        secrets::table.filter(secrets::id.eq(id))
    )
    .set((
        secrets::acl_project_access.eq(access),
        secrets::acl_users.eq(users),
        secrets::acl_created_at.eq(created),
        secrets::acl_updated_at.eq(updated),
    ))
    .execute(c))?;
    Ok(())
}

/// How many secrets a project has (for quotas).
pub fn count_for_project(conn: &mut DbConn, project_id: &str) -> Result<i64, DbError> {
    Ok(per_backend!(conn, |c| secrets::table
        .filter(secrets::project_id.eq(project_id))
        .count()
        .get_result(c))?)
}

/// Delete a secret row. `false` when it was already gone.
pub fn delete(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
    Ok(per_backend!(conn, |c| diesel::delete(
        secrets::table.filter(secrets::id.eq(id))
    )
    .execute(c))?
        == 1)
}

macro_rules! date_filters {
    ($q:expr, $col:expr, $filters:expr) => {{
        let mut q = $q;
        for (op, t) in $filters.iter().copied() {
            q = match op {
                DateOp::Eq => q.filter($col.eq(t)),
                DateOp::Gt => q.filter($col.gt(t)),
                DateOp::Gte => q.filter($col.ge(t)),
                DateOp::Lt => q.filter($col.lt(t)),
                DateOp::Lte => q.filter($col.le(t)),
            };
        }
        q
    }};
}

/// The live secrets `$query` selects, as a boxed query for the backend it is run on.
macro_rules! filtered {
    ($query:expr, $now:expr) => {{
        let (query, now): (&SecretQuery, NaiveDateTime) = ($query, $now);
        let mut q = secrets::table
            .filter(
                secrets::expiration
                    .is_null()
                    .or(secrets::expiration.gt(now)),
            )
            .into_boxed();
        q = match &query.acl_user {
            Some(user) => q.filter(json_array_has(
                secrets::acl_users,
                user.as_str().into_sql::<Text>(),
            )),
            None => q.filter(secrets::project_id.eq(&query.project_id)),
        };
        if let Some(name) = &query.name {
            q = q.filter(lower(secrets::name).eq(lower(Some(name.as_str()))));
        }
        if let Some(alg) = &query.algorithm {
            q = q.filter(lower(secrets::algorithm).eq(lower(Some(alg.as_str()))));
        }
        if let Some(mode) = &query.mode {
            q = q.filter(lower(secrets::mode).eq(lower(Some(mode.as_str()))));
        }
        if let Some(bits) = query.bit_length {
            q = q.filter(secrets::bit_length.eq(bits));
        }
        if let Some(t) = &query.secret_type {
            q = q.filter(secrets::secret_type.eq(t));
        }
        q = date_filters!(q, secrets::created_at, query.created);
        q = date_filters!(q, secrets::updated_at, query.updated);
        q = date_filters!(q, secrets::expiration, query.expiration);
        q
    }};
}

macro_rules! order {
    ($q:expr, $col:expr, $desc:expr) => {
        if $desc {
            $q.then_order_by($col.desc())
        } else {
            $q.then_order_by($col.asc())
        }
    };
}

/// Order by a nullable column with NULLs first when ascending and last when descending (as
/// SQLite does by itself; PostgreSQL does the opposite), so pages match on both backends.
macro_rules! order_nullable {
    ($q:expr, $col:expr, $desc:expr) => {
        if $desc {
            $q.then_order_by($col.is_null().asc())
                .then_order_by($col.desc())
        } else {
            $q.then_order_by($col.is_null().desc())
                .then_order_by($col.asc())
        }
    };
}

/// One page of a project's live secrets, and how many match in all.
pub fn list(
    conn: &mut DbConn,
    query: &SecretQuery,
    now: NaiveDateTime,
) -> Result<(Vec<SecretRow>, i64), DbError> {
    per_backend!(conn, |conn| {
        let total: i64 = filtered!(query, now).count().get_result(conn)?;
        if query.offset >= total {
            return Ok((Vec::new(), total));
        }
        let mut q = filtered!(query, now);
        for (key, desc) in query.sort.iter().copied() {
            q = match key {
                SortKey::Algorithm => order_nullable!(q, secrets::algorithm, desc),
                SortKey::BitLength => order_nullable!(q, secrets::bit_length, desc),
                SortKey::Created => order!(q, secrets::created_at, desc),
                SortKey::Expiration => order_nullable!(q, secrets::expiration, desc),
                SortKey::Mode => order_nullable!(q, secrets::mode, desc),
                SortKey::Name => order_nullable!(q, secrets::name, desc),
                SortKey::SecretType => order!(q, secrets::secret_type, desc),
                SortKey::Status => order!(q, secrets::status, desc),
                SortKey::Updated => order!(q, secrets::updated_at, desc),
            };
        }
        let rows = q
            .then_order_by(secrets::created_at.asc())
            .then_order_by(secrets::id.asc())
            .offset(query.offset)
            .limit(query.limit)
            .select(SecretRow::as_select())
            .load(conn)?;
        Ok((rows, total))
    })
}
