use std::collections::HashMap;

use super::*;

struct H(HashMap<&'static str, &'static str>);
impl HeaderLookup for H {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).copied()
    }
}

fn auth(pairs: &[(&'static str, &'static str)]) -> Result<AuthContext, AuthError> {
    let h = H(pairs.iter().copied().collect());
    futures_util::FutureExt::now_or_never(TrustedHeaders::new("admin").authenticate(&h))
        .expect("ready")
}

#[test]
fn identity_comes_from_headers() {
    let c = auth(&[
        ("x-project-id", " p1 "),
        ("x-roles", "Creator, observer,,"),
        ("x-user-id", "u1"),
    ])
    .unwrap();
    assert_eq!(c.project_id, "p1");
    assert_eq!(c.roles, vec!["creator", "observer"]);
    assert_eq!(c.user_id.as_deref(), Some("u1"));
    assert!(c.has_role("CREATOR"));
}

#[test]
fn roles_default_to_admin_and_project_is_required() {
    let c = auth(&[("x-project-id", "p1")]).unwrap();
    assert_eq!(c.roles, vec!["admin"]);
    assert_eq!(c.user_id, None);
    let c = auth(&[("x-project-id", "p1"), ("x-roles", " , ")]).unwrap();
    assert_eq!(c.roles, vec!["admin"]);
    assert_eq!(
        auth(&[("x-roles", "admin")]),
        Err(AuthError::Unauthenticated("Missing X-Project-Id".into()))
    );
    assert!(auth(&[("x-project-id", "  ")]).is_err());
}

fn build(config: serde_json::Value) -> Result<Arc<dyn AuthPlugin>, PluginError> {
    let d = plugin_api::registry::find(plugin_api::Namespace::Auth, "trusted_headers")
        .expect("trusted_headers is registered");
    assert_eq!(d.status, PluginStatus::Stable);
    assert_eq!(d.crate_name, "trusted_headers");
    let Factory::Auth(factory) = d.factory else {
        panic!("trusted_headers is not registered as an auth plugin");
    };
    let dir = std::env::temp_dir();
    factory(&PluginContext {
        metrics: plugin_api::Metrics::discarding(),
        instance: "trusted_headers",
        config: &config,
        data_dir: &dir,
        profile: plugin_api::Profile::Dev,
    })
}

fn auth_with(plugin: &dyn AuthPlugin, pairs: &[(&'static str, &'static str)]) -> AuthContext {
    let h = H(pairs.iter().copied().collect());
    futures_util::FutureExt::now_or_never(plugin.authenticate(&h))
        .expect("ready")
        .expect("authenticated")
}

#[test]
fn the_registered_factory_builds_the_plugin_with_its_default_role() {
    let p = build(serde_json::json!({})).unwrap();
    assert_eq!(p.name(), "trusted_headers");
    assert_eq!(
        auth_with(p.as_ref(), &[("x-project-id", "p1")]).roles,
        vec!["admin"]
    );

    let p = build(serde_json::json!({"default_role": " Observer "})).unwrap();
    let c = auth_with(p.as_ref(), &[("x-project-id", "p1")]);
    assert_eq!(c.roles, vec!["observer"]);
    let c = auth_with(
        p.as_ref(),
        &[("x-project-id", "p1"), ("x-roles", "creator")],
    );
    assert_eq!(c.roles, vec!["creator"]);
}

#[test]
fn the_factory_rejects_unknown_settings() {
    let err = match build(serde_json::json!({"default_rol": "admin"})) {
        Ok(_) => panic!("an unknown setting was accepted"),
        Err(e) => e,
    };
    assert!(matches!(err, PluginError::Config(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("invalid configuration for 'trusted_headers'"),
        "{err}"
    );
    assert!(err.to_string().contains("default_rol"), "{err}");
}

fn build_in(
    dir: &std::path::Path,
    config: serde_json::Value,
) -> Result<Arc<dyn AuthPlugin>, PluginError> {
    let d = plugin_api::registry::find(plugin_api::Namespace::Auth, "trusted_headers")
        .expect("trusted_headers is registered");
    let Factory::Auth(factory) = d.factory else {
        panic!("trusted_headers is not registered as an auth plugin");
    };
    factory(&PluginContext {
        metrics: plugin_api::Metrics::discarding(),
        instance: "trusted_headers",
        config: &config,
        data_dir: dir,
        profile: plugin_api::Profile::Production,
    })
}

fn err_of(r: Result<Arc<dyn AuthPlugin>, PluginError>) -> String {
    match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn without_a_proxy_secret_every_caller_is_believed() {
    let p = build(serde_json::json!({})).unwrap();
    assert!(p.believes_caller());
}

#[test]
fn a_proxy_secret_is_required_of_every_request_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("proxy.secret"), "0123456789abcdef-secret\n").unwrap();
    let p = build_in(
        dir.path(),
        serde_json::json!({"proxy_secret_file": "proxy.secret", "proxy_secret_header": "X-Proxy-Auth"}),
    )
    .unwrap();
    assert!(!p.believes_caller());
    let c = auth_with(
        p.as_ref(),
        &[
            ("x-proxy-auth", "0123456789abcdef-secret"),
            ("x-project-id", "p1"),
        ],
    );
    assert_eq!(c.project_id, "p1");
    for sent in [
        None,
        Some(""),
        Some("0123456789abcdef-secreT"),
        Some("0123456789abcdef"),
    ] {
        let mut pairs = vec![("x-project-id", "p1")];
        if let Some(s) = sent {
            pairs.push(("x-proxy-auth", s));
        }
        let h = H(pairs.into_iter().collect());
        let r = futures_util::FutureExt::now_or_never(p.authenticate(&h)).expect("ready");
        assert_eq!(
            r,
            Err(AuthError::Unauthenticated(
                "Missing or wrong proxy secret".into()
            )),
            "{sent:?}"
        );
    }
    // The default header, and an absolute path.
    let abs = dir.path().join("proxy.secret");
    let p = build_in(dir.path(), serde_json::json!({"proxy_secret_file": abs})).unwrap();
    let c = auth_with(
        p.as_ref(),
        &[
            ("x-coffer-proxy-secret", "0123456789abcdef-secret"),
            ("x-project-id", "p2"),
        ],
    );
    assert_eq!(c.project_id, "p2");
}

#[test]
fn bad_proxy_secret_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short"), "too-short\n").unwrap();
    std::fs::write(dir.path().join("ok"), "0123456789abcdef").unwrap();
    let e = err_of(build_in(
        dir.path(),
        serde_json::json!({"proxy_secret_file": "missing"}),
    ));
    assert!(e.contains("proxy_secret_file: cannot read"), "{e}");
    let e = err_of(build_in(
        dir.path(),
        serde_json::json!({"proxy_secret_file": "short"}),
    ));
    assert!(e.contains("fewer than 16 bytes"), "{e}");
    for header in ["", "x proxy", "x:y"] {
        let e = err_of(build_in(
            dir.path(),
            serde_json::json!({"proxy_secret_file": "ok", "proxy_secret_header": header}),
        ));
        assert!(e.contains("proxy_secret_header"), "{e}");
    }
}
