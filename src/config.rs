//! Configuration: built-in defaults < `coffer.toml` (or `--config FILE`) < environment
//! variables `COFFER__SECTION__KEY` (double underscore between levels).
//!
//! Sections: `profile`, `[server]`, `[database]`, `[secrets]`, `[plugins]`, `[auth]`,
//! `[logging]`, `[stores.NAME]`, `[crypto.PLUGIN]` and `[events.NAME]`. See README.md for the reference.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The whole configuration. Its `Debug` hides every secret: the database URL is a
/// [`SecretString`], and the plugin sections (which may hold master keys, PINs, passwords,
/// header tokens) show their keys but none of their values (see [`Redacted`]).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `dev` (default) or `production`: production refuses generated keys and other shortcuts.
    pub profile: ProfileSetting,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub secrets: SecretsSettings,
    pub containers: ContainersSettings,
    pub plugins: PluginSettings,
    pub auth: AuthSettings,
    pub policy: PolicySettings,
    pub quotas: QuotaSettings,
    pub orders: OrderSettings,
    pub logging: LoggingSettings,
    /// Named secret stores. Empty means one store, `software` = store_crypto + simple_crypto.
    #[serde(default)]
    pub stores: BTreeMap<String, StoreSettings>,
    /// Crypto plugin sections by plugin name (`[crypto.simple_crypto]`).
    #[serde(default)]
    pub crypto: BTreeMap<String, serde_json::Value>,
    /// Named event plugin instances (`[events.NAME]`).
    #[serde(default)]
    pub events: BTreeMap<String, EventSettings>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured so that a new field cannot be forgotten here.
        let Settings {
            profile,
            server,
            database,
            secrets,
            containers,
            plugins,
            auth,
            policy,
            quotas,
            orders,
            logging,
            stores,
            crypto,
            events,
        } = self;
        f.debug_struct("Settings")
            .field("profile", profile)
            .field("server", server)
            .field("database", database)
            .field("secrets", secrets)
            .field("containers", containers)
            .field("plugins", plugins)
            .field("auth", auth)
            .field("policy", policy)
            .field("quotas", quotas)
            .field("orders", orders)
            .field("logging", logging)
            .field("stores", stores)
            .field("crypto", &RedactedSections(crypto))
            .field("events", events)
            .finish()
    }
}

/// A plugin's settings for `Debug`: the shape (objects, arrays, keys, booleans) without any
/// string or number, since any of them may be a key, a PIN, a password or a token.
pub struct Redacted<'a>(pub &'a serde_json::Value);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use serde_json::Value;
        match self.0 {
            Value::Object(map) => f
                .debug_map()
                .entries(map.iter().map(|(k, v)| (k, Redacted(v))))
                .finish(),
            Value::Array(items) => f.debug_list().entries(items.iter().map(Redacted)).finish(),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::String(_) | Value::Number(_) => f.write_str("[REDACTED]"),
        }
    }
}

/// Plugin sections by name, each [`Redacted`].
struct RedactedSections<'a>(&'a BTreeMap<String, serde_json::Value>);

impl std::fmt::Debug for RedactedSections<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, Redacted(v))))
            .finish()
    }
}

/// `[events.NAME]`: one instance of an event plugin.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// The event plugin (`audit_log`, `webhook`, `command`, ...).
    pub plugin: String,
    /// The phases delivered: `before`, `success`, `failure` (default: success and failure).
    #[serde(default = "default_phases")]
    pub on: Vec<String>,
    /// The events delivered, by name (`secret.created`, ...; default: all).
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// The plugin's own settings.
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
}

impl std::fmt::Debug for EventSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSettings")
            .field("plugin", &self.plugin)
            .field("on", &self.on)
            .field("events", &self.events)
            .field("settings", &self.settings.as_ref().map(Redacted))
            .finish()
    }
}

