//! What an operator relies on, with the real binary: one access-log line per request (text and
//! JSON), the caller's request id kept when well formed, a log level that does not parse
//! refused at start-up, SIGHUP reopening the log file and re-reading the level without ending
//! the server, a port in use leaving nothing behind, and the command line's small promises
//! (`--version` with the commit, completions, `coffer openapi | head`).

// Helpers are test code too (clippy only knows `#[test]` functions as such).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::CofferProcess;
use serde_json::Value;

const PAYLOAD: &str = "access-log-never-shows-this";

fn sqlite(dir: &std::path::Path) -> String {
    format!("sqlite://{}/coffer.db", dir.display())
}

async fn create_and_read(client: &reqwest::Client, base: &str, project: &str) -> String {
    let r = common::create(client, base, project, PAYLOAD).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["secret_ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        common::read(client, base, project, &id).await,
        (200, PAYLOAD.to_owned())
    );
    id
}

async fn wait_for_line(p: &CofferProcess, needle: &str) -> Vec<String> {
    for _ in 0..100 {
        let lines = p.log_lines(needle);
        if !lines.is_empty() {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no log line with {needle:?}");
}

#[tokio::test]
async fn every_request_gets_one_access_line_and_keeps_a_well_formed_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let p = CofferProcess::spawn(dir.path(), &sqlite(dir.path()), &[]);
    let client = reqwest::Client::new();
    create_and_read(&client, &p.base, "p-access").await;
    let lines = wait_for_line(&p, "/v1/secrets/{secret_id}/payload").await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    for part in [
        "coffer::access",
        "method=GET",
        "status=200",
        "project=p-access",
        "duration_ms=",
    ] {
        assert!(line.contains(part), "{part} missing: {line}");
    }
    assert!(
        !p.log_lines(PAYLOAD).iter().any(|_| true),
        "a payload reached the log"
    );

    let mine = format!("req-{}", uuid::Uuid::new_v4());
    for (sent, kept) in [
        (mine.as_str(), true),
        ("req-not-a-uuid", false),
        ("x", false),
    ] {
        let r = client
            .get(p.url("/v1/secrets"))
            .header("X-Project-Id", "p-access")
            .header("X-Openstack-Request-Id", sent)
            .send()
            .await
            .unwrap();
        let got = r.headers()["x-openstack-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(got == sent, kept, "{sent} -> {got}");
        assert!(got.starts_with("req-"));
    }
    // Unauthenticated and unrouted requests are logged too.
    let r = client.get(p.url("/v1/secrets")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let lines = wait_for_line(&p, "status=401").await;
    assert!(lines[0].contains("route=/v1/secrets"), "{lines:?}");
}

#[tokio::test]
async fn json_logs_are_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = CofferProcess::spawn(
        dir.path(),
        &sqlite(dir.path()),
        &[("COFFER__LOGGING__FORMAT", "json")],
    );
    let client = reqwest::Client::new();
    create_and_read(&client, &p.base, "p-json").await;
    // Access lines are written by a background thread: wait for the read's own line (the
    // create's may be there before it).
    wait_for_line(&p, "{secret_id}/payload").await;
    let lines = p.log_lines("coffer::access");
    let access: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let read = access
        .iter()
        .find(|v| v["fields"]["route"] == "/v1/secrets/{secret_id}/payload")
        .expect("the read's access line");
    assert_eq!(read["fields"]["status"], 200);
    assert_eq!(read["fields"]["project"], "p-json");
    assert_eq!(read["level"], "INFO");
    assert!(read["span"]["id"].as_str().unwrap().starts_with("req-"));
}

#[test]
fn a_log_level_that_does_not_parse_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .env_remove("COFFER_CONFIG")
        .env("COFFER__SERVER__BIND", "127.0.0.1:0")
        .env("COFFER__SERVER__DATA_DIR", dir.path())
        .env("COFFER__DATABASE__URL", sqlite(dir.path()))
        .env("COFFER__LOGGING__LEVEL", "coffer=loud")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("logging.level \"coffer=loud\""), "{err}");
    assert!(
        !dir.path().join("coffer.db").exists(),
        "nothing was created before the refusal"
    );
}

