//! Queries on `orders`: the durable queue of key-generation requests.
//!
//! A worker claims a PENDING order by taking a lease (`lease_owner`, `lease_expires_at`). The
//! instance renews the leases of the orders its workers are on ([`renew`]); a lease that
//! expires (its instance died, or its worker gave the order up) makes the order claimable
//! again. Completion and failure are conditional on the lease, so an order is finished once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::orders as o;
use super::schema::secrets as s;
use super::secrets::{self as secret_db, SecretRow};
use super::{per_backend, DbConn, DbError};

pub const PENDING: &str = "PENDING";
pub const ACTIVE: &str = "ACTIVE";
pub const ERROR: &str = "ERROR";

/// An order row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq)]
#[diesel(table_name = o)]
pub struct OrderRow {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub order_type: String,
    pub status: String,
    /// The request's `meta`, as JSON.
    pub meta: String,
    pub secret_id: Option<String>,
    pub container_id: Option<String>,
    pub passphrase_secret_id: Option<String>,
    pub error_status_code: Option<i32>,
    pub error_reason: Option<String>,
    pub sub_status: Option<String>,
    pub sub_status_message: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    pub attempts: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, row: &OrderRow) -> Result<(), DbError> {
    per_backend!(conn, |c| diesel::insert_into(o::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<OrderRow>, DbError> {
    Ok(per_backend!(conn, |c| o::table
        .filter(o::id.eq(id))
        .select(OrderRow::as_select())
        .first(c))
    .optional()?)
}

/// A page of a project's orders (oldest first) and their total.
pub fn list(
    conn: &mut DbConn,
    project_id: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<OrderRow>, i64), DbError> {
    let total: i64 = per_backend!(conn, |c| o::table
        .filter(o::project_id.eq(project_id))
        .count()
        .get_result(c))?;
    let rows = per_backend!(conn, |c| o::table
        .filter(o::project_id.eq(project_id))
        .order((o::created_at.asc(), o::id.asc()))
        .offset(offset)
        .limit(limit)
        .select(OrderRow::as_select())
        .load(c))?;
    Ok((rows, total))
}

pub fn delete(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
    Ok(
        per_backend!(conn, |c| diesel::delete(o::table.filter(o::id.eq(id)))
            .execute(c))?
            == 1,
    )
}

pub fn count_for_project(conn: &mut DbConn, project_id: &str) -> Result<i64, DbError> {
    Ok(per_backend!(conn, |c| o::table
        .filter(o::project_id.eq(project_id))
        .count()
        .get_result(c))?)
}

/// How many orders are PENDING, and when the oldest of them was created (for metrics).
pub fn pending_summary(conn: &mut DbConn) -> Result<(i64, Option<NaiveDateTime>), DbError> {
    use diesel::dsl::{count_star, min};
    Ok(per_backend!(conn, |c| o::table
        .filter(o::status.eq(PENDING))
        .select((count_star(), min(o::created_at)))
        .get_result(c))?)
}

/// Take the lease on up to `limit` PENDING orders nobody holds a live lease on, oldest first,
/// and return them. On PostgreSQL, rows another instance is claiming at the same moment are
/// skipped (`FOR UPDATE SKIP LOCKED`), so each order goes to exactly one worker; SQLite's
/// single writer gives the same guarantee.
pub fn claim_batch(
    conn: &mut DbConn,
    owner: &str,
    until: NaiveDateTime,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<OrderRow>, DbError> {
    let claimable = o::table
        .filter(o::status.eq(PENDING))
        .filter(
            o::lease_expires_at
                .is_null()
                .or(o::lease_expires_at.lt(now)),
        )
        .order(o::created_at.asc())
        .limit(limit)
        .select(o::id);
    // The rows stay locked (PostgreSQL) or unwritten by anyone else (SQLite) until commit.
    let ids: Vec<String> = match conn {
        DbConn::Pg(c) => claimable.for_update().skip_locked().load(c)?,
        DbConn::Sqlite(c) => claimable.load(c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    per_backend!(conn, |c| diesel::update(
        o::table.filter(o::id.eq_any(&ids))
    )
    .set((
        o::lease_owner.eq(owner),
        o::lease_expires_at.eq(until),
        o::attempts.eq(o::attempts + 1),
    ))
    .execute(c))?;
    Ok(per_backend!(conn, |c| o::table
        .filter(o::id.eq_any(&ids))
        .order(o::created_at.asc())
        .select(OrderRow::as_select())
        .load(c))?)
}

/// Take the lease on a PENDING order; `None` when it is not claimable (done, deleted, or held
/// by a live worker).
pub fn claim(
    conn: &mut DbConn,
    id: &str,
    owner: &str,
    until: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<Option<OrderRow>, DbError> {
    let n = per_backend!(conn, |c| diesel::update(
        o::table
            .filter(o::id.eq(id))
            .filter(o::status.eq(PENDING))
            .filter(
                o::lease_expires_at
                    .is_null()
                    .or(o::lease_expires_at.lt(now)),
            ),
    )
    .set((
        o::lease_owner.eq(owner),
        o::lease_expires_at.eq(until),
        o::attempts.eq(o::attempts + 1),
    ))
    .execute(c))?;
    if n == 1 {
        get(conn, id)
    } else {
        Ok(None)
    }
}

/// Extend to `until` the leases `owner` holds on the PENDING orders `ids` (the heartbeat of
/// orders being worked on); orders finished, deleted or taken over by another are left alone.
/// Returns how many leases were renewed.
pub fn renew(
    conn: &mut DbConn,
    owner: &str,
    ids: &[String],
    until: NaiveDateTime,
) -> Result<usize, DbError> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(per_backend!(conn, |c| diesel::update(
        o::table
            .filter(o::id.eq_any(ids))
            .filter(o::lease_owner.eq(owner))
            .filter(o::status.eq(PENDING)),
    )
    .set(o::lease_expires_at.eq(until))
    .execute(c))?)
}

/// Delete the secret `id` (an order's passphrase that nothing will use) and return its row, so
/// the caller can release what its store holds once the deletion is committed. `None` when it
/// is already gone.
pub fn take_secret(conn: &mut DbConn, id: &str) -> Result<Option<SecretRow>, DbError> {
    let row = per_backend!(conn, |c| s::table
        .filter(s::id.eq(id))
        .select(SecretRow::as_select())
        .first(c))
    .optional()?;
    if row.is_some() {
        secret_db::delete(conn, id)?;
    }
    Ok(row)
}

/// Mark an order this worker holds ACTIVE with what it produced. `false` when the lease was
/// lost (the caller must then not keep what it produced).
pub fn complete(
    conn: &mut DbConn,
    id: &str,
    owner: &str,
    secret_id: Option<&str>,
    container_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = per_backend!(conn, |c| diesel::update(
        o::table
            .filter(o::id.eq(id))
            .filter(o::lease_owner.eq(owner))
            .filter(o::status.eq(PENDING)),
    )
    .set((
        o::status.eq(ACTIVE),
        o::secret_id.eq(secret_id),
        o::container_id.eq(container_id),
        o::lease_owner.eq(None::<String>),
        o::lease_expires_at.eq(None::<NaiveDateTime>),
        o::updated_at.eq(now),
    ))
    .execute(c))?;
    Ok(n == 1)
}

/// Mark an order this worker holds ERROR.
pub fn fail(
    conn: &mut DbConn,
    id: &str,
    owner: &str,
    code: i32,
    reason: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = per_backend!(conn, |c| diesel::update(
        o::table
            .filter(o::id.eq(id))
            .filter(o::lease_owner.eq(owner))
            .filter(o::status.eq(PENDING)),
    )
    .set((
        o::status.eq(ERROR),
        o::error_status_code.eq(code),
        o::error_reason.eq(reason),
        o::lease_owner.eq(None::<String>),
        o::lease_expires_at.eq(None::<NaiveDateTime>),
        o::updated_at.eq(now),
    ))
    .execute(c))?;
    Ok(n == 1)
}
