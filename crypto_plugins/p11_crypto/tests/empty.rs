//! A module that cannot start, then one without any initialised token: the start-up errors
//! say so. A test binary of its own: the module is initialised once per process, with the
//! SoftHSM2 configuration of that moment.

use p11_crypto::P11Crypto;
use plugin_api::PluginError;

#[test]
fn a_module_without_tokens_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let cfg: p11_crypto::P11Config = serde_json::from_value(serde_json::json!({
        "library": std::env::var_os("COFFER_PKCS11_MODULE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/usr/lib/softhsm/libsofthsm2.so".into()),
        "token_label": "coffer-anything",
        "pin": "1234",
    }))
    .unwrap();
    // First without a SoftHSM2 configuration: the module loads but cannot start.
    std::env::set_var("SOFTHSM2_CONF", dir.path().join("missing.conf"));
    match P11Crypto::new(&cfg) {
        Err(PluginError::Unavailable(m)) => {
            assert!(m.contains("cannot initialise the PKCS#11 module"), "{m}")
        }
        other => panic!("a module that cannot start gave {:?}", other.err()),
    }
    // Then with one that has no token.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    match P11Crypto::new(&cfg) {
        Err(PluginError::Config(m)) => assert!(
            m.contains("no token labelled 'coffer-anything' (tokens present: none)"),
            "{m}"
        ),
        other => panic!("a module without tokens gave {:?}", other.err()),
    }
}
