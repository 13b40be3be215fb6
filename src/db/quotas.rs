//! Queries on `project_quotas`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::project_quotas as q;
use super::{per_backend, DbConn, DbError};

/// A project's quota overrides (None: the configured default).
#[derive(Debug, Clone, Default, Queryable, Selectable, PartialEq, Eq)]
#[diesel(table_name = q)]
pub struct QuotaRow {
    pub project_id: String,
    pub secrets: Option<i32>,
    pub orders: Option<i32>,
    pub containers: Option<i32>,
    pub consumers: Option<i32>,
    pub cas: Option<i32>,
}

pub fn get(conn: &mut DbConn, project_id: &str) -> Result<Option<QuotaRow>, DbError> {
    Ok(per_backend!(conn, |c| q::table
        .filter(q::project_id.eq(project_id))
        .select(QuotaRow::as_select())
        .first(c))
    .optional()?)
}

/// Create or replace a project's overrides.
pub fn upsert(conn: &mut DbConn, row: &QuotaRow, now: NaiveDateTime) -> Result<(), DbError> {
    let values = (
        q::secrets.eq(row.secrets),
        q::orders.eq(row.orders),
        q::containers.eq(row.containers),
        q::consumers.eq(row.consumers),
        q::cas.eq(row.cas),
        q::updated_at.eq(now),
    );
    per_backend!(conn, |c| diesel::insert_into(q::table)
        .values((
            q::project_id.eq(&row.project_id),
            values,
            q::created_at.eq(now),
        ))
        .on_conflict(q::project_id)
        .do_update()
        .set(values)
        .execute(c))?;
    Ok(())
}

/// `false` when the project had no overrides.
pub fn delete(conn: &mut DbConn, project_id: &str) -> Result<bool, DbError> {
    Ok(per_backend!(conn, |c| diesel::delete(
        q::table.filter(q::project_id.eq(project_id))
    )
    .execute(c))?
        == 1)
}

/// A page of every project's overrides (oldest first) and their total.
pub fn list(conn: &mut DbConn, offset: i64, limit: i64) -> Result<(Vec<QuotaRow>, i64), DbError> {
    let total: i64 = per_backend!(conn, |c| q::table.count().get_result(c))?;
    let rows = per_backend!(conn, |c| q::table
        .order((q::created_at.asc(), q::project_id.asc()))
        .offset(offset)
        .limit(limit)
        .select(QuotaRow::as_select())
        .load(c))?;
    Ok((rows, total))
}
