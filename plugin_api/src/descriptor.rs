//! Plugin descriptors: what each plugin declares about itself.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::{AuthPlugin, CryptoPlugin, EventPlugin, PluginError, SecretStore};

/// The kind of extension point a plugin fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Namespace {
    Store,
    Crypto,
    Event,
    Auth,
}

impl Namespace {
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Store => "store",
            Namespace::Crypto => "crypto",
            Namespace::Event => "event",
            Namespace::Auth => "auth",
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far a plugin is trusted. `Experimental` and `OutOfTree` plugins load only where the
/// configuration allows them (`plugins.allow_experimental`, `plugins.allow_out_of_tree`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginStatus {
    Stable,
    Experimental,
    OutOfTree,
}

impl PluginStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginStatus::Stable => "stable",
            PluginStatus::Experimental => "experimental",
            PluginStatus::OutOfTree => "out-of-tree",
        }
    }
}

impl fmt::Display for PluginStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The deployment profile. `Dev` favours getting started (for instance a generated master key);
/// `Production` refuses anything unsafe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    #[default]
    Dev,
    Production,
}

/// What a factory receives: the plugin's own configuration section and the service's
/// environment.
#[derive(Debug, Clone, Copy)]
pub struct PluginContext<'a> {
    /// Where the plugin reports its measurements (already labelled with its instance).
    pub metrics: &'a crate::Metrics,
    /// The name of the configured instance (for stores, the store's name in `[stores.NAME]`).
    pub instance: &'a str,
    /// The plugin's configuration section (an empty object when absent).
    pub config: &'a serde_json::Value,
    /// The service's data directory (exists, writable).
    pub data_dir: &'a Path,
    pub profile: Profile,
}

impl PluginContext<'_> {
    /// Deserialize the configuration section into the plugin's own typed config.
    pub fn parse_config<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        T::deserialize(self.config).map_err(|e| {
            PluginError::Config(format!(
                "invalid configuration for '{}': {e}",
                self.instance
            ))
        })
    }
}

/// What a store factory receives besides its context: the crypto plugin configured with it
/// (for stores that encrypt through one), already built.
pub type StoreFactoryInput = Option<Arc<dyn CryptoPlugin>>;

/// Builds a store from its context and its crypto plugin.
pub type StoreFactory =
    fn(&PluginContext<'_>, StoreFactoryInput) -> Result<Arc<dyn SecretStore>, PluginError>;
/// Builds a crypto plugin from its context.
pub type CryptoFactory = fn(&PluginContext<'_>) -> Result<Arc<dyn CryptoPlugin>, PluginError>;
/// Builds an authentication plugin from its context.
pub type AuthFactory = fn(&PluginContext<'_>) -> Result<Arc<dyn AuthPlugin>, PluginError>;
/// Builds an event plugin instance from its context (`instance` is the `[events.NAME]` name).
pub type EventFactory = fn(&PluginContext<'_>) -> Result<Arc<dyn EventPlugin>, PluginError>;

/// The constructor of a plugin, by namespace.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Factory {
    Store(StoreFactory),
    Crypto(CryptoFactory),
    Auth(AuthFactory),
    Event(EventFactory),
}

impl Factory {
    pub fn namespace(&self) -> Namespace {
        match self {
            Factory::Store(_) => Namespace::Store,
            Factory::Crypto(_) => Namespace::Crypto,
            Factory::Auth(_) => Namespace::Auth,
            Factory::Event(_) => Namespace::Event,
        }
    }
}

/// What every plugin declares, once, with [`crate::register_plugin!`].
pub struct PluginDescriptor {
    /// Unique within its namespace; what configuration names.
    pub name: &'static str,
    /// The plugin's own version (usually `env!("CARGO_PKG_VERSION")`).
    pub version: &'static str,
    pub status: PluginStatus,
    /// The crate that provides the plugin (usually `env!("CARGO_PKG_NAME")`).
    pub crate_name: &'static str,
    /// One line for `coffer plugins list`.
    pub summary: &'static str,
    pub factory: Factory,
    /// What else it offers (operator commands, its executable, its private files).
    pub capabilities: crate::Capabilities,
}

impl PluginDescriptor {
    pub fn namespace(&self) -> Namespace {
        self.factory.namespace()
    }
}

impl fmt::Debug for PluginDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginDescriptor")
            .field("namespace", &self.namespace())
            .field("name", &self.name)
            .field("version", &self.version)
            .field("status", &self.status)
            .field("crate_name", &self.crate_name)
            .field("capabilities", &self.capabilities)
            .finish()
    }
}
