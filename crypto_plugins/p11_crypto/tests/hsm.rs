//! p11_crypto against a real PKCS#11 module (SoftHSM2): the crypto conformance suite, the
//! key hierarchy, tampering, the session pool under load, lost logins, rotation, key
//! generation, operator commands and configuration errors.

mod support;

use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::types::Ulong;
use p11_crypto::admin::{self, MasterKey};
use p11_crypto::token::Recovery;
use p11_crypto::P11Crypto;
use plugin_api::testkit::MemoryKeks;
use plugin_api::{
    Binding, CryptoPlugin, KekResolver, KeySpec, PluginError, ProjectKek, SupportKind,
};
use support::{config, softhsm};

const TOKENS: &[&str] = &[
    "coffer-unit",
    "coffer-pin",
    "coffer-logout",
    "coffer-admin",
    "coffer-odd",
    "coffer-epoch",
    "coffer-evict",
    "coffer-health",
];

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
fn health_reads_the_master_kek_from_the_token() {
    let p = plugin("coffer-health");
    p.health()
        .expect("the token answers and holds its master KEK");
    // The keys' files vanish from the token's directory: the cached handle fails, a new
    // epoch looks the key up again and finds nothing.
    let tokens = softhsm(TOKENS).dir.path().join("tokens");
    let token_dir = std::fs::read_dir(&tokens)
        .unwrap()
        .map(|d| d.unwrap().path())
        .find(|d| {
            std::fs::read(d.join("token.object"))
                .is_ok_and(|t| t.windows(13).any(|w| w == b"coffer-health"))
        })
        .expect("the token's directory");
    let parked = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&token_dir).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "object")
            && f.file_name().is_some_and(|n| n != "token.object")
        {
            std::fs::rename(&f, parked.path().join(f.file_name().unwrap())).unwrap();
        }
    }
    let err = p.health().unwrap_err();
    assert!(matches!(err, PluginError::KeyUnavailable(_)), "{err:?}");
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
    for (key, label, len, says) in [
        (MasterKey::Mkek, "", 32, "must not be empty"),
        (MasterKey::Hmac, "short-hmac", 16, "32 to 64 bytes"),
        (MasterKey::Hmac, "long-hmac", 65, "32 to 64 bytes"),
    ] {
        match admin::generate(&cfg, key, label, len) {
            Err(PluginError::InvalidInput(m)) => assert!(m.contains(says), "{m}"),
            other => panic!("{key:?} '{label}' of {len} bytes gave {other:?}"),
        }
    }
    assert_eq!(MasterKey::Mkek.configured_label(&cfg), "coffer-mkek");
    assert_eq!(MasterKey::Hmac.configured_label(&cfg), "coffer-hmac");
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

/// A token key made by the test itself, bypassing the operator commands' checks (as another
/// application or a careless operator could).
fn make_key(p: &P11Crypto, label: &str, key_type: KeyType, extra: &[Attribute]) {
    make_key_of(p, label, key_type, 32, extra);
}

fn make_key_of(p: &P11Crypto, label: &str, key_type: KeyType, len: u64, extra: &[Attribute]) {
    let mechanism = if key_type == KeyType::AES {
        Mechanism::AesKeyGen
    } else {
        Mechanism::GenericSecretKeyGen
    };
    let mut template = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::ValueLen(Ulong::from(len)),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
    ];
    template.extend_from_slice(extra);
    let s = p.token().session().expect("a session");
    s.generate_key(&mechanism, &template).expect("make a key");
}