fn default_phases() -> Vec<String> {
    vec!["success".into(), "failure".into()]
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProfileSetting {
    Dev,
    Production,
}

impl From<ProfileSetting> for plugin_api::Profile {
    fn from(p: ProfileSetting) -> Self {
        match p {
            ProfileSetting::Dev => plugin_api::Profile::Dev,
            ProfileSetting::Production => plugin_api::Profile::Production,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on (`127.0.0.1:9311`).
    pub bind: String,
    /// Prefix of every `*_ref` and `Location` (`https://host:port`). Default (dev only): from
    /// the request's `Host` header, as Barbican does. Required in the production profile.
    pub host_href: Option<String>,
    /// Addresses or networks (`10.0.0.0/8`, `192.0.2.7`) of reverse proxies whose
    /// `Forwarded` / `X-Forwarded-Host` / `X-Forwarded-Proto` headers are believed; from any
    /// other peer those headers are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Where the default SQLite database and generated dev keys live.
    pub data_dir: PathBuf,
    /// HTTP worker threads; default: one per core.
    pub workers: Option<usize>,
    /// Largest request body accepted (Barbican's `max_allowed_request_size_in_bytes`).
    pub max_request_bytes: usize,
    /// How long a client may take to send a request's head (408 and close beyond).
    pub client_request_timeout_ms: u64,
    /// How long a client may take to send a request's body, from its head (408 and close).
    pub body_timeout_ms: u64,
    /// How long an idle kept-alive connection stays open.
    pub keep_alive_seconds: u64,
    /// Connections each worker serves at once; beyond, new ones wait to be accepted.
    pub max_connections: usize,
    /// Record Prometheus metrics and serve them at `/metrics`.
    pub metrics: bool,
    /// Serve `/metrics` on this address only (a second listener, for instance on an internal
    /// interface) instead of on `bind`.
    #[serde(default)]
    pub metrics_bind: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (relative), `sqlite:///abs/path.db`, or
    /// `postgres://user:password@host:port/database` (any libpq URL). Secret: it may hold a
    /// password (in its user-info, `?password=` or `sslpassword=`); logs show
    /// [`crate::db::redact_url`]'s form.
    pub url: SecretString,
    /// Connections in the pool.
    pub pool_size: u32,
    /// Apply pending migrations when `coffer serve` starts.
    pub auto_migrate: bool,
    /// How long a request waits for a connection or a lock before failing with 503.
    pub timeout_ms: u64,
    /// PostgreSQL: the longest one statement may run before it is cancelled (503).
    pub statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// Largest secret payload (Barbican's `max_allowed_secret_in_bytes`).
    pub max_payload_bytes: usize,
    /// Page size when `limit` is absent or invalid.
    pub default_limit_paging: i64,
    /// Largest page size.
    pub max_limit_paging: i64,
}

/// `[containers]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainersSettings {
    /// The most secret references one container may hold (400 beyond).
    pub max_secret_refs: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSettings {
    pub allow_experimental: bool,
    pub allow_out_of_tree: bool,
    /// The crypto plugin of the single store used when no `[stores]` are configured
    /// (Barbican's `enabled_crypto_plugins`); its settings are `[crypto.<plugin>]`.
    pub crypto_plugin: String,
}

#[derive(Clone, Deserialize)]
pub struct AuthSettings {
    /// The authentication plugin (`trusted_headers`).
    pub mode: String,
    /// Trusted headers give the caller whatever identity it claims; on a non-loopback bind
    /// address this must be set explicitly.
    pub trust_headers_on_public_bind: bool,
    /// Settings of authentication plugins, by plugin name (`[auth.keystone]`).
    #[serde(flatten)]
    pub plugin_settings: BTreeMap<String, serde_json::Value>,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("mode", &self.mode)
            .field(
                "trust_headers_on_public_bind",
                &self.trust_headers_on_public_bind,
            )
            .field("plugin_settings", &RedactedSections(&self.plugin_settings))
            .finish()
    }
}

/// `[policy]`: the authorization rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// The built-in rule set: `legacy` (Barbican's role matrix) or `secure_rbac`.
    #[serde(default)]
    pub defaults: crate::policy::Defaults,
    /// A YAML or JSON file of `rule name: check string` overriding the built-in rules
    /// (Barbican's policy.yaml syntax).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// `[quotas]`: default quotas per project (-1 unlimited, 0 disabled).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QuotaSettings {
    pub secrets: i32,
    pub orders: i32,
    pub containers: i32,
    pub consumers: i32,
    pub cas: i32,
}

/// `[orders]`: the key-generation workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderSettings {
    /// Worker threads generating keys.
    pub workers: usize,
    /// How long a claim on an order lasts unless renewed. The instance renews the leases of the
    /// orders its workers are on every third of this, so a dead instance's orders (or ones a
    /// worker gave up on, e.g. during a database outage) are claimed by another poller within
    /// this plus `poll_seconds`. At least 3.
    pub lease_seconds: u64,
    /// How long `POST /v1/orders` waits for the order to finish before answering 202 anyway.
    pub inline_wait_ms: u64,
    /// How often the poller looks for orders nobody holds a live lease on (never claimed after
    /// a restart, or left by a dead instance).
    pub poll_seconds: u64,
    /// Attempts before an order that keeps failing is marked ERROR.
    pub max_attempts: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSettings {
    /// A tracing filter (`info`, `coffer=debug,actix_web=info`); `RUST_LOG` overrides it. One
    /// that does not parse is a start-up error.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
    /// Append log lines to this file instead of stderr (reopened on SIGHUP).
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// One info line per request (`coffer::access`).
    pub access: bool,
}

/// `[stores.NAME]`: a secret-store plugin, optionally with a crypto plugin.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    pub store_plugin: String,
    #[serde(default)]
    pub crypto_plugin: Option<String>,
    #[serde(default)]
    pub global_default: bool,
    /// The store plugin's settings.
    #[serde(default)]
    pub store: Option<serde_json::Value>,
    /// The crypto plugin's settings; default: `[crypto.<crypto_plugin>]`.
    #[serde(default)]
    pub crypto: Option<serde_json::Value>,
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSettings")
            .field("store_plugin", &self.store_plugin)
            .field("crypto_plugin", &self.crypto_plugin)
            .field("global_default", &self.global_default)
            .field("store", &self.store.as_ref().map(Redacted))
            .field("crypto", &self.crypto.as_ref().map(Redacted))
            .finish()
    }
}

