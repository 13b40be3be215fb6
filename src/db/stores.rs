//! Queries on `secret_stores` (the configured stores, with stable ids) and
//! `project_secret_stores` (each project's preferred store).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{project_secret_stores as p, secret_stores as s};
use super::{per_backend, DbConn, DbError};

/// A configured store as recorded in the database.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq, Eq)]
#[diesel(table_name = s)]
pub struct StoreRow {
    pub id: String,
    pub name: String,
    pub store_plugin: String,
    pub crypto_plugin: Option<String>,
    pub global_default: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What the configuration says about one store.
pub struct ConfiguredStore<'a> {
    pub name: &'a str,
    pub store_plugin: &'a str,
    pub crypto_plugin: Option<&'a str>,
    pub global_default: bool,
}

/// Make the table match the configuration: insert new stores, update changed ones, delete
/// removed ones unless a project still prefers them (then fail, naming them). Returns every
/// configured store's row.
pub fn sync(
    conn: &mut DbConn,
    configured: &[ConfiguredStore<'_>],
    now: NaiveDateTime,
) -> Result<Vec<StoreRow>, DbError> {
    super::write_tx(conn, |conn| {
        // Instances starting together on one PostgreSQL sync one at a time.
        super::serialize_on(conn, "coffer.secret_stores")?;
        let existing: Vec<StoreRow> =
            per_backend!(conn, |c| s::table.select(StoreRow::as_select()).load(c))?;
        for old in &existing {
            if configured.iter().any(|c| c.name == old.name) {
                continue;
            }
            let preferring: i64 = per_backend!(conn, |c| p::table
                .filter(p::secret_store_id.eq(&old.id))
                .count()
                .get_result(c))?;
            if preferring > 0 {
                return Err(DbError::Migration(format!(
                    "secret store '{}' was removed from the configuration but {preferring} \
                     project(s) still prefer it; clear those preferences or configure it again",
                    old.name
                )));
            }
            per_backend!(conn, |c| diesel::delete(s::table.filter(s::id.eq(&old.id)))
                .execute(c))?;
        }
        for cfg in configured {
            match existing.iter().find(|e| e.name == cfg.name) {
                Some(e) => {
                    if e.store_plugin != cfg.store_plugin
                        || e.crypto_plugin.as_deref() != cfg.crypto_plugin
                        || e.global_default != cfg.global_default
                    {
                        per_backend!(conn, |c| diesel::update(s::table.filter(s::id.eq(&e.id)))
                            .set((
                                s::store_plugin.eq(cfg.store_plugin),
                                s::crypto_plugin.eq(cfg.crypto_plugin),
                                s::global_default.eq(cfg.global_default),
                                s::updated_at.eq(now),
                            ))
                            .execute(c))?;
                    }
                }
                None => {
                    per_backend!(conn, |c| diesel::insert_into(s::table)
                        .values(StoreRow {
                            id: uuid::Uuid::new_v4().to_string(),
                            name: cfg.name.to_owned(),
                            store_plugin: cfg.store_plugin.to_owned(),
                            crypto_plugin: cfg.crypto_plugin.map(str::to_owned),
                            global_default: cfg.global_default,
                            created_at: now,
                            updated_at: now,
                        })
                        .execute(c))?;
                }
            }
        }
        Ok(per_backend!(conn, |c| s::table
            .order((s::created_at.asc(), s::name.asc()))
            .select(StoreRow::as_select())
            .load(c))?)
    })
}

/// The preferred store of a project, if it has one.
pub fn preferred(conn: &mut DbConn, project_id: &str) -> Result<Option<String>, DbError> {
    Ok(per_backend!(conn, |c| p::table
        .filter(p::project_id.eq(project_id))
        .select(p::secret_store_id)
        .first(c))
    .optional()?)
}

pub fn set_preferred(
    conn: &mut DbConn,
    project_id: &str,
    store_id: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    per_backend!(conn, |c| diesel::insert_into(p::table)
        .values((
            p::project_id.eq(project_id),
            p::secret_store_id.eq(store_id),
            p::created_at.eq(now),
            p::updated_at.eq(now),
        ))
        .on_conflict(p::project_id)
        .do_update()
        .set((p::secret_store_id.eq(store_id), p::updated_at.eq(now)))
        .execute(c))?;
    Ok(())
}

/// `false` when the project had no preference.
pub fn clear_preferred(conn: &mut DbConn, project_id: &str) -> Result<bool, DbError> {
    Ok(per_backend!(conn, |c| diesel::delete(
        p::table.filter(p::project_id.eq(project_id))
    )
    .execute(c))?
        == 1)
}

/// Store names that secrets are held in (to warn about stores missing from the configuration).
pub fn store_names_in_use(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    use super::schema::secrets;
    Ok(per_backend!(conn, |c| secrets::table
        .filter(secrets::store_name.is_not_null())
        .select(secrets::store_name.assume_not_null())
        .distinct()
        .load(c))?)
}
