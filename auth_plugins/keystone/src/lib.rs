//! `keystone`: OpenStack Keystone token authentication, as keystonemiddleware's `auth_token`
//! does it for Barbican.
//!
//! Every `/v1` request carries a user token in `X-Auth-Token`. Coffer validates it with
//! `GET /v3/auth/tokens` (the token in `X-Subject-Token`, Coffer's own service token in
//! `X-Auth-Token`), and takes the caller from the answer: `token.project.id` (a token without
//! a project is refused), `token.roles[].name`, `token.user.id`. Identity headers sent by the
//! client are never read.
//!
//! - Calls to Keystone: connecting may take `http_connect_timeout`, the whole call `timeout_ms`
//!   (10 s: keystonemiddleware has no read timeout at all, and a loaded Keystone takes seconds
//!   to validate). A call that fails without any answer (refused or timed-out connect, a
//!   connection reset or closed under it) is retried up to `http_request_max_retries` times,
//!   each time on a new connection: at once after a lost connection, after keystoneauth's
//!   backoff (0.5 s, 1 s, 2 s ...) after a failed connect.
//! - The service token (password authentication of the configured service user) is fetched on
//!   first use and then renewed by a background task before its `expires_at` (minus a margin),
//!   so requests read the current one without waiting for each other. When Keystone refuses it
//!   on a validation (a 401), it is renewed once, by one request while the others wait for
//!   that renewal, and the validation retried.
//! - Validated tokens are cached (an LRU keyed by the token's SHA-256, never the token itself)
//!   for `cache_ttl_seconds`, never past the token's `expires_at`. Tokens Keystone refused are
//!   remembered for a short while too, so a client retrying a bad token does not hammer it.
//! - Keystone unreachable or failing: a token it validated keeps working at most
//!   `stale_max_seconds` after that validation, and never past its `expires_at`; any other
//!   token gets a 503. Nothing needs a restart when Keystone comes back.
//! - A 401 is keystonemiddleware's: `{"error": {"code": 401, "title": "Unauthorized",
//!   "message": ...}}` with `WWW-Authenticate: Keystone uri="<www_authenticate_uri>"`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use plugin_api::metrics::names;
use plugin_api::{
    AuthContext, AuthError, AuthPlugin, Factory, HeaderLookup, Metrics, PluginContext,
    PluginDescriptor, PluginError, PluginStatus, Rejection,
};
use quick_cache::sync::Cache;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

/// What a client is told when Keystone cannot be asked.
pub const UNAVAILABLE: &str = "The Keystone service is temporarily unavailable.";
/// What a client is told for any refused token (the reason goes to the log).
pub const UNAUTHENTICATED: &str = "The request you have made requires authentication.";

/// How long before its `expires_at` the service token is renewed (a token that lives less than
/// twice this is renewed half-way through its life).
const SERVICE_TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// The background renewal never runs more often than this.
const RENEWAL_MIN_GAP: Duration = Duration::from_secs(1);
/// Longest pause between two failed background renewals (they start 1 s apart and double).
const RENEWAL_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// keystoneauth's pause before retrying a failed connect; it doubles with each retry, up to
/// [`CONNECT_RETRY_DELAY_MAX`] (keystoneauth's `_EXPONENTIAL_DELAY_START`, `_MAX_RETRY_INTERVAL`).
const CONNECT_RETRY_DELAY: Duration = Duration::from_millis(500);
const CONNECT_RETRY_DELAY_MAX: Duration = Duration::from_secs(60);
/// How long an idle connection to Keystone is kept: shorter than the keep-alive of common
/// servers (gunicorn: 2 s), so that sending on a connection the server is closing, which costs
/// a retry, stays rare.
const POOL_IDLE: Duration = Duration::from_secs(1);
/// How long a readiness check waits for Keystone.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(800);
/// How long a token Keystone refused is refused without asking again.
const NEGATIVE_TTL: Duration = Duration::from_secs(10);