const DEFAULTS: &str = r#"
profile = "dev"

[server]
bind = "127.0.0.1:9311"
data_dir = "coffer-data"
max_request_bytes = 25000
client_request_timeout_ms = 5000
body_timeout_ms = 30000
keep_alive_seconds = 5
max_connections = 4096
metrics = true

[database]
url = ""
pool_size = 8
auto_migrate = true
timeout_ms = 5000
statement_timeout_ms = 30000

[secrets]
max_payload_bytes = 20000
default_limit_paging = 10
max_limit_paging = 100

[containers]
max_secret_refs = 1000

[plugins]
allow_experimental = false
allow_out_of_tree = false
crypto_plugin = "simple_crypto"

[auth]
mode = "trusted_headers"
trust_headers_on_public_bind = false

[policy]

[quotas]
secrets = -1
orders = -1
containers = -1
consumers = -1
cas = -1

[orders]
workers = 2
lease_seconds = 15
inline_wait_ms = 5000
poll_seconds = 2
max_attempts = 3

[logging]
level = "info"
format = "text"
access = true
"#;

/// A configuration error names the setting the way the user may have written it: a key of the
/// file (`database.pool_size`) and its environment variable (`COFFER__DATABASE__POOL_SIZE`).
fn name_the_setting(message: &str) -> String {
    let key = message.split('`').nth(1).filter(|k| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    });
    match key {
        Some(k) => {
            let env = format!("COFFER__{}", k.replace('.', "__").to_ascii_uppercase());
            let source = if std::env::var_os(&env).is_some() {
                format!("environment variable {env}")
            } else {
                format!("{k} in the configuration file, or environment variable {env}")
            };
            format!("{message} (the setting: {source})")
        }
        None => message.to_owned(),
    }
}

/// The name of the store used when `[stores]` is empty and its crypto plugin is
/// `simple_crypto`; with another crypto plugin, the store is named after that plugin.
pub const DEFAULT_STORE: &str = "software";

