//! The keystone plugin against a small Keystone stand-in on a loopback port: what it asks,
//! what it caches, what it does when Keystone says no, goes stale or goes away. The real
//! Keystone runs in the functional suite's keystone profile (scripts/test-keystone).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use super::*;

/// A user token as the stand-in knows it: project id (or none), roles, user id, expires_at.
type KnownToken = (Option<String>, Vec<String>, String, String);

/// What the stand-in knows and how it behaves.
#[derive(Default)]
struct Fake {
    tokens: Mutex<HashMap<String, KnownToken>>,
    /// The service token currently valid.
    service_token: Mutex<String>,
    issued: AtomicU64,
    validations: AtomicUsize,
    service_logins: AtomicUsize,
    /// Answer nothing within the client's timeout.
    hang: AtomicBool,
    /// Answer 500 to everything.
    broken: AtomicBool,
    /// Lifetime of the service tokens issued, in seconds (0: an hour).
    service_ttl: AtomicI64,
    /// Service logins asked for (answered or not).
    logins_started: AtomicUsize,
    /// Hold the answer to this login (1 for the first) until `release` is notified.
    hold_login: AtomicUsize,
    release: tokio::sync::Notify,
    /// Answer 500 to service logins.
    logins_fail: AtomicBool,
    /// Take this long to answer a validation.
    validation_delay: Mutex<Duration>,
    /// The service token each validation came with, in order.
    validated_with: Mutex<Vec<String>>,
    /// Answer 401 to every validation, whatever the service token.
    reject_service: AtomicBool,
    /// How to botch the answer to a service login ("no-header", "bad-json", "bad-expiry").
    issue_fault: Mutex<Option<&'static str>>,
    /// Validation answers given as they are (status, body) for these subject tokens.
    raw: Mutex<HashMap<String, (u16, &'static str)>>,
}

impl Fake {
    fn add(&self, token: &str, project: Option<&str>, roles: &[&str], user: &str, ttl: i64) {
        self.tokens.lock().unwrap().insert(
            token.to_owned(),
            (
                project.map(str::to_owned),
                roles.iter().map(|r| r.to_string()).collect(),
                user.to_owned(),
                expiry(ttl),
            ),
        );
    }

    fn revoke(&self, token: &str) {
        self.tokens.lock().unwrap().remove(token);
    }

