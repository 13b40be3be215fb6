//! Secret stores: the configured stores (with stable ids recorded in the database), the global
//! default, and each project's preferred store, which decides where new secrets go. Existing
//! secrets always stay with the store that wrote them.

use std::sync::Arc;

use plugin_api::AuthContext;

use super::Services;
use super::{During, Operation, ServiceError};
use crate::db::stores::{self as store_db, ConfiguredStore, StoreRow};
use crate::db::{Db, DbError};
use crate::plugins::{LoadedStore, Plugins};
use crate::policy::Target;
use crate::timefmt;

pub mod ops {
    pub const LIST: &str = "List available secret stores";
    pub const GET: &str = "Secret store retrieval";
    pub const GLOBAL_DEFAULT: &str = "Retrieve global default secret store";
    pub const PREFERRED: &str = "Retrieve project preferred store";
    pub const SET_PREFERRED: &str = "Setting preferred secret store";
    pub const CLEAR_PREFERRED: &str = "Removing preferred secret store";
}

/// The configured stores as the API shows them.
pub struct StoreDirectory {
    /// Whether the secret-stores API is on (stores configured explicitly).
    pub enabled: bool,
    pub rows: Vec<StoreRow>,
}

impl StoreDirectory {
    /// Record the configured stores in the database (ids stay stable across restarts) and warn
    /// about secrets held by stores that are no longer configured.
    pub fn sync(db: &Db, plugins: &Plugins, enabled: bool) -> Result<StoreDirectory, DbError> {
        let configured: Vec<ConfiguredStore<'_>> = plugins
            .stores
            .values()
            .map(|s| ConfiguredStore {
                name: &s.name,
                store_plugin: s.store_plugin.name,
                crypto_plugin: s.crypto_plugin.map(|d| d.name),
                global_default: s.name == plugins.default_store,
            })
            .collect();
        let mut conn = db.conn()?;
        let rows = store_db::sync(&mut conn, &configured, timefmt::now())?;
        for name in store_db::store_names_in_use(&mut conn)? {
            if !plugins.stores.contains_key(&name) {
                tracing::warn!(
                    store = %name,
                    "secrets are held by store '{name}', which is not configured: they cannot be \
                     read until it is configured again"
                );
            }
        }
        Ok(StoreDirectory { enabled, rows })
    }

    pub fn by_id(&self, id: &str) -> Option<&StoreRow> {
        self.rows.iter().find(|r| r.id == id)
    }

    pub fn by_name(&self, name: &str) -> Option<&StoreRow> {
        self.rows.iter().find(|r| r.name == name)
    }
}

fn not_enabled() -> ServiceError {
    ServiceError::not_found(
        "Not Found. Multiple backends support is not enabled in service configuration.",
    )
}

/// A store's row with its loaded plugins.
pub struct StoreInfo<'a> {
    pub row: &'a StoreRow,
    pub loaded: Option<&'a Arc<LoadedStore>>,
}

/// The secret stores as the API shows them: the store a project's new secrets go to, the list, one
/// store, the global default, a project's preferred store and setting it.
///
/// A view of [`Services`] (`services.secret_stores()`): cheap to make, borrowed for one call.
#[derive(Clone, Copy)]
pub struct SecretStores<'a> {
    s: &'a Services,
}

impl Services {
    pub fn secret_stores(&self) -> SecretStores<'_> {
        SecretStores { s: self }
    }
}

impl<'a> SecretStores<'a> {
    fn stores_enabled(&self) -> Result<(), ServiceError> {
        if self.s.store_directory.enabled {
            Ok(())
        } else {
            Err(not_enabled())
        }
    }