impl Settings {
    /// Load the configuration. `file`: an explicit file (must exist); otherwise `coffer.toml`
    /// in the working directory, if present.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        match file {
            Some(path) => {
                if !path.exists() {
                    bail!("configuration file {} does not exist", path.display());
                }
                builder = builder.add_source(
                    config::File::from(path)
                        .format(config::FileFormat::Toml)
                        .required(true),
                );
            }
            None => {
                builder = builder.add_source(config::File::with_name("coffer.toml").required(false))
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix("COFFER")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let mut settings: Settings = builder
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .map_err(|e| {
                anyhow!(
                    "invalid configuration: {}",
                    name_the_setting(&e.to_string())
                )
            })?;
        settings.fill_derived();
        settings.validate()?;
        Ok(settings)
    }

    /// Defaults that follow other settings: the database lives in the data directory.
    fn fill_derived(&mut self) {
        if self.database.url.expose_secret().is_empty() {
            let path = self.server.data_dir.join("coffer.db");
            self.database.url = format!("sqlite://{}", path.display()).into();
        }
    }

    /// Defaults only (for tests and tools).
    pub fn defaults() -> Settings {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap_or_else(|e| panic!("built-in defaults do not parse: {e}"));
        let mut settings: Settings = settings;
        settings.fill_derived();
        settings
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.bind_addr()?;
        if self.metrics_addr()?.is_some() && !self.server.metrics {
            bail!("server.metrics_bind is set but server.metrics = false");
        }
        if let Some(href) = &self.server.host_href {
            if !(href.starts_with("http://") || href.starts_with("https://")) {
                bail!("server.host_href must start with http:// or https:// (got {href:?})");
            }
        }
        self.trusted_proxies()?;
        if self.server.client_request_timeout_ms == 0
            || self.server.body_timeout_ms == 0
            || self.server.max_connections == 0
        {
            bail!(
                "server.client_request_timeout_ms, server.body_timeout_ms and \
                 server.max_connections must be positive"
            );
        }
        if self.database.pool_size == 0 {
            bail!("database.pool_size must be at least 1");
        }
        if self.containers.max_secret_refs == 0 {
            bail!("containers.max_secret_refs must be at least 1");
        }
        if self.secrets.default_limit_paging < 1 || self.secrets.max_limit_paging < 1 {
            bail!("secrets.default_limit_paging and secrets.max_limit_paging must be at least 1");
        }
        if self.orders.workers == 0 || self.orders.max_attempts < 1 {
            bail!("orders.workers and orders.max_attempts must be at least 1");
        }
        if self.orders.lease_seconds < 3 {
            // Renewed every third of the lease: at least once a second.
            bail!("orders.lease_seconds must be at least 3");
        }
        if !matches!(self.logging.format.as_str(), "text" | "json") {
            bail!("logging.format must be \"text\" or \"json\"");
        }
        Ok(())
    }