#[test]
fn odd_master_keys_are_refused_clearly() {
    let p = plugin("coffer-odd");
    let cfg = config("coffer-odd");
    let aes_wrap = [Attribute::Wrap(true), Attribute::Unwrap(true)];

    // Two master KEKs under one label.
    make_key(&p, "twin-mkek", KeyType::AES, &aes_wrap);
    make_key(&p, "twin-mkek", KeyType::AES, &aes_wrap);
    let mut twins = cfg.clone();
    twins.mkek_label = "twin-mkek".into();
    match P11Crypto::new(&twins) {
        Err(PluginError::KeyUnavailable(m)) => {
            assert!(m.contains("2 master KEK (AES) keys"), "{m}")
        }
        other => panic!("twin master KEKs gave {:?}", other.err()),
    }
    match admin::check(&cfg, MasterKey::Mkek, "twin-mkek") {
        Err(PluginError::KeyUnavailable(m)) => assert!(m.contains("2 keys are labelled"), "{m}"),
        other => panic!("check of twins gave {other:?}"),
    }

    // An AES key that may not wrap is no master KEK.
    make_key(
        &p,
        "stiff-mkek",
        KeyType::AES,
        &[Attribute::Wrap(false), Attribute::Unwrap(false)],
    );
    match admin::check(&cfg, MasterKey::Mkek, "stiff-mkek") {
        Err(PluginError::Internal(m)) => assert!(m.contains("cannot wrap"), "{m}"),
        other => panic!("check of a non-wrapping key gave {other:?}"),
    }

    // An HMAC key that may neither sign nor verify: the plugin starts (the key exists) but
    // cannot sign a new project KEK, even after starting new sessions.
    make_key(
        &p,
        "mute-hmac",
        KeyType::GENERIC_SECRET,
        &[Attribute::Sign(false), Attribute::Verify(false)],
    );
    let mut mute = cfg.clone();
    mute.hmac_label = "mute-hmac".into();
    let muted = P11Crypto::new(&mute).expect("the key exists");
    let epoch = muted.token().epoch();
    match muted.create_project_kek(plugin_api::KekBinding {
        project_id: "odd",
        kek_id: "k",
    }) {
        Err(PluginError::Internal(m)) => {
            assert!(m.contains("signing a wrapped project KEK"), "{m}")
        }
        other => panic!("signing with a mute key gave {other:?}"),
    }
    assert!(muted.token().epoch() > epoch, "new sessions were tried");
    // ... nor verify one that names it.
    let k = kek(&p, "odd-project");
    let enc = p.encrypt(&k, b"odd", binding("odd-project", "s")).unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_str(k.wrapped.plugin_meta.as_deref().unwrap()).unwrap();
    meta["hmac_label"] = "mute-hmac".into();
    let mut renamed = k.clone();
    renamed.wrapped.plugin_meta = Some(meta.to_string());
    match p.decrypt(&renamed, &enc, binding("odd-project", "s")) {
        Err(PluginError::Internal(m)) => assert!(m.contains("verifying"), "{m}"),
        other => panic!("verifying with a mute key gave {other:?}"),
    }
    assert_eq!(
        p.decrypt(&k, &enc, binding("odd-project", "s"))
            .unwrap()
            .as_slice(),
        b"odd"
    );

    // An HMAC key too short for HMAC-SHA256: no new sessions help.
    make_key_of(
        &p,
        "short-hmac",
        KeyType::GENERIC_SECRET,
        8,
        &[Attribute::Sign(true), Attribute::Verify(true)],
    );
    let mut short = cfg.clone();
    short.hmac_label = "short-hmac".into();
    let shorted = P11Crypto::new(&short).expect("the key exists");
    let epoch = shorted.token().epoch();
    match shorted.create_project_kek(plugin_api::KekBinding {
        project_id: "odd",
        kek_id: "k",
    }) {
        Err(PluginError::Internal(m)) => {
            assert!(m.contains("signing a wrapped project KEK"), "{m}")
        }
        other => panic!("signing with a short key gave {other:?}"),
    }
    assert_eq!(shorted.token().epoch(), epoch, "nothing to recover");

    // No HMAC key at all.
    let mut no_hmac = cfg.clone();
    no_hmac.hmac_label = "never-made-hmac".into();
    let err = P11Crypto::new(&no_hmac).err().expect("refused");
    assert!(err.to_string().contains("coffer hsm gen-hmac"), "{err}");
    assert!(
        err.to_string().contains("HMAC key (generic secret)"),
        "{err}"
    );
}

