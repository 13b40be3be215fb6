//! Start-up: configuration checks, database preparation, plugin loading, and the HTTP server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::{from_fn, NormalizePath};
use actix_web::{web, App, HttpServer};
use anyhow::{bail, Context};
use plugin_api::AuthPlugin;
use secrecy::ExposeSecret;

use crate::api;
use crate::api::host::{host_name, HostPolicy};
use crate::api::support::AppState;
use crate::config::{ProfileSetting, Settings};
use crate::db::{sqlite_files, Db, Target};
use crate::files;
use crate::openapi;
use crate::plugins;
use crate::policy::Policy;
use crate::service::keks::KekCache;
use crate::service::orders::{self, OrderQueue};
use crate::service::stores::StoreDirectory;
use crate::service::{Limits, Services};

/// A started server.
pub struct Running {
    pub server: actix_web::dev::Server,
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    /// The `/metrics` listener when `server.metrics_bind` is set, and its address; run it
    /// next to `server`.
    pub metrics_server: Option<(actix_web::dev::Server, SocketAddr)>,
    /// On SQLite: the lock on `<database>.pid` that keeps `coffer db restore` and `copy` off
    /// the database while the server runs; hold it until the server has stopped.
    pub pid_file: Option<crate::pidfile::PidFile>,
}

/// The checks of the configuration that need no plugin, database or socket: the policy file,
/// the log level, the production profile's required settings (`coffer config check`).
pub fn check_settings(settings: &Settings) -> anyhow::Result<()> {
    Policy::load(settings.policy.defaults, settings.policy.file.as_deref())?;
    crate::logging::filter(&settings.logging.level)?;
    require_host_href(settings)
}

/// Production refuses refs that follow the client's `Host`.
fn require_host_href(settings: &Settings) -> anyhow::Result<()> {
    if settings.profile == ProfileSetting::Production && settings.server.host_href.is_none() {
        bail!(
            "server.host_href is required in profile = \"production\": refs and Location \
             headers must not follow whatever Host a client sends (set it to the public URL, \
             e.g. https://kms.example.com)"
        );
    }
    Ok(())
}

/// Refuse configurations that would make the server unsafe, given its authentication plugin.
pub fn check_exposure(settings: &Settings, auth: &dyn AuthPlugin) -> anyhow::Result<()> {
    let production = settings.profile == ProfileSetting::Production;
    require_host_href(settings)?;
    if !auth.believes_caller() {
        return Ok(());
    }
    let mode = &settings.auth.mode;
    if production {
        bail!(
            "auth.mode = \"{mode}\" believes whatever identity a caller claims, which profile = \
             \"production\" refuses: set auth.{mode}.proxy_secret_file (the secret your \
             authenticating proxy sends with every request) or use auth.mode = \"keystone\""
        );
    }
    let addr = settings.bind_addr()?;
    if !addr.ip().is_loopback() && !settings.auth.trust_headers_on_public_bind {
        bail!(
            "auth.mode = \"{mode}\" believes whatever X-Project-Id and X-Roles a caller sends, so \
             it only listens on loopback; server.bind is {addr}. Bind to 127.0.0.1, set \
             auth.{mode}.proxy_secret_file for an authenticating proxy, use a real \
             authentication mode, or set auth.trust_headers_on_public_bind = true"
        );
    }
    Ok(())
}

/// The host names (besides loopback ones) requests may be addressed to while the
/// authentication believes callers: the configured `host_href`'s and a specific bind address.
fn allowed_hosts(settings: &Settings, addr: SocketAddr) -> Vec<String> {
    let mut hosts = Vec::new();
    if let Some(h) = settings
        .server
        .host_href
        .as_deref()
        .and_then(|h| url::Url::parse(h).ok())
        .and_then(|u| u.host_str().map(str::to_owned))
    {
        hosts.push(host_name(&h));
    }
    if !addr.ip().is_unspecified() {
        hosts.push(addr.ip().to_string());
    }
    hosts
}

/// Settings keys naming a file that holds a secret: what it is, and whether a relative path
/// is under the data directory (as its plugin reads it) rather than the working directory.
const SECRET_FILE_KEYS: &[(&str, &str, bool)] = &[
    ("master_key_file", "master key file", false),
    ("key_file", "master key file", false),
    ("pin_file", "PIN file", false),
    ("password_file", "password file", false),
    ("proxy_secret_file", "proxy secret file", true),
    ("chain_key_file", "audit chain key file", true),
];