    /// The settings a store gives its crypto plugin `plugin`: its own `crypto` table, else
    /// `[crypto.<plugin>]`.
    pub fn crypto_section<'a>(
        &'a self,
        store: &'a StoreSettings,
        plugin: &str,
    ) -> Option<&'a serde_json::Value> {
        store.crypto.as_ref().or_else(|| self.crypto.get(plugin))
    }

    /// The parsed `server.metrics_bind`, when set.
    pub fn metrics_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        self.server
            .metrics_bind
            .as_deref()
            .map(|b| {
                b.parse()
                    .with_context(|| format!("server.metrics_bind {b:?} is not an address:port"))
            })
            .transpose()
    }

    /// The parsed `server.bind`.
    pub fn bind_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server
            .bind
            .parse()
            .with_context(|| format!("server.bind {:?} is not an address:port", self.server.bind))
    }

    /// The parsed `server.trusted_proxies` (a bare address is a network of one).
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.server
            .trusted_proxies
            .iter()
            .map(|p| {
                let p = p.trim();
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        anyhow!("server.trusted_proxies: {p:?} is not an address or network")
                    })
            })
            .collect()
    }

    /// Whether stores are configured explicitly (which enables the `/v1/secret-stores` API, as
    /// Barbican's `enable_multiple_secret_stores` does).
    pub fn multiple_stores_enabled(&self) -> bool {
        !self.stores.is_empty()
    }

    /// The configured stores, or the default single store when none is configured.
    pub fn effective_stores(&self) -> BTreeMap<String, StoreSettings> {
        if !self.stores.is_empty() {
            return self.stores.clone();
        }
        let crypto = &self.plugins.crypto_plugin;
        let name = if crypto == "simple_crypto" {
            DEFAULT_STORE
        } else {
            crypto
        };
        BTreeMap::from([(
            name.to_owned(),
            StoreSettings {
                store_plugin: "store_crypto".into(),
                crypto_plugin: Some(crypto.clone()),
                global_default: true,
                store: None,
                crypto: None,
            },
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_ones() {
        let s = Settings::defaults();
        assert_eq!(s.server.bind, "127.0.0.1:9311");
        assert_eq!(
            s.database.url.expose_secret(),
            "sqlite://coffer-data/coffer.db"
        );
        assert_eq!(s.secrets.max_payload_bytes, 20000);
        assert_eq!(s.server.max_request_bytes, 25000);
        assert_eq!(s.profile, ProfileSetting::Dev);
        assert!(!s.plugins.allow_experimental && !s.plugins.allow_out_of_tree);
        let stores = s.effective_stores();
        assert_eq!(stores.len(), 1);
        assert!(stores[DEFAULT_STORE].global_default);
        assert_eq!((s.orders.lease_seconds, s.orders.poll_seconds), (15, 2));
    }

    #[test]
    fn file_and_environment_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            r#"
profile = "production"
[server]
bind = "127.0.0.1:1234"
host_href = "https://kms.example.com"
trusted_proxies = ["10.0.0.0/8", "192.0.2.7"]
[stores.a]
store_plugin = "store_crypto"
crypto_plugin = "simple_crypto"
global_default = true
[crypto.simple_crypto]
master_key = "x"
"#,
        )
        .unwrap();
        // Environment variables are process-wide: use a key no other test reads.
        std::env::set_var("COFFER__SECRETS__MAX_LIMIT_PAGING", "7");
        let s = Settings::load(Some(&path)).unwrap();
        std::env::remove_var("COFFER__SECRETS__MAX_LIMIT_PAGING");
        assert_eq!(s.profile, ProfileSetting::Production);
        let proxies = s.trusted_proxies().unwrap();
        assert_eq!(proxies.len(), 2);
        assert!(proxies[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(s.server.bind, "127.0.0.1:1234");
        assert_eq!(s.secrets.max_limit_paging, 7);
        assert_eq!(s.secrets.default_limit_paging, 10);
        assert_eq!(
            s.stores["a"].crypto_plugin.as_deref(),
            Some("simple_crypto")
        );
        assert_eq!(s.crypto["simple_crypto"]["master_key"], "x");
    }

    #[test]
    fn the_example_file_is_valid_and_matches_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/coffer.toml.example");
        let s = Settings::load(Some(Path::new(path))).unwrap();
        let d = Settings::defaults();
        assert_eq!(s.server.bind, d.server.bind);
        assert_eq!(
            s.database.url.expose_secret(),
            d.database.url.expose_secret()
        );
        assert_eq!(s.effective_stores(), d.effective_stores());
        assert_eq!(
            s.auth.plugin_settings["trusted_headers"]["default_role"],
            "admin"
        );
        assert_eq!(s.crypto["simple_crypto"]["kek_cache_size"], 4096);
        let orders = |o: &OrderSettings| {
            (
                o.workers,
                o.lease_seconds,
                o.inline_wait_ms,
                o.poll_seconds,
                o.max_attempts,
            )
        };
        assert_eq!(orders(&s.orders), orders(&d.orders));
    }

    #[test]
    fn bad_configuration_is_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        for (text, want) in [
            ("[server]\nbind = \"nonsense\"", "server.bind"),
            ("[server]\nhost_href = \"ftp://x\"", "host_href"),
            ("[server]\nbogus = 1", "bogus"),
            ("[server]\nmetrics_bind = \"9312\"", "server.metrics_bind"),
            (
                "[server]\nmetrics = false\nmetrics_bind = \"127.0.0.1:0\"",
                "server.metrics = false",
            ),
            ("[database]\npool_size = 0", "pool_size"),
            ("profile = \"staging\"", "staging"),
            ("[logging]\nformat = \"xml\"", "logging.format"),
            ("[orders]\nlease_seconds = 2", "orders.lease_seconds"),
            ("[orders]\nworkers = 0", "orders.workers"),
            (
                "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]",
                "server.trusted_proxies",
            ),
        ] {
            let path = dir.path().join("bad.toml");
            std::fs::write(&path, text).unwrap();
            let err = Settings::load(Some(&path)).unwrap_err();
            assert!(format!("{err:#}").contains(want), "{text}: {err:#}");
        }
        let err = Settings::load(Some(&dir.path().join("missing.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
        // A value of the wrong type names the setting both ways it can be written.
        let path = dir.path().join("typed.toml");
        std::fs::write(&path, "[database]\npool_size = \"many\"").unwrap();
        let err = format!("{:#}", Settings::load(Some(&path)).unwrap_err());
        assert!(
            err.contains("database.pool_size") && err.contains("COFFER__DATABASE__POOL_SIZE"),
            "{err}"
        );
    }

    #[test]
    fn the_database_defaults_to_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[server]\ndata_dir = \"/var/lib/coffer\"").unwrap();
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(
            s.database.url.expose_secret(),
            "sqlite:///var/lib/coffer/coffer.db"
        );
        assert_eq!(
            Settings::defaults().database.url.expose_secret(),
            "sqlite://coffer-data/coffer.db"
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            r#"
[database]
url = "postgres://coffer:userinfo-pw@db:5432/c?password=query-pw&sslpassword=ssl-pw&sslmode=require"
[crypto.simple_crypto]
master_key = "bWFzdGVyLWtleS1ieXRlcy1iYXNlNjQtZW5jb2RlZDE="
kek_cache_size = 4096
[crypto.p11_crypto]
library = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "coffer"
pin = "hsm-pin-8642"
[stores.hsm]
store_plugin = "store_crypto"
crypto_plugin = "p11_crypto"
global_default = true
[stores.hsm.crypto]
library = "/x.so"
slot_id = 0
pin = 97531
[stores.soft]
store_plugin = "store_crypto"
crypto_plugin = "simple_crypto"
[stores.soft.crypto]
master_keys = [{ id = "old", key = "b2xkLW1hc3Rlci1rZXktYnl0ZXMtYmFzZTY0LWVuYzE=" }]
[auth]
mode = "keystone"
[auth.keystone]
auth_url = "http://keystone:5000/v3"
username = "coffer"
password = "keystone-pw"
[events.hook]
plugin = "webhook"
[events.hook.settings]
url = "https://hooks.example/x?token=hook-token"
headers = { Authorization = "Bearer header-token" }
"#,
        )
        .unwrap();
        let s = Settings::load(Some(&path)).unwrap();
        assert!(s.database.url.expose_secret().contains("userinfo-pw"));
        assert_eq!(s.crypto["p11_crypto"]["pin"], "hsm-pin-8642");
        for shown in [format!("{s:?}"), format!("{s:#?}")] {
            for secret in [
                "userinfo-pw",
                "query-pw",
                "ssl-pw",
                "bWFzdGVyLWtleS1ieXRlcy1iYXNlNjQtZW5jb2RlZDE=",
                "b2xkLW1hc3Rlci1rZXktYnl0ZXMtYmFzZTY0LWVuYzE=",
                "hsm-pin-8642",
                "97531",
                "keystone-pw",
                "hook-token",
                "header-token",
            ] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
            // The shape is still there to debug with.
            for visible in ["master_key", "pin", "Authorization", "global_default: true"] {
                assert!(shown.contains(visible), "{visible} missing from {shown}");
            }
        }
    }
}