#[test]
fn malformed_kek_metadata_is_an_integrity_error() {
    let p = plugin("coffer-unit");
    let k = kek(&p, "meta-project");
    let enc = p.encrypt(&k, b"m", binding("meta-project", "s")).unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(k.wrapped.plugin_meta.as_deref().unwrap()).unwrap();
    for (field, value, says) in [
        (
            "key_wrap_mechanism",
            "CKM_DES_WRAP",
            "unknown wrap mechanism",
        ),
        ("hmac", "not base64!", "malformed HMAC"),
    ] {
        let mut m = meta.clone();
        m[field] = value.into();
        let mut bad = k.clone();
        bad.wrapped.plugin_meta = Some(m.to_string());
        match p.decrypt(&bad, &enc, binding("meta-project", "s")) {
            Err(PluginError::Integrity(e)) => assert!(e.contains(says), "{e}"),
            other => panic!("{field} = {value} gave {other:?}"),
        }
    }
}

#[test]
fn keks_wrapped_with_padding_are_usable_by_either_setting() {
    softhsm(TOKENS);
    let mut cfg = config("coffer-unit");
    cfg.key_wrap_mechanism = p11_crypto::WrapMechanism::AesKeyWrapPad;
    let padded = P11Crypto::new(&cfg).unwrap();
    let plain = plugin("coffer-unit");
    let k = kek(&padded, "pad-project");
    assert!(k
        .wrapped
        .plugin_meta
        .as_deref()
        .unwrap()
        .contains("CKM_AES_KEY_WRAP_PAD"));
    let enc = padded
        .encrypt(&k, b"padded", binding("pad-project", "s"))
        .unwrap();
    for p in [&padded, &plain] {
        let dec = p.decrypt(&k, &enc, binding("pad-project", "s")).unwrap();
        assert_eq!(dec.as_slice(), b"padded");
    }
    // The plain-wrap plugin moves it to its own mechanism.
    let moved = plain.rewrap_project_kek(&k).unwrap().expect("rewrapped");
    assert!(moved
        .plugin_meta
        .as_deref()
        .unwrap()
        .contains("\"CKM_AES_KEY_WRAP\""));
    // A plugin with the same master KEK and mechanism but another HMAC key signs it anew.
    admin::generate(&cfg, MasterKey::Hmac, "pad-hmac-2", 32).unwrap();
    cfg.hmac_label = "pad-hmac-2".into();
    let resigned = P11Crypto::new(&cfg)
        .unwrap()
        .rewrap_project_kek(&k)
        .unwrap()
        .expect("signed with the new HMAC key");
    assert!(resigned
        .plugin_meta
        .as_deref()
        .unwrap()
        .contains("pad-hmac-2"));
}

#[test]
fn an_exhausted_pool_fails_after_the_configured_wait() {
    softhsm(TOKENS);
    let mut cfg = config("coffer-unit");
    cfg.session_pool_size = 1;
    cfg.session_wait_ms = 50;
    let p = P11Crypto::new(&cfg).unwrap();
    let k = kek(&p, "tight-project");
    let held = p.token().session().unwrap();
    let started = std::time::Instant::now();
    match p.encrypt(&k, b"x", binding("tight-project", "s")) {
        Err(PluginError::Unavailable(m)) => {
            assert!(m.contains("no free HSM session within 50 ms"), "{m}")
        }
        other => panic!("an exhausted pool gave {other:?}"),
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(50));
    drop(held);
    assert!(p.encrypt(&k, b"x", binding("tight-project", "s")).is_ok());
}

#[test]
fn a_token_can_be_chosen_by_slot_id() {
    softhsm(TOKENS);
    let ctx = p11_crypto::token::module(&support::module()).unwrap();
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == "coffer-unit")
        .expect("the coffer-unit slot");
    let mut cfg = config("coffer-unit");
    cfg.token_label = None;
    cfg.slot_id = Some(slot.id());
    let p = P11Crypto::new(&cfg).unwrap();
    assert_eq!(p.token().library(), support::module().as_path());
    let k = kek(&p, "slot-project");
    let enc = p
        .encrypt(&k, b"by slot", binding("slot-project", "s"))
        .unwrap();
    assert_eq!(
        plugin("coffer-unit")
            .decrypt(&k, &enc, binding("slot-project", "s"))
            .unwrap()
            .as_slice(),
        b"by slot"
    );

    cfg.slot_id = Some(u64::from(u32::MAX) - 7);
    match P11Crypto::new(&cfg) {
        Err(PluginError::Config(m)) => assert!(m.contains("no token in slot"), "{m}"),
        other => panic!("an empty slot gave {:?}", other.err()),
    }
}

