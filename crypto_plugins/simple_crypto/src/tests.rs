use std::collections::HashSet;
use std::path::Path;

use plugin_api::testkit::{crypto_conformance, MemoryKeks};
use plugin_api::{KekResolver, Profile};

use super::*;

const K1: [u8; 32] = [1u8; 32];
const K2: [u8; 32] = [2u8; 32];

fn plugin(keys: &[(&str, &[u8; 32])], active: &str) -> SimpleCrypto {
    let keys: Vec<(String, &[u8; 32])> = keys.iter().map(|(id, k)| (id.to_string(), *k)).collect();
    SimpleCrypto::new(&keys, active, 64).expect("valid keys")
}

fn bind<'a>(p: &'a str, s: &'a str) -> Binding<'a> {
    Binding {
        project_id: p,
        secret_id: s,
    }
}

fn ctx<'a>(cfg: &'a serde_json::Value, dir: &'a Path, profile: Profile) -> PluginContext<'a> {
    PluginContext {
        instance: "software",
        config: cfg,
        data_dir: dir,
        profile,
    }
}

#[test]
fn passes_the_crypto_conformance_suite() {
    crypto_conformance(&plugin(&[("k1", &K1)], "k1"));
}

#[test]
fn round_trip_and_binding() {
    let p = plugin(&[("k1", &K1)], "k1");
    let keks = MemoryKeks::new("proj");
    let kek = keks.active_kek(&p).unwrap();
    let enc = p.encrypt(&kek, b"top secret", bind("proj", "s1")).unwrap();
    assert_eq!(enc.ciphertext.len(), 1 + NONCE_LEN + 10 + TAG_LEN);
    assert_eq!(
        p.decrypt(&kek, &enc, bind("proj", "s1"))
            .unwrap()
            .as_slice(),
        b"top secret"
    );
    let moved = p.decrypt(&kek, &enc, bind("proj", "s2")).unwrap_err();
    assert!(matches!(moved, PluginError::Integrity(_)), "{moved:?}");
    assert!(moved.to_string().contains("secret s2"), "{moved}");
}

