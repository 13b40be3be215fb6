//! The HSM store end to end, on SoftHSM2 (a token per test, made by scripts/softhsm): the
//! operator commands, switching the default store to the HSM with software secrets still
//! readable, tampered rows failing clearly, and `coffer rewrap-keks` for software and HSM
//! master keys.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::CofferProcess;
use diesel::prelude::*;
use serde_json::{json, Value};

/// A SoftHSM2 token in a temporary directory, removed when dropped.
struct Hsm {
    fields: std::collections::HashMap<String, String>,
}

impl Hsm {
    fn init(label: &str) -> Hsm {
        let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/softhsm"))
            .args(["init", label])
            .output()
            .expect("run scripts/softhsm");
        assert!(
            out.status.success(),
            "scripts/softhsm init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fields = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Hsm { fields }
    }

    fn get(&self, key: &str) -> &str {
        self.fields.get(key).map(String::as_str).unwrap_or_default()
    }

    /// The `[crypto.p11_crypto]` table (or a store's `crypto` table) for this token.
    fn settings(&self, mkek: &str, hmac: &str) -> String {
        format!(
            "library = \"{}\"\ntoken_label = \"{}\"\npin_env = \"COFFER_HSM_PIN\"\n\
             mkek_label = \"{mkek}\"\nhmac_label = \"{hmac}\"\n",
            self.get("PKCS11_MODULE"),
            self.get("HSM_TOKEN")
        )
    }

    /// What a coffer process needs to reach the token.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SOFTHSM2_CONF", self.get("SOFTHSM2_CONF").to_owned()),
            ("COFFER_HSM_PIN", self.get("HSM_PIN").to_owned()),
        ]
    }
}

impl Drop for Hsm {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/softhsm"))
            .args(["remove", self.get("SOFTHSM_DIR")])
            .status();
    }
}

