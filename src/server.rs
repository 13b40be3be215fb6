//! Start-up: configuration checks, database preparation, plugin loading, and the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::{from_fn, NormalizePath};
use actix_web::{web, App, HttpServer};
use anyhow::{bail, Context};
use plugin_api::AuthPlugin;

use crate::api::host::{host_name, HostPolicy};
use crate::api::{self, AppState};
use crate::config::{ProfileSetting, Settings};
use crate::db::Db;
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
}

/// Refuse configurations that would make the server unsafe, given its authentication plugin.
pub fn check_exposure(settings: &Settings, auth: &dyn AuthPlugin) -> anyhow::Result<()> {
    let production = settings.profile == ProfileSetting::Production;
    if production && settings.server.host_href.is_none() {
        bail!(
            "server.host_href is required in profile = \"production\": refs and Location \
             headers must not follow whatever Host a client sends (set it to the public URL, \
             e.g. https://kms.example.com)"
        );
    }
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

/// Open and migrate the database, load the plugins and the policy, start the order workers:
/// everything but the socket.
pub fn prepare(settings: &Settings) -> anyhow::Result<Arc<Services>> {
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
        stores,
        orders: OrderQueue::new(settings.orders.clone()),
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
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(api::request_id))
            .wrap(NormalizePath::trim())
            .configure(api::routes)
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
    Ok(Running { server, addr })
}