#[tokio::test]
async fn sighup_reopens_the_log_file_and_reads_the_level_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let log = data.join("coffer.log");
    let config = dir.path().join("coffer.toml");
    let write_level = |level: &str| {
        std::fs::write(
            &config,
            format!(
                "[logging]\nlevel = \"{level}\"\nfile = \"{}\"\n",
                log.display()
            ),
        )
        .unwrap();
    };
    write_level("info");
    let mut p = CofferProcess::spawn_with_config(
        &data,
        &sqlite(&data),
        &config,
        &[
            ("RUST_LOG", ""),
            (
                "COFFER__CRYPTO__SIMPLE_CRYPTO__MASTER_KEY",
                common::SHARED_MASTER_KEY,
            ),
        ],
    );
    let client = reqwest::Client::new();
    create_and_read(&client, &p.base, "p-hup").await;
    // Rotation by rename, then SIGHUP: the server goes on, into a new file.
    std::fs::rename(&log, data.join("coffer.log.1")).unwrap();
    write_level("debug");
    let hup = Command::new("kill")
        .args(["-HUP", &p.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let lines = wait_for_line(&p, "SIGHUP").await;
    assert!(lines[0].contains("reopened"), "{lines:?}");
    create_and_read(&client, &p.base, "p-hup").await;
    assert!(p.running(), "SIGHUP ended the server");
    assert!(!wait_for_line(&p, "coffer::access").await.is_empty());
    assert!(!wait_for_line(&p, "log level set").await.is_empty());
    // A refusal logs at debug level, which only the new level shows.
    let r = client.get(p.url("/v1/secrets")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        !wait_for_line(&p, "DEBUG").await.is_empty(),
        "the new level (debug) applies after SIGHUP"
    );
    let old = std::fs::read_to_string(data.join("coffer.log.1")).unwrap();
    assert!(old.contains("coffer::access") && !old.contains("DEBUG"));
}

#[test]
fn a_port_in_use_leaves_nothing_behind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("serve")
        .env_remove("COFFER_CONFIG")
        .env("COFFER__SERVER__BIND", port.to_string())
        .env("COFFER__SERVER__DATA_DIR", dir.path().join("data"))
        .env("COFFER__DATABASE__URL", sqlite(&dir.path().join("data")))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("binding"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !dir.path().join("data").exists(),
        "a database or key was made before the port was known to be free"
    );
}

#[test]
fn the_command_line_keeps_its_small_promises() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(args)
            .env_remove("COFFER_CONFIG")
            .output()
            .unwrap()
    };
    let v = run(&["--version"]);
    let v = String::from_utf8_lossy(&v.stdout);
    assert!(v.starts_with("coffer ") && v.contains("(commit "), "{v}");
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("rewrap-keks") && text.contains("coffer"),
            "{shell}"
        );
    }
    // `coffer openapi | head -c 100`: the reader goes away; no panic, no error.
    let mut child = Command::new(env!("CARGO_BIN_EXE_coffer"))
        .arg("openapi")
        .env_remove("COFFER_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{err}");
}

fn coffer(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coffer"));
    cmd.args(args)
        .env_remove("COFFER_CONFIG")
        .env_remove("RUST_LOG")
        .current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_shows_the_effective_settings_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("coffer.toml");
    std::fs::write(
        &config,
        "[database]\nurl = \"postgres://coffer:pw-in-url@db:5432/c?sslpassword=ssl-pw\"\n\
         [crypto.simple_crypto]\nmaster_key = \"c2hhcmVkLW1hc3Rlci1rZXktZm9yLXRlc3RzLTMyYj0=\"\n\
         [auth.keystone]\npassword = \"ks-password\"\n",
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    let (ok, out, err) = coffer(&["--config", &config, "config", "check"], &[], dir.path());
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("configuration ok") && out.contains("pool_size"),
        "{out}"
    );
    for secret in ["pw-in-url", "ssl-pw", "c2hhcmVk", "ks-password"] {
        assert!(!out.contains(secret), "{secret} shown: {out}");
    }
    // What would not start is said, with the setting's name.
    let (ok, _, err) = coffer(
        &["--config", &config, "config", "check"],
        &[("COFFER__PROFILE", "production")],
        dir.path(),
    );
    assert!(!ok && err.contains("server.host_href"), "{err}");
    let (ok, _, err) = coffer(
        &["config", "check"],
        &[("COFFER__DATABASE__POOL_SIZE", "many")],
        dir.path(),
    );
    assert!(
        !ok && err.contains("environment variable COFFER__DATABASE__POOL_SIZE"),
        "{err}"
    );
}

#[test]
fn db_status_never_creates_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, out, err) = coffer(
        &["db", "status"],
        &[("COFFER__SERVER__DATA_DIR", data.to_str().unwrap())],
        dir.path(),
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("no database at") && out.contains("pending: 2026"),
        "{out}"
    );
    assert!(!data.join("coffer.db").exists() && !data.exists());
}
