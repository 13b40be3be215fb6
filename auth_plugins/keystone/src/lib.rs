//! `keystone`: OpenStack Keystone token authentication, as keystonemiddleware's `auth_token`
//! does it for Barbican.
//!
//! Every `/v1` request carries a user token in `X-Auth-Token`. Coffer validates it with
//! `GET /v3/auth/tokens` (the token in `X-Subject-Token`, Coffer's own service token in
//! `X-Auth-Token`), and takes the caller from the answer: `token.project.id` (a token without
//! a project is refused), `token.roles[].name`, `token.user.id`. Identity headers sent by the
//! client are never read.
//!
//! - The service token (password authentication of the configured service user) is fetched
//!   once, shared, and renewed shortly before its `expires_at` or when Keystone says it went
//!   stale (a 401 on validation: renew and retry once).
//! - Validated tokens are cached (an LRU keyed by the token's SHA-256, never the token itself)
//!   for `cache_ttl_seconds`, never past the token's `expires_at`. Tokens Keystone refused are
//!   remembered for a short while too, so a client retrying a bad token does not hammer it.
//! - Keystone unreachable, slow (`timeout_ms` per call) or failing: a token seen valid earlier
//!   keeps working until its `expires_at`; any other token gets a 503. Nothing needs a restart
//!   when Keystone comes back.
//! - A 401 is keystonemiddleware's: `{"error": {"code": 401, "title": "Unauthorized",
//!   "message": ...}}` with `WWW-Authenticate: Keystone uri="<www_authenticate_uri>"`.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use lru::LruCache;
use plugin_api::{
    AuthContext, AuthError, AuthPlugin, Factory, HeaderLookup, PluginContext, PluginDescriptor,
    PluginError, PluginStatus, Rejection,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

/// What a client is told when Keystone cannot be asked.
pub const UNAVAILABLE: &str = "The Keystone service is temporarily unavailable.";
/// What a client is told for any refused token (the reason goes to the log).
pub const UNAUTHENTICATED: &str = "The request you have made requires authentication.";

/// How long before its `expires_at` the service token is renewed.
const SERVICE_TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// How long an idle connection to Keystone is kept: shorter than the keep-alive of common
/// servers (gunicorn: 2 s), so a connection the server already closed is never reused (that
/// would fail the request with a 503 while Keystone is healthy).
const POOL_IDLE: Duration = Duration::from_secs(1);
/// How long a token Keystone refused is refused without asking again.
const NEGATIVE_TTL: Duration = Duration::from_secs(10);

/// Settings of `keystone` (`[auth.keystone]`), named as keystonemiddleware's
/// `[keystone_authtoken]` names them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeystoneConfig {
    /// The identity endpoint, e.g. `https://keystone.example:5000/v3` (`/v3` may be left out).
    auth_url: String,
    /// The service user Coffer validates tokens as.
    username: String,
    /// Its password (prefer `password_file` or `COFFER__AUTH__KEYSTONE__PASSWORD`).
    #[serde(default)]
    password: Option<serde_json::Value>,
    /// A file holding the password (trailing newline ignored).
    #[serde(default)]
    password_file: Option<PathBuf>,
    #[serde(default = "default_domain")]
    user_domain_name: String,
    /// The project the service token is scoped to.
    #[serde(default = "default_project")]
    project_name: String,
    #[serde(default = "default_domain")]
    project_domain_name: String,
    /// Where clients get tokens (the `WWW-Authenticate` of a 401); default: `auth_url`
    /// without `/v3`.
    #[serde(default)]
    www_authenticate_uri: Option<String>,
    /// Longest wait for one call to Keystone.
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    /// Validated tokens kept.
    #[serde(default = "default_cache_size")]
    cache_size: usize,
    /// How long a validated token is believed without asking Keystone again (revocations
    /// take effect within this time, as with keystonemiddleware's `token_cache_time`).
    #[serde(default = "default_cache_ttl")]
    cache_ttl_seconds: u64,
    /// PEM file of CA certificates to trust for an `https` Keystone, besides the built-in
    /// Mozilla roots.
    #[serde(default)]
    cafile: Option<PathBuf>,
}

fn default_domain() -> String {
    "Default".to_owned()
}
fn default_project() -> String {
    "service".to_owned()
}
fn default_timeout_ms() -> u64 {
    2000
}
fn default_cache_size() -> usize {
    10_000
}
fn default_cache_ttl() -> u64 {
    300
}

