//! Loading plugins named by the configuration: registry lookup, the status policy, and
//! construction of each configured store (store plugin + optional crypto plugin), the
//! authentication plugin and the event plugin instances.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use plugin_api::registry::{self, RegistryError};
use plugin_api::{
    AuthPlugin, CryptoPlugin, Factory, Namespace, PluginContext, PluginDescriptor, PluginStatus,
    SecretStore,
};

use crate::config::{PluginSettings, Settings, StoreSettings};
use crate::events::{self, Events};

/// A configured store, built.
pub struct LoadedStore {
    pub name: String,
    pub store: Arc<dyn SecretStore>,
    pub store_plugin: &'static PluginDescriptor,
    pub crypto: Option<Arc<dyn CryptoPlugin>>,
    pub crypto_plugin: Option<&'static PluginDescriptor>,
    pub global_default: bool,
}

/// Every plugin the configuration uses, built.
pub struct Plugins {
    pub stores: BTreeMap<String, Arc<LoadedStore>>,
    pub default_store: String,
    pub auth: Arc<dyn AuthPlugin>,
    pub auth_plugin: &'static PluginDescriptor,
    /// The `[events.NAME]` instances.
    pub events: Arc<Events>,
}

impl Plugins {
    /// The store a new secret of this project goes to.
    pub fn store_for_new_secret(&self) -> Option<&Arc<LoadedStore>> {
        self.stores.get(&self.default_store)
    }
}

/// Why a plugin may not load under the current settings, if it may not.
pub fn status_refusal(d: &PluginDescriptor, policy: &PluginSettings) -> Option<String> {
    let (allowed, setting) = match d.status {
        PluginStatus::Stable => return None,
        PluginStatus::Experimental => (policy.allow_experimental, "plugins.allow_experimental"),
        PluginStatus::OutOfTree => (policy.allow_out_of_tree, "plugins.allow_out_of_tree"),
    };
    if allowed {
        None
    } else {
        Some(format!(
            "{} plugin '{}' is {}; set {setting} = true to load it",
            d.namespace(),
            d.name,
            d.status
        ))
    }
}

/// Find a plugin by namespace and name and apply the status policy.
pub fn resolve(
    namespace: Namespace,
    name: &str,
    policy: &PluginSettings,
) -> anyhow::Result<&'static PluginDescriptor> {
    let d = registry::find(namespace, name).map_err(|e: RegistryError| anyhow!(e))?;
    if let Some(why) = status_refusal(d, policy) {
        bail!(why);
    }
    Ok(d)
}