/// The files and directories that hold secrets or the audit trail and should be owner-only:
/// the data directory, SQLite's files, every key, PIN or password file the plugin settings
/// name, the files the configured plugins declare (a generated dev master key, audit logs) and
/// the rewrap-keks audit file.
pub fn private_paths(settings: &Settings) -> Vec<(&'static str, PathBuf)> {
    let data_dir = &settings.server.data_dir;
    let under_data = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            data_dir.join(p)
        }
    };
    let mut paths = vec![("data directory", data_dir.clone())];
    if let Ok(Target::Sqlite(db)) = Target::parse(settings.database.url.expose_secret()) {
        paths.extend(sqlite_files(&db).map(|f| ("database file", f)));
    }
    let audit = data_dir.join("audit");
    paths.push(("rewrap audit file", audit.join("rewrap-keks.jsonl")));
    paths.push(("audit directory", audit));

    fn walk(
        value: &serde_json::Value,
        found: &mut Vec<(&'static str, PathBuf)>,
        place: &dyn Fn(&str, bool) -> PathBuf,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    let known = SECRET_FILE_KEYS.iter().find(|(k, _, _)| k == key);
                    match (known, v.as_str()) {
                        (Some((_, what, under_data)), Some(path)) => {
                            found.push((what, place(path, *under_data)))
                        }
                        _ => walk(v, found, place),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, found, place)),
            _ => {}
        }
    }
    let place = |p: &str, data_relative: bool| {
        if data_relative {
            under_data(p)
        } else {
            PathBuf::from(p)
        }
    };
    let stores = settings.effective_stores();
    let sections = settings
        .crypto
        .values()
        .chain(
            stores
                .values()
                .flat_map(|s| s.crypto.iter().chain(s.store.iter())),
        )
        .chain(settings.auth.plugin_settings.values())
        .chain(settings.events.values().filter_map(|e| e.settings.as_ref()));
    for section in sections {
        walk(section, &mut paths, &place);
    }
    // The files the configured plugins say they keep secrets or audit records in.
    for d in plugin_api::registry::all() {
        if let Some(files) = d.capabilities.private_files {
            for (_, section) in plugins::instances_of(d, settings) {
                paths.extend(files(&section, data_dir));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    paths.retain(|(_, p)| seen.insert(p.clone()));
    paths
}

/// Warn (naming the file and its mode) about each of [`private_paths`] that group or others
/// may access.
pub fn warn_loose_files(settings: &Settings) {
    let paths = private_paths(settings);
    files::warn_loose(paths.iter().map(|(what, p)| (*what, p.as_path())));
}

/// Open and migrate the database, load the plugins and the policy, start the order workers:
/// everything but the socket.
pub fn prepare(settings: &Settings) -> anyhow::Result<Arc<Services>> {
    warn_loose_files(settings);
    let policy = Policy::load(settings.policy.defaults, settings.policy.file.as_deref())?;
    let plugins = plugins::load(settings)?;
    check_exposure(settings, plugins.auth.as_ref())?;
    let db = Db::open(&settings.database).context("opening the database")?;
    tracing::info!(database = %db.describe(), "database open");
    let applied = db
        .prepare(settings.database.auto_migrate)
        .context("checking the database schema")?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "database migrated");
    }
    let stores = StoreDirectory::sync(&db, &plugins, settings.multiple_stores_enabled())
        .context("recording the configured secret stores")?;
    let services = Arc::new(Services {
        db,
        plugins: Arc::new(plugins),
        keks: KekCache::new(100_000),
        limits: Limits {
            max_payload_bytes: settings.secrets.max_payload_bytes,
            default_limit_paging: settings.secrets.default_limit_paging,
            max_limit_paging: settings.secrets.max_limit_paging,
            max_container_refs: settings.containers.max_secret_refs,
        },
        policy,
        quota_defaults: settings.quotas,
        store_directory: stores,
        order_queue: OrderQueue::new(settings.orders.clone()),
    });
    orders::start_workers(&services);
    Ok(services)
}

/// Bind and start serving (call inside an actix/tokio runtime); the returned server future
/// runs until stopped.
pub fn start(settings: &Settings) -> anyhow::Result<Running> {
    // The socket first: a port in use must leave nothing behind (no database created or
    // migrated, no development key generated).
    let listener = std::net::TcpListener::bind(settings.bind_addr()?)
        .with_context(|| format!("binding {}", settings.server.bind))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match settings.metrics_addr()? {
        Some(a) => Some(
            std::net::TcpListener::bind(a)
                .with_context(|| format!("binding server.metrics_bind {a}"))?,
        ),
        None => None,
    };
    if settings.server.metrics {
        crate::metrics::install()?;
    }
    // On SQLite, the trace that keeps `coffer db restore` / `copy` away while this runs (and
    // this away while one of them runs). A URL that does not parse is reported by `prepare`.
    let pid_file = match Target::parse(settings.database.url.expose_secret()) {
        Ok(Target::Sqlite(path)) => Some(crate::pidfile::PidFile::acquire(
            &path,
            crate::pidfile::Role::Serve,
        )?),
        _ => None,
    };
    let services = prepare(settings)?;
    let auth = services.plugins.auth.clone();
    let hosts = HostPolicy {
        host_href: settings
            .server
            .host_href
            .as_deref()
            .map(|h| h.trim_end_matches('/').to_owned()),
        trusted_proxies: settings.trusted_proxies()?,
        bound: addr,
        allowed_hosts: auth
            .believes_caller()
            .then(|| allowed_hosts(settings, addr)),
    };
    let state = web::Data::new(AppState {
        auth,
        services,
        hosts,
        max_request_bytes: settings.server.max_request_bytes,
        body_timeout: Duration::from_millis(settings.server.body_timeout_ms),
        access_log: settings.logging.access,
        metrics: settings.server.metrics,
    });
    let metrics_here = settings.server.metrics && metrics_listener.is_none();
    let metrics_server = match metrics_listener {
        Some(listener) => {
            let metrics_addr = listener.local_addr()?;
            let state = state.clone();
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .configure(api::metrics::routes)
            })
            .workers(1)
            .shutdown_timeout(1)
            .listen(listener)?
            .run();
            tracing::info!(addr = %metrics_addr, "metrics listening");
            Some((server, metrics_addr))
        }
        None => None,
    };
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(api::request_id))
            .wrap(NormalizePath::trim())
            .configure(api::routes)
            .configure(|cfg| {
                if metrics_here {
                    api::metrics::routes(cfg);
                }
            })
            .service(openapi::swagger_ui())
    })
    .shutdown_timeout(10)
    .client_request_timeout(Duration::from_millis(
        settings.server.client_request_timeout_ms,
    ))
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(Duration::from_secs(settings.server.keep_alive_seconds))
    .max_connections(settings.server.max_connections);
    if let Some(n) = settings.server.workers {
        server = server.workers(n.max(1));
    }
    let server = server.listen(listener)?.run();
    tracing::info!(%addr, "coffer listening");
    Ok(Running {
        server,
        addr,
        metrics_server,
        pid_file,
    })
}
