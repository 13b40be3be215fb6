//! p11_crypto against a real PKCS#11 module (SoftHSM2): the crypto conformance suite, the
//! key hierarchy, tampering, the session pool under load, lost logins, rotation, key
//! generation, operator commands and configuration errors.

mod support;

use std::sync::Arc;

use p11_crypto::admin::{self, MasterKey};
use p11_crypto::P11Crypto;
use plugin_api::testkit::MemoryKeks;
use plugin_api::{
    Binding, CryptoPlugin, KekResolver, KeySpec, PluginError, ProjectKek, SupportKind,
};
use support::{config, softhsm};

const TOKENS: &[&str] = &["coffer-unit", "coffer-pin", "coffer-logout", "coffer-admin"];

fn plugin(token: &str) -> P11Crypto {
    softhsm(TOKENS);
    P11Crypto::new(&config(token)).expect("open the token")
}

fn binding<'a>(project_id: &'a str, secret_id: &'a str) -> Binding<'a> {
    Binding {
        project_id,
        secret_id,
    }
}

fn kek(plugin: &dyn CryptoPlugin, project: &str) -> ProjectKek {
    MemoryKeks::new(project)
        .active_kek(plugin)
        .expect("project KEK")
}

#[test]
fn conformance() {
    plugin_api::testkit::crypto_conformance(&plugin("coffer-unit"));
}

