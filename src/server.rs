//! Start-up: configuration checks, database preparation, plugin loading, and the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::middleware::{from_fn, NormalizePath};
use actix_web::{web, App, HttpServer};
use anyhow::{bail, Context};

use crate::api::{self, AppState, HostHref};
use crate::config::Settings;
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

/// Refuse configurations that would make the server unsafe.
pub fn check_exposure(settings: &Settings) -> anyhow::Result<()> {
    let addr = settings.bind_addr()?;
    if settings.auth.mode == "trusted_headers"
        && !addr.ip().is_loopback()
        && !settings.auth.trust_headers_on_public_bind
    {
        bail!(
            "auth.mode = \"trusted_headers\" believes whatever X-Project-Id and X-Roles a caller \
             sends, so it only listens on loopback; server.bind is {addr}. Bind to 127.0.0.1, use \
             a real authentication mode, or set auth.trust_headers_on_public_bind = true if a \
             trusted proxy sets those headers"
        );
    }
    Ok(())
}

/// Open and migrate the database, load the plugins and the policy, start the order workers:
/// everything but the socket.
pub fn prepare(settings: &Settings) -> anyhow::Result<Arc<Services>> {
    check_exposure(settings)?;
    let policy = Policy::load(settings.policy.defaults, settings.policy.file.as_deref())?;
    let plugins = plugins::load(settings)?;
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
    let services = prepare(settings)?;
    let listener = std::net::TcpListener::bind(settings.bind_addr()?)
        .with_context(|| format!("binding {}", settings.server.bind))?;
    let addr = listener.local_addr()?;
    let host_href = match &settings.server.host_href {
        Some(h) => HostHref::Fixed(h.trim_end_matches('/').to_owned()),
        None if addr.ip().is_unspecified() => HostHref::FromRequest,
        None => HostHref::Fixed(format!("http://{addr}")),
    };
    let state = web::Data::new(AppState {
        auth: services.plugins.auth.clone(),
        services,
        host_href,
        max_request_bytes: settings.server.max_request_bytes,
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(api::pipeline))
            .wrap(NormalizePath::trim())
            .configure(api::routes)
            .service(openapi::swagger_ui())
    })
    .shutdown_timeout(10);
    if let Some(n) = settings.server.workers {
        server = server.workers(n.max(1));
    }
    let server = server.listen(listener)?.run();
    tracing::info!(%addr, "coffer listening");
    Ok(Running { server, addr })
}
