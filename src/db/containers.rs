//! Queries on `containers` and `container_secrets`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::acl;
use super::schema::{container_secrets as cs, containers as c};
use super::{per_backend, DbConn, DbError};
use crate::model::{Acl, SecretRef};

/// A container row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, PartialEq)]
#[diesel(table_name = c)]
pub struct ContainerRow {
    pub id: String,
    pub project_id: String,
    pub creator_id: Option<String>,
    pub name: Option<String>,
    pub container_type: String,
    pub status: String,
    pub acl_project_access: Option<bool>,
    pub acl_users: Option<String>,
    pub acl_created_at: Option<NaiveDateTime>,
    pub acl_updated_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ContainerRow {
    /// The container's `read` ACL, if it has one.
    pub fn acl(&self) -> Option<Acl> {
        Acl::from_columns(
            self.acl_project_access,
            self.acl_users.as_deref(),
            self.acl_created_at,
            self.acl_updated_at,
        )
    }
}

/// Insert a container and its secret references.
pub fn insert(conn: &mut DbConn, row: &ContainerRow, refs: &[SecretRef]) -> Result<(), DbError> {
    super::write_tx(conn, |conn| {
        per_backend!(conn, |c| diesel::insert_into(c::table)
            .values(row)
            .execute(c))?;
        insert_refs(conn, &row.id, 0, refs, row.created_at)
    })
}

fn insert_refs(
    conn: &mut DbConn,
    container_id: &str,
    first_position: i32,
    refs: &[SecretRef],
    now: NaiveDateTime,
) -> Result<(), DbError> {
    let rows: Vec<_> = refs
        .iter()
        .zip(first_position..)
        .map(|(r, pos)| {
            (
                cs::container_id.eq(container_id),
                cs::position.eq(pos),
                cs::name.eq(r.name.as_deref()),
                cs::secret_id.eq(&r.secret_id),
                cs::created_at.eq(now),
            )
        })
        .collect();
    if !rows.is_empty() {
        per_backend!(conn, |c| diesel::insert_into(cs::table)
            .values(&rows)
            .execute(c))?;
    }
    Ok(())
}

/// A container by id (any project).
pub fn get(conn: &mut DbConn, id: &str) -> Result<Option<ContainerRow>, DbError> {
    Ok(per_backend!(conn, |c| c::table
        .filter(c::id.eq(id))
        .select(ContainerRow::as_select())
        .first(c))
    .optional()?)
}

/// The secret references of some containers, in insertion order, by container id.
pub fn refs_of(
    conn: &mut DbConn,
    container_ids: &[String],
) -> Result<Vec<(String, SecretRef)>, DbError> {
    let rows: Vec<(String, Option<String>, String)> = per_backend!(conn, |c| cs::table
        .filter(cs::container_id.eq_any(container_ids))
        .order((cs::container_id.asc(), cs::position.asc()))
        .select((cs::container_id, cs::name, cs::secret_id))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(cid, name, secret_id)| (cid, SecretRef { name, secret_id }))
        .collect())
}

/// A page of a project's containers (oldest first), optionally by exact name and type.
pub fn list(
    conn: &mut DbConn,
    project_id: &str,
    name: Option<&str>,
    container_type: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ContainerRow>, i64), DbError> {
    per_backend!(conn, |conn| {
        let filtered = || {
            let mut q = c::table.filter(c::project_id.eq(project_id)).into_boxed();
            if let Some(n) = name {
                q = q.filter(c::name.eq(n));
            }
            if let Some(t) = container_type {
                q = q.filter(c::container_type.eq(t));
            }
            q
        };
        let total: i64 = filtered().count().get_result(conn)?;
        let rows = filtered()
            .order((c::created_at.asc(), c::id.asc()))
            .offset(offset)
            .limit(limit)
            .select(ContainerRow::as_select())
            .load(conn)?;
        Ok((rows, total))
    })
}

/// Append a secret reference.
pub fn add_ref(
    conn: &mut DbConn,
    container_id: &str,
    r: &SecretRef,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    super::write_tx(conn, |conn| {
        // Appends to one container take turns for the next position.
        super::serialize_on(conn, &format!("container:{container_id}"))?;
        let last: Option<i32> = per_backend!(conn, |c| cs::table
            .filter(cs::container_id.eq(container_id))
            .select(diesel::dsl::max(cs::position))
            .first(c))?;
        insert_refs(
            conn,
            container_id,
            last.map_or(0, |p| p + 1),
            std::slice::from_ref(r),
            now,
        )?;
        per_backend!(conn, |c| diesel::update(
            c::table.filter(c::id.eq(container_id))
        )
        .set(c::updated_at.eq(now))
        .execute(c))?;
        Ok(())
    })
}

/// Remove the references with this name and secret; how many were removed.
pub fn remove_ref(
    conn: &mut DbConn,
    container_id: &str,
    r: &SecretRef,
    now: NaiveDateTime,
) -> Result<usize, DbError> {
    super::write_tx(conn, |conn| {
        let q = cs::table
            .filter(cs::container_id.eq(container_id))
            .filter(cs::secret_id.eq(&r.secret_id));
        let n = match &r.name {
            Some(name) => per_backend!(conn, |c| diesel::delete(q.filter(cs::name.eq(name)))
                .execute(c))?,
            None => per_backend!(conn, |c| diesel::delete(q.filter(cs::name.is_null()))
                .execute(c))?,
        };
        if n > 0 {
            per_backend!(conn, |c| diesel::update(
                c::table.filter(c::id.eq(container_id))
            )
            .set(c::updated_at.eq(now))
            .execute(c))?;
        }
        Ok(n)
    })
}

/// Delete a container (its references and consumers go with it). `false` when already gone.
pub fn delete(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
    Ok(
        per_backend!(conn, |c| diesel::delete(c::table.filter(c::id.eq(id)))
            .execute(c))?
            == 1,
    )
}

/// Set (`Some`) or remove (`None`) a container's read ACL.
pub fn set_acl(conn: &mut DbConn, id: &str, new: Option<&Acl>) -> Result<(), DbError> {
    let (access, users, created, updated) = acl::to_columns(new);
    per_backend!(conn, |c| diesel::update(c::table.filter(c::id.eq(id)))
        .set((
            c::acl_project_access.eq(access),
            c::acl_users.eq(users),
            c::acl_created_at.eq(created),
            c::acl_updated_at.eq(updated),
        ))
        .execute(c))?;
    Ok(())
}

/// How many containers a project has (for quotas).
pub fn count_for_project(conn: &mut DbConn, project_id: &str) -> Result<i64, DbError> {
    Ok(per_backend!(conn, |c| c::table
        .filter(c::project_id.eq(project_id))
        .count()
        .get_result(c))?)
}
