//! A SoftHSM2 for tests: tokens in a temporary directory, the process pointed at it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use p11_crypto::admin::{self, MasterKey};
use p11_crypto::P11Config;

pub const PIN: &str = "1234";
const SO_PIN: &str = "5678";

/// The PKCS#11 module: `COFFER_PKCS11_MODULE`, or Debian's SoftHSM2.
pub fn module() -> PathBuf {
    std::env::var_os("COFFER_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
}

pub struct SoftHsm {
    pub dir: tempfile::TempDir,
}

/// The test process's SoftHSM, made once (before the module is first initialised, which
/// reads `SOFTHSM2_CONF`), with the tokens `tokens` initialised and, in each, the master KEK
/// `coffer-mkek` and the HMAC key `coffer-hmac`.
pub fn softhsm(tokens: &[&str]) -> &'static SoftHsm {
    static HSM: OnceLock<SoftHsm> = OnceLock::new();
    HSM.get_or_init(|| {
        assert!(
            module().exists(),
            "{} is missing: install SoftHSM2 (scripts/system-deps does)",
            module().display()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens_dir = dir.path().join("tokens");
        std::fs::create_dir_all(&tokens_dir).expect("tokens dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens_dir.display()
            ),
        )
        .expect("softhsm2.conf");
        std::env::set_var("SOFTHSM2_CONF", &conf);
        // SoftHSM2 reads its tokens when the module is initialised: make them all first.
        for label in tokens {
            init_token(&conf, label);
        }
        for label in tokens {
            let cfg = config(label);
            admin::generate(&cfg, MasterKey::Mkek, "coffer-mkek", 32).expect("gen mkek");
            admin::generate(&cfg, MasterKey::Hmac, "coffer-hmac", 32).expect("gen hmac");
        }
        SoftHsm { dir }
    })
}

fn init_token(conf: &Path, label: &str) {
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ])
        .output()
        .expect("run softhsm2-util (install SoftHSM2)");
    assert!(
        out.status.success(),
        "softhsm2-util --init-token: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The plugin configuration for token `label`.
pub fn config(label: &str) -> P11Config {
    serde_json::from_value(serde_json::json!({
        "library": module(),
        "token_label": label,
        "pin": PIN,
        "session_pool_size": 4,
    }))
    .expect("config")
}
