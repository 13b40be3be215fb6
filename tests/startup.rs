//! Start-up checks: the plugin status policy, unknown plugins, unsafe exposure, production
//! keys, store defaults, schema versions, and the `coffer` command line.

mod common;

use std::process::Command;

use coffer::config::{ProfileSetting, StoreSettings};
use common::{settings_in, TestServer};
use serde_json::json;

fn memory_store() -> StoreSettings {
    StoreSettings {
        store_plugin: "memory".into(),
        crypto_plugin: None,
        global_default: true,
        store: None,
        crypto: None,
    }
}

fn start_error(settings: &coffer::config::Settings) -> String {
    match coffer::server::start(settings) {
        Ok(_) => panic!("start-up must fail"),
        Err(e) => format!("{e:#}"),
    }
}

#[actix_web::test]
async fn experimental_plugins_need_the_allow_flag() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.stores.insert("mem".into(), memory_store());
    let err = start_error(&s);
    assert!(
        err.contains("store plugin 'memory' is experimental"),
        "{err}"
    );
    assert!(err.contains("plugins.allow_experimental = true"), "{err}");

    s.plugins.allow_experimental = true;
    let srv = TestServer::start(s).unwrap();
    let id = srv
        .create(
            "p",
            json!({"payload": "in memory", "payload_content_type": "text/plain"}),
        )
        .await;
    assert_eq!(srv.payload("p", &id).await, (200, b"in memory".to_vec()));
    srv.stop().await;
}

#[actix_web::test]
async fn unknown_plugins_are_refused_with_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.stores.insert(
        "x".into(),
        StoreSettings {
            store_plugin: "store_crypto".into(),
            crypto_plugin: Some("rot13".into()),
            ..memory_store()
        },
    );
    let err = start_error(&s);
    assert!(err.contains("unknown crypto plugin 'rot13'"), "{err}");
    assert!(
        err.contains("known crypto plugins: p11_crypto, simple_crypto"),
        "{err}"
    );

    let mut s = settings_in(dir.path());
    s.auth.mode = "ldap".into();
    let err = start_error(&s);
    assert!(
        err.contains("unknown auth plugin 'ldap'") && err.contains("trusted_headers"),
        "{err}"
    );
}

#[actix_web::test]
async fn trusted_headers_stay_on_loopback_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.server.bind = "0.0.0.0:0".into();
    let err = start_error(&s);
    assert!(
        err.contains("auth.trust_headers_on_public_bind = true"),
        "{err}"
    );
    s.auth.trust_headers_on_public_bind = true;
    let srv = TestServer::start(s).unwrap();
    srv.stop().await;
}

#[actix_web::test]
async fn production_needs_a_configured_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.profile = ProfileSetting::Production;
    let err = start_error(&s);
    assert!(
        err.contains("no master KEK configured for simple_crypto"),
        "{err}"
    );
    assert!(!dir.path().join(simple_crypto::GENERATED_KEY_FILE).exists());

    s.crypto.insert(
        "simple_crypto".into(),
        json!({"master_key": "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=", "master_key_id": "k1"}),
    );
    // Production refuses refs that follow the client's Host ...
    let err = start_error(&s);
    assert!(err.contains("server.host_href is required"), "{err}");
    s.server.host_href = Some("https://kms.example.com".into());
    // ... and an authentication that believes any caller.
    let err = start_error(&s);
    assert!(
        err.contains("auth.trusted_headers.proxy_secret_file") && err.contains("production"),
        "{err}"
    );
    std::fs::write(
        dir.path().join("proxy.secret"),
        "a-proxy-secret-0123456789\n",
    )
    .unwrap();
    s.auth.plugin_settings.insert(
        "trusted_headers".into(),
        json!({"proxy_secret_file": dir.path().join("proxy.secret")}),
    );
    let mut srv = TestServer::start(s).unwrap();
    // Without the proxy's secret nobody is believed.
    let r = srv
        .client
        .get(srv.url("/v1/secrets"))
        .header("X-Project-Id", "p")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-coffer-proxy-secret",
        "a-proxy-secret-0123456789".parse().unwrap(),
    );
    srv.client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let id = srv
        .create(
            "p",
            json!({"payload": "prod", "payload_content_type": "text/plain"}),
        )
        .await;
    assert_eq!(srv.payload("p", &id).await, (200, b"prod".to_vec()));
    srv.stop().await;
}

#[actix_web::test]
async fn several_stores_need_exactly_one_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings_in(dir.path());
    s.plugins.allow_experimental = true;
    s.stores.insert("a".into(), memory_store());
    s.stores.insert("b".into(), memory_store());
    let err = start_error(&s);
    assert!(
        err.contains("exactly one store may have global_default = true, found a, b"),
        "{err}"
    );
    s.stores.get_mut("b").unwrap().global_default = false;
    s.stores.get_mut("a").unwrap().global_default = false;
    let err = start_error(&s);
    assert!(err.contains("none has global_default = true"), "{err}");
}

