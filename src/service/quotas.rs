//! Quotas: configured defaults, per-project overrides (service admins only), and enforcement
//! inside the write transaction that creates the resource, so concurrent creations cannot
//! overshoot (SQLite serializes write transactions; on PostgreSQL the project's creations take
//! turns through an advisory lock, across instances).

use plugin_api::AuthContext;

use super::Services;
use super::{During, ServiceError};
use crate::config::QuotaSettings;
use crate::db::quotas::{self as quota_db, QuotaRow};
use crate::db::{
    consumers as consumer_db, containers as container_db, orders as order_db, secrets as secret_db,
};
use crate::db::{DbConn, DbError};
use crate::policy::Target;
use crate::timefmt;

pub mod ops {
    pub const QUOTAS: &str = "Quotas";
    pub const PROJECT_QUOTAS: &str = "Project Quotas";
}

/// A resource a quota limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Secrets,
    Orders,
    Containers,
    SecretConsumers,
    ContainerConsumers,
}

/// The five quota values, `None` where unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaValues {
    pub secrets: Option<i32>,
    pub orders: Option<i32>,
    pub containers: Option<i32>,
    pub consumers: Option<i32>,
    pub cas: Option<i32>,
}

impl QuotaValues {
    fn from_row(r: &QuotaRow) -> Self {
        QuotaValues {
            secrets: r.secrets,
            orders: r.orders,
            containers: r.containers,
            consumers: r.consumers,
            cas: r.cas,
        }
    }

    fn effective(&self, d: &QuotaSettings) -> QuotaSettings {
        QuotaSettings {
            secrets: self.secrets.unwrap_or(d.secrets),
            orders: self.orders.unwrap_or(d.orders),
            containers: self.containers.unwrap_or(d.containers),
            consumers: self.consumers.unwrap_or(d.consumers),
            cas: self.cas.unwrap_or(d.cas),
        }
    }
}

fn effective_quotas(
    conn: &mut DbConn,
    defaults: &QuotaSettings,
    project_id: &str,
) -> Result<QuotaSettings, DbError> {
    Ok(quota_db::get(conn, project_id)?
        .map(|r| QuotaValues::from_row(&r))
        .unwrap_or_default()
        .effective(defaults))
}

/// Whether creating one more `resource` would exceed the project's quota. Call inside the
/// write that creates it, before inserting: from the count to the commit, other creations in
/// the project wait, so concurrent creations cannot overshoot.
pub fn over_quota(
    conn: &mut DbConn,
    defaults: &QuotaSettings,
    project_id: &str,
    resource: Resource,
) -> Result<bool, DbError> {
    {
        let q = effective_quotas(conn, defaults, project_id)?;
        let limit = match resource {
            Resource::Secrets => q.secrets,
            Resource::Orders => q.orders,
            Resource::Containers => q.containers,
            Resource::SecretConsumers | Resource::ContainerConsumers => q.consumers,
        };
        if limit < 0 {
            return Ok(false);
        }
        if limit == 0 {
            return Ok(true);
        }
        // Creations in one project take turns between the count and the insert (across
        // instances on PostgreSQL).
        crate::db::serialize_on(conn, &format!("quota:{project_id}"))?;
        let count = match resource {
            Resource::Secrets => secret_db::count_for_project(conn, project_id)?,
            Resource::Orders => order_db::count_for_project(conn, project_id)?,
            Resource::Containers => container_db::count_for_project(conn, project_id)?,
            Resource::SecretConsumers => {
                consumer_db::count_secret_consumers_of_project(conn, project_id)?
            }
            Resource::ContainerConsumers => {
                consumer_db::count_container_consumers_of_project(conn, project_id)?
            }
        };
        Ok(count >= i64::from(limit))
    }
}

/// Quotas: the caller's effective ones, every project's or one project's configured ones, and an
/// administrator setting or deleting them.
///
/// A view of [`Services`] (`services.quotas()`): cheap to make, borrowed for one call.
#[derive(Clone, Copy)]
pub struct Quotas<'a> {
    s: &'a Services,
}

