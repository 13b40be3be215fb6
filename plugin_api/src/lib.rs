//! The contract between Coffer and its plugins.
//!
//! Plugin authors depend on this crate and nothing else of Coffer. It defines:
//!
//! * the shared value types ([`SecretType`], [`KeySpec`], [`SecretBytes`], ...);
//! * the crypto-plugin trait [`CryptoPlugin`] and the secret-store trait [`SecretStore`];
//! * the authentication trait [`AuthPlugin`] and the event trait [`EventPlugin`];
//! * the [`Metrics`] handle through which a plugin reports measurements;
//! * the plugin [`PluginDescriptor`] (namespace, name, version, status, factory) and the
//!   link-time [`registry`] through which the service finds every plugin, in-tree or not.
//!
//! Invariants every plugin keeps:
//!
//! * plugins never touch the database: whatever must persist (wrapped KEKs, per-secret
//!   metadata) is returned to the core, which stores it and hands it back unchanged;
//! * payloads and key material travel in zeroizing containers and never appear in an error
//!   message, a log line or a panic;
//! * every trait method is synchronous and may block (an HSM call, a child process); the core
//!   always calls plugins from a blocking thread pool, never on the async executor.

pub mod audit_chain;
mod auth;
mod capabilities;
mod crypto;
mod descriptor;
mod error;
mod event;
pub mod metrics;
pub mod registry;
mod store;
mod types;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use auth::{AuthContext, AuthError, AuthPlugin, HeaderLookup, Rejection};
pub use capabilities::{
    Capabilities, CommandArgs, CommandGroup, CommandOption, OperatorCommand, PrivateFiles,
};
pub use crypto::{CryptoPlugin, Encrypted, KekBinding, ProjectKek, WrappedKek};
pub use descriptor::{
    AuthFactory, CryptoFactory, EventFactory, Factory, Namespace, PluginContext, PluginDescriptor,
    PluginStatus, Profile, StoreFactory, StoreFactoryInput,
};
pub use error::PluginError;
pub use event::{format_time, Actor, Event, EventKind, EventPlugin, Phase, Subject};
pub use metrics::{Labels, Metrics, MetricsSink};
pub use store::{
    GeneratedKeyPairMetadata, KekResolver, KeyPairTargets, SecretDto, SecretStore, StoreContext,
    StoreMetadata,
};
pub use types::{Binding, GeneratedKeyPair, KeySpec, SecretBytes, SecretType, SupportKind};

/// Re-exported so that plugin crates register with the same `inventory` version as the core.
pub use inventory;

/// Register a plugin descriptor with Coffer's link-time registry.
///
/// ```ignore
/// plugin_api::register_plugin!(plugin_api::PluginDescriptor {
///     name: "my_store",
///     version: env!("CARGO_PKG_VERSION"),
///     status: plugin_api::PluginStatus::OutOfTree,
///     origin: concat!("crate ", env!("CARGO_PKG_NAME")),
///     summary: "stores secrets somewhere",
///     factory: plugin_api::Factory::Store(build),
///     capabilities: plugin_api::Capabilities::NONE,
/// });
/// ```
#[macro_export]
macro_rules! register_plugin {
    ($descriptor:expr) => {
        $crate::inventory::submit! { $descriptor }
    };
}