/// Settings of `keystone` (`[auth.keystone]`), named as keystonemiddleware's
/// `[keystone_authtoken]` names them. No `Debug`: it holds the password.
#[derive(Deserialize)]
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
    /// Longest wait for one call to Keystone, from connecting to the end of its answer (each
    /// retry has its own).
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    /// Longest wait for a connection (TCP and TLS) to Keystone, in seconds.
    #[serde(default = "default_connect_timeout")]
    http_connect_timeout: f64,
    /// Retries of a call that got no answer at all (failed connect, lost connection).
    #[serde(default = "default_max_retries")]
    http_request_max_retries: u32,
    /// Validated tokens kept.
    #[serde(default = "default_cache_size")]
    cache_size: usize,
    /// How long a validated token is believed without asking Keystone again (revocations
    /// take effect within this time, as with keystonemiddleware's `token_cache_time`).
    #[serde(default = "default_cache_ttl")]
    cache_ttl_seconds: u64,
    /// While Keystone cannot be asked, how long after its last validation a token is still
    /// believed (never past its `expires_at`).
    #[serde(default = "default_stale_max")]
    stale_max_seconds: u64,
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
/// keystonemiddleware waits as long as Keystone takes; 10 s lets a validation of several
/// seconds through with room to spare, and still answers a client (503) before common proxy
/// time-outs (30–60 s) would.
fn default_timeout_ms() -> u64 {
    10_000
}
/// keystonemiddleware leaves connecting to the OS (minutes). 3 s lets a connect whose first
/// SYN was lost through (Linux retransmits after 1 s); beyond that the host is down or
/// filtered, and the retry is a new connect.
fn default_connect_timeout() -> f64 {
    3.0
}
/// keystonemiddleware's `http_request_max_retries`.
fn default_max_retries() -> u32 {
    3
}
fn default_cache_size() -> usize {
    10_000
}
/// keystonemiddleware's `token_cache_time`.
fn default_cache_ttl() -> u64 {
    300
}
/// Twice the cache TTL: a token in use (validated at most `cache_ttl_seconds` ago) rides out
/// a Keystone outage of 5 to 10 minutes, and a revocation Coffer cannot learn of during an
/// outage takes effect within 10 minutes instead of 5.
fn default_stale_max() -> u64 {
    600
}

fn build_keystone(ctx: &PluginContext<'_>) -> Result<Arc<dyn AuthPlugin>, PluginError> {
    let cfg: KeystoneConfig = ctx.parse_config()?;
    Ok(Arc::new(Keystone::new(cfg)?.reporting_to(ctx.metrics)))
}

