//! `trusted_headers`: Barbican's unauthenticated-context mode. The caller states its identity
//! in `X-Project-Id` (required), `X-Roles` (comma list; `admin` when absent) and `X-User-Id`.
//!
//! Without a proxy secret it believes every caller, so the server refuses it in the production
//! profile and on a non-loopback address (unless `auth.trust_headers_on_public_bind = true`).
//! With `proxy_secret_file`, only requests carrying that secret in `proxy_secret_header` — sent
//! by the authenticating proxy in front of Coffer — are believed; others get 401. The secret is
//! compared in constant time and never logged.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use plugin_api::{
    AuthContext, AuthError, AuthPlugin, Factory, HeaderLookup, PluginContext, PluginDescriptor,
    PluginError, PluginStatus,
};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Settings of `trusted_headers` (`[auth.trusted_headers]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustedHeadersConfig {
    /// The role given to requests without `X-Roles` (Barbican: its `admin_role`).
    #[serde(default = "default_role")]
    default_role: String,
    /// A file holding the secret the authenticating proxy sends with every request.
    #[serde(default)]
    proxy_secret_file: Option<PathBuf>,
    /// The header the proxy sends it in.
    #[serde(default = "default_secret_header")]
    proxy_secret_header: String,
}

fn default_role() -> String {
    "admin".to_owned()
}

fn default_secret_header() -> String {
    "x-coffer-proxy-secret".to_owned()
}

/// The shortest proxy secret accepted (bytes).
pub const MIN_PROXY_SECRET: usize = 16;

/// The shared secret of the authenticating proxy, and the header it comes in.
struct ProxySecret {
    header: String,
    secret: Zeroizing<Vec<u8>>,
}

/// The trusted-headers authenticator.
pub struct TrustedHeaders {
    default_role: String,
    proxy: Option<ProxySecret>,
}

impl TrustedHeaders {
    pub fn new(default_role: &str) -> Self {
        TrustedHeaders {
            default_role: default_role.trim().to_ascii_lowercase(),
            proxy: None,
        }
    }

    /// Believe only requests that carry `secret` in `header`.
    pub fn with_proxy_secret(mut self, header: &str, secret: Zeroizing<Vec<u8>>) -> Self {
        self.proxy = Some(ProxySecret {
            header: header.trim().to_ascii_lowercase(),
            secret,
        });
        self
    }
}

/// Read the proxy secret: the file's content without surrounding whitespace, at least
/// [`MIN_PROXY_SECRET`] bytes.
fn read_secret(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, PluginError> {
    let config = |m: String| PluginError::Config(format!("auth.trusted_headers.{m}"));
    let raw = Zeroizing::new(std::fs::read(path).map_err(|e| {
        config(format!(
            "proxy_secret_file: cannot read {}: {e}",
            path.display()
        ))
    })?);
    let secret = Zeroizing::new(raw.trim_ascii().to_vec());
    if secret.len() < MIN_PROXY_SECRET {
        return Err(config(format!(
            "proxy_secret_file: {} holds fewer than {MIN_PROXY_SECRET} bytes",
            path.display()
        )));
    }
    Ok(secret)
}

fn build_trusted_headers(ctx: &PluginContext<'_>) -> Result<Arc<dyn AuthPlugin>, PluginError> {
    let cfg: TrustedHeadersConfig = ctx.parse_config()?;
    let plugin = TrustedHeaders::new(&cfg.default_role);
    let Some(path) = cfg.proxy_secret_file else {
        return Ok(Arc::new(plugin));
    };
    let name = cfg.proxy_secret_header.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(PluginError::Config(format!(
            "auth.trusted_headers.proxy_secret_header: {name:?} is not a header name"
        )));
    }
    let path = if path.is_absolute() {
        path
    } else {
        ctx.data_dir.join(path)
    };
    Ok(Arc::new(
        plugin.with_proxy_secret(name, read_secret(&path)?),
    ))
}

plugin_api::register_plugin!(PluginDescriptor {
    name: "trusted_headers",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "identity from X-Project-Id / X-Roles / X-User-Id (trusted callers only)",
    factory: Factory::Auth(build_trusted_headers),
    capabilities: plugin_api::Capabilities::NONE,
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
        if let Some(proxy) = &self.proxy {
            let sent = headers.header(&proxy.header).unwrap_or("").as_bytes();
            if !bool::from(sent.ct_eq(&proxy.secret)) {
                return Err(AuthError::Unauthenticated(
                    "Missing or wrong proxy secret".into(),
                ));
            }
        }
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

    fn believes_caller(&self) -> bool {
        self.proxy.is_none()
    }
}

#[cfg(test)]
mod tests;