fn build_keystone(ctx: &PluginContext<'_>) -> Result<Arc<dyn AuthPlugin>, PluginError> {
    let cfg: KeystoneConfig = ctx.parse_config()?;
    Ok(Arc::new(Keystone::new(cfg)?))
}

plugin_api::register_plugin!(PluginDescriptor {
    name: "keystone",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "OpenStack Keystone tokens (X-Auth-Token), validated as keystonemiddleware does",
    factory: Factory::Auth(build_keystone),
});

/// A validated token, as cached.
#[derive(Clone)]
struct Validated {
    ctx: AuthContext,
    /// The token's own end of life.
    expires_at: SystemTime,
    /// When Keystone last confirmed it.
    checked: Instant,
}

#[derive(Clone)]
enum Cached {
    Valid(Validated),
    /// Keystone said no at this instant.
    Refused(Instant),
}

/// The service token and when to renew it.
struct ServiceToken {
    token: SecretString,
    renew_at: SystemTime,
}

/// What one validation call to Keystone concluded.
enum Verdict {
    Valid(Validated),
    Refused(String),
    /// The service token was not accepted: renew it and ask again.
    StaleServiceToken,
}

/// The Keystone authenticator.
pub struct Keystone {
    http: reqwest::Client,
    /// `.../v3`, no trailing slash.
    identity: String,
    challenge: String,
    username: String,
    password: SecretString,
    user_domain: String,
    project: String,
    project_domain: String,
    ttl: Duration,
    cache: Mutex<LruCache<[u8; 32], Cached>>,
    service: tokio::sync::Mutex<Option<ServiceToken>>,
}

fn config_err(msg: impl Into<String>) -> PluginError {
    PluginError::Config(msg.into())
}

