//! Helpers shared by the external store's integration tests: the real Python plugins, started
//! through the store's own settings.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use external_store::{ExternalSettings, ExternalStore};
use plugin_api::testkit::MemoryKeks;
use plugin_api::{PluginError, StoreContext};
use serde_json::json;

/// The Python interpreter itself (not a shim), so the child runs with the minimal environment
/// the store gives it.
pub fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 must be installed to run these tests");
        assert!(out.status.success(), "python3 -c failed");
        String::from_utf8(out.stdout)
            .expect("utf-8 path")
            .trim()
            .to_owned()
    })
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

pub fn file_store_script() -> PathBuf {
    repo_root().join("examples/python_file_store/file_store.py")
}

pub fn misbehaving_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plugins/misbehaving_plugin.py")
}

/// `openssl`, which the file store uses for RSA generation.
pub fn openssl() -> String {
    for candidate in ["/usr/bin/openssl", "/usr/local/bin/openssl"] {
        if Path::new(candidate).exists() {
            return candidate.to_owned();
        }
    }
    panic!("these tests need the openssl executable (Debian package openssl)");
}

pub fn settings(section: serde_json::Value) -> ExternalSettings {
    serde_json::from_value(section).expect("valid settings")
}

/// The example file store, keeping its files in `dir`; `extra` is merged into the section.
pub fn file_store(dir: &Path, extra: serde_json::Value) -> ExternalStore {
    let mut section = json!({
        "command": python(),
        "args": [file_store_script()],
        "settings": {"directory": dir.join("secrets"), "openssl": openssl()},
    });
    merge(&mut section, extra);
    ExternalStore::start("files", settings(section), dir).expect("the file store starts")
}

/// The misbehaving test plugin with these arguments and settings.
pub fn misbehaving(args: &[&str], extra: serde_json::Value) -> Result<ExternalStore, PluginError> {
    let mut argv = vec![misbehaving_script().display().to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut section = json!({"command": python(), "args": argv});
    merge(&mut section, extra);
    ExternalStore::start("odd", settings(section), Path::new("/tmp"))
}

fn merge(into: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(into), serde_json::Value::Object(extra)) = (into.as_object_mut(), extra) {
        for (k, v) in extra {
            into.insert(k, v);
        }
    }
}

pub fn ctx<'a>(keks: &'a MemoryKeks, secret_id: &'a str) -> StoreContext<'a> {
    StoreContext {
        project_id: "project-a",
        secret_id,
        keks,
    }
}

/// Kill a process (that this test started, through the store) with SIGKILL.
pub fn kill9(pid: u32) {
    let ok = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -KILL {pid} failed");
}

/// Whether a process with this pid exists (zombies included).
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Wait until `f` holds, up to `limit`.
pub fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}