/// Run the coffer command line with `config` and the token's environment.
fn cli(dir: &Path, config: &Path, hsm: Option<&Hsm>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .current_dir(dir)
        .env("COFFER__SERVER__DATA_DIR", dir)
        .env("COFFER__DATABASE__URL", common::database_url(dir));
    for (k, v) in hsm.map(Hsm::env).unwrap_or_default() {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run coffer");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("config file");
    path
}

/// Start coffer with `config` (and the token, if any) on the test's database.
fn serve(dir: &Path, config: &Path, hsm: Option<&Hsm>) -> CofferProcess {
    let env = hsm.map(Hsm::env).unwrap_or_default();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    CofferProcess::spawn_with_config(&dir.join("data"), &common::database_url(dir), config, &env)
}

async fn create(
    client: &reqwest::Client,
    srv: &CofferProcess,
    project: &str,
    payload: &str,
) -> String {
    let res = common::create(client, &srv.base, project, payload).await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.expect("json");
    body["secret_ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .expect("secret_ref")
        .to_owned()
}

async fn read(
    client: &reqwest::Client,
    srv: &CofferProcess,
    project: &str,
    id: &str,
) -> (u16, String) {
    common::read(client, &srv.base, project, id).await
}

fn store_of(dir: &Path, id: &str) -> String {
    use coffer::db::schema::secrets::dsl as s;
    s::secrets
        .filter(s::id.eq(id))
        .select(s::store_name.assume_not_null())
        .first(&mut common::db(dir))
        .expect("secret row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hsm_becomes_the_default_store_and_software_secrets_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let hsm = Hsm::init("coffer-switch");
    let client = reqwest::Client::new();

    // Before: the one software store.
    let software_only = write_config(dir.path(), "software.toml", "");
    let srv = serve(dir.path(), &software_only, None);
    let mut old = Vec::new();
    for i in 0..5 {
        let project = format!("p{}", i % 2);
        let payload = format!("software secret {i}");
        old.push((
            project.clone(),
            create(&client, &srv, &project, &payload).await,
            payload,
        ));
    }
    drop(srv);

    // The operator creates the HSM's keys, then adds the HSM store as the default.
    let both = write_config(
        dir.path(),
        "both.toml",
        &format!(
            "[stores.software]\nstore_plugin = \"store_crypto\"\ncrypto_plugin = \"simple_crypto\"\n\n\
             [stores.hsm]\nstore_plugin = \"store_crypto\"\ncrypto_plugin = \"p11_crypto\"\n\
             global_default = true\n\n[stores.hsm.crypto]\n{}",
            hsm.settings("coffer-mkek", "coffer-hmac")
        ),
    );
    for (args, expect) in [
        (
            &["hsm", "gen-mkek", "--store", "hsm"][..],
            "created master KEK 'coffer-mkek'",
        ),
        (
            &["hsm", "gen-hmac", "--store", "hsm"][..],
            "created HMAC key 'coffer-hmac'",
        ),
        (&["hsm", "check-mkek", "--store", "hsm"][..], "usable"),
        (&["hsm", "check-hmac", "--store", "hsm"][..], "usable"),
    ] {
        let (ok, out) = cli(dir.path(), &both, Some(&hsm), args);
        assert!(ok && out.contains(expect), "{args:?}: {out}");
    }
    let (ok, out) = cli(
        dir.path(),
        &both,
        Some(&hsm),
        &["hsm", "gen-mkek", "--store", "hsm"],
    );
    assert!(!ok && out.contains("already holds"), "{out}");
    let (ok, out) = cli(
        dir.path(),
        &both,
        Some(&hsm),
        &["hsm", "check-mkek", "--store", "software"],
    );
    assert!(!ok && out.contains("does not use p11_crypto"), "{out}");

    let srv = serve(dir.path(), &both, Some(&hsm));
    for (project, id, payload) in &old {
        assert_eq!(
            read(&client, &srv, project, id).await,
            (200, payload.clone())
        );
        assert_eq!(store_of(dir.path(), id), "software");
    }
    let fresh = create(&client, &srv, "p0", "hsm secret").await;
    assert_eq!(
        read(&client, &srv, "p0", &fresh).await,
        (200, "hsm secret".into())
    );
    assert_eq!(store_of(dir.path(), &fresh), "hsm");
    // Keys ordered now are generated in the HSM.
    let res = client
        .post(srv.url("/v1/orders"))
        .header("X-Project-Id", "p1")
        .json(
            &json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 256, "mode": "cbc"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let order_ref = res.json::<Value>().await.unwrap()["order_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut order = Value::Null;
    for _ in 0..100 {
        order = client
            .get(&order_ref)
            .header("X-Project-Id", "p1")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if order["status"] != "PENDING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(order["status"], "ACTIVE", "{order}");
    let key_id = order["secret_ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(store_of(dir.path(), &key_id), "hsm");
    let res = client
        .get(srv.url(&format!("/v1/secrets/{key_id}/payload")))
        .header("X-Project-Id", "p1")
        .header("Accept", "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().len(), 32);
    common::assert_not_stored(dir.path(), "hsm secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_hsm_rows_fail_with_a_clear_error() {
    use coffer::db::schema::{project_keks, secrets};
    let dir = tempfile::tempdir().unwrap();
    let hsm = Hsm::init("coffer-tamper");
    let config = write_config(
        dir.path(),
        "p11.toml",
        &format!(
            "[plugins]\ncrypto_plugin = \"p11_crypto\"\n\n[crypto.p11_crypto]\n{}",
            hsm.settings("coffer-mkek", "coffer-hmac")
        ),
    );
    for command in ["gen-mkek", "gen-hmac"] {
        let (ok, out) = cli(dir.path(), &config, Some(&hsm), &["hsm", command]);
        assert!(ok, "{out}");
    }
    let client = reqwest::Client::new();
    let srv = serve(dir.path(), &config, Some(&hsm));
    let a = create(&client, &srv, "p1", "secret a").await;
    let b = create(&client, &srv, "p2", "secret b").await;
    drop(srv);

    let mut conn = common::db(dir.path());
    // a: one byte of its ciphertext changes.
    let meta: String = secrets::table
        .filter(secrets::id.eq(&a))
        .select(secrets::store_metadata.assume_not_null())
        .first(&mut conn)
        .unwrap();
    let mut meta: Value = serde_json::from_str(&meta).unwrap();
    let ct = meta["ciphertext"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        &ct[..10],
        if &ct[10..11] == "A" { "B" } else { "A" }
    ) + &ct[11..];
    meta["ciphertext"] = json!(flipped);
    diesel::update(secrets::table.filter(secrets::id.eq(&a)))
        .set(secrets::store_metadata.eq(meta.to_string()))
        .execute(&mut conn)
        .unwrap();
    // p2's project KEK: one byte of the wrapped key changes.
    let mut wrapped: Vec<u8> = project_keks::table
        .filter(project_keks::project_id.eq("p2"))
        .select(project_keks::wrapped_kek)
        .first(&mut conn)
        .unwrap();
    wrapped[5] ^= 0x40;
    diesel::update(project_keks::table.filter(project_keks::project_id.eq("p2")))
        .set(project_keks::wrapped_kek.eq(&wrapped))
        .execute(&mut conn)
        .unwrap();
    drop(conn);

    let srv = serve(dir.path(), &config, Some(&hsm));
    for (project, id) in [("p1", &a), ("p2", &b)] {
        let (status, body) = read(&client, &srv, project, id).await;
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("please contact site administrator"), "{body}");
        assert!(
            !body.contains("secret"),
            "no detail reaches the client: {body}"
        );
    }
    assert!(!srv.log_lines("failed authentication (tampered").is_empty());
    assert!(!srv.log_lines("failed its HMAC check").is_empty());
    // Untouched secrets of p1 still work.
    let c = create(&client, &srv, "p1", "secret c").await;
    assert_eq!(
        read(&client, &srv, "p1", &c).await,
        (200, "secret c".into())
    );
}

fn kek_masters(dir: &Path) -> Vec<(String, String)> {
    use coffer::db::schema::project_keks::dsl as k;
    k::project_keks
        .select((k::id, k::master_key_id))
        .order(k::id.asc())
        .load(&mut common::db(dir))
        .expect("kek rows")
}

fn audit_outcomes(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("audit file")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "kek")
        .map(|v| v["outcome"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_keks_moves_software_keks_to_a_new_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let k1 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let k2 = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    let only = |id: &str, key: &str| {
        format!("[crypto.simple_crypto]\nmaster_keys = [{{ id = \"{id}\", key = \"{key}\" }}]\n")
    };
    let old = write_config(dir.path(), "k1.toml", &only("k1", k1));
    let client = reqwest::Client::new();
    let srv = serve(dir.path(), &old, None);
    let mut written = Vec::new();
    for i in 0..12 {
        let project = format!("rot-{}", i % 6);
        let payload = format!("rotated {i}");
        written.push((
            project.clone(),
            create(&client, &srv, &project, &payload).await,
            payload,
        ));
    }
    drop(srv);
    assert!(kek_masters(dir.path()).iter().all(|(_, m)| m == "k1"));

    // The new key first (active), the old one still listed to unwrap.
    let both = write_config(
        dir.path(),
        "k2.toml",
        &format!(
            "[crypto.simple_crypto]\nactive_master_key = \"k2\"\nmaster_keys = [\
             {{ id = \"k2\", key = \"{k2}\" }}, {{ id = \"k1\", key = \"{k1}\" }}]\n"
        ),
    );
    let audit = dir.path().join("audit.jsonl");
    let audit_arg = audit.to_string_lossy().into_owned();
    let (ok, out) = cli(
        dir.path(),
        &both,
        None,
        &["rewrap-keks", "--dry-run", "--audit-file", &audit_arg],
    );
    assert!(ok && out.contains("dry run: 6 rewrapped"), "{out}");
    assert!(
        kek_masters(dir.path()).iter().all(|(_, m)| m == "k1"),
        "a dry run changes nothing"
    );

    let (ok, out) = cli(
        dir.path(),
        &both,
        None,
        &[
            "rewrap-keks",
            "--batch-size",
            "4",
            "--audit-file",
            &audit_arg,
        ],
    );
    assert!(
        ok && out.contains("done: 6 rewrapped, 0 already current"),
        "{out}"
    );
    assert!(kek_masters(dir.path()).iter().all(|(_, m)| m == "k2"));
    // Running it again (as after an interruption) finds nothing left to do.
    let (ok, out) = cli(
        dir.path(),
        &both,
        None,
        &["rewrap-keks", "--audit-file", &audit_arg],
    );
    assert!(
        ok && out.contains("done: 0 rewrapped, 6 already current"),
        "{out}"
    );
    let outcomes = audit_outcomes(&audit);
    assert_eq!(outcomes.iter().filter(|o| *o == "would-rewrap").count(), 6);
    assert_eq!(outcomes.iter().filter(|o| *o == "rewrapped").count(), 6);
    assert_eq!(outcomes.iter().filter(|o| *o == "current").count(), 6);

    // The old master key is gone from the configuration: every secret still reads.
    let new_only = write_config(dir.path(), "k2-only.toml", &only("k2", k2));
    let srv = serve(dir.path(), &new_only, None);
    for (project, id, payload) in &written {
        assert_eq!(
            read(&client, &srv, project, id).await,
            (200, payload.clone())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_keks_moves_hsm_keks_to_new_master_keys() {
    let dir = tempfile::tempdir().unwrap();
    let hsm = Hsm::init("coffer-rotate");
    let p11 = |mkek: &str, hmac: &str| {
        format!(
            "[plugins]\ncrypto_plugin = \"p11_crypto\"\n\n[crypto.p11_crypto]\n{}",
            hsm.settings(mkek, hmac)
        )
    };
    let first = write_config(dir.path(), "first.toml", &p11("mkek-1", "hmac-1"));
    for command in ["gen-mkek", "gen-hmac"] {
        let (ok, out) = cli(dir.path(), &first, Some(&hsm), &["hsm", command]);
        assert!(ok, "{out}");
    }
    let client = reqwest::Client::new();
    let srv = serve(dir.path(), &first, Some(&hsm));
    let mut written = Vec::new();
    for i in 0..6 {
        let project = format!("hsm-{}", i % 3);
        let payload = format!("in the hsm {i}");
        written.push((
            project.clone(),
            create(&client, &srv, &project, &payload).await,
            payload,
        ));
    }
    drop(srv);

    let second = write_config(dir.path(), "second.toml", &p11("mkek-2", "hmac-2"));
    for command in ["gen-mkek", "gen-hmac"] {
        let (ok, out) = cli(dir.path(), &second, Some(&hsm), &["hsm", command]);
        assert!(ok, "{out}");
    }
    let audit = dir
        .path()
        .join("audit.jsonl")
        .to_string_lossy()
        .into_owned();
    let (ok, out) = cli(
        dir.path(),
        &second,
        Some(&hsm),
        &["rewrap-keks", "--audit-file", &audit],
    );
    assert!(ok && out.contains("done: 3 rewrapped"), "{out}");
    assert!(kek_masters(dir.path()).iter().all(|(_, m)| m == "mkek-2"));

    let srv = serve(dir.path(), &second, Some(&hsm));
    for (project, id, payload) in &written {
        assert_eq!(
            read(&client, &srv, project, id).await,
            (200, payload.clone())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let hsm = Hsm::init("coffer-ready");
    let config = write_config(
        dir.path(),
        "hsm.toml",
        &format!(
            "[plugins]\ncrypto_plugin = \"p11_crypto\"\n\n[crypto.p11_crypto]\n{}",
            hsm.settings("coffer-mkek", "coffer-hmac")
        ),
    );
    for args in [&["hsm", "gen-mkek"][..], &["hsm", "gen-hmac"][..]] {
        let (ok, out) = cli(dir.path(), &config, Some(&hsm), args);
        assert!(ok, "{args:?}: {out}");
    }
    let srv = serve(dir.path(), &config, Some(&hsm));
    let client = reqwest::Client::new();
    let readyz = || async {
        let r = client
            .get(format!("{}/readyz", srv.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().await.unwrap())
    };
    let (status, body) = readyz().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["components"]["crypto:p11_crypto"], "ok");
    // Metrics: the KEK cache and the sessions lent out are reported for the HSM store.
    let id = create(&client, &srv, "ready-p", "hsm metrics").await;
    for _ in 0..2 {
        assert_eq!(read(&client, &srv, "ready-p", &id).await.0, 200);
    }
    let text = common::scrape(&client, &srv.base).await;
    let sample = |name: &str, labels: &[&str]| {
        common::metric(&text, name, labels)
            .unwrap_or_else(|| panic!("{name} {labels:?} missing:\n{text}"))
    };
    let hsm_store = "store=\"p11_crypto\"";
    assert_eq!(sample("coffer_hsm_sessions_in_use", &[hsm_store]), 0.0);
    for result in ["result=\"hit\"", "result=\"miss\""] {
        assert!(sample("coffer_kek_cache_requests_total", &[hsm_store, result]) >= 1.0);
    }
    // The token's keys go away: SoftHSM2 keeps each key in a file of the token's directory and
    // notices when the file is gone (`token.object`, the token itself, stays: SoftHSM2 only
    // looks for tokens when it is initialised).
    let tokens = std::path::Path::new(hsm.get("SOFTHSM_DIR")).join("tokens");
    let parked = std::path::Path::new(hsm.get("SOFTHSM_DIR")).join("parked");
    std::fs::create_dir(&parked).unwrap();
    let mut moved = Vec::new();
    for token in std::fs::read_dir(&tokens).unwrap() {
        let token = token.unwrap().path();
        for f in std::fs::read_dir(&token).unwrap() {
            let f = f.unwrap().path();
            let key_object = f.extension().is_some_and(|e| e == "object")
                && f.file_name().is_some_and(|n| n != "token.object");
            if key_object {
                let to = parked.join(f.file_name().unwrap());
                std::fs::rename(&f, &to).unwrap();
                moved.push((to, f));
            }
        }
    }
    assert!(!moved.is_empty());
    let (status, body) = readyz().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["components"]["crypto:p11_crypto"], "unavailable");
    for (from, to) in &moved {
        std::fs::rename(from, to).unwrap();
    }
    // SoftHSM2 does not find objects again that vanished under a running process (a real
    // HSM's recovery path — a new epoch, re-initialisation — is exercised in p11_crypto's own
    // tests): the token is back for a restarted instance.
    drop(srv);
    let srv = serve(dir.path(), &config, Some(&hsm));
    let readyz = || async {
        let r = client
            .get(format!("{}/readyz", srv.base))
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.unwrap(),
        )
    };
    let (status, body) = readyz().await;
    assert_eq!(status, 200, "{body}");
    // And it serves: a secret goes into the token and comes back.
    let id = create(&client, &srv, "p1", "after the outage").await;
    assert_eq!(
        read(&client, &srv, "p1", &id).await,
        (200, "after the outage".to_owned())
    );
}