/// Every `(namespace, name)` the configuration names.
pub fn configured(settings: &Settings) -> Vec<(Namespace, String)> {
    let mut out = vec![(Namespace::Auth, settings.auth.mode.clone())];
    for e in settings.events.values() {
        out.push((Namespace::Event, e.plugin.clone()));
    }
    for s in settings.effective_stores().values() {
        out.push((Namespace::Store, s.store_plugin.clone()));
        if let Some(c) = &s.crypto_plugin {
            out.push((Namespace::Crypto, c.clone()));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn check_defaults(stores: &BTreeMap<String, StoreSettings>) -> anyhow::Result<String> {
    if stores.len() == 1 {
        if let Some(name) = stores.keys().next() {
            return Ok(name.clone());
        }
    }
    let defaults: Vec<&String> = stores
        .iter()
        .filter(|(_, s)| s.global_default)
        .map(|(n, _)| n)
        .collect();
    match defaults.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "several stores are configured ({}) but none has global_default = true",
            stores.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        many => bail!(
            "exactly one store may have global_default = true, found {}",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn build_store(
    name: &str,
    cfg: &StoreSettings,
    settings: &Settings,
    data_dir: &Path,
) -> anyhow::Result<LoadedStore> {
    let policy = &settings.plugins;
    let profile = settings.profile.into();
    let empty = serde_json::Value::Object(Default::default());
    let metrics = crate::metrics::for_plugin(Some(("store", name)));
    let (crypto, crypto_plugin) = match &cfg.crypto_plugin {
        None => (None, None),
        Some(cname) => {
            let d = resolve(Namespace::Crypto, cname, policy)
                .map_err(|e| anyhow!("store '{name}': {e}"))?;
            let section = settings.crypto_section(cfg, cname).unwrap_or(&empty);
            let ctx = PluginContext {
                metrics: &metrics,
                instance: name,
                config: section,
                data_dir,
                profile,
            };
            let Factory::Crypto(factory) = d.factory else {
                bail!("store '{name}': plugin '{cname}' is not a crypto plugin");
            };
            let built = factory(&ctx).map_err(|e| anyhow!("store '{name}': {cname}: {e}"))?;
            (Some(built), Some(d))
        }
    };
    let d = resolve(Namespace::Store, &cfg.store_plugin, policy)
        .map_err(|e| anyhow!("store '{name}': {e}"))?;
    let Factory::Store(factory) = d.factory else {
        bail!(
            "store '{name}': plugin '{}' is not a store plugin",
            cfg.store_plugin
        );
    };
    let ctx = PluginContext {
        metrics: &metrics,
        instance: name,
        config: cfg.store.as_ref().unwrap_or(&empty),
        data_dir,
        profile,
    };
    let store = factory(&ctx, crypto.clone())
        .map_err(|e| anyhow!("store '{name}': {}: {e}", cfg.store_plugin))?;
    Ok(LoadedStore {
        name: name.to_owned(),
        store: crate::metrics::MeteredStore::wrap(name, store),
        store_plugin: d,
        crypto,
        crypto_plugin,
        global_default: cfg.global_default,
    })
}

/// Build every plugin the configuration names. Fails with a message naming the plugin and
/// the setting to change.
pub fn load(settings: &Settings) -> anyhow::Result<Plugins> {
    registry::check()?;
    let data_dir = &settings.server.data_dir;
    crate::files::create_private_dir(data_dir)
        .map_err(|e| anyhow!("cannot create data_dir {}: {e}", data_dir.display()))?;
    let store_cfgs = settings.effective_stores();
    let default_store = check_defaults(&store_cfgs)?;
    let mut stores = BTreeMap::new();
    for (name, cfg) in &store_cfgs {
        let loaded = build_store(name, cfg, settings, data_dir)?;
        tracing::info!(
            store = %name,
            store_plugin = loaded.store_plugin.name,
            store_status = %loaded.store_plugin.status,
            crypto_plugin = loaded.crypto_plugin.map(|d| d.name).unwrap_or("-"),
            crypto_status = %loaded.crypto_plugin.map(|d| d.status.as_str()).unwrap_or("-"),
            global_default = name == &default_store,
            "store loaded"
        );
        stores.insert(name.clone(), Arc::new(loaded));
    }
    let auth_plugin = resolve(Namespace::Auth, &settings.auth.mode, &settings.plugins)
        .map_err(|e| anyhow!("auth.mode: {e}"))?;
    let Factory::Auth(factory) = auth_plugin.factory else {
        bail!(
            "auth.mode names '{}', which is not an auth plugin",
            settings.auth.mode
        );
    };
    let empty = serde_json::Value::Object(Default::default());
    let auth = factory(&PluginContext {
        metrics: &crate::metrics::for_plugin(None),
        instance: &settings.auth.mode,
        config: settings
            .auth
            .plugin_settings
            .get(&settings.auth.mode)
            .unwrap_or(&empty),
        data_dir,
        profile: settings.profile.into(),
    })
    .map_err(|e| anyhow!("auth plugin '{}': {e}", settings.auth.mode))?;
    tracing::info!(
        plugin = auth_plugin.name,
        status = %auth_plugin.status,
        "authentication plugin loaded"
    );
    let events = Arc::new(load_events(settings, data_dir)?);
    Ok(Plugins {
        stores,
        default_store,
        auth,
        auth_plugin,
        events,
    })
}

/// Build the `[events.NAME]` instances.
fn load_events(settings: &Settings, data_dir: &Path) -> anyhow::Result<Events> {
    let mut instances = Vec::new();
    let empty = serde_json::Value::Object(Default::default());
    for (name, cfg) in &settings.events {
        let d = resolve(Namespace::Event, &cfg.plugin, &settings.plugins)
            .map_err(|e| anyhow!("events.{name}.plugin: {e}"))?;
        let Factory::Event(factory) = d.factory else {
            bail!(
                "events.{name}.plugin names '{}', which is not an event plugin",
                cfg.plugin
            );
        };
        let plugin = factory(&PluginContext {
            metrics: &crate::metrics::for_plugin(Some(("instance", name))),
            instance: name,
            config: cfg.settings.as_ref().unwrap_or(&empty),
            data_dir,
            profile: settings.profile.into(),
        })
        .map_err(|e| anyhow!("event plugin '{}' (events.{name}): {e}", cfg.plugin))?;
        let instance = events::Instance::new(name, cfg, plugin)?;
        tracing::info!(instance = %name, plugin = d.name, status = %d.status,
            on = ?cfg.on, "event plugin loaded");
        instances.push(instance);
    }
    Ok(Events::new(instances))
}

/// One row of `coffer plugins list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRow {
    pub namespace: Namespace,
    pub name: &'static str,
    pub version: &'static str,
    pub status: PluginStatus,
    pub crate_name: &'static str,
    /// Where the plugin's code runs from: `built-in` (a crate linked into this binary) or
    /// `executable STORE: COMMAND, ...` (the `external` store's child process, per store).
    pub source: String,
    /// `loaded`, `not configured`, or why it is refused.
    pub state: String,
}

/// The package names of this workspace's members (derived by `build.rs` from `Cargo.toml`): a
/// plugin from any other crate is a linked one.
fn in_tree(crate_name: &str) -> bool {
    env!("COFFER_IN_TREE_CRATES")
        .split(',')
        .any(|c| c == crate_name)
}

/// The `source` of a plugin row: built in, linked from another crate, or, for a plugin that
/// declares an executable (the `external` store), the program each configured store runs.
fn source(d: &PluginDescriptor, settings: &Settings) -> String {
    if !in_tree(d.crate_name) {
        return format!("linked crate {}", d.crate_name);
    }
    let Some(executable) = d.capabilities.executable else {
        return "built-in".to_owned();
    };
    let commands: Vec<String> = instances_of(d, settings)
        .into_iter()
        .filter_map(|(name, section)| Some(format!("{name}: {}", executable(&section)?)))
        .collect();
    if commands.is_empty() {
        "executable (none configured)".to_owned()
    } else {
        format!("executable {}", commands.join(", "))
    }
}

/// The configured instances of plugin `d` with their settings sections: stores by name for
/// store plugins, the stores using a crypto plugin (their `crypto` table, else
/// `[crypto.NAME]`), the `[events.NAME]` instances of an event plugin, the auth plugin.
pub fn instances_of(d: &PluginDescriptor, settings: &Settings) -> Vec<(String, serde_json::Value)> {
    let empty = || serde_json::Value::Object(Default::default());
    match d.namespace() {
        Namespace::Store => settings
            .effective_stores()
            .into_iter()
            .filter(|(_, s)| s.store_plugin == d.name)
            .map(|(name, s)| (name, s.store.unwrap_or_else(empty)))
            .collect(),
        Namespace::Crypto => settings
            .effective_stores()
            .into_iter()
            .filter(|(_, s)| s.crypto_plugin.as_deref() == Some(d.name))
            .map(|(name, s)| {
                let section = settings.crypto_section(&s, d.name).cloned();
                (name, section.unwrap_or_else(empty))
            })
            .collect(),
        Namespace::Event => settings
            .events
            .iter()
            .filter(|(_, e)| e.plugin == d.name)
            .map(|(name, e)| (name.clone(), e.settings.clone().unwrap_or_else(empty)))
            .collect(),
        Namespace::Auth if settings.auth.mode == d.name => vec![(
            d.name.to_owned(),
            settings
                .auth
                .plugin_settings
                .get(d.name)
                .cloned()
                .unwrap_or_else(empty),
        )],
        _ => Vec::new(),
    }
}

/// Every registered plugin and whether this configuration loads it (nothing is built).
pub fn list(settings: &Settings) -> Vec<PluginRow> {
    let named = configured(settings);
    registry::all()
        .into_iter()
        .map(|d| {
            let is_named = named
                .iter()
                .any(|(ns, n)| *ns == d.namespace() && n == d.name);
            let state = match (is_named, status_refusal(d, &settings.plugins)) {
                (false, _) => "not configured".to_owned(),
                (true, None) => "loaded".to_owned(),
                (true, Some(why)) => format!("refused: {why}"),
            };
            PluginRow {
                namespace: d.namespace(),
                name: d.name,
                version: d.version,
                status: d.status,
                crate_name: d.crate_name,
                source: source(d, settings),
                state,
            }
        })
        .collect()
}

/// `coffer plugins list` as a table.
pub fn format_table(rows: &[PluginRow]) -> String {
    let w = rows
        .iter()
        .map(|r| r.source.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut out = format!(
        "{:<10} {:<16} {:<10} {:<13} {:<16} {:<w$} {}\n",
        "NAMESPACE", "NAME", "VERSION", "STATUS", "CRATE", "SOURCE", "STATE"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<10} {:<16} {:<10} {:<13} {:<16} {:<w$} {}\n",
            r.namespace.as_str(),
            r.name,
            r.version,
            r.status.as_str(),
            r.crate_name,
            r.source,
            r.state
        ));
    }
    out
}
