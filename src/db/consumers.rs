//! Queries on `secret_consumers` and `container_consumers`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{container_consumers as cc, secret_consumers as sc};
use super::{per_backend, DbConn, DbError};

/// A secret consumer.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq)]
#[diesel(table_name = sc)]
pub struct SecretConsumerRow {
    pub id: String,
    pub secret_id: String,
    pub project_id: String,
    pub service: String,
    pub resource_type: String,
    pub resource_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A container consumer.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq)]
#[diesel(table_name = cc)]
pub struct ContainerConsumerRow {
    pub id: String,
    pub container_id: String,
    pub project_id: String,
    pub name: String,
    pub url: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Register a secret consumer; registering the same one again only refreshes it.
pub fn upsert_secret_consumer(conn: &mut DbConn, row: &SecretConsumerRow) -> Result<(), DbError> {
    per_backend!(conn, |c| diesel::insert_into(sc::table)
        .values(row)
        .on_conflict((
            sc::secret_id,
            sc::service,
            sc::resource_type,
            sc::resource_id,
        ))
        .do_update()
        .set(sc::updated_at.eq(row.updated_at))
        .execute(c))?;
    Ok(())
}

/// A page of a secret's consumers (oldest first) and their total.
pub fn secret_consumers(
    conn: &mut DbConn,
    secret_id: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<SecretConsumerRow>, i64), DbError> {
    let total: i64 = per_backend!(conn, |c| sc::table
        .filter(sc::secret_id.eq(secret_id))
        .count()
        .get_result(c))?;
    let rows = per_backend!(conn, |c| sc::table
        .filter(sc::secret_id.eq(secret_id))
        .order((sc::created_at.asc(), sc::id.asc()))
        .offset(offset)
        .limit(limit)
        .select(SecretConsumerRow::as_select())
        .load(c))?;
    Ok((rows, total))
}

/// The consumer with these values, if registered.
pub fn find_secret_consumer(
    conn: &mut DbConn,
    secret_id: &str,
    service: &str,
    resource_type: &str,
    resource_id: &str,
) -> Result<Option<SecretConsumerRow>, DbError> {
    Ok(per_backend!(conn, |c| sc::table
        .filter(sc::secret_id.eq(secret_id))
        .filter(sc::service.eq(service))
        .filter(sc::resource_type.eq(resource_type))
        .filter(sc::resource_id.eq(resource_id))
        .select(SecretConsumerRow::as_select())
        .first(c))
    .optional()?)
}

pub fn delete_secret_consumer(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
    Ok(
        per_backend!(conn, |c| diesel::delete(sc::table.filter(sc::id.eq(id)))
            .execute(c))?
            == 1,
    )
}

/// How many secret consumers a project registered (for quotas).
pub fn count_secret_consumers_of_project(
    conn: &mut DbConn,
    project_id: &str,
) -> Result<i64, DbError> {
    Ok(per_backend!(conn, |c| sc::table
        .filter(sc::project_id.eq(project_id))
        .count()
        .get_result(c))?)
}

/// Register a container consumer; registering the same one again only refreshes it.
pub fn upsert_container_consumer(
    conn: &mut DbConn,
    row: &ContainerConsumerRow,
) -> Result<(), DbError> {
    per_backend!(conn, |c| diesel::insert_into(cc::table)
        .values(row)
        .on_conflict((cc::container_id, cc::name, cc::url))
        .do_update()
        .set(cc::updated_at.eq(row.updated_at))
        .execute(c))?;
    Ok(())
}

/// A page of a container's consumers (oldest first) and their total.
pub fn container_consumers(
    conn: &mut DbConn,
    container_id: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ContainerConsumerRow>, i64), DbError> {
    let total: i64 = per_backend!(conn, |c| cc::table
        .filter(cc::container_id.eq(container_id))
        .count()
        .get_result(c))?;
    // Barbican lists a container's consumers by name.
    let rows = per_backend!(conn, |c| cc::table
        .filter(cc::container_id.eq(container_id))
        .order((cc::name.asc(), cc::url.asc()))
        .offset(offset)
        .limit(limit)
        .select(ContainerConsumerRow::as_select())
        .load(c))?;
    Ok((rows, total))
}

pub fn find_container_consumer(
    conn: &mut DbConn,
    container_id: &str,
    name: &str,
    url: &str,
) -> Result<Option<ContainerConsumerRow>, DbError> {
    Ok(per_backend!(conn, |c| cc::table
        .filter(cc::container_id.eq(container_id))
        .filter(cc::name.eq(name))
        .filter(cc::url.eq(url))
        .select(ContainerConsumerRow::as_select())
        .first(c))
    .optional()?)
}

pub fn delete_container_consumer(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
    Ok(
        per_backend!(conn, |c| diesel::delete(cc::table.filter(cc::id.eq(id)))
            .execute(c))?
            == 1,
    )
}

/// How many container consumers a project registered (for quotas).
pub fn count_container_consumers_of_project(
    conn: &mut DbConn,
    project_id: &str,
) -> Result<i64, DbError> {
    Ok(per_backend!(conn, |c| cc::table
        .filter(cc::project_id.eq(project_id))
        .count()
        .get_result(c))?)
}

/// Every consumer of these secrets, oldest first.
pub fn secret_consumers_of(
    conn: &mut DbConn,
    secret_ids: &[String],
) -> Result<Vec<SecretConsumerRow>, DbError> {
    Ok(per_backend!(conn, |c| sc::table
        .filter(sc::secret_id.eq_any(secret_ids))
        .order((sc::created_at.asc(), sc::id.asc()))
        .select(SecretConsumerRow::as_select())
        .load(c))?)
}

/// Every consumer of these containers, oldest first.
pub fn container_consumers_of(
    conn: &mut DbConn,
    container_ids: &[String],
) -> Result<Vec<ContainerConsumerRow>, DbError> {
    Ok(per_backend!(conn, |c| cc::table
        .filter(cc::container_id.eq_any(container_ids))
        .order((cc::created_at.asc(), cc::id.asc()))
        .select(ContainerConsumerRow::as_select())
        .load(c))?)
}