impl Keystone {
    fn new(cfg: KeystoneConfig) -> Result<Self, PluginError> {
        let base = cfg.auth_url.trim().trim_end_matches('/');
        let parsed = url::Url::parse(base)
            .map_err(|e| config_err(format!("auth.keystone.auth_url {base:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(config_err("auth.keystone.auth_url must be an http(s) URL"));
        }
        let root = base.strip_suffix("/v3").unwrap_or(base).to_owned();
        let identity = format!("{root}/v3");
        let password = match (&cfg.password, &cfg.password_file) {
            (Some(_), Some(_)) => {
                return Err(config_err(
                    "auth.keystone: set password or password_file, not both",
                ))
            }
            (Some(v), None) => match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return Err(config_err("auth.keystone.password must be a string")),
            },
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| {
                    config_err(format!(
                        "auth.keystone.password_file {}: {e}",
                        path.display()
                    ))
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, None) => {
                return Err(config_err(
                    "auth.keystone needs the service user's password (password, password_file \
                     or COFFER__AUTH__KEYSTONE__PASSWORD)",
                ))
            }
        };
        if cfg.timeout_ms == 0 {
            return Err(config_err("auth.keystone.timeout_ms must be positive"));
        }
        let timeout = Duration::from_millis(cfg.timeout_ms);
        let mut http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(POOL_IDLE)
            .user_agent(concat!(
                "coffer/",
                env!("CARGO_PKG_VERSION"),
                " keystone-auth"
            ));
        if let Some(path) = &cfg.cafile {
            let pem = std::fs::read(path)
                .map_err(|e| config_err(format!("auth.keystone.cafile {}: {e}", path.display())))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| config_err(format!("auth.keystone.cafile {}: {e}", path.display())))?
            {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http
            .build()
            .map_err(|e| config_err(format!("auth.keystone: HTTP client: {e}")))?;
        let size = NonZeroUsize::new(cfg.cache_size.max(1)).unwrap_or(NonZeroUsize::MIN);
        let challenge_uri = cfg
            .www_authenticate_uri
            .as_deref()
            .map(|u| u.trim().to_owned())
            .unwrap_or(root);
        Ok(Keystone {
            http,
            identity,
            challenge: format!("Keystone uri=\"{challenge_uri}\""),
            username: cfg.username,
            password: SecretString::from(password),
            user_domain: cfg.user_domain_name,
            project: cfg.project_name,
            project_domain: cfg.project_domain_name,
            ttl: Duration::from_secs(cfg.cache_ttl_seconds),
            cache: Mutex::new(LruCache::new(size)),
            service: tokio::sync::Mutex::new(None),
        })
    }

    /// The cache. Nothing panics while holding it, so it is never poisoned; if it were, its
    /// entries would still be sound (each `put` is one whole update), so use them.
    fn cache(&self) -> std::sync::MutexGuard<'_, LruCache<[u8; 32], Cached>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cache_get(&self, key: &[u8; 32]) -> Option<Cached> {
        self.cache().get(key).cloned()
    }

    fn cache_put(&self, key: [u8; 32], value: Cached) {
        self.cache().put(key, value);
    }

    /// The service token, fetched or renewed when needed. `stale`: the one we hold was just
    /// refused by Keystone.
    async fn service_token(&self, stale: Option<&SecretString>) -> Result<SecretString, AuthError> {
        let mut guard = self.service.lock().await;
        if let Some(held) = guard.as_ref() {
            let refused = stale.is_some_and(|s| s.expose_secret() == held.token.expose_secret());
            if !refused && SystemTime::now() < held.renew_at {
                return Ok(held.token.clone());
            }
        }
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.username,
                "domain": {"name": self.user_domain},
                "password": self.password.expose_secret(),
            }}},
            "scope": {"project": {
                "name": self.project,
                "domain": {"name": self.project_domain},
            }},
        }});
        let resp = self
            .http
            .post(format!("{}/auth/tokens?nocatalog", self.identity))
            .json(&body)
            .send()
            .await
            .map_err(|e| unavailable(&format!("service token: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            if status == reqwest::StatusCode::UNAUTHORIZED {
                tracing::error!(
                    user = %self.username,
                    "Keystone refused Coffer's service credentials (auth.keystone); no token can be validated"
                );
            }
            return Err(unavailable(&format!(
                "service token: Keystone answered {status}"
            )));
        }
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| unavailable("service token: no X-Subject-Token in Keystone's answer"))?;
        let doc: TokenDoc = resp
            .json()
            .await
            .map_err(|e| unavailable(&format!("service token: {e}")))?;
        let expires = parse_expiry(&doc.token.expires_at)
            .ok_or_else(|| unavailable("service token: unreadable expires_at"))?;
        let renew_at = expires
            .checked_sub(SERVICE_TOKEN_MARGIN)
            .filter(|t| *t > SystemTime::now())
            .unwrap_or(expires);
        let token = SecretString::from(token);
        *guard = Some(ServiceToken {
            token: token.clone(),
            renew_at,
        });
        tracing::info!("Keystone service token obtained");
        Ok(token)
    }

    /// Ask Keystone about `user_token`.
    async fn validate(
        &self,
        user_token: &str,
        service: &SecretString,
    ) -> Result<Verdict, AuthError> {
        let resp = self
            .http
            .get(format!("{}/auth/tokens?nocatalog", self.identity))
            .header("X-Auth-Token", service.expose_secret())
            .header("X-Subject-Token", user_token)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| unavailable(&format!("token validation: {e}")))?;
        match resp.status().as_u16() {
            200 | 203 => {}
            404 => return Ok(Verdict::Refused("unknown, expired or revoked token".into())),
            401 => return Ok(Verdict::StaleServiceToken),
            400 => return Ok(Verdict::Refused("malformed token".into())),
            403 => {
                tracing::error!(
                    "Keystone refuses to let Coffer's service user validate tokens (it needs \
                     the admin or service role)"
                );
                return Err(unavailable("token validation: 403 from Keystone"));
            }
            other => {
                return Err(unavailable(&format!(
                    "token validation: Keystone answered {other}"
                )))
            }
        }
        let doc: TokenDoc = resp
            .json()
            .await
            .map_err(|e| unavailable(&format!("token validation: unreadable answer: {e}")))?;
        Ok(match context_of(doc) {
            Ok(v) => Verdict::Valid(v),
            Err(why) => Verdict::Refused(why),
        })
    }

    /// Validate with Keystone, renewing the service token once if it went stale: the caller
    /// the token describes, or why it is refused.
    async fn ask_keystone(&self, user_token: &str) -> Result<Result<Validated, String>, AuthError> {
        let service = self.service_token(None).await?;
        let verdict = match self.validate(user_token, &service).await? {
            Verdict::StaleServiceToken => {
                let fresh = self.service_token(Some(&service)).await?;
                self.validate(user_token, &fresh).await?
            }
            v => v,
        };
        match verdict {
            Verdict::Valid(v) => Ok(Ok(v)),
            Verdict::Refused(why) => Ok(Err(why)),
            Verdict::StaleServiceToken => Err(unavailable(
                "token validation: Keystone refused a fresh service token",
            )),
        }
    }

    /// [`AuthPlugin::authenticate`]. Kept out of the `#[async_trait]` body: rustc's coverage
    /// instrumentation loses the lines of such bodies and llvm-cov crashes on their branches.
    async fn authenticate_headers(
        &self,
        headers: &dyn HeaderLookup,
    ) -> Result<AuthContext, AuthError> {
        let token = headers
            .header("x-auth-token")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| refused("no X-Auth-Token"))?;
        let key = token_key(token);
        let now = SystemTime::now();
        let cached = self.cache_get(&key);
        // A known-good token still alive: believe it within the TTL, and past the TTL only if
        // Keystone cannot be asked.
        let mut fallback = None;
        match cached {
            Some(Cached::Valid(v)) if now < v.expires_at => {
                if v.checked.elapsed() < self.ttl {
                    return Ok(v.ctx);
                }
                fallback = Some(v);
            }
            Some(Cached::Refused(at)) if at.elapsed() < NEGATIVE_TTL.min(self.ttl) => {
                return Err(refused("token refused by Keystone recently"));
            }
            _ => {}
        }
        match self.ask_keystone(token).await {
            Ok(Ok(v)) => {
                let ctx = v.ctx.clone();
                self.cache_put(key, Cached::Valid(v));
                Ok(ctx)
            }
            Ok(Err(why)) => {
                self.cache_put(key, Cached::Refused(Instant::now()));
                Err(refused(&why))
            }
            Err(e) => match fallback {
                Some(v) if SystemTime::now() < v.expires_at => {
                    tracing::warn!("Keystone unavailable: serving a token validated earlier");
                    Ok(v.ctx)
                }
                _ => Err(e),
            },
        }
    }
}