plugin_api::register_plugin!(PluginDescriptor {
    name: "keystone",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "OpenStack Keystone tokens (X-Auth-Token), validated as keystonemiddleware does",
    factory: Factory::Auth(build_keystone),
    capabilities: plugin_api::Capabilities::NONE,
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

/// A service token and when to renew it. Shared as an `Arc`: a request clones the `Arc` and
/// lets go of the lock at once.
struct ServiceToken {
    token: SecretString,
    expires_at: SystemTime,
    renew_at: SystemTime,
}

impl ServiceToken {
    fn usable(&self) -> bool {
        SystemTime::now() < self.expires_at
    }
}

/// What one validation call to Keystone concluded.
enum Verdict {
    Valid(Validated),
    Refused(String),
    /// The service token was not accepted: renew it and ask again.
    StaleServiceToken,
}

/// HTTP to Keystone: a client with a connection pool, and one that keeps no idle connection,
/// so that a retry always goes out on a new connection, never on a pooled one that may be
/// dead too.
struct Http {
    pooled: reqwest::Client,
    fresh: reqwest::Client,
    retries: u32,
}

impl Http {
    /// Send the request `build` makes (once per attempt), retrying what got no answer at all.
    /// A call that timed out waiting for its answer is not retried: Keystone had it.
    async fn send(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, AuthError> {
        let mut client = &self.pooled;
        let mut retried = 0;
        let mut connect_delay = CONNECT_RETRY_DELAY;
        loop {
            let err = match build(client).send().await {
                Ok(resp) => return Ok(resp),
                Err(e) => e,
            };
            let detail = describe(&err);
            let unanswered = err.is_connect() || !err.is_timeout();
            if retried == self.retries || !unanswered {
                return Err(unavailable(&format!("{what}: {detail}")));
            }
            retried += 1;
            tracing::warn!(
                error = %detail,
                retry = retried,
                "{what}: no answer from Keystone, retrying on a new connection"
            );
            if err.is_connect() {
                tokio::time::sleep(connect_delay).await;
                connect_delay = (connect_delay * 2).min(CONNECT_RETRY_DELAY_MAX);
            }
            client = &self.fresh;
        }
    }
}

/// An HTTP error with its causes ("error sending request ...: connection refused").
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Everything the requests and the service-token renewal share.
struct Inner {
    http: Http,
    /// `.../v3/auth/tokens?nocatalog`.
    tokens_url: String,
    challenge: String,
    username: String,
    password: SecretString,
    user_domain: String,
    project: String,
    project_domain: String,
    ttl: Duration,
    stale_max: Duration,
    cache: Cache<[u8; 32], Cached>,
    /// The current service token: read by every validation, replaced by a renewal.
    service: RwLock<Option<Arc<ServiceToken>>>,
    /// Held by the one renewal under way.
    renewing: tokio::sync::Mutex<()>,
}

/// The Keystone authenticator.
pub struct Keystone {
    inner: Arc<Inner>,
    /// The service-token renewal, started with the first service token; stopped on drop.
    renewer: OnceLock<tokio::task::JoinHandle<()>>,
    metrics: Metrics,
}

impl Drop for Keystone {
    fn drop(&mut self) {
        if let Some(task) = self.renewer.get() {
            task.abort();
        }
    }
}

fn config_err(msg: impl Into<String>) -> PluginError {
    PluginError::Config(msg.into())
}

fn http_client(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, PluginError> {
    builder
        .build()
        .map_err(|e| config_err(format!("auth.keystone: HTTP client: {e}")))
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
        let tokens_url = format!("{root}/v3/auth/tokens?nocatalog");
        let password = match (&cfg.password, &cfg.password_file) {
            (Some(_), Some(_)) => {
                return Err(config_err(
                    "auth.keystone: set password or password_file, not both",
                ))
            }
            (Some(v), None) => match v {
                serde_json::Value::String(s) => SecretString::from(s.as_str()),
                serde_json::Value::Number(n) => SecretString::from(n.to_string()),
                _ => return Err(config_err("auth.keystone.password must be a string")),
            },
            (None, Some(path)) => {
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    config_err(format!(
                        "auth.keystone.password_file {}: {e}",
                        path.display()
                    ))
                })?);
                SecretString::from(text.trim_end_matches(['\r', '\n']))
            }
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
        let connect_timeout = Duration::try_from_secs_f64(cfg.http_connect_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                config_err(
                    "auth.keystone.http_connect_timeout must be a positive number of seconds",
                )
            })?;
        let mut certs = Vec::new();
        if let Some(path) = &cfg.cafile {
            let pem = std::fs::read(path)
                .map_err(|e| config_err(format!("auth.keystone.cafile {}: {e}", path.display())))?;
            certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| config_err(format!("auth.keystone.cafile {}: {e}", path.display())))?;
        }
        let builder = || {
            let mut b = reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(connect_timeout)
                .user_agent(concat!(
                    "coffer/",
                    env!("CARGO_PKG_VERSION"),
                    " keystone-auth"
                ));
            for cert in &certs {
                b = b.add_root_certificate(cert.clone());
            }
            b
        };
        let http = Http {
            pooled: http_client(builder().pool_idle_timeout(POOL_IDLE))?,
            fresh: http_client(builder().pool_max_idle_per_host(0))?,
            retries: cfg.http_request_max_retries,
        };
        let size = cfg.cache_size.max(1);
        let challenge_uri = cfg
            .www_authenticate_uri
            .as_deref()
            .map(|u| u.trim().to_owned())
            .unwrap_or(root);
        Ok(Keystone {
            inner: Arc::new(Inner {
                http,
                tokens_url,
                challenge: format!("Keystone uri=\"{challenge_uri}\""),
                username: cfg.username,
                password,
                user_domain: cfg.user_domain_name,
                project: cfg.project_name,
                project_domain: cfg.project_domain_name,
                ttl: Duration::from_secs(cfg.cache_ttl_seconds),
                stale_max: Duration::from_secs(cfg.stale_max_seconds),
                cache: Cache::new(size),
                service: RwLock::new(None),
                renewing: tokio::sync::Mutex::new(()),
            }),
            renewer: OnceLock::new(),
            metrics: Metrics::discard(),
        })
    }

    /// Report validations, cache hits and failures through `metrics` (from zero).
    pub fn reporting_to(mut self, metrics: &Metrics) -> Self {
        for result in ["valid", "rejected"] {
            metrics.count(names::KEYSTONE_VALIDATIONS, &[("result", result)], 0);
        }
        metrics.count(names::KEYSTONE_CACHE_HITS, &[], 0);
        metrics.count(names::KEYSTONE_FAILURES, &[], 0);
        self.metrics = metrics.clone();
        self
    }

    /// Start the background renewal of the service token (once; on the runtime of the
    /// request that got the first service token).
    fn start_renewer(&self) {
        self.renewer
            .get_or_init(|| tokio::spawn(renew_in_background(self.inner.clone())));
    }

    /// Validate with Keystone, renewing the service token once if it went stale: the caller
    /// the token describes, or why it is refused.
    async fn ask_keystone(&self, user_token: &str) -> Result<Result<Validated, String>, AuthError> {
        let inner = &self.inner;
        let service = inner.service_token().await?;
        self.start_renewer();
        let verdict = match inner.validate(user_token, &service).await? {
            Verdict::StaleServiceToken => {
                let fresh = inner.renew(Some(&service)).await?;
                inner.validate(user_token, &fresh).await?
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
        if reqwest::header::HeaderValue::from_str(token).is_err() {
            return Err(refused("malformed token"));
        }
        let inner = &self.inner;
        let key = token_key(token);
        let now = SystemTime::now();
        let cached = inner.cache_get(&key);
        // A known-good token still alive: believe it within the TTL, and past the TTL only if
        // Keystone cannot be asked (and only within `stale_max` of its last validation).
        let mut fallback = None;
        match cached {
            Some(Cached::Valid(v)) if now < v.expires_at => {
                if v.checked.elapsed() < inner.ttl {
                    self.metrics.count(names::KEYSTONE_CACHE_HITS, &[], 1);
                    return Ok(v.ctx);
                }
                fallback = Some(v);
            }
            Some(Cached::Refused(at)) if at.elapsed() < NEGATIVE_TTL.min(inner.ttl) => {
                self.metrics.count(names::KEYSTONE_CACHE_HITS, &[], 1);
                return Err(refused("token refused by Keystone recently"));
            }
            _ => {}
        }
        match self.ask_keystone(token).await {
            Ok(Ok(v)) => {
                self.metrics
                    .count(names::KEYSTONE_VALIDATIONS, &[("result", "valid")], 1);
                let ctx = v.ctx.clone();
                inner.cache_put(key, Cached::Valid(v));
                Ok(ctx)
            }
            Ok(Err(why)) => {
                self.metrics
                    .count(names::KEYSTONE_VALIDATIONS, &[("result", "rejected")], 1);
                inner.cache_put(key, Cached::Refused(Instant::now()));
                Err(refused(&why))
            }
            Err(e) => {
                self.metrics.count(names::KEYSTONE_FAILURES, &[], 1);
                match fallback {
                    Some(v)
                        if SystemTime::now() < v.expires_at
                            && v.checked.elapsed() < inner.stale_max =>
                    {
                        let age = v.checked.elapsed().as_secs();
                        tracing::warn!(
                            validated_seconds_ago = age,
                            "Keystone unavailable: serving a token it validated earlier"
                        );
                        Ok(v.ctx)
                    }
                    _ => Err(e),
                }
            }
        }
    }
}

/// The background renewal: sleeps until the service token is due, renews it, and after a
/// failure tries again sooner (1 s, doubling, at most 30 s) while requests keep using the
/// token held until it expires. Runs until the plugin is dropped.
async fn renew_in_background(inner: Arc<Inner>) {
    let mut failures = 0;
    loop {
        let held = inner.current();
        tokio::time::sleep(renewal_wait(held.as_deref(), failures)).await;
        failures = match inner.renew(held.as_ref()).await {
            Ok(_) => 0,
            Err(_) => failures.saturating_add(1),
        };
    }
}

/// How long the background renewal waits before renewing `held`.
fn renewal_wait(held: Option<&ServiceToken>, failures: u32) -> Duration {
    if failures > 0 {
        return (RENEWAL_MIN_GAP * 2u32.saturating_pow(failures - 1)).min(RENEWAL_BACKOFF_MAX);
    }
    held.map_or(Duration::ZERO, |t| {
        t.renew_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
    })
    .max(RENEWAL_MIN_GAP)
}

impl Inner {
    fn cache_get(&self, key: &[u8; 32]) -> Option<Cached> {
        self.cache.get(key)
    }

    fn cache_put(&self, key: [u8; 32], value: Cached) {
        self.cache.insert(key, value);
    }

    /// The service token held now (the lock is held only to clone the `Arc`; a poisoned lock
    /// still holds a whole value).
    fn current(&self) -> Option<Arc<ServiceToken>> {
        self.service
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A service token to validate with: the one held, unless there is none yet or it expired
    /// (the background renewal could not renew it), then a new one.
    async fn service_token(&self) -> Result<Arc<ServiceToken>, AuthError> {
        match self.current() {
            Some(held) if held.usable() => Ok(held),
            _ => self.renew(None).await,
        }
    }

    /// Replace `stale` (`None`: whatever is held, if it is unusable) with a new service token.
    /// One renewal at a time: whoever waited for another renewal takes its token.
    async fn renew(
        &self,
        stale: Option<&Arc<ServiceToken>>,
    ) -> Result<Arc<ServiceToken>, AuthError> {
        let _one_at_a_time = self.renewing.lock().await;
        if let Some(held) = self.current() {
            let replaced = stale.is_none_or(|s| !Arc::ptr_eq(s, &held));
            if replaced && held.usable() {
                return Ok(held);
            }
        }
        let fresh = Arc::new(self.fetch_service_token().await?);
        *self.service.write().unwrap_or_else(PoisonError::into_inner) = Some(fresh.clone());
        tracing::info!("Keystone service token obtained");
        Ok(fresh)
    }

    /// Whether Keystone answers at all (for readiness): one request to the token endpoint,
    /// no retry; any answer below 500 will do (without a token it is a 401).
    async fn reachable(&self) -> Result<(), AuthError> {
        let resp = self
            .http
            .pooled
            .get(&self.tokens_url)
            .timeout(HEALTH_TIMEOUT)
            .send()
            .await
            .map_err(|e| unavailable(&format!("health check: {}", describe(&e))))?;
        if resp.status().is_server_error() {
            return Err(unavailable(&format!(
                "health check: Keystone answered {}",
                resp.status()
            )));
        }
        Ok(())
    }

    /// Authenticate as the service user.
    async fn fetch_service_token(&self) -> Result<ServiceToken, AuthError> {
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
            .send("service token", |c| c.post(&self.tokens_url).json(&body))
            .await?;
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
            .map(SecretString::from)
            .ok_or_else(|| unavailable("service token: no X-Subject-Token in Keystone's answer"))?;
        let doc: TokenDoc = resp
            .json()
            .await
            .map_err(|e| unavailable(&format!("service token: {e}")))?;
        let expires_at = parse_expiry(&doc.token.expires_at)
            .ok_or_else(|| unavailable("service token: unreadable expires_at"))?;
        let now = SystemTime::now();
        let life = expires_at.duration_since(now).map_err(|_| {
            unavailable(
                "service token: Keystone issued it already expired (are Coffer's and Keystone's \
                 clocks apart?)",
            )
        })?;
        let renew_in = if life > 2 * SERVICE_TOKEN_MARGIN {
            life - SERVICE_TOKEN_MARGIN
        } else {
            life / 2
        };
        Ok(ServiceToken {
            token,
            expires_at,
            renew_at: now + renew_in,
        })
    }

    /// Ask Keystone about `user_token`.
    async fn validate(
        &self,
        user_token: &str,
        service: &ServiceToken,
    ) -> Result<Verdict, AuthError> {
        let resp = self
            .http
            .send("token validation", |c| {
                c.get(&self.tokens_url)
                    .header("X-Auth-Token", service.token.expose_secret())
                    .header("X-Subject-Token", user_token)
                    .header("Accept", "application/json")
            })
            .await?;
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

    async fn health(&self) -> Result<(), AuthError> {
        self.inner.reachable().await
    }

    fn challenge(&self) -> Option<String> {
        Some(self.inner.challenge.clone())
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
