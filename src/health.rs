//! Health: `/healthz` (the process serves; no I/O) and `/readyz` (every part a request needs
//! can work now): the database and its writable path (SQLite: the writer thread; PostgreSQL:
//! a connection), every store's plugins, every fail-closed event instance, the authentication
//! backend. Each check runs off the executor and is given [`CHECK_TIMEOUT`]; the body names
//! every component and its state, never a detail that could leak (details go to the log).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::service::Services;

/// How long one check may take before its component counts as unavailable.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(900);

/// The state of one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Ok,
    Unavailable,
}

/// The `/readyz` answer.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub status: State,
    /// Component name → state (`database`, `store:NAME`, `crypto:NAME`, `event:NAME`,
    /// `auth:PLUGIN`).
    pub components: BTreeMap<String, State>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.status == State::Ok
    }
}

/// Run a blocking check with the timeout; its failure is logged with the component's name.
async fn blocking_check<F>(name: String, check: F) -> (String, State)
where
    F: FnOnce() -> Result<(), String> + Send + 'static,
{
    let job = actix_web::rt::task::spawn_blocking(check);
    let state = match tokio::time::timeout(CHECK_TIMEOUT, job).await {
        Ok(Ok(Ok(()))) => State::Ok,
        Ok(Ok(Err(e))) => {
            tracing::warn!(component = %name, error = %e, "not ready");
            State::Unavailable
        }
        Ok(Err(e)) => {
            tracing::error!(component = %name, error = %e, "readiness check failed");
            State::Unavailable
        }
        Err(_) => {
            tracing::warn!(component = %name, timeout_ms = CHECK_TIMEOUT.as_millis() as u64,
                "not ready: no answer in time");
            State::Unavailable
        }
    };
    (name, state)
}

/// Check every component, concurrently.
pub async fn readiness(services: &Arc<Services>) -> Readiness {
    let mut checks = Vec::new();
    {
        let s = Arc::clone(services);
        checks.push(Box::pin(blocking_check("database".into(), move || {
            s.db.health().map_err(|e| e.to_string())
        }))
            as std::pin::Pin<
                Box<dyn std::future::Future<Output = (String, State)>>,
            >);
    }
    for (name, store) in &services.plugins.stores {
        let st = Arc::clone(store);
        checks.push(Box::pin(blocking_check(
            format!("store:{name}"),
            move || st.store.health().map_err(|e| e.to_string()),
        )));
        if let Some(crypto) = store.crypto.clone() {
            checks.push(Box::pin(blocking_check(
                format!("crypto:{name}"),
                move || crypto.health().map_err(|e| e.to_string()),
            )));
        }
    }
    for (name, plugin) in services.plugins.events.fail_closed() {
        checks.push(Box::pin(blocking_check(
            format!("event:{name}"),
            move || plugin.ready().map_err(|e| e.to_string()),
        )));
    }
    let auth = Arc::clone(&services.plugins.auth);
    let auth_name = format!("auth:{}", auth.name());
    checks.push(Box::pin(async move {
        let state = match tokio::time::timeout(CHECK_TIMEOUT, auth.health()).await {
            Ok(Ok(())) => State::Ok,
            Ok(Err(e)) => {
                tracing::warn!(component = %auth_name, error = %e, "not ready");
                State::Unavailable
            }
            Err(_) => {
                tracing::warn!(component = %auth_name, "not ready: no answer in time");
                State::Unavailable
            }
        };
        (auth_name, state)
    }));
    let components: BTreeMap<String, State> = futures_util::future::join_all(checks)
        .await
        .into_iter()
        .collect();
    let status = if components.values().all(|s| *s == State::Ok) {
        State::Ok
    } else {
        State::Unavailable
    };
    Readiness { status, components }
}