fn unavailable(detail: &str) -> AuthError {
    tracing::warn!(error = detail, "Keystone unavailable");
    AuthError::Unavailable(UNAVAILABLE.to_owned())
}

fn refused(reason: &str) -> AuthError {
    tracing::info!(reason, "token refused");
    AuthError::Unauthenticated(UNAUTHENTICATED.to_owned())
}

#[derive(Deserialize)]
struct TokenDoc {
    token: TokenBody,
}

#[derive(Deserialize)]
struct TokenBody {
    expires_at: String,
    #[serde(default)]
    user: Option<IdOnly>,
    #[serde(default)]
    project: Option<IdOnly>,
    #[serde(default)]
    roles: Vec<RoleRef>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct RoleRef {
    name: String,
}

fn parse_expiry(text: &str) -> Option<SystemTime> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let secs = u64::try_from(t.timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, t.timestamp_subsec_nanos()))
}

/// The caller a validated token describes, or why it cannot be used here.
fn context_of(doc: TokenDoc) -> Result<Validated, String> {
    let t = doc.token;
    let expires_at = parse_expiry(&t.expires_at).ok_or("unreadable expires_at")?;
    if expires_at <= SystemTime::now() {
        return Err("expired token".into());
    }
    let project = t
        .project
        .map(|p| p.id)
        .filter(|p| !p.is_empty())
        .ok_or("token not scoped to a project")?;
    let user = t.user.map(|u| u.id).filter(|u| !u.is_empty());
    let mut roles: Vec<String> = t
        .roles
        .into_iter()
        .map(|r| r.name.trim().to_ascii_lowercase())
        .filter(|r| !r.is_empty())
        .collect();
    roles.sort();
    roles.dedup();
    Ok(Validated {
        ctx: AuthContext {
            project_id: project,
            user_id: user,
            roles,
        },
        expires_at,
        checked: Instant::now(),
    })
}

fn token_key(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(d.as_ref());
    key
}

#[async_trait]
impl AuthPlugin for Keystone {
    fn name(&self) -> &'static str {
        "keystone"
    }

    async fn authenticate(&self, headers: &dyn HeaderLookup) -> Result<AuthContext, AuthError> {
        self.authenticate_headers(headers).await
    }

    fn challenge(&self) -> Option<String> {
        Some(self.challenge.clone())
    }

    fn rejection(&self) -> Option<Rejection> {
        // Byte for byte what keystonemiddleware sends (Python's json.dumps separators).
        Some(Rejection {
            content_type: "application/json; charset=UTF-8",
            body: format!(
                "{{\"error\": {{\"code\": 401, \"title\": \"Unauthorized\", \"message\": \"{UNAUTHENTICATED}\"}}}}"
            )
            .into_bytes(),
        })
    }
}

#[cfg(test)]
mod tests;