    /// Invalidate the service token (as a Keystone restart with rotated keys would).
    fn rotate_service_token(&self) {
        *self.service_token.lock().unwrap() = "nobody-has-this".into();
    }
}

fn expiry(seconds: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

async fn misbehave(fake: &Fake) -> Option<HttpResponse> {
    if fake.hang.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if fake.broken.load(Ordering::SeqCst) {
        return Some(HttpResponse::InternalServerError().finish());
    }
    None
}

async fn issue(fake: web::Data<Fake>, body: web::Json<serde_json::Value>) -> HttpResponse {
    if let Some(r) = misbehave(&fake).await {
        return r;
    }
    let n = fake.logins_started.fetch_add(1, Ordering::SeqCst) + 1;
    if fake.hold_login.load(Ordering::SeqCst) == n {
        fake.release.notified().await;
    }
    if fake.logins_fail.load(Ordering::SeqCst) {
        return HttpResponse::InternalServerError().finish();
    }
    let user = &body["auth"]["identity"]["password"]["user"];
    if user["name"] != "coffer" || user["password"] != "s3cret" {
        return HttpResponse::Unauthorized().finish();
    }
    assert_eq!(body["auth"]["scope"]["project"]["name"], "service");
    fake.service_logins.fetch_add(1, Ordering::SeqCst);
    let token = format!("svc-{}", fake.issued.fetch_add(1, Ordering::SeqCst));
    *fake.service_token.lock().unwrap() = token.clone();
    let ttl = match fake.service_ttl.load(Ordering::SeqCst) {
        0 => 3600,
        ttl => ttl,
    };
    let fault = *fake.issue_fault.lock().unwrap();
    let expires_at = match fault {
        Some("bad-expiry") => "next tuesday".to_owned(),
        _ => expiry(ttl),
    };
    let mut resp = HttpResponse::Created();
    if fault != Some("no-header") {
        resp.insert_header(("X-Subject-Token", token));
    }
    if fault == Some("bad-json") {
        return resp.content_type("application/json").body("{\"token\": ");
    }
    resp.json(
        serde_json::json!({"token": {"expires_at": expires_at, "roles": [{"name": "service"}],
        "project": {"id": "svc-project"}, "user": {"id": "coffer-id"}}}),
    )
}

async fn check(fake: web::Data<Fake>, req: HttpRequest) -> HttpResponse {
    if let Some(r) = misbehave(&fake).await {
        return r;
    }
    let delay = *fake.validation_delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    fake.validations.fetch_add(1, Ordering::SeqCst);
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    fake.validated_with
        .lock()
        .unwrap()
        .push(header("x-auth-token"));
    assert_eq!(req.query_string(), "nocatalog");
    if fake.reject_service.load(Ordering::SeqCst)
        || header("x-auth-token") != *fake.service_token.lock().unwrap()
    {
        return HttpResponse::Unauthorized().finish();
    }
    if let Some((status, body)) = fake.raw.lock().unwrap().get(&header("x-subject-token")) {
        return HttpResponse::build(actix_web::http::StatusCode::from_u16(*status).unwrap())
            .content_type("application/json")
            .body(*body);
    }
    let Some((project, roles, user, expires_at)) = fake
        .tokens
        .lock()
        .unwrap()
        .get(&header("x-subject-token"))
        .cloned()
    else {
        return HttpResponse::NotFound().finish();
    };
    let mut token = serde_json::json!({
        "expires_at": expires_at,
        "user": {"id": user, "name": "someone", "domain": {"id": "default"}},
        "roles": roles.iter().map(|r| serde_json::json!({"id": "x", "name": r})).collect::<Vec<_>>(),
    });
    if let Some(p) = project {
        token["project"] = serde_json::json!({"id": p, "name": "p", "domain": {"id": "default"}});
    }
    HttpResponse::Ok().json(serde_json::json!({ "token": token }))
}

/// Start the stand-in; returns its base URL.
fn start(fake: web::Data<Fake>) -> String {
    start_on(fake, "127.0.0.1:0")
}

/// Start the stand-in on `addr`.
fn start_on(fake: web::Data<Fake>, addr: &str) -> String {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(fake.clone())
            .route("/v3/auth/tokens", web::post().to(issue))
            .route("/v3/auth/tokens", web::get().to(check))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    format!("http://{addr}")
}

fn plugin(url: &str, ttl: u64) -> Keystone {
    plugin_with_timeout(url, ttl, 300)
}

fn plugin_with_timeout(url: &str, ttl: u64, timeout_ms: u64) -> Keystone {
    plugin_with(
        url,
        serde_json::json!({"timeout_ms": timeout_ms, "cache_ttl_seconds": ttl}),
    )
}

/// The plugin against `url` with these settings besides the service user's (and a small
/// cache); every other setting is its default.
fn plugin_with(url: &str, settings: serde_json::Value) -> Keystone {
    let mut config = serde_json::json!({
        "auth_url": format!("{url}/v3/"),
        "username": "coffer",
        "password": "s3cret",
        "cache_size": 100,
    });
    for (k, v) in settings.as_object().unwrap() {
        config[k] = v.clone();
    }
    Keystone::new(serde_json::from_value(config).unwrap()).unwrap()
}

/// Wait (polling) until `done` holds; a guard against hanging, not a timing assertion.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gave up waiting: {what}");
}

struct H(Vec<(&'static str, String)>);
impl HeaderLookup for H {
    fn header(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn token(t: &str) -> H {
    H(vec![("x-auth-token", t.to_owned())])
}

fn is_401(r: Result<AuthContext, AuthError>) -> bool {
    r == Err(AuthError::Unauthenticated(UNAUTHENTICATED.into()))
}

fn is_503(r: Result<AuthContext, AuthError>) -> bool {
    r == Err(AuthError::Unavailable(UNAVAILABLE.into()))
}

#[actix_web::test]
async fn a_valid_token_gives_its_project_roles_and_user_and_identity_headers_are_ignored() {
    let fake = web::Data::new(Fake::default());
    fake.add(
        "tok-a",
        Some("proj-a"),
        &["Creator", "member", "reader"],
        "user-a",
        600,
    );
    let ks = plugin(&start(fake.clone()), 60);
    let h = H(vec![
        ("x-auth-token", " tok-a ".into()),
        ("x-project-id", "someone-else".into()),
        ("x-roles", "admin".into()),
        ("x-user-id", "root".into()),
    ]);
    let ctx = ks.authenticate(&h).await.unwrap();
    assert_eq!(ctx.project_id, "proj-a");
    assert_eq!(ctx.roles, vec!["creator", "member", "reader"]);
    assert_eq!(ctx.user_id.as_deref(), Some("user-a"));
    // Identity headers alone are worth nothing.
    let h = H(vec![
        ("x-project-id", "p".into()),
        ("x-roles", "admin".into()),
    ]);
    assert!(is_401(ks.authenticate(&h).await));
    assert!(is_401(ks.authenticate(&token("   ")).await));
    assert_eq!(fake.service_logins.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn unknown_unscoped_and_expired_tokens_are_refused() {
    let fake = web::Data::new(Fake::default());
    fake.add("unscoped", None, &[], "user-a", 600);
    fake.add("dead", Some("p"), &["admin"], "user-a", -5);
    let ks = plugin(&start(fake.clone()), 60);
    assert!(is_401(ks.authenticate(&token("garbage")).await));
    assert!(is_401(ks.authenticate(&token("unscoped")).await));
    assert!(is_401(ks.authenticate(&token("dead")).await));
    // A refused token is not asked about again right away.
    let asked = fake.validations.load(Ordering::SeqCst);
    assert!(is_401(ks.authenticate(&token("garbage")).await));
    assert_eq!(fake.validations.load(Ordering::SeqCst), asked);
}

#[actix_web::test]
async fn tokens_are_cached_for_the_ttl_then_revalidated_so_revocation_takes_effect() {
    let fake = web::Data::new(Fake::default());
    fake.add("tok", Some("p"), &["admin"], "u", 600);
    let ks = plugin(&start(fake.clone()), 1);
    for _ in 0..5 {
        ks.authenticate(&token("tok")).await.unwrap();
    }
    assert_eq!(fake.validations.load(Ordering::SeqCst), 1);
    fake.revoke("tok");
    // Within the TTL the cache answers; after it, Keystone's "no" does.
    ks.authenticate(&token("tok")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(is_401(ks.authenticate(&token("tok")).await));
}

#[actix_web::test]
async fn the_cache_never_outlives_the_token() {
    let fake = web::Data::new(Fake::default());
    fake.add("short", Some("p"), &["admin"], "u", 1);
    let ks = plugin(&start(fake.clone()), 3600);
    ks.authenticate(&token("short")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Expired: not served from the cache, and Keystone's answer is refused as expired.
    fake.broken.store(true, Ordering::SeqCst);
    let r = ks.authenticate(&token("short")).await;
    assert!(is_503(r.clone()) || is_401(r));
    fake.broken.store(false, Ordering::SeqCst);
    assert!(is_401(ks.authenticate(&token("short")).await));
}

#[actix_web::test]
async fn a_stale_service_token_is_renewed_and_the_request_retried() {
    let fake = web::Data::new(Fake::default());
    fake.add("tok", Some("p"), &["admin"], "u", 600);
    fake.add("tok2", Some("p"), &["admin"], "u", 600);
    let ks = plugin(&start(fake.clone()), 60);
    ks.authenticate(&token("tok")).await.unwrap();
    fake.rotate_service_token();
    ks.authenticate(&token("tok2")).await.unwrap();
    assert_eq!(fake.service_logins.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn keystone_down_means_503_fast_but_known_tokens_keep_working_and_recovery_is_automatic() {
    let fake = web::Data::new(Fake::default());
    fake.add("known", Some("p"), &["admin"], "u", 600);
    fake.add("new", Some("p"), &["admin"], "u", 600);
    let ks = plugin(&start(fake.clone()), 1);
    ks.authenticate(&token("known")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    fake.hang.store(true, Ordering::SeqCst);
    let started = Instant::now();
    assert!(is_503(ks.authenticate(&token("new")).await));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Past its TTL, but alive: served while Keystone cannot be asked.
    assert_eq!(
        ks.authenticate(&token("known")).await.unwrap().project_id,
        "p"
    );
    fake.hang.store(false, Ordering::SeqCst);

    fake.broken.store(true, Ordering::SeqCst);
    assert!(is_503(ks.authenticate(&token("new")).await));
    fake.broken.store(false, Ordering::SeqCst);

    assert_eq!(
        ks.authenticate(&token("new")).await.unwrap().project_id,
        "p"
    );
}

#[actix_web::test]
async fn wrong_service_credentials_are_a_503_not_the_clients_fault() {
    let fake = web::Data::new(Fake::default());
    fake.add("tok", Some("p"), &["admin"], "u", 600);
    let url = start(fake.clone());
    let ks = Keystone::new(
        serde_json::from_value(serde_json::json!({
            "auth_url": url, "username": "coffer", "password": "wrong", "timeout_ms": 300,
        }))
        .unwrap(),
    )
    .unwrap();
    assert!(is_503(ks.authenticate(&token("tok")).await));
}

#[test]
fn configuration_is_checked_and_the_challenge_names_keystone() {
    let parse = |v: serde_json::Value| {
        Keystone::new(serde_json::from_value::<KeystoneConfig>(v).unwrap())
            .map(|k| k.inner.challenge.clone())
    };
    let ok = parse(serde_json::json!({
        "auth_url": "http://127.0.0.1:5000/v3", "username": "c", "password": 1234,
    }))
    .unwrap();
    assert_eq!(ok, "Keystone uri=\"http://127.0.0.1:5000\"");
    let ok = parse(serde_json::json!({
        "auth_url": "http://k:5000", "username": "c", "password": "p",
        "www_authenticate_uri": "https://public.example:5000",
    }))
    .unwrap();
    assert_eq!(ok, "Keystone uri=\"https://public.example:5000\"");
    for bad in [
        serde_json::json!({"auth_url": "http://k", "username": "c"}),
        serde_json::json!({"auth_url": "ftp://k", "username": "c", "password": "p"}),
        serde_json::json!({"auth_url": "http://k", "username": "c", "password": "p",
            "password_file": "/nonexistent"}),
        serde_json::json!({"auth_url": "http://k", "username": "c",
            "password_file": "/nonexistent/file"}),
        serde_json::json!({"auth_url": "http://k", "username": "c", "password": "p",
            "timeout_ms": 0}),
    ] {
        assert!(parse(bad.clone()).is_err(), "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").unwrap();
    let k = Keystone::new(
        serde_json::from_value(serde_json::json!({
            "auth_url": "http://k", "username": "c", "password_file": file,
        }))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(k.inner.password.expose_secret(), "from-file");
}

#[test]
fn the_401_body_is_keystonemiddlewares() {
    let k = Keystone::new(
        serde_json::from_value(serde_json::json!({
            "auth_url": "http://k", "username": "c", "password": "p",
        }))
        .unwrap(),
    )
    .unwrap();
    let r = k.rejection().unwrap();
    assert_eq!(r.content_type, "application/json; charset=UTF-8");
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "{\"error\": {\"code\": 401, \"title\": \"Unauthorized\", \"message\": \
         \"The request you have made requires authentication.\"}}"
    );
}

#[actix_web::test]
async fn keystones_other_answers_to_a_validation() {
    let fake = web::Data::new(Fake::default());
    {
        let mut raw = fake.raw.lock().unwrap();
        raw.insert("malformed".into(), (400, "{}"));
        raw.insert("forbidden".into(), (403, "{}"));
        raw.insert("teapot".into(), (418, "{}"));
        raw.insert("garbled".into(), (200, "{\"token\": [1, 2"));
        raw.insert(
            "no-expiry".into(),
            (200, "{\"token\": {\"project\": {\"id\": \"p\"}}}"),
        );
        raw.insert(
            "odd-expiry".into(),
            (
                200,
                "{\"token\": {\"expires_at\": \"soon\", \"project\": {\"id\": \"p\"}}}",
            ),
        );
    }
    let ks = plugin(&start(fake.clone()), 60);
    // A 400 is the client's token: refused, and remembered as refused.
    assert!(is_401(ks.authenticate(&token("malformed")).await));
    let asked = fake.validations.load(Ordering::SeqCst);
    assert!(is_401(ks.authenticate(&token("malformed")).await));
    assert_eq!(fake.validations.load(Ordering::SeqCst), asked);
    // A token whose expiry cannot be read is not believed.
    assert!(is_401(ks.authenticate(&token("odd-expiry")).await));
    // Keystone's own trouble (403 for the service user, other statuses, an answer that is
    // not a token) is a 503, and is not remembered against the token.
    for t in ["forbidden", "teapot", "garbled", "no-expiry"] {
        assert!(is_503(ks.authenticate(&token(t)).await), "{t}");
        let asked = fake.validations.load(Ordering::SeqCst);
        assert!(is_503(ks.authenticate(&token(t)).await), "{t}");
        assert_eq!(fake.validations.load(Ordering::SeqCst), asked + 1, "{t}");
    }
    assert_eq!(fake.service_logins.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn a_service_token_issued_already_expired_is_a_503() {
    let fake = web::Data::new(Fake::default());
    fake.add("tok", Some("p"), &["admin"], "u", 600);
    fake.service_ttl.store(-1, Ordering::SeqCst);
    let ks = plugin(&start(fake.clone()), 60);
    assert!(is_503(ks.authenticate(&token("tok")).await));
    assert_eq!(fake.validations.load(Ordering::SeqCst), 0);
    // Nothing was kept: with a usable token, all is well.
    fake.service_ttl.store(0, Ordering::SeqCst);
    ks.authenticate(&token("tok")).await.unwrap();
    assert_eq!(fake.service_logins.load(Ordering::SeqCst), 2);
    // A cached token needs no service token at all.
    ks.authenticate(&token("tok")).await.unwrap();
    assert_eq!(fake.service_logins.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn a_fresh_service_token_refused_too_is_a_503() {
    let fake = web::Data::new(Fake::default());
    fake.add("tok", Some("p"), &["admin"], "u", 600);
    fake.reject_service.store(true, Ordering::SeqCst);
    let ks = plugin(&start(fake.clone()), 60);
    assert!(is_503(ks.authenticate(&token("tok")).await));
    // Renewed once, asked twice, then given up.
    assert_eq!(fake.service_logins.load(Ordering::SeqCst), 2);
    assert_eq!(fake.validations.load(Ordering::SeqCst), 2);
    fake.reject_service.store(false, Ordering::SeqCst);
    assert_eq!(
        ks.authenticate(&token("tok")).await.unwrap().project_id,
        "p"
    );
}

#[actix_web::test]
async fn an_unusable_answer_to_the_service_login_is_a_503() {
    let fake = web::Data::new(Fake::default());
    fake.add("tok", Some("p"), &["admin"], "u", 600);
    let url = start(fake.clone());
    fake.broken.store(true, Ordering::SeqCst);
    assert!(is_503(plugin(&url, 60).authenticate(&token("tok")).await));
    fake.broken.store(false, Ordering::SeqCst);
    for fault in ["no-header", "bad-json", "bad-expiry"] {
        *fake.issue_fault.lock().unwrap() = Some(fault);
        let ks = plugin(&url, 60);
        assert!(is_503(ks.authenticate(&token("tok")).await), "{fault}");
        // Nothing usable was kept: once Keystone answers properly, all is well.
        *fake.issue_fault.lock().unwrap() = None;
        assert_eq!(
            ks.authenticate(&token("tok")).await.unwrap().project_id,
            "p"
        );
    }
    assert_eq!(fake.validations.load(Ordering::SeqCst), 3);
}

#[actix_web::test]
async fn a_refused_token_is_asked_about_again_once_the_refusal_is_old() {
    let fake = web::Data::new(Fake::default());
    let ks = plugin(&start(fake.clone()), 1);
    assert!(is_401(ks.authenticate(&token("late")).await));
    assert_eq!(fake.validations.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fake.add("late", Some("p"), &["admin"], "u", 600);
    assert_eq!(
        ks.authenticate(&token("late")).await.unwrap().project_id,
        "p"
    );
    assert_eq!(fake.validations.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn a_token_that_expires_while_keystone_is_unreachable_is_not_served() {
    let fake = web::Data::new(Fake::default());
    // Alive for 3 s; believed for 1 s; Keystone then takes longer than the 4 s timeout.
    fake.add("brief", Some("p"), &["admin"], "u", 3);
    let ks = plugin_with_timeout(&start(fake.clone()), 1, 4000);
    ks.authenticate(&token("brief")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fake.hang.store(true, Ordering::SeqCst);
    // Still alive when asked, dead by the time Keystone's silence is certain.
    assert!(is_503(ks.authenticate(&token("brief")).await));
}

#[test]
fn the_registered_factory_builds_the_plugin() {
    let d = plugin_api::registry::find(plugin_api::Namespace::Auth, "keystone").unwrap();
    assert_eq!(d.status, PluginStatus::Stable);
    assert_eq!(d.crate_name, "keystone");
    let Factory::Auth(factory) = d.factory else {
        panic!("keystone is not registered as an auth plugin");
    };
    let dir = tempfile::tempdir().unwrap();
    let build = |config: serde_json::Value| {
        factory(&PluginContext {
            metrics: plugin_api::Metrics::discarding(),
            instance: "keystone",
            config: &config,
            data_dir: dir.path(),
            profile: plugin_api::Profile::Production,
        })
    };
    let k = build(serde_json::json!({
        "auth_url": "https://keystone.example:5000/v3", "username": "c", "password": "p",
    }))
    .unwrap();
    assert_eq!(k.name(), "keystone");
    assert_eq!(
        k.challenge().as_deref(),
        Some("Keystone uri=\"https://keystone.example:5000\"")
    );
    let err = build(serde_json::json!({"auth_url": "http://k", "username": "c", "pasword": "p"}))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("invalid configuration for 'keystone'"),
        "{err}"
    );
    let err = build(serde_json::json!({"auth_url": "http://k", "username": "c", "password": true}))
        .err()
        .unwrap();
    assert_eq!(
        err,
        PluginError::Config("auth.keystone.password must be a string".into())
    );
}

#[test]
fn a_cafile_adds_trusted_certificates_and_a_bad_one_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=keystone.test", "-keyout"])
        .arg(dir.path().join("ca.key"))
        .arg("-out")
        .arg(&ca)
        .output()
        .expect("openssl (installed with ca-certificates) makes a test CA");
    assert!(made.status.success(), "{made:?}");
    let with_cafile = |path: &std::path::Path| {
        Keystone::new(
            serde_json::from_value(serde_json::json!({
                "auth_url": "https://keystone.test:5000", "username": "c", "password": "p",
                "cafile": path,
            }))
            .unwrap(),
        )
    };
    assert!(with_cafile(&ca).is_ok());

    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.pem");
    for path in [&broken, &missing] {
        let err = with_cafile(path).err().unwrap();
        assert!(
            err.to_string()
                .contains(&format!("auth.keystone.cafile {}: ", path.display())),
            "{err}"
        );
    }
    // Well-formed PEM around something that is not a certificate: the HTTP client refuses it.
    let not_a_cert = dir.path().join("not-a-cert.pem");
    std::fs::write(
        &not_a_cert,
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = with_cafile(&not_a_cert).err().unwrap();
    assert!(
        err.to_string().contains("auth.keystone: HTTP client: "),
        "{err}"
    );
}

#[test]
fn an_auth_url_that_is_not_a_url_is_a_configuration_error() {
    let err = Keystone::new(
        serde_json::from_value(serde_json::json!({
            "auth_url": " not a url/ ", "username": "c", "password": "p",
        }))
        .unwrap(),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("auth.keystone.auth_url \"not a url\": "),
        "{err}"
    );
}

#[actix_web::test]
async fn keystone_not_running_at_all_is_a_503() {
    // A loopback port nobody listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ks = plugin_with(
        &format!("http://127.0.0.1:{port}"),
        serde_json::json!({"http_request_max_retries": 1}),
    );
    assert!(is_503(ks.authenticate(&token("tok")).await));
    assert!(is_503(ks.authenticate(&token("tok")).await));
}

/// How the raw stand-in treats the requests it reads.
#[derive(Clone, Copy, PartialEq)]
enum Dropping {
    /// Close the first connection without answering its request; answer the rest.
    First,
    /// Answer the first request of each connection; close a connection without answering
    /// when a second request comes on it (a keep-alive connection that died under the client).
    Reused,
    /// Never answer: close every connection once its request is read.
    All,
}

/// A stand-in on a raw TCP listener, for what an HTTP server does not do on purpose: closing a
/// connection without answering. Logs (connection number, method, answered) per request.
struct RawKeystone {
    url: String,
    log: Arc<Mutex<Vec<(usize, String, bool)>>>,
}

async fn start_raw(how: Dropping) -> RawKeystone {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        for conn in 0.. {
            let (stream, _) = listener.accept().await.unwrap();
            let log = seen.clone();
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                for nth in 0.. {
                    // The request head, then its body.
                    let mut method = String::new();
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return; // the client closed it
                        }
                        if method.is_empty() {
                            method = line.split(' ').next().unwrap().to_owned();
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    stream.read_exact(&mut body).await.unwrap();
                    let answer = match how {
                        Dropping::First => conn > 0,
                        Dropping::Reused => nth == 0,
                        Dropping::All => false,
                    };
                    log.lock().unwrap().push((conn, method.clone(), answer));
                    if !answer {
                        return; // dropped: closed without a word
                    }
                    let doc = serde_json::json!({"token": {"expires_at": expiry(3600),
                        "project": {"id": "p"}, "user": {"id": "u"}, "roles": [{"name": "admin"}]}});
                    let doc = doc.to_string();
                    let status = if method == "POST" {
                        "201 Created"
                    } else {
                        "200 OK"
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Subject-Token: svc\r\n\
                         Content-Length: {}\r\n\r\n",
                        doc.len()
                    );
                    let stream = stream.get_mut();
                    stream.write_all(head.as_bytes()).await.unwrap();
                    stream.write_all(doc.as_bytes()).await.unwrap();
                }
            });
        }
    });
    RawKeystone { url, log }
}

impl RawKeystone {
    fn log(&self) -> Vec<(usize, String, bool)> {
        self.log.lock().unwrap().clone()
    }
}

#[actix_web::test]
async fn a_connection_closed_without_an_answer_is_retried_once_on_a_new_connection() {
    let raw = start_raw(Dropping::First).await;
    let ks = plugin_with(&raw.url, serde_json::json!({"http_request_max_retries": 1}));
    assert_eq!(
        ks.authenticate(&token("tok")).await.unwrap().project_id,
        "p"
    );
    let log = raw.log();
    // The service login was dropped, sent again on a new connection and answered.
    assert_eq!(log[0], (0, "POST".into(), false));
    assert_eq!(log[1], (1, "POST".into(), true));
    assert_eq!(log[2].1, "GET");
    assert!(log[2].2);
    assert_eq!(log.len(), 3);
}

#[actix_web::test]
async fn a_pooled_connection_that_died_is_not_used_again() {
    // Every connection answers once and dies under the next request sent on it. Validations
    // at once leave several such connections idle in the pool; with one retry allowed, a
    // retry on another pooled connection would die too (a 503): only a new one gets through.
    let raw = start_raw(Dropping::Reused).await;
    let ks = Arc::new(plugin_with(
        &raw.url,
        serde_json::json!({"http_request_max_retries": 1, "cache_ttl_seconds": 0}),
    ));
    for round in 0..3 {
        let mut all = tokio::task::JoinSet::new();
        for n in 0..4 {
            let ks = ks.clone();
            all.spawn(async move { ks.authenticate(&token(&format!("tok-{round}-{n}"))).await });
        }
        for r in all.join_all().await {
            assert_eq!(r.unwrap().project_id, "p");
        }
        assert_eq!(
            ks.authenticate(&token("tok")).await.unwrap().project_id,
            "p"
        );
    }
    let log = raw.log();
    let dropped = log.iter().filter(|(_, _, answered)| !answered).count();
    assert!(dropped >= 3, "the pool reused too few connections: {log:?}");
    // Each dropped request was answered next, on a connection not used before.
    for (i, (conn, method, answered)) in log.iter().enumerate() {
        if !answered {
            let (next_conn, next_method, next_answered) = &log[i + 1..]
                .iter()
                .find(|(c, _, _)| log[..=i].iter().all(|(seen, _, _)| seen != c))
                .expect("a retry on a new connection");
            assert_eq!(next_method, method);
            assert!(next_answered);
            assert!(next_conn > conn);
        }
    }
    assert_eq!(log.iter().filter(|(_, m, a)| m == "GET" && *a).count(), 15);
}

#[actix_web::test]
async fn retries_of_a_call_never_answered_are_bounded() {
    let raw = start_raw(Dropping::All).await;
    let ks = plugin_with(&raw.url, serde_json::json!({"http_request_max_retries": 2}));
    assert!(is_503(ks.authenticate(&token("tok")).await));
    let conns: Vec<_> = raw.log().iter().map(|(c, m, _)| (*c, m.clone())).collect();
    assert_eq!(
        conns,
        vec![(0, "POST".into()), (1, "POST".into()), (2, "POST".into())]
    );

    let raw = start_raw(Dropping::All).await;
    let ks = plugin_with(&raw.url, serde_json::json!({"http_request_max_retries": 0}));
    assert!(is_503(ks.authenticate(&token("tok")).await));
    assert_eq!(raw.log().len(), 1);
}

#[actix_web::test]
async fn a_keystone_that_is_restarting_is_waited_for() {
    // Nobody listens on the port at first (connection refused), Keystone comes up a little
    // later: the retries (0.5 s, then 1 s, 2 s after failed connects) reach it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let fake = web::Data::new(Fake::default());
    fake.add("tok", Some("p"), &["admin"], "u", 600);
    let ks = plugin_with(&format!("http://127.0.0.1:{port}"), serde_json::json!({}));
    let later = fake.clone();
    let starting = actix_web::rt::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        start_on(later, &format!("127.0.0.1:{port}"));
    });
    assert_eq!(
        ks.authenticate(&token("tok")).await.unwrap().project_id,
        "p"
    );
    starting.await.unwrap();
    assert_eq!(fake.service_logins.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn a_keystone_taking_seconds_to_validate_is_waited_for_with_the_defaults() {
    let fake = web::Data::new(Fake::default());
    fake.add("tok", Some("p"), &["admin"], "u", 600);
    *fake.validation_delay.lock().unwrap() = Duration::from_secs(3);
    let ks = plugin_with(&start(fake.clone()), serde_json::json!({}));
    assert_eq!(
        ks.authenticate(&token("tok")).await.unwrap().project_id,
        "p"
    );
    assert_eq!(fake.validations.load(Ordering::SeqCst), 1);
}

#[test]
fn the_defaults_are_keystonemiddlewares_where_it_has_one() {
    let cfg: KeystoneConfig = serde_json::from_value(serde_json::json!({
        "auth_url": "http://k", "username": "c", "password": "p",
    }))
    .unwrap();
    assert_eq!(cfg.http_request_max_retries, 3);
    assert_eq!(cfg.cache_ttl_seconds, 300);
    // keystonemiddleware waits without limit; Coffer bounded, and far above a slow Keystone.
    assert_eq!(cfg.timeout_ms, 10_000);
    assert_eq!(cfg.http_connect_timeout, 3.0);
    assert_eq!(cfg.stale_max_seconds, 600);
    for bad in [0.0, -1.0, f64::NAN] {
        let err = Keystone::new(
            serde_json::from_value(serde_json::json!({
                "auth_url": "http://k", "username": "c", "password": "p",
            }))
            .map(|mut c: KeystoneConfig| {
                c.http_connect_timeout = bad;
                c
            })
            .unwrap(),
        )
        .err()
        .unwrap();
        assert_eq!(
            err,
            PluginError::Config(
                "auth.keystone.http_connect_timeout must be a positive number of seconds".into()
            )
        );
    }
    // Fractions of a second are fine (keystonemiddleware's is whole seconds).
    assert!(Keystone::new(
        serde_json::from_value(serde_json::json!({
            "auth_url": "http://k", "username": "c", "password": "p",
            "http_connect_timeout": 0.25, "http_request_max_retries": 0, "stale_max_seconds": 0,
        }))
        .unwrap()
    )
    .is_ok());
}

#[actix_web::test]
async fn a_token_that_cannot_be_a_header_is_refused_without_asking() {
    let fake = web::Data::new(Fake::default());
    let ks = plugin(&start(fake.clone()), 60);
    assert!(is_401(ks.authenticate(&token("tok\u{1}en")).await));
    assert_eq!(fake.logins_started.load(Ordering::SeqCst), 0);
}

#[actix_web::test]
async fn requests_do_not_wait_for_a_service_token_renewal() {
    let fake = web::Data::new(Fake::default());
    for n in 0..=51 {
        fake.add(&format!("tok-{n}"), Some("p"), &["admin"], "u", 600);
    }
    // A service token living 2 s: renewed in the background after 1 s. That renewal (the
    // second login) is held by the stand-in until released.
    fake.service_ttl.store(2, Ordering::SeqCst);
    fake.hold_login.store(2, Ordering::SeqCst);
    let ks = Arc::new(plugin(&start(fake.clone()), 60));
    ks.authenticate(&token("tok-0")).await.unwrap();
    until("the background renewal asked Keystone", || {
        fake.logins_started.load(Ordering::SeqCst) == 2
    })
    .await;

    // 50 validations at once while the renewal hangs: all done, with the token held, before
    // the renewal is let through.
    let mut all = tokio::task::JoinSet::new();
    for n in 1..=50 {
        let ks = ks.clone();
        all.spawn(async move { ks.authenticate(&token(&format!("tok-{n}"))).await });
    }
    let done = tokio::time::timeout(Duration::from_secs(60), all.join_all())
        .await
        .expect("validations waited for the service-token renewal");
    assert!(done.iter().all(|r| r.as_ref().unwrap().project_id == "p"));
    assert_eq!(fake.validations.load(Ordering::SeqCst), 51);
    assert_eq!(fake.service_logins.load(Ordering::SeqCst), 1);
    assert!(fake
        .validated_with
        .lock()
        .unwrap()
        .iter()
        .all(|t| t == "svc-0"));

    // Released: the renewed token is used from then on.
    fake.release.notify_one();
    until("the renewal completed", || {
        fake.service_logins.load(Ordering::SeqCst) == 2
    })
    .await;
    until("the renewed token is current", || {
        ks.inner.current().unwrap().token.expose_secret() == "svc-1"
    })
    .await;
    ks.authenticate(&token("tok-51")).await.unwrap();
    assert_eq!(fake.validated_with.lock().unwrap().last().unwrap(), "svc-1");
}

#[actix_web::test]
async fn concurrent_requests_refused_for_a_stale_service_token_renew_it_once() {
    let fake = web::Data::new(Fake::default());
    for n in 0..=20 {
        fake.add(&format!("tok-{n}"), Some("p"), &["admin"], "u", 600);
    }
    let ks = Arc::new(plugin(&start(fake.clone()), 60));
    ks.authenticate(&token("tok-0")).await.unwrap();
    fake.rotate_service_token();
    let mut all = tokio::task::JoinSet::new();
    for n in 1..=20 {
        let ks = ks.clone();
        all.spawn(async move { ks.authenticate(&token(&format!("tok-{n}"))).await });
    }
    for r in all.join_all().await {
        assert_eq!(r.unwrap().project_id, "p");
    }
    assert_eq!(fake.service_logins.load(Ordering::SeqCst), 2);
}

#[actix_web::test]
async fn a_token_is_served_stale_at_most_stale_max_seconds_after_its_validation() {
    let fake = web::Data::new(Fake::default());
    fake.add("known", Some("p"), &["admin"], "u", 600);
    let ks = plugin_with(
        &start(fake.clone()),
        serde_json::json!({"cache_ttl_seconds": 1, "stale_max_seconds": 2}),
    );
    ks.authenticate(&token("known")).await.unwrap();
    fake.broken.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Past the TTL, within stale_max: served, Keystone being down.
    assert_eq!(
        ks.authenticate(&token("known")).await.unwrap().project_id,
        "p"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // Past stale_max (2 s after the validation), though alive for ten minutes yet: 503.
    assert!(is_503(ks.authenticate(&token("known")).await));
    // Keystone back: validated again, and from then on the clock starts anew.
    fake.broken.store(false, Ordering::SeqCst);
    assert_eq!(
        ks.authenticate(&token("known")).await.unwrap().project_id,
        "p"
    );
}

#[actix_web::test]
async fn a_service_token_that_could_not_be_renewed_is_renewed_on_demand_once_expired() {
    let fake = web::Data::new(Fake::default());
    fake.add("a", Some("p"), &["admin"], "u", 600);
    fake.add("b", Some("p"), &["admin"], "u", 600);
    fake.add("c", Some("p"), &["admin"], "u", 600);
    fake.service_ttl.store(2, Ordering::SeqCst);
    let ks = plugin(&start(fake.clone()), 60);
    ks.authenticate(&token("a")).await.unwrap();
    // Logins fail: the background renewal (due after 1 s) fails and tries again.
    fake.logins_fail.store(true, Ordering::SeqCst);
    until("the background renewal failed twice", || {
        fake.logins_started.load(Ordering::SeqCst) >= 3
    })
    .await;
    until("the service token expired", || {
        !ks.inner.current().unwrap().usable()
    })
    .await;
    // The expired token is not used: a new one is asked for, and Keystone cannot give one.
    assert!(is_503(ks.authenticate(&token("b")).await));
    assert_eq!(fake.validations.load(Ordering::SeqCst), 1);
    fake.logins_fail.store(false, Ordering::SeqCst);
    assert_eq!(ks.authenticate(&token("c")).await.unwrap().project_id, "p");
    assert_eq!(fake.validations.load(Ordering::SeqCst), 2);
    assert!(fake.service_logins.load(Ordering::SeqCst) >= 2);
}

#[test]
fn background_renewal_waits_for_the_due_time_and_backs_off_after_failures() {
    let at = |secs: u64| ServiceToken {
        token: SecretString::from("t"),
        expires_at: SystemTime::now() + Duration::from_secs(secs + 60),
        renew_at: SystemTime::now() + Duration::from_secs(secs),
    };
    assert!(renewal_wait(Some(&at(3000)), 0) > Duration::from_secs(2990));
    // Due already, or nothing held: not sooner than the minimum gap.
    assert_eq!(renewal_wait(Some(&at(0)), 0), RENEWAL_MIN_GAP);
    assert_eq!(renewal_wait(None, 0), RENEWAL_MIN_GAP);
    let backoff: Vec<_> = [1, 2, 3, 5, 6, 40, u32::MAX]
        .iter()
        .map(|&f| renewal_wait(Some(&at(3000)), f).as_secs())
        .collect();
    assert_eq!(backoff, vec![1, 2, 4, 16, 30, 30, 30]);
}

#[actix_web::test]
async fn health_says_whether_keystone_answers() {
    let fake = web::Data::new(Fake::default());
    let ks = plugin(&start(fake.clone()), 60);
    ks.health().await.expect("Keystone answers");
    fake.broken.store(true, Ordering::SeqCst);
    assert!(matches!(ks.health().await, Err(AuthError::Unavailable(_))));
    fake.broken.store(false, Ordering::SeqCst);
    ks.health().await.expect("Keystone answers again");
    // Nothing listening at all.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let gone = plugin(&format!("http://{closed}"), 60);
    assert!(matches!(
        gone.health().await,
        Err(AuthError::Unavailable(_))
    ));
}
