//! The layering rules that a `grep` can check: the core asks the plugin registry what a plugin
//! can do and never names a plugin crate, and plugin crates depend on `plugin_api` only.

use std::path::Path;

/// The plugin crates of this workspace (every member but the service, `plugin_api` and the
/// benchmark helpers), from the list `build.rs` derives from `Cargo.toml`.
fn plugin_crates() -> Vec<&'static str> {
    env!("COFFER_IN_TREE_CRATES")
        .split(',')
        .filter(|c| !matches!(*c, "coffer" | "plugin_api") && !c.ends_with("bench"))
        .collect()
}

fn source(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn the_core_names_no_plugin_crate() {
    let crates = plugin_crates();
    assert!(
        crates.contains(&"p11_crypto") && crates.contains(&"audit_log"),
        "{crates:?}"
    );
    for file in [
        "src/admin.rs",
        "src/cli.rs",
        "src/plugins.rs",
        "src/server.rs",
        "src/health.rs",
        "src/events.rs",
    ] {
        let text = source(file);
        for c in &crates {
            for needle in [format!("{c}::"), format!("use {c}"), format!("\"{c}\"")] {
                assert!(
                    !text.contains(&needle),
                    "{file} names the plugin crate or plugin {c} ({needle}); ask the registry"
                );
            }
        }
    }
}

#[test]
fn plugin_crates_depend_on_plugin_api_and_not_on_the_service() {
    for member in [
        "store_plugins/store_crypto",
        "store_plugins/external",
        "crypto_plugins/simple_crypto",
        "crypto_plugins/p11_crypto",
        "auth_plugins/trusted_headers",
        "auth_plugins/keystone",
        "event_plugins/audit_log",
        "event_plugins/webhook",
        "event_plugins/command",
    ] {
        let manifest = source(&format!("{member}/Cargo.toml"));
        let deps = manifest
            .split_once("[dependencies]")
            .map(|(_, d)| d.split("\n[").next().unwrap_or(""))
            .unwrap_or("");
        assert!(
            deps.contains("plugin_api"),
            "{member} does not use plugin_api"
        );
        for forbidden in ["coffer", "metrics-exporter", "actix-web", "diesel"] {
            assert!(
                !deps.lines().any(|l| l.trim_start().starts_with(forbidden)),
                "{member} depends on {forbidden}"
            );
        }
    }
}

/// Every `.rs` file under `dir` (relative to the crate), with its text.
fn sources_under(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a readable source file");
                out.push((path.display().to_string(), text));
            }
        }
    }
    assert!(!out.is_empty(), "no sources under {dir}");
    out
}

#[test]
fn the_service_and_the_database_know_no_http() {
    for dir in ["src/service", "src/db", "src/model.rs"] {
        let files = if dir.ends_with(".rs") {
            vec![(dir.to_owned(), source(dir))]
        } else {
            sources_under(dir)
        };
        for (file, text) in files {
            for needle in ["actix", "StatusCode", "ApiError", "crate::api"] {
                assert!(
                    !text.contains(needle),
                    "{file} names {needle}: the layer below the API maps nothing to HTTP"
                );
            }
        }
    }
}

#[test]
fn the_api_reaches_the_database_only_through_the_service() {
    for (file, text) in sources_under("src/api") {
        assert!(
            !text.contains("db::"),
            "{file} names a db:: item; ask the service (records and queries are in model.rs)"
        );
    }
    for (file, text) in sources_under("src/db") {
        assert!(
            !text.contains("crate::policy") && !text.contains("crate::service"),
            "{file} reaches up into the policy or the service"
        );
    }
}