    fn info(&self, row: &'a StoreRow) -> StoreInfo<'a> {
        StoreInfo {
            row,
            loaded: self.s.plugins.stores.get(&row.name),
        }
    }

    /// The store a project's new secrets and orders go to: its preferred store, else the
    /// global default.
    pub fn for_project(
        &self,
        project_id: &str,
        operation: Operation,
    ) -> Result<&'a Arc<LoadedStore>, ServiceError> {
        if self.s.store_directory.enabled && self.s.store_directory.rows.len() > 1 {
            let preferred = {
                let mut conn = self.s.conn(operation)?;
                store_db::preferred(&mut conn, project_id).during(operation)?
            };
            if let Some(row) = preferred.and_then(|id| self.s.store_directory.by_id(&id)) {
                if let Some(s) = self.s.plugins.stores.get(&row.name) {
                    return Ok(s);
                }
            }
        }
        self.s.plugins.store_for_new_secret().ok_or_else(|| {
            ServiceError::internal(operation, "no store is configured for new secrets")
        })
    }

    pub fn list(&self, caller: &AuthContext) -> Result<Vec<StoreInfo<'a>>, ServiceError> {
        // The collection routes check policy first (Barbican's order).
        self.s
            .authorize(caller, "secretstores:get", &Target::new(), ops::LIST)?;
        self.stores_enabled()?;
        Ok(self
            .s
            .store_directory
            .rows
            .iter()
            .map(|r| self.info(r))
            .collect())
    }

    /// A store by id: 404 when unknown.
    pub fn get(&self, caller: &AuthContext, id: &str) -> Result<StoreInfo<'a>, ServiceError> {
        self.stores_enabled()?;
        let row = self
            .s
            .store_directory
            .by_id(id)
            .ok_or_else(|| ServiceError::not_found("Not Found. Secret store not found."))?;
        self.s
            .authorize(caller, "secretstore:get", &Target::new(), ops::GET)?;
        Ok(self.info(row))
    }

    pub fn global_default(&self, caller: &AuthContext) -> Result<StoreInfo<'a>, ServiceError> {
        self.s.authorize(
            caller,
            "secretstores:get_global_default",
            &Target::new(),
            ops::GLOBAL_DEFAULT,
        )?;
        self.stores_enabled()?;
        let row = self
            .s
            .store_directory
            .rows
            .iter()
            .find(|r| r.global_default)
            .ok_or_else(|| {
                ServiceError::internal(ops::GLOBAL_DEFAULT, "no global default store")
            })?;
        Ok(self.info(row))
    }

    pub fn preferred(&self, caller: &AuthContext) -> Result<StoreInfo<'a>, ServiceError> {
        self.s.authorize(
            caller,
            "secretstores:get_preferred",
            &Target::new(),
            ops::PREFERRED,
        )?;
        self.stores_enabled()?;
        let id = {
            let mut conn = self.s.conn(ops::PREFERRED)?;
            store_db::preferred(&mut conn, &caller.project_id).during(ops::PREFERRED)?
        };
        let row = id
            .and_then(|id| self.s.store_directory.by_id(&id))
            .ok_or_else(|| {
                ServiceError::not_found(
                    "Not Found. No preferred secret store defined for this project.",
                )
            })?;
        Ok(self.info(row))
    }

    /// Set (`Some(store id)`) or clear (`None`) the caller's project's preferred store.
    pub fn set_preferred(
        &self,
        caller: &AuthContext,
        id: &str,
        set: bool,
    ) -> Result<(), ServiceError> {
        self.stores_enabled()?;
        let row = self
            .s
            .store_directory
            .by_id(id)
            .ok_or_else(|| ServiceError::not_found("Not Found. Secret store not found."))?;
        let (action, op) = if set {
            ("secretstore_preferred:post", ops::SET_PREFERRED)
        } else {
            ("secretstore_preferred:delete", ops::CLEAR_PREFERRED)
        };
        self.s.authorize(caller, action, &Target::new(), op)?;
        let (project, store_id) = (caller.project_id.clone(), row.id.clone());
        if set {
            self.s.write(op, move |c| {
                store_db::set_preferred(c, &project, &store_id, timefmt::now())
            })
        } else if self
            .s
            .write(op, move |c| store_db::clear_preferred(c, &project))?
        {
            Ok(())
        } else {
            Err(ServiceError::not_found(
                "Not Found. No preferred secret store defined for this project.",
            ))
        }
    }
}