impl Services {
    pub fn quotas(&self) -> Quotas<'_> {
        Quotas { s: self }
    }
}

impl Quotas<'_> {
    /// The caller's project's effective quotas.
    pub fn effective(&self, caller: &AuthContext) -> Result<QuotaSettings, ServiceError> {
        self.s
            .authorize(caller, "quotas:get", &Target::new(), ops::QUOTAS)?;
        let mut conn = self.s.conn(ops::QUOTAS)?;
        effective_quotas(&mut conn, &self.s.quota_defaults, &caller.project_id).during(ops::QUOTAS)
    }

    /// Every project's overrides (service admins).
    pub fn list_projects(
        &self,
        caller: &AuthContext,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<(String, QuotaValues)>, i64), ServiceError> {
        self.s.authorize(
            caller,
            "project_quotas:get",
            &Target::new(),
            ops::PROJECT_QUOTAS,
        )?;
        let mut conn = self.s.conn(ops::PROJECT_QUOTAS)?;
        let (rows, total) = quota_db::list(&mut conn, offset, limit).during(ops::PROJECT_QUOTAS)?;
        Ok((
            rows.iter()
                .map(|r| (r.project_id.clone(), QuotaValues::from_row(r)))
                .collect(),
            total,
        ))
    }

    /// One project's overrides (service admins); 404 when it has none.
    pub fn of_project(
        &self,
        caller: &AuthContext,
        project_id: &str,
    ) -> Result<QuotaValues, ServiceError> {
        self.s.authorize(
            caller,
            "project_quotas:get",
            &Target::new(),
            ops::PROJECT_QUOTAS,
        )?;
        if !super::is_project_id(project_id) {
            return Err(ServiceError::not_found("Project quotas not found."));
        }
        let mut conn = self.s.conn(ops::PROJECT_QUOTAS)?;
        quota_db::get(&mut conn, project_id)
            .during(ops::PROJECT_QUOTAS)?
            .map(|r| QuotaValues::from_row(&r))
            .ok_or_else(|| ServiceError::not_found("Project quotas not found."))
    }

    /// Authorize a project-quota change before its body is read.
    pub fn authorize_change(&self, caller: &AuthContext, delete: bool) -> Result<(), ServiceError> {
        let action = if delete {
            "project_quotas:delete"
        } else {
            "project_quotas:put"
        };
        self.s
            .authorize(caller, action, &Target::new(), ops::PROJECT_QUOTAS)
    }

    /// Set a project's overrides: the values given replace those set before; the others stay.
    pub fn set_project(&self, project_id: &str, values: QuotaValues) -> Result<(), ServiceError> {
        if !super::is_project_id(project_id) {
            return Err(ServiceError::Invalid(format!(
                "Invalid project id: 1 to {} characters, no control characters.",
                super::MAX_PROJECT_ID
            )));
        }
        let project_id = project_id.to_owned();
        self.s.write(ops::PROJECT_QUOTAS, move |c| {
            // Read, merge, write: concurrent changes of one project take turns.
            crate::db::serialize_on(c, &format!("quota:{project_id}"))?;
            let old = quota_db::get(c, &project_id)?.unwrap_or_default();
            let row = QuotaRow {
                project_id: project_id.clone(),
                secrets: values.secrets.or(old.secrets),
                orders: values.orders.or(old.orders),
                containers: values.containers.or(old.containers),
                consumers: values.consumers.or(old.consumers),
                cas: values.cas.or(old.cas),
            };
            quota_db::upsert(c, &row, timefmt::now())
        })
    }

    pub fn delete_project(&self, project_id: &str) -> Result<(), ServiceError> {
        if !super::is_project_id(project_id) {
            return Err(ServiceError::not_found("Project quotas not found."));
        }
        let project_id = project_id.to_owned();
        if self.s.write(ops::PROJECT_QUOTAS, move |c| {
            quota_db::delete(c, &project_id)
        })? {
            Ok(())
        } else {
            Err(ServiceError::not_found("Project quotas not found."))
        }
    }
}
