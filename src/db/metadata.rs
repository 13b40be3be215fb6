//! Queries on `secret_metadata` (user metadata of secrets).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::secret_metadata as m;
use super::{per_backend, DbConn, DbError};

/// All of a secret's metadata, ordered by key.
pub fn all(conn: &mut DbConn, secret_id: &str) -> Result<Vec<(String, String)>, DbError> {
    Ok(per_backend!(conn, |c| m::table
        .filter(m::secret_id.eq(secret_id))
        .order(m::key.asc())
        .select((m::key, m::value))
        .load(c))?)
}

/// One value.
pub fn get(conn: &mut DbConn, secret_id: &str, key: &str) -> Result<Option<String>, DbError> {
    Ok(per_backend!(conn, |c| m::table
        .filter(m::secret_id.eq(secret_id))
        .filter(m::key.eq(key))
        .select(m::value)
        .first(c))
    .optional()?)
}

/// Replace all of a secret's metadata.
pub fn replace_all(
    conn: &mut DbConn,
    secret_id: &str,
    entries: &[(String, String)],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    super::write_tx(conn, |c| {
        // Two replacements at once would each insert what the other did not delete.
        super::serialize_on(c, &format!("metadata:{secret_id}"))?;
        per_backend!(c, |c| diesel::delete(
            m::table.filter(m::secret_id.eq(secret_id))
        )
        .execute(c))?;
        let rows: Vec<_> = entries
            .iter()
            .map(|(k, v)| {
                (
                    m::secret_id.eq(secret_id),
                    m::key.eq(k),
                    m::value.eq(v),
                    m::created_at.eq(now),
                    m::updated_at.eq(now),
                )
            })
            .collect();
        if !rows.is_empty() {
            per_backend!(c, |c| diesel::insert_into(m::table)
                .values(&rows)
                .execute(c))?;
        }
        Ok(())
    })
}

/// Add one key. `false` when the key exists already.
pub fn insert(
    conn: &mut DbConn,
    secret_id: &str,
    key: &str,
    value: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    // In a savepoint: on PostgreSQL a failed statement spoils the rest of its transaction.
    let res = conn.transaction(|c| {
        per_backend!(c, |c| diesel::insert_into(m::table)
            .values((
                m::secret_id.eq(secret_id),
                m::key.eq(key),
                m::value.eq(value),
                m::created_at.eq(now),
                m::updated_at.eq(now),
            ))
            .execute(c))
    });
    match res {
        Ok(_) => Ok(true),
        Err(e) if super::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Change one key's value. `false` when the key does not exist.
pub fn update(
    conn: &mut DbConn,
    secret_id: &str,
    key: &str,
    value: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n = per_backend!(conn, |c| diesel::update(
        m::table
            .filter(m::secret_id.eq(secret_id))
            .filter(m::key.eq(key)),
    )
    .set((m::value.eq(value), m::updated_at.eq(now)))
    .execute(c))?;
    Ok(n == 1)
}

/// Remove one key (absent keys are fine).
pub fn delete(conn: &mut DbConn, secret_id: &str, key: &str) -> Result<(), DbError> {
    per_backend!(conn, |c| diesel::delete(
        m::table
            .filter(m::secret_id.eq(secret_id))
            .filter(m::key.eq(key)),
    )
    .execute(c))?;
    Ok(())
}
