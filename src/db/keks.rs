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
