//! Queries on `project_keks`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use plugin_api::{ProjectKek, WrappedKek};

use super::schema::project_keks;
use super::{per_backend, DbConn, DbError};

/// A project KEK row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq)]
#[diesel(table_name = project_keks)]
pub struct KekRow {
    pub id: String,
    pub project_id: String,
    pub store_name: String,
    pub plugin_name: String,
    pub master_key_id: String,
    pub wrapped_kek: Vec<u8>,
    pub plugin_meta: Option<String>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl KekRow {
    /// The KEK as plugins see it.
    pub fn to_project_kek(&self) -> ProjectKek {
        ProjectKek {
            id: self.id.clone(),
            project_id: self.project_id.clone(),
            wrapped: WrappedKek {
                wrapped: self.wrapped_kek.clone(),
                master_key_id: self.master_key_id.clone(),
                plugin_meta: self.plugin_meta.clone(),
            },
        }
    }
}

/// The active KEK of a project in a store.
pub fn active(
    conn: &mut DbConn,
    project_id: &str,
    store_name: &str,
) -> Result<Option<KekRow>, DbError> {
    Ok(per_backend!(conn, |c| project_keks::table
        .filter(project_keks::project_id.eq(project_id))
        .filter(project_keks::store_name.eq(store_name))
        .filter(project_keks::active.eq(true))
        .select(KekRow::as_select())
        .first(c))
    .optional()?)
}

/// A KEK by id.
pub fn by_id(conn: &mut DbConn, id: &str) -> Result<Option<KekRow>, DbError> {
    Ok(per_backend!(conn, |c| project_keks::table
        .filter(project_keks::id.eq(id))
        .select(KekRow::as_select())
        .first(c))
    .optional()?)
}

/// Insert a new active KEK. `Ok(false)` when another one became active first (a race): the
/// caller then reads that one.
pub fn insert_active(conn: &mut DbConn, row: &KekRow) -> Result<bool, DbError> {
    // In a savepoint: on PostgreSQL a failed statement spoils the rest of its transaction.
    let inserted = conn.transaction(|c| {
        per_backend!(c, |c| diesel::insert_into(project_keks::table)
            .values(row)
            .execute(c))
    });
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How many project KEKs a store has.
pub fn count_for_store(conn: &mut DbConn, store_name: &str) -> Result<i64, DbError> {
    Ok(per_backend!(conn, |c| project_keks::table
        .filter(project_keks::store_name.eq(store_name))
        .count()
        .get_result(c))?)
}

/// Up to `limit` KEKs of a store with ids after `after`, in id order (keyset paging, so a
/// long walk sees every row once even while rows change).
pub fn page_of_store(
    conn: &mut DbConn,
    store_name: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<KekRow>, DbError> {
    Ok(per_backend!(conn, |c| {
        let mut q = project_keks::table
            .filter(project_keks::store_name.eq(store_name))
            .into_boxed();
        if let Some(after) = after {
            q = q.filter(project_keks::id.gt(after));
        }
        q.order(project_keks::id.asc())
            .limit(limit)
            .select(KekRow::as_select())
            .load(c)
    })?)
}

/// Store a rewrapped KEK, only if the row still holds `previous` (a concurrent change wins).
/// `false` when it did not.
pub fn replace_wrapped(
    conn: &mut DbConn,
    id: &str,
    previous: &[u8],
    new: &WrappedKek,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = per_backend!(conn, |c| diesel::update(
        project_keks::table
            .filter(project_keks::id.eq(id))
            .filter(project_keks::wrapped_kek.eq(previous))
    )
    .set((
        project_keks::wrapped_kek.eq(&new.wrapped),
        project_keks::master_key_id.eq(&new.master_key_id),
        project_keks::plugin_meta.eq(&new.plugin_meta),
        project_keks::updated_at.eq(now),
    ))
    .execute(c))?;
    Ok(n == 1)
}
