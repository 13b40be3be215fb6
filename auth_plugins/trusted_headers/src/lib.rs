//! `trusted_headers`: Barbican's unauthenticated-context mode. The caller states its identity
//! in `X-Project-Id` (required), `X-Roles` (comma list; `admin` when absent) and `X-User-Id`.
//! It trusts the caller completely, so the server refuses to start with it on a non-loopback
//! address unless `auth.trust_headers_on_public_bind = true`.

use std::sync::Arc;

use async_trait::async_trait;
use plugin_api::{
    AuthContext, AuthError, AuthPlugin, Factory, HeaderLookup, PluginContext, PluginDescriptor,
    PluginError, PluginStatus,
};
use serde::Deserialize;

/// Settings of `trusted_headers` (`[auth.trusted_headers]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustedHeadersConfig {
    /// The role given to requests without `X-Roles` (Barbican: its `admin_role`).
    #[serde(default = "default_role")]
    default_role: String,
}

fn default_role() -> String {
    "admin".to_owned()
}

/// The trusted-headers authenticator.
pub struct TrustedHeaders {
    default_role: String,
}

impl TrustedHeaders {
    pub fn new(default_role: &str) -> Self {
        TrustedHeaders {
            default_role: default_role.trim().to_ascii_lowercase(),
        }
    }
}

fn build_trusted_headers(ctx: &PluginContext<'_>) -> Result<Arc<dyn AuthPlugin>, PluginError> {
    let cfg: TrustedHeadersConfig = ctx.parse_config()?;
    Ok(Arc::new(TrustedHeaders::new(&cfg.default_role)))
}

plugin_api::register_plugin!(PluginDescriptor {
    name: "trusted_headers",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "identity from X-Project-Id / X-Roles / X-User-Id (trusted callers only)",
    factory: Factory::Auth(build_trusted_headers),
});

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl TrustedHeaders {
    /// The identity the headers state. Kept out of the `#[async_trait]` body: rustc's coverage
    /// instrumentation loses the lines of such bodies and llvm-cov crashes on their branches.
    fn identity(&self, headers: &dyn HeaderLookup) -> Result<AuthContext, AuthError> {
        let project_id = non_empty(headers.header("x-project-id"))
            .ok_or_else(|| AuthError::Unauthenticated("Missing X-Project-Id".into()))?;
        let mut roles: Vec<String> = headers
            .header("x-roles")
            .unwrap_or("")
            .split(',')
            .map(|r| r.trim().to_ascii_lowercase())
            .filter(|r| !r.is_empty())
            .collect();
        if roles.is_empty() {
            roles.push(self.default_role.clone());
        }
        Ok(AuthContext {
            project_id,
            user_id: non_empty(headers.header("x-user-id")),
            roles,
        })
    }
}

#[async_trait]
impl AuthPlugin for TrustedHeaders {
    fn name(&self) -> &'static str {
        "trusted_headers"
    }

    async fn authenticate(&self, headers: &dyn HeaderLookup) -> Result<AuthContext, AuthError> {
        self.identity(headers)
    }
}

#[cfg(test)]
mod tests;