#[test]
fn unwrapped_keks_are_cached_and_a_changed_row_is_checked_again() {
    let p = plugin("coffer-unit");
    let k = kek(&p, "cache-project");
    let before = p.unwrap_count();
    let enc = p
        .encrypt(&k, b"one", binding("cache-project", "s1"))
        .unwrap();
    for _ in 0..10 {
        let dec = p.decrypt(&k, &enc, binding("cache-project", "s1")).unwrap();
        assert_eq!(dec.as_slice(), b"one");
    }
    assert_eq!(p.unwrap_count() - before, 1, "one unwrap, then the cache");

    // The stored HMAC changed: the KEK is verified again, and refused.
    let mut meta: serde_json::Value =
        serde_json::from_str(k.wrapped.plugin_meta.as_deref().unwrap()).unwrap();
    meta["hmac"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
    let mut forged = k.clone();
    forged.wrapped.plugin_meta = Some(meta.to_string());
    match p.decrypt(&forged, &enc, binding("cache-project", "s1")) {
        Err(PluginError::Integrity(m)) => assert!(m.contains("HMAC"), "{m}"),
        other => panic!("forged HMAC gave {other:?}"),
    }
    // No metadata at all.
    let mut bare = k.clone();
    bare.wrapped.plugin_meta = None;
    assert!(matches!(
        p.decrypt(&bare, &enc, binding("cache-project", "s1")),
        Err(PluginError::Integrity(_))
    ));
    // A master KEK label that is not in the token.
    let mut elsewhere = k.clone();
    elsewhere.wrapped.master_key_id = "no-such-mkek".into();
    assert!(p
        .decrypt(&elsewhere, &enc, binding("cache-project", "s1"))
        .is_err());
}

#[test]
fn a_ciphertext_never_contains_the_plaintext_and_fresh_ivs_are_used() {
    let p = plugin("coffer-unit");
    let k = kek(&p, "iv-project");
    let payload = b"plaintext-marker-p11";
    let a = p.encrypt(&k, payload, binding("iv-project", "s")).unwrap();
    let b = p.encrypt(&k, payload, binding("iv-project", "s")).unwrap();
    assert_ne!(a.ciphertext[1..13], b.ciphertext[1..13], "IV reused");
    assert!(!a.ciphertext.windows(payload.len()).any(|w| w == payload));
    assert_eq!(a.ciphertext.len(), 1 + 12 + payload.len() + 16);
}

#[test]
fn the_pool_serves_64_concurrent_requests() {
    let p = Arc::new(plugin("coffer-unit"));
    let k = kek(p.as_ref(), "busy-project");
    let threads: Vec<_> = (0..64)
        .map(|t| {
            let (p, k) = (Arc::clone(&p), k.clone());
            std::thread::spawn(move || {
                for i in 0..10 {
                    let payload = format!("thread {t} round {i}");
                    let secret = format!("s-{t}-{i}");
                    let enc = p
                        .encrypt(&k, payload.as_bytes(), binding("busy-project", &secret))
                        .map_err(|e| format!("encrypt: {e}"))?;
                    let dec = p
                        .decrypt(&k, &enc, binding("busy-project", &secret))
                        .map_err(|e| format!("decrypt: {e}"))?;
                    if dec.as_slice() != payload.as_bytes() {
                        return Err("round trip changed the payload".to_owned());
                    }
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread").expect("no PKCS#11 error");
    }
}

#[test]
fn a_lost_login_is_recovered_under_load() {
    let p = Arc::new(plugin("coffer-logout"));
    let k = kek(p.as_ref(), "logout-project");
    let enc = p
        .encrypt(&k, b"kept", binding("logout-project", "s"))
        .unwrap();
    let start = Arc::new(std::sync::Barrier::new(17));
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (p, k, enc, start) = (Arc::clone(&p), k.clone(), enc.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                for _ in 0..40 {
                    let dec = p
                        .decrypt(&k, &enc, binding("logout-project", "s"))
                        .map_err(|e| e.to_string())?;
                    if dec.as_slice() != b"kept" {
                        return Err("wrong plaintext".to_owned());
                    }
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    start.wait();
    std::thread::sleep(std::time::Duration::from_millis(5));
    // Every session of the application loses its login at once.
    let session = p.token().session().unwrap();
    session.logout().unwrap();
    drop(session);
    for t in threads {
        t.join()
            .expect("thread")
            .expect("requests survive a lost login");
    }
    let after = p.decrypt(&k, &enc, binding("logout-project", "s")).unwrap();
    assert_eq!(after.as_slice(), b"kept");
}

#[test]
fn rewrapping_under_a_new_master_kek_keeps_secrets_readable() {
    softhsm(TOKENS);
    let base = config("coffer-unit");
    admin::generate(&base, MasterKey::Mkek, "rotation-mkek-2", 32).unwrap();
    admin::generate(&base, MasterKey::Hmac, "rotation-hmac-2", 32).unwrap();
    let old = P11Crypto::new(&base).unwrap();
    let k = kek(&old, "rotating-project");
    let enc = old
        .encrypt(&k, b"survives rotation", binding("rotating-project", "s"))
        .unwrap();
    assert_eq!(old.rewrap_project_kek(&k).unwrap(), None, "already current");

    let mut next_cfg = base.clone();
    next_cfg.mkek_label = "rotation-mkek-2".into();
    next_cfg.hmac_label = "rotation-hmac-2".into();
    let next = P11Crypto::new(&next_cfg).unwrap();
    let rewrapped = next
        .rewrap_project_kek(&k)
        .unwrap()
        .expect("moved to the new keys");
    assert_eq!(rewrapped.master_key_id, "rotation-mkek-2");
    assert!(rewrapped
        .plugin_meta
        .as_deref()
        .unwrap()
        .contains("rotation-hmac-2"));
    let k2 = ProjectKek {
        wrapped: rewrapped,
        ..k.clone()
    };
    for p in [&old, &next] {
        let dec = p
            .decrypt(&k2, &enc, binding("rotating-project", "s"))
            .unwrap();
        assert_eq!(dec.as_slice(), b"survives rotation");
    }
    assert_eq!(next.rewrap_project_kek(&k2).unwrap(), None);
    // A tampered KEK is not rewrapped.
    let mut bad = k.clone();
    bad.wrapped.wrapped[3] ^= 1;
    assert!(matches!(
        next.rewrap_project_kek(&bad),
        Err(PluginError::Integrity(_))
    ));
}

#[test]
fn keys_are_generated_in_the_hsm() {
    let p = plugin("coffer-unit");
    let spec = |a: &str, b: u32, m: Option<&str>| KeySpec {
        algorithm: Some(a.into()),
        bit_length: Some(b),
        mode: m.map(str::to_owned),
        passphrase: None,
    };
    for (s, len) in [
        (spec("aes", 128, Some("cbc")), 16),
        (spec("aes", 256, None), 32),
        (spec("aes", 512, Some("xts")), 64),
        (spec("hmacsha256", 256, None), 32),
    ] {
        let a = p.generate_symmetric(&s).unwrap();
        let b = p.generate_symmetric(&s).unwrap();
        assert_eq!(a.len(), len, "{s:?}");
        assert_ne!(a.as_slice(), b.as_slice());
    }
    assert!(matches!(
        p.generate_symmetric(&spec("des", 56, None)),
        Err(PluginError::Unsupported(_))
    ));

    use pkcs8::{DecodePrivateKey, DecodePublicKey};
    let mut rsa_spec = spec("rsa", 2048, None);
    assert!(p.supports(SupportKind::AsymmetricKeyGeneration, &rsa_spec));
    let pair = p.generate_asymmetric(&rsa_spec).unwrap();
    let private = std::str::from_utf8(&pair.private_key).unwrap();
    let key = rsa::PrivateKey::from_pkcs8_pem(private).unwrap();
    let public =
        rsa::PublicKey::from_public_key_pem(std::str::from_utf8(&pair.public_key).unwrap())
            .unwrap();
    assert_eq!(key.to_public_key(), public);
    assert!(pair.passphrase.is_none());

    rsa_spec.passphrase = Some(zeroize::Zeroizing::new("correct horse".into()));
    let locked = p.generate_asymmetric(&rsa_spec).unwrap();
    let pem = std::str::from_utf8(&locked.private_key).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(rsa::PrivateKey::from_pkcs8_encrypted_pem(pem, "correct horse").is_ok());
    assert!(rsa::PrivateKey::from_pkcs8_encrypted_pem(pem, "wrong").is_err());
    assert_eq!(
        locked.passphrase.as_deref().map(Vec::as_slice),
        Some(&b"correct horse"[..])
    );
    assert!(matches!(
        p.generate_asymmetric(&spec("rsa", 1024, None)),
        Err(PluginError::Unsupported(_))
    ));
}

#[test]
fn operator_commands_create_and_check_master_keys() {
    softhsm(TOKENS);
    let cfg = config("coffer-admin");
    let ok = admin::check(&cfg, MasterKey::Mkek, "coffer-mkek").unwrap();
    assert!(ok.contains("usable") && ok.contains("AES-256"), "{ok}");
    let ok = admin::check(&cfg, MasterKey::Hmac, "coffer-hmac").unwrap();
    assert!(ok.contains("HMAC-SHA256"), "{ok}");

    let err = admin::generate(&cfg, MasterKey::Mkek, "coffer-mkek", 32).unwrap_err();
    assert!(err.to_string().contains("already holds"), "{err}");
    assert!(admin::generate(&cfg, MasterKey::Mkek, "odd", 20).is_err());
    assert!(admin::check(&cfg, MasterKey::Mkek, "absent").is_err());
    // The HMAC key is not a master KEK, and the other way round.
    assert!(admin::check(&cfg, MasterKey::Mkek, "coffer-hmac").is_err());
    assert!(admin::check(&cfg, MasterKey::Hmac, "coffer-mkek").is_err());

    admin::generate(&cfg, MasterKey::Mkek, "admin-mkek-2", 32).unwrap();
    assert!(admin::check(&cfg, MasterKey::Mkek, "admin-mkek-2").is_ok());
}

#[test]
fn configuration_mistakes_are_clear() {
    softhsm(TOKENS);
    let mut wrong_pin = config("coffer-pin");
    wrong_pin.pin = Some("0000".into());
    let err = P11Crypto::new(&wrong_pin).err().expect("refused");
    assert!(err.to_string().contains("PIN"), "{err}");
    assert!(!err.to_string().contains("0000"), "the PIN is never shown");

    let unknown = config("no-such-token");
    let err = P11Crypto::new(&unknown).err().expect("refused");
    assert!(
        err.to_string()
            .contains("no token labelled 'no-such-token'")
            && err.to_string().contains("coffer-unit"),
        "{err}"
    );

    let mut no_mkek = config("coffer-unit");
    no_mkek.mkek_label = "never-made".into();
    let err = P11Crypto::new(&no_mkek).err().expect("refused");
    assert!(err.to_string().contains("coffer hsm gen-mkek"), "{err}");

    let mut bad_lib = config("coffer-unit");
    bad_lib.library = "/nonexistent/libpkcs11.so".into();
    assert!(matches!(
        P11Crypto::new(&bad_lib),
        Err(PluginError::Config(_))
    ));
}