#[test]
fn a_token_without_a_user_pin_cannot_be_logged_in_to() {
    softhsm(TOKENS);
    // An operator initialised a token (SO PIN only) but never set its user PIN.
    let ctx = p11_crypto::token::module(&support::module()).unwrap();
    let free = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| !ctx.get_token_info(*s).unwrap().token_initialized())
        .expect("SoftHSM2 offers a free slot");
    ctx.init_token(
        free,
        &cryptoki::types::AuthPin::from("5678"),
        "coffer-nopin",
    )
    .unwrap();
    let err = P11Crypto::new(&config("coffer-nopin"))
        .err()
        .expect("refused");
    match &err {
        PluginError::Unavailable(m) => {
            assert!(m.contains("cannot log in to the token"), "{m}");
            assert!(m.contains("UserPinNotInitialized"), "{m}");
        }
        other => panic!("a token without a user PIN gave {other:?}"),
    }
    assert!(
        !err.to_string().contains(support::PIN),
        "the PIN is never shown"
    );
}

#[test]
fn sessions_of_a_past_epoch_close_when_their_requests_end() {
    let p = plugin("coffer-epoch");
    let k = kek(&p, "epoch-project");
    let enc = p.encrypt(&k, b"e", binding("epoch-project", "s")).unwrap();
    // Two requests hold sessions while the login is lost and new sessions start.
    let first = p.token().session().unwrap();
    let second = p.token().session().unwrap();
    let before = p.token().epoch();
    let s = p.token().session().unwrap();
    s.logout().unwrap();
    drop(s);
    let binding_kek = plugin_api::KekBinding {
        project_id: "epoch-project",
        kek_id: "k2",
    };
    p.create_project_kek(binding_kek)
        .expect("retried in new sessions");
    let after = p.token().epoch();
    assert_eq!(after, before + 1);
    // A second report of the same lost epoch, or of nothing to recover, changes nothing.
    p.token().recover(before, Recovery::NewEpoch);
    p.token().recover(after, Recovery::None);
    assert_eq!(p.token().epoch(), after);
    // The old sessions go back (to be closed) one by one; requests carry on meanwhile.
    drop(first);
    assert_eq!(
        p.decrypt(&k, &enc, binding("epoch-project", "s"))
            .unwrap()
            .as_slice(),
        b"e"
    );
    drop(second);
    assert_eq!(
        p.decrypt(&k, &enc, binding("epoch-project", "s"))
            .unwrap()
            .as_slice(),
        b"e"
    );
    assert_eq!(p.name(), "p11_crypto");
}

#[test]
fn the_registered_factory_builds_the_plugin() {
    softhsm(TOKENS);
    let d = plugin_api::registry::find(plugin_api::Namespace::Crypto, "p11_crypto").unwrap();
    assert_eq!(d.status, plugin_api::PluginStatus::Stable);
    let plugin_api::Factory::Crypto(build) = d.factory else {
        panic!("not a crypto factory");
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "library": support::module(),
        "token_label": "coffer-unit",
        "pin": support::PIN,
    });
    let ctx = |config| unit_context(config, dir.path());
    let p = build(&ctx(&cfg)).unwrap();
    assert_eq!(p.name(), "p11_crypto");
    let not_a_path = serde_json::json!({"library": 1});
    assert!(matches!(
        build(&ctx(&not_a_path)),
        Err(PluginError::Config(_))
    ));
    let mut no_pin = cfg.clone();
    no_pin["pin"] = serde_json::Value::Null;
    assert!(matches!(build(&ctx(&no_pin)), Err(PluginError::Config(_))));
}

