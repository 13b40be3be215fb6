//! Helpers for the order tests: the example file store (an out-of-process store) with an
//! `openssl` that is slowed, gated or failing on demand — so that orders are reliably in flight
//! when an instance is killed — a `coffer serve` configuration using it, order requests, and a
//! look at the orders table.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{json, Value};

use crate::common::CofferProcess;

/// The Python interpreter itself (not a shim): the file store runs with a minimal environment.
pub fn python() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 must be installed to run these tests");
    assert!(out.status.success(), "python3 -c failed");
    String::from_utf8(out.stdout)
        .expect("utf-8 path")
        .trim()
        .to_owned()
}

fn openssl() -> &'static str {
    ["/usr/bin/openssl", "/usr/local/bin/openssl"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("these tests need the openssl executable (Debian package openssl)")
}

/// What the wrapped `openssl genpkey` (the RSA key generation of the file store) does first.
pub enum Genpkey {
    /// Nothing: run at once.
    Now,
    /// Sleep this many seconds (the order stays in flight that long).
    Slow(u32),
    /// Create `started` in this directory, then wait until `release` appears there.
    Gated(PathBuf),
}

/// An `openssl` for the file store, written to `dir/openssl`: RSA-3072 generation always fails
/// (an order that fails after its passphrase was stored); `genpkey` behaves as `genpkey` says;
/// everything else is the real openssl.
pub fn openssl_wrapper(dir: &Path, genpkey: Genpkey) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let before = match genpkey {
        Genpkey::Now => String::new(),
        Genpkey::Slow(secs) => format!("[ \"$1\" = genpkey ] && /bin/sleep {secs}\n"),
        Genpkey::Gated(gate) => format!(
            "if [ \"$1\" = genpkey ]; then\n  : > '{g}/started'\n  while [ ! -e '{g}/release' ]; do /bin/sleep 0.1; done\nfi\n",
            g = gate.display()
        ),
    };
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in\n  *rsa_keygen_bits:3072*) echo 'test: no 3072-bit keys here' >&2; exit 1 ;;\nesac\n{before}exec {} \"$@\"\n",
        openssl()
    );
    std::fs::create_dir_all(dir).expect("wrapper dir");
    let path = dir.join("openssl");
    std::fs::write(&path, script).expect("write the openssl wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// The `store` section of the example file store keeping its files in `files`.
pub fn file_store_section(files: &Path, openssl: &Path) -> Value {
    json!({
        "command": python(),
        "args": [Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python_file_store/file_store.py")],
        "call_timeout_ms": 120000,
        "settings": {"directory": files, "openssl": openssl},
    })
}

/// A TOML value (strings are written as JSON strings, which TOML reads alike).
fn toml_value(v: &Value) -> String {
    match v {
        Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{k} = {}", toml_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// A configuration file for `coffer serve` in `dir`: the file store `store` is its only store,
/// and `orders` is the body of its `[orders]` section.
pub fn config_file(dir: &Path, store: &Value, orders: &str) -> PathBuf {
    let text = format!(
        "[plugins]\nallow_out_of_tree = true\n\n[orders]\n{orders}\n\n[stores.files]\nstore_plugin = \"external\"\nstore = {}\n",
        toml_value(store)
    );
    std::fs::create_dir_all(dir).expect("config dir");
    let path = dir.join("coffer.toml");
    std::fs::write(&path, text).expect("write coffer.toml");
    path
}

/// `coffer serve` in `dir` on `database_url`, whose only store is the file store keeping its
/// files in `files`, with an `openssl` that does what `genpkey` says; `orders` is the body of
/// its `[orders]` section.
pub fn file_store_instance(
    dir: &Path,
    files: &Path,
    database_url: &str,
    genpkey: Genpkey,
    orders: &str,
    env: &[(&str, &str)],
) -> CofferProcess {
    let openssl = openssl_wrapper(dir, genpkey);
    let config = config_file(dir, &file_store_section(files, &openssl), orders);
    CofferProcess::spawn_with_config(dir, database_url, &config, env)
}

/// An RSA-2048 key-pair order with a passphrase (generation through `openssl genpkey`).
pub fn rsa_order(passphrase: &str) -> Value {
    json!({"type": "asymmetric", "meta": {"algorithm": "rsa", "bit_length": 2048, "passphrase": passphrase}})
}

/// An AES-256 key order.
pub fn aes_order() -> Value {
    json!({"type": "key", "meta": {"algorithm": "aes", "bit_length": 256}})
}

/// POST an order as `project`; insists on 202 and returns the order's id.
pub async fn submit(client: &reqwest::Client, base: &str, project: &str, body: &Value) -> String {
    let res = client
        .post(format!("{base}/v1/orders"))
        .header("X-Project-Id", project)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(status, 202, "{body}: {text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["order_ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .expect("order_ref")
        .to_owned()
}

/// GET a resource as `project` (JSON).
pub async fn get_json(client: &reqwest::Client, url: &str, project: &str) -> Value {
    client
        .get(url)
        .header("X-Project-Id", project)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// GET a payload as `project`, as bytes: (status, body).
pub async fn payload(
    client: &reqwest::Client,
    base: &str,
    project: &str,
    id: &str,
) -> (u16, Vec<u8>) {
    let res = client
        .get(format!("{base}/v1/secrets/{id}/payload"))
        .header("X-Project-Id", project)
        .header("Accept", "application/octet-stream")
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.bytes().await.expect("body").to_vec())
}

/// Poll the orders `ids` of `project` until none is PENDING; panic if some still are after
/// `within`. Returns the orders and how long that took.
pub async fn wait_done(
    client: &reqwest::Client,
    base: &str,
    project: &str,
    ids: &[String],
    within: Duration,
) -> (Vec<Value>, Duration) {
    let started = Instant::now();
    loop {
        let mut orders = Vec::new();
        for id in ids {
            orders.push(get_json(client, &format!("{base}/v1/orders/{id}"), project).await);
        }
        if orders.iter().all(|o| o["status"] != "PENDING") {
            return (orders, started.elapsed());
        }
        let pending: Vec<&Value> = orders.iter().filter(|o| o["status"] == "PENDING").collect();
        assert!(
            started.elapsed() < within,
            "{} orders still PENDING after {within:?}: {pending:?}",
            pending.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The last path segment of `v[field]`.
pub fn id_of(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_else(|| panic!("no {field} in {v}"))
        .to_owned()
}

/// The file store's secret files (in `files`) that belong to `project`.
pub fn files_of(files: &Path, project: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(files) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "secret"))
        .filter(|e| {
            std::fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|v| v["project_id"] == project)
        })
        .count()
}

/// One order's row: (status, attempts, lease_owner).
pub fn order_row(conn: &mut coffer::db::DbConn, id: &str) -> (String, i32, Option<String>) {
    use coffer::db::schema::orders::dsl as o;
    o::orders
        .filter(o::id.eq(id))
        .select((o::status, o::attempts, o::lease_owner))
        .first(conn)
        .expect("order row")
}

/// How many secrets rows `project` has.
pub fn secret_rows(conn: &mut coffer::db::DbConn, project: &str) -> i64 {
    use coffer::db::schema::secrets::dsl as s;
    s::secrets
        .filter(s::project_id.eq(project))
        .count()
        .get_result(conn)
        .expect("count secrets")
}

/// Wait until `cond()` holds (checked every 20 ms); panic with `what` after `within`.
pub async fn until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < within, "{what} (waited {within:?})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