#[actix_web::test]
async fn a_newer_schema_is_refused() {
    use diesel::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let s = settings_in(dir.path());
    let srv = TestServer::start(s.clone()).unwrap();
    srv.stop().await;
    diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ('29990101000000')")
        .execute(&mut common::db(dir.path()))
        .unwrap();
    let err = start_error(&s);
    assert!(err.contains("newer than this coffer knows"), "{err}");
}

fn coffer_cli(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .args(args)
        .current_dir(dir)
        .env("COFFER__DATABASE__URL", common::database_url(dir))
        .env("COFFER__SERVER__DATA_DIR", dir)
        .output()
        .expect("run coffer");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn cli_plugins_list_shows_status_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = coffer_cli(dir.path(), &["plugins", "list"]);
    assert!(ok, "{out}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.contains(name))
            .unwrap_or_default()
            .to_owned()
    };
    for name in ["simple_crypto", "store_crypto", "trusted_headers"] {
        let l = line(name);
        assert!(l.contains("stable") && l.contains("loaded"), "{l}");
    }
    assert!(out.starts_with("NAMESPACE"), "{out}");
}

#[test]
fn cli_db_upgrade_then_status() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = coffer_cli(dir.path(), &["db", "upgrade"]);
    assert!(ok && out.contains("applied migrations"), "{out}");
    let (ok, out) = coffer_cli(dir.path(), &["db", "upgrade"]);
    assert!(ok && out.contains("up to date"), "{out}");
    let (ok, out) = coffer_cli(dir.path(), &["db", "status"]);
    assert!(
        ok && out.contains("pending: \n") || out.ends_with("pending: \n"),
        "{out}"
    );
}

#[test]
fn cli_refuses_bad_configuration_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[stores.x]\nstore_plugin = \"nope\"\n",
    )
    .unwrap();
    let (ok, out) = coffer_cli(dir.path(), &["--config", "bad.toml", "serve"]);
    assert!(!ok);
    assert!(
        out.contains("unknown store plugin 'nope'") && out.contains("store_crypto"),
        "{out}"
    );
}

#[test]
fn cli_openapi_prints_the_checked_in_document() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = coffer_cli(dir.path(), &["openapi"]);
    assert!(ok);
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/coffer.json"))
            .unwrap();
    assert_eq!(out, checked_in);
}

/// Owner-only files at start-up, and a warning for each one left wider (the real binary).
#[test]
fn files_wider_than_owner_only_are_reported_at_start_up() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key = tmp.path().join("master.key");
    std::fs::write(&key, "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n").unwrap();
    let chmod = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    chmod(&key, 0o600);
    let config = tmp.path().join("coffer.toml");
    std::fs::write(
        &config,
        format!(
            "[crypto.simple_crypto]\nmaster_key_file = \"{}\"\n",
            key.display()
        ),
    )
    .unwrap();
    std::fs::create_dir(&data).unwrap();
    chmod(&data, 0o700);
    let url = common::database_url(&data);
    const WARNING: &str = "accessible to group or others";

    // Created by coffer: owner-only, nothing to report.
    let srv = common::CofferProcess::spawn_with_config(&data, &url, &config, &[]);
    assert_eq!(srv.log_lines(WARNING), Vec::<String>::new());
    let db_files: Vec<_> = ["coffer.db", "coffer.db-wal", "coffer.db-shm"]
        .iter()
        .map(|f| data.join(f))
        .collect();
    if !common::on_postgres() {
        for f in &db_files {
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }
    drop(srv);

    // Left wider by someone: each is named with its mode.
    chmod(&data, 0o755);
    chmod(&key, 0o640);
    let mut expected = vec![
        ("data directory", data.clone(), "0755"),
        ("master key file", key.clone(), "0640"),
    ];
    if !common::on_postgres() {
        chmod(&db_files[0], 0o644);
        expected.push(("database file", db_files[0].clone(), "0644"));
    }
    let srv = common::CofferProcess::spawn_with_config(&data, &url, &config, &[]);
    let warnings = srv.log_lines(WARNING);
    assert_eq!(warnings.len(), expected.len(), "{warnings:#?}");
    for (what, path, mode) in expected {
        assert!(
            warnings
                .iter()
                .any(|l| l.contains(&format!("the {what} is"))
                    && l.contains(&format!("file={}", path.display()))
                    && l.contains(&format!("mode={mode}"))),
            "{what} {} {mode} not in {warnings:#?}",
            path.display()
        );
    }
}