#[test]
fn an_evicted_kek_already_gone_from_the_token_costs_no_request() {
    softhsm(TOKENS);
    let mut cfg = config("coffer-evict");
    cfg.kek_cache_size = 1;
    let p = P11Crypto::new(&cfg).unwrap();
    let a = kek(&p, "evict-a");
    let b = kek(&p, "evict-b");
    let ea = p.encrypt(&a, b"a", binding("evict-a", "s")).unwrap();
    // Another part of the application destroys every session key it can see on this token,
    // the cached project KEK among them.
    {
        let s = p.token().session().unwrap();
        let session_keys = s
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Token(false),
            ])
            .unwrap();
        assert!(
            !session_keys.is_empty(),
            "the cached KEK is a session object"
        );
        for h in session_keys {
            s.destroy_object(h).unwrap();
        }
    }
    let before = p.unwrap_count();
    // B pushes A out of the cache; destroying A's object fails, which is only logged.
    let eb = p.encrypt(&b, b"b", binding("evict-b", "s")).unwrap();
    assert_eq!(p.unwrap_count(), before + 1);
    assert_eq!(
        p.decrypt(&a, &ea, binding("evict-a", "s"))
            .unwrap()
            .as_slice(),
        b"a"
    );
    assert_eq!(
        p.decrypt(&b, &eb, binding("evict-b", "s"))
            .unwrap()
            .as_slice(),
        b"b"
    );
    assert_eq!(p.unwrap_count(), before + 3, "each KEK unwrapped again");
}

#[test]
fn the_declared_operator_commands_run_on_the_token() {
    softhsm(TOKENS);
    let d = plugin_api::registry::find(plugin_api::Namespace::Crypto, "p11_crypto").unwrap();
    let group = d
        .capabilities
        .commands
        .expect("p11_crypto declares operator commands");
    assert_eq!(group.name, "hsm");
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "library": support::module(),
        "token_label": "coffer-unit",
        "pin": support::PIN,
    });
    let run = |config: &serde_json::Value, name: &str, given: &[(&str, &str)]| {
        let c = group
            .commands
            .iter()
            .find(|c| c.name == name)
            .expect("a declared command");
        let mut values: std::collections::BTreeMap<String, String> = c
            .options
            .iter()
            .filter_map(|o| Some((o.name.to_owned(), o.default?.to_owned())))
            .collect();
        for (k, v) in given {
            values.insert((*k).to_owned(), (*v).to_owned());
        }
        (c.run)(
            &unit_context(config, dir.path()),
            &plugin_api::CommandArgs::new(values),
        )
    };
    let out = run(&cfg, "gen-mkek", &[("label", "cmd-mkek")]).unwrap();
    assert_eq!(out, "created master KEK 'cmd-mkek' (32 bytes) in the token");
    let out = run(&cfg, "gen-hmac", &[("label", "cmd-hmac"), ("length", "48")]).unwrap();
    assert_eq!(out, "created HMAC key 'cmd-hmac' (48 bytes) in the token");
    for (name, label) in [("check-mkek", "cmd-mkek"), ("check-hmac", "cmd-hmac")] {
        let out = run(&cfg, name, &[("label", label)]).unwrap();
        assert!(out.contains("usable"), "{name}: {out}");
    }
    // Without --label: the configured labels (the plugin built on this token has them).
    build_checked(&unit_context(&cfg, dir.path()));
    for name in ["check-mkek", "check-hmac"] {
        assert!(run(&cfg, name, &[]).is_ok(), "{name}");
    }
    let err = run(&cfg, "gen-mkek", &[("label", "x"), ("length", "many")]).unwrap_err();
    assert!(
        err.to_string().contains("--length must be a number"),
        "{err}"
    );
    let bad = serde_json::json!({"library": 1});
    for name in ["gen-mkek", "check-hmac"] {
        assert!(matches!(run(&bad, name, &[]), Err(PluginError::Config(_))));
    }
}

/// Build the plugin through its registered factory (creating nothing; it checks the keys).
fn build_checked(ctx: &plugin_api::PluginContext<'_>) {
    let d = plugin_api::registry::find(plugin_api::Namespace::Crypto, "p11_crypto")
        .expect("registered");
    let plugin_api::Factory::Crypto(build) = d.factory else {
        panic!("not a crypto factory");
    };
    build(ctx).expect("the plugin builds on the token");
}

/// The context the core gives the plugin of store `hsm`, with these settings.
fn unit_context<'a>(
    config: &'a serde_json::Value,
    data_dir: &'a std::path::Path,
) -> plugin_api::PluginContext<'a> {
    plugin_api::PluginContext {
        metrics: plugin_api::Metrics::discarding(),
        instance: "hsm",
        config,
        data_dir,
        profile: plugin_api::Profile::Production,
    }
}