#[test]
fn wrong_master_key_gives_a_clear_error() {
    let a = plugin(&[("k1", &K1)], "k1");
    let keks = MemoryKeks::new("proj");
    let kek = keks.active_kek(&a).unwrap();
    let enc = a.encrypt(&kek, b"payload", bind("proj", "s")).unwrap();

    // Same id, different key bytes: the wrapped KEK does not authenticate.
    let b = plugin(&[("k1", &K2)], "k1");
    let err = b.decrypt(&kek, &enc, bind("proj", "s")).unwrap_err();
    assert!(matches!(err, PluginError::Integrity(_)), "{err:?}");
    assert!(err.to_string().contains("wrapped project KEK"), "{err}");

    // The key the row names is not configured at all.
    let c = plugin(&[("k2", &K2)], "k2");
    let err = c.decrypt(&kek, &enc, bind("proj", "s")).unwrap_err();
    assert!(matches!(err, PluginError::KeyUnavailable(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("'k1'") && msg.contains("configured: k2"),
        "{msg}"
    );
}

#[test]
fn nonces_never_repeat_across_100k_encryptions() {
    let p = plugin(&[("k1", &K1)], "k1");
    let keks = MemoryKeks::new("proj");
    let kek = keks.active_kek(&p).unwrap();
    let mut seen = HashSet::with_capacity(100_000);
    for _ in 0..100_000 {
        let enc = p.encrypt(&kek, b"x", bind("proj", "s")).unwrap();
        let nonce: [u8; NONCE_LEN] = enc.ciphertext[1..1 + NONCE_LEN].try_into().unwrap();
        assert!(seen.insert(nonce), "nonce repeated");
    }
    assert_eq!(seen.len(), 100_000);
}

#[test]
fn rotation_rewraps_without_touching_ciphertext() {
    let old = plugin(&[("k1", &K1)], "k1");
    let keks = MemoryKeks::new("proj");
    let kek = keks.active_kek(&old).unwrap();
    let enc = old.encrypt(&kek, b"keep me", bind("proj", "s")).unwrap();

    // New key first and active, old key still listed.
    let both = plugin(&[("k2", &K2), ("k1", &K1)], "k2");
    assert_eq!(both.active_master_key(), "k2");
    assert_eq!(
        both.decrypt(&kek, &enc, bind("proj", "s"))
            .unwrap()
            .as_slice(),
        b"keep me"
    );
    let rewrapped = both
        .rewrap_project_kek(&kek)
        .unwrap()
        .expect("needs rewrap");
    assert_eq!(rewrapped.master_key_id, "k2");
    let new_kek = ProjectKek {
        wrapped: rewrapped,
        ..kek.clone()
    };
    assert!(both.rewrap_project_kek(&new_kek).unwrap().is_none());

    // Once rewrapped, the old master key can be removed.
    let only_new = plugin(&[("k2", &K2)], "k2");
    assert_eq!(
        only_new
            .decrypt(&new_kek, &enc, bind("proj", "s"))
            .unwrap()
            .as_slice(),
        b"keep me"
    );
    assert!(only_new.decrypt(&kek, &enc, bind("proj", "s")).is_err());
}

#[test]
fn a_cached_kek_is_verified_again_when_its_row_changes() {
    let p = plugin(&[("k1", &K1)], "k1");
    let keks = MemoryKeks::new("proj");
    let kek = keks.active_kek(&p).unwrap();
    let enc = p.encrypt(&kek, b"x", bind("proj", "s")).unwrap(); // now cached
    let mut tampered = kek.clone();
    tampered.wrapped.wrapped[5] ^= 1;
    assert!(matches!(
        p.decrypt(&tampered, &enc, bind("proj", "s")),
        Err(PluginError::Integrity(_))
    ));
    // The genuine row still works.
    assert!(p.decrypt(&kek, &enc, bind("proj", "s")).is_ok());
}

#[test]
fn symmetric_generation_table() {
    let p = plugin(&[("k1", &K1)], "k1");
    let sym = SupportKind::SymmetricKeyGeneration;
    for bits in [128, 192, 256] {
        assert!(p.supports(sym, &KeySpec::new("AES", bits)));
        assert_eq!(
            p.generate_symmetric(&KeySpec::new("aes", bits))
                .unwrap()
                .len()
                * 8,
            bits as usize
        );
    }
    for bits in [0, 64, 100, 512] {
        assert!(!p.supports(sym, &KeySpec::new("aes", bits)), "aes {bits}");
    }
    let mut xts = KeySpec::new("aes", 512);
    xts.mode = Some("XTS".into());
    assert!(p.supports(sym, &xts));
    assert_eq!(p.generate_symmetric(&xts).unwrap().len(), 64);
    for alg in HMAC_ALGORITHMS {
        assert!(p.supports(sym, &KeySpec::new(alg, 256)));
        assert!(!p.supports(sym, &KeySpec::new(alg, 100)));
    }
    assert!(!p.supports(sym, &KeySpec::new("des", 64)));
    assert!(!p.supports(sym, &KeySpec::default()));
    assert!(!p.supports(
        SupportKind::AsymmetricKeyGeneration,
        &KeySpec::new("aes", 256)
    ));
    assert!(!p.supports(
        SupportKind::AsymmetricKeyGeneration,
        &KeySpec::new("rsa", 1024)
    ));
    assert!(p.supports(
        SupportKind::AsymmetricKeyGeneration,
        &KeySpec::new("RSA", 3072)
    ));
    assert!(matches!(
        p.generate_asymmetric(&KeySpec::new("dsa", 2048)),
        Err(PluginError::Unsupported(_))
    ));
}

#[test]
fn rsa_generation_gives_pem_keys_that_parse() {
    use pkcs8::{DecodePrivateKey, DecodePublicKey};

    let p = plugin(&[("k1", &K1)], "k1");
    let pair = p.generate_asymmetric(&KeySpec::new("rsa", 2048)).unwrap();
    let private_pem = std::str::from_utf8(&pair.private_key).unwrap();
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let private = rsa::PrivateKey::from_pkcs8_pem(private_pem).unwrap();
    let public_pem = std::str::from_utf8(&pair.public_key).unwrap();
    let public = rsa::PublicKey::from_public_key_pem(public_pem).unwrap();
    assert_eq!(private.to_public_key(), public);
    assert!(pair.passphrase.is_none());

    let mut spec = KeySpec::new("rsa", 2048);
    spec.passphrase = Some(Zeroizing::new("correct horse".into()));
    let pair = p.generate_asymmetric(&spec).unwrap();
    let pem = std::str::from_utf8(&pair.private_key).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(rsa::PrivateKey::from_pkcs8_encrypted_pem(pem, "correct horse").is_ok());
    assert!(rsa::PrivateKey::from_pkcs8_encrypted_pem(pem, "wrong").is_err());
    assert_eq!(
        pair.passphrase.as_deref().map(Vec::as_slice),
        Some(&b"correct horse"[..])
    );
}

#[test]
fn dev_profile_generates_a_private_key_file_once() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({});
    let a = build(&ctx(&cfg, dir.path(), Profile::Dev)).unwrap();
    let path = dir.path().join(GENERATED_KEY_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // A second start reuses the key: what the first encrypted, the second decrypts.
    let keks = MemoryKeks::new("proj");
    let kek = keks.active_kek(a.as_ref()).unwrap();
    assert_eq!(kek.wrapped.master_key_id, GENERATED_KEY_ID);
    let enc = a.encrypt(&kek, b"dev", bind("proj", "s")).unwrap();
    let b = build(&ctx(&cfg, dir.path(), Profile::Dev)).unwrap();
    assert_eq!(
        b.decrypt(&kek, &enc, bind("proj", "s")).unwrap().as_slice(),
        b"dev"
    );
}

#[test]
fn production_profile_refuses_to_generate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({});
    let err = build(&ctx(&cfg, dir.path(), Profile::Production))
        .err()
        .expect("must fail");
    assert!(matches!(err, PluginError::Config(_)));
    assert!(
        err.to_string().contains("no master KEK configured"),
        "{err}"
    );
    assert!(!dir.path().join(GENERATED_KEY_FILE).exists());
}

#[test]
fn keys_from_config_env_and_file() {
    use base64::Engine;
    let b64 = |k: &[u8; 32]| base64::engine::general_purpose::STANDARD.encode(k);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k3.key");
    std::fs::write(&file, format!("{}\n", b64(&[3u8; 32]))).unwrap();
    std::env::set_var("SIMPLE_CRYPTO_TEST_K2", b64(&K2));
    let cfg = serde_json::json!({
        "master_keys": [
            {"id": "k1", "key": b64(&K1)},
            {"id": "k2", "key_env": "SIMPLE_CRYPTO_TEST_K2"},
            {"id": "k3", "key_file": file},
        ],
        "active_master_key": "k3",
    });
    let p = build(&ctx(&cfg, dir.path(), Profile::Production)).unwrap();
    let kek = MemoryKeks::new("proj").active_kek(p.as_ref()).unwrap();
    assert_eq!(kek.wrapped.master_key_id, "k3");

    let shortcut = serde_json::json!({"master_key": b64(&K1), "master_key_id": "main"});
    let p = build(&ctx(&shortcut, dir.path(), Profile::Production)).unwrap();
    let kek = MemoryKeks::new("proj").active_kek(p.as_ref()).unwrap();
    assert_eq!(kek.wrapped.master_key_id, "main");
}

#[test]
fn bad_key_configuration_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            serde_json::json!({"master_key": "not base64!"}),
            "not valid base64",
        ),
        (
            serde_json::json!({"master_key": "AAAA"}),
            "must be 32 bytes",
        ),
        (
            serde_json::json!({"master_keys": [{"id": "a", "key": "AAAA", "key_env": "X"}]}),
            "exactly one of",
        ),
        (
            serde_json::json!({"master_keys": [{"id": "a", "key_env": "COFFER_TEST_UNSET_VARIABLE"}]}),
            "is not set",
        ),
        (
            serde_json::json!({"master_keys": [{"id": "a", "key_file": "/nonexistent/key"}]}),
            "cannot read master key",
        ),
        (
            serde_json::json!({"master_key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
                               "master_keys": [{"id": "primary", "key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="}]}),
            "configured twice",
        ),
        (
            serde_json::json!({"master_key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
                               "active_master_key": "other"}),
            "not among the configured master keys",
        ),
        (
            serde_json::json!({"master_key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
                               "master_key_file": "/x"}),
            "not both",
        ),
        (serde_json::json!({"bogus": 1}), "unknown field"),
        (
            serde_json::json!({"master_key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
                               "kek_cache_size": 0}),
            "kek_cache_size",
        ),
    ];
    for (cfg, want) in cases {
        let err = build(&ctx(&cfg, dir.path(), Profile::Dev))
            .err()
            .unwrap_or_else(|| panic!("{cfg} must fail"));
        assert!(err.to_string().contains(want), "{cfg}: {err}");
        // Key material never appears in an error.
        assert!(!err.to_string().contains("AQEBAQEB"), "{err}");
    }
}

#[test]
fn registered_as_stable_crypto_plugin() {
    let d = plugin_api::registry::find(plugin_api::Namespace::Crypto, "simple_crypto").unwrap();
    assert_eq!(d.status, PluginStatus::Stable);
    assert_eq!(d.crate_name, "simple_crypto");
}
