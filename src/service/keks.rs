//! The core's side of project KEKs: plugins ask for them through [`KekResolver`]; the core
//! finds them in a cache or the database, or has the crypto plugin create one and persists it.

use std::sync::Arc;

use plugin_api::{CryptoPlugin, KekBinding, KekResolver, PluginError, ProjectKek};

use crate::db::keks::{self as kek_db, KekRow};
use crate::db::{Db, DbError};
use crate::timefmt;
use quick_cache::sync::Cache;

/// Cached KEK rows: the active KEK id per (project, store), and KEKs by id.
pub struct KekCache {
    active: Cache<(String, String), String>,
    /// Keyed by (store, KEK id).
    by_id: Cache<(String, String), Arc<ProjectKek>>,
}

impl KekCache {
    pub fn new(capacity: usize) -> Self {
        KekCache {
            active: Cache::new(capacity.max(1)),
            by_id: Cache::new(capacity.max(1)),
        }
    }
}

/// A [`KekResolver`] for one project in one store. It takes a pooled connection only on a
/// cache miss, so callers must not hold one while calling a plugin.
pub struct CoreKeks<'a> {
    pub db: &'a Db,
    pub cache: &'a KekCache,
    pub project_id: &'a str,
    pub store_name: &'a str,
}

fn db_err(e: DbError) -> PluginError {
    match e {
        DbError::Unavailable(m) => PluginError::Unavailable(m),
        other => PluginError::Internal(other.to_string()),
    }
}

impl CoreKeks<'_> {
    fn remember(&self, row: &KekRow) -> Arc<ProjectKek> {
        let kek = Arc::new(row.to_project_kek());
        self.cache
            .by_id
            .insert((row.store_name.clone(), row.id.clone()), Arc::clone(&kek));
        if row.active {
            self.cache.active.insert(
                (row.project_id.clone(), row.store_name.clone()),
                row.id.clone(),
            );
        }
        kek
    }

    fn check_plugin(&self, row: &KekRow, crypto: &dyn CryptoPlugin) -> Result<(), PluginError> {
        if row.plugin_name == crypto.name() {
            Ok(())
        } else {
            Err(PluginError::Internal(format!(
                "project KEK {} of store '{}' belongs to crypto plugin '{}', but the store is \
                 configured with '{}'; a store's crypto plugin cannot change under the same name",
                row.id,
                self.store_name,
                row.plugin_name,
                crypto.name()
            )))
        }
    }
}

impl KekResolver for CoreKeks<'_> {
    fn active_kek(&self, crypto: &dyn CryptoPlugin) -> Result<ProjectKek, PluginError> {
        let key = (self.project_id.to_owned(), self.store_name.to_owned());
        if let Some(id) = self.cache.active.get(&key) {
            if let Some(kek) = self.cache.by_id.get(&(self.store_name.to_owned(), id)) {
                return Ok((*kek).clone());
            }
        }
        // Each read takes a connection for itself only: holding one across the write below
        // would need two at once, and a full pool would wait on itself.
        let read_active = || -> Result<Option<KekRow>, PluginError> {
            let mut conn = self.db.conn().map_err(db_err)?;
            kek_db::active(&mut conn, self.project_id, self.store_name).map_err(db_err)
        };
        if let Some(row) = read_active()? {
            self.check_plugin(&row, crypto)?;
            return Ok((*self.remember(&row)).clone());
        }
        let id = uuid::Uuid::new_v4().to_string();
        let wrapped = crypto.create_project_kek(KekBinding {
            kek_id: &id,
            project_id: self.project_id,
        })?;
        let now = timefmt::now();
        let row = KekRow {
            id,
            project_id: self.project_id.to_owned(),
            store_name: self.store_name.to_owned(),
            plugin_name: crypto.name().to_owned(),
            master_key_id: wrapped.master_key_id,
            wrapped_kek: wrapped.wrapped,
            plugin_meta: wrapped.plugin_meta,
            active: true,
            created_at: now,
            updated_at: now,
        };
        let inserted = row.clone();
        if self
            .db
            .write(move |c| kek_db::insert_active(c, &inserted))
            .map_err(db_err)?
        {
            tracing::info!(project = self.project_id, store = self.store_name, kek = %row.id, "project KEK created");
            return Ok((*self.remember(&row)).clone());
        }
        // Another request created the project's KEK first: use that one.
        let row = read_active()?
            .ok_or_else(|| PluginError::Internal("project KEK vanished after a race".into()))?;
        self.check_plugin(&row, crypto)?;
        Ok((*self.remember(&row)).clone())
    }

    fn kek_by_id(&self, kek_id: &str) -> Result<ProjectKek, PluginError> {
        let key = (self.store_name.to_owned(), kek_id.to_owned());
        let kek = match self.cache.by_id.get(&key) {
            Some(k) => k,
            None => {
                let mut conn = self.db.conn().map_err(db_err)?;
                let row = kek_db::by_id(&mut conn, kek_id)
                    .map_err(db_err)?
                    .ok_or_else(|| {
                        PluginError::Integrity(format!(
                            "the secret names project KEK {kek_id}, which does not exist"
                        ))
                    })?;
                if row.store_name != self.store_name {
                    return Err(PluginError::Integrity(format!(
                        "the secret names project KEK {kek_id}, which belongs to another store"
                    )));
                }
                self.remember(&row)
            }
        };
        if kek.project_id != self.project_id {
            return Err(PluginError::Integrity(format!(
                "the secret names project KEK {kek_id}, which belongs to another project"
            )));
        }
        Ok((*kek).clone())
    }
}
