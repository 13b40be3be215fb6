//! The keystone plugin against a small Keystone stand-in on a loopback port: what it asks,
//! what it caches, what it does when Keystone says no, goes stale or goes away. The real
//! Keystone runs in the functional suite's keystone profile (scripts/test-keystone).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

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
    /// Issue service tokens that are already past their `expires_at`.
    service_expired: AtomicBool,
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
    let user = &body["auth"]["identity"]["password"]["user"];
    if user["name"] != "coffer" || user["password"] != "s3cret" {
        return HttpResponse::Unauthorized().finish();
    }
    assert_eq!(body["auth"]["scope"]["project"]["name"], "service");
    fake.service_logins.fetch_add(1, Ordering::SeqCst);
    let token = format!("svc-{}", fake.issued.fetch_add(1, Ordering::SeqCst));
    *fake.service_token.lock().unwrap() = token.clone();
    let ttl = if fake.service_expired.load(Ordering::SeqCst) {
        -1
    } else {
        3600
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
    fake.validations.fetch_add(1, Ordering::SeqCst);
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
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
    let server = HttpServer::new(move || {
        App::new()
            .app_data(fake.clone())
            .route("/v3/auth/tokens", web::post().to(issue))
            .route("/v3/auth/tokens", web::get().to(check))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    format!("http://{addr}")
}

fn plugin(url: &str, ttl: u64) -> Keystone {
    plugin_with_timeout(url, ttl, 300)
}

fn plugin_with_timeout(url: &str, ttl: u64, timeout_ms: u64) -> Keystone {
    Keystone::new(
        serde_json::from_value(serde_json::json!({
            "auth_url": format!("{url}/v3/"),
            "username": "coffer",
            "password": "s3cret",
            "timeout_ms": timeout_ms,
            "cache_ttl_seconds": ttl,
            "cache_size": 100,
        }))
        .unwrap(),
    )
    .unwrap()
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
        Keystone::new(serde_json::from_value::<KeystoneConfig>(v).unwrap()).map(|k| k.challenge)
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
    assert_eq!(k.password.expose_secret(), "from-file");
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
async fn a_service_token_due_for_renewal_is_renewed_before_use() {
    let fake = web::Data::new(Fake::default());
    fake.add("tok", Some("p"), &["admin"], "u", 600);
    fake.add("tok2", Some("p"), &["admin"], "u", 600);
    fake.service_expired.store(true, Ordering::SeqCst);
    let ks = plugin(&start(fake.clone()), 60);
    ks.authenticate(&token("tok")).await.unwrap();
    ks.authenticate(&token("tok2")).await.unwrap();
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
    let ks = plugin(&format!("http://127.0.0.1:{port}"), 60);
    assert!(is_503(ks.authenticate(&token("tok")).await));
    assert!(is_503(ks.authenticate(&token("tok")).await));
}
