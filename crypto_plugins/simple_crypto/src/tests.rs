use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

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
        metrics: plugin_api::Metrics::discarding(),
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
    for alg in support::HMAC_ALGORITHMS {
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
        (
            serde_json::json!({"master_keys": [{"id": "", "key": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="}]}),
            "a master key has an empty id",
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
    assert_eq!(plugin(&[("k1", &K1)], "k1").name(), "simple_crypto");
}

#[test]
fn an_active_key_that_is_not_configured_is_refused() {
    let err = SimpleCrypto::new(&[("k1".to_owned(), &K1)], "k2", 16)
        .err()
        .expect("must fail");
    assert!(
        matches!(&err, PluginError::Config(m) if m == "active master key 'k2' is not configured"),
        "{err:?}"
    );
}

#[test]
fn a_wrapped_kek_of_the_wrong_length_is_refused() {
    // It authenticates (right master key, right binding) but is no AES-256 key.
    let p = plugin(&[("k1", &K1)], "k1");
    let binding = KekBinding {
        kek_id: "kek-1",
        project_id: "proj",
    };
    let kek = ProjectKek {
        id: "kek-1".into(),
        project_id: "proj".into(),
        wrapped: p.wrap(&[7u8; 16], binding).unwrap(),
    };
    let errors = [
        p.encrypt(&kek, b"x", bind("proj", "s")).unwrap_err(),
        p.rewrap_project_kek(&kek).unwrap_err(),
    ];
    for err in errors {
        assert!(
            matches!(&err, PluginError::Integrity(m) if m == "project KEK kek-1 has a bad length"),
            "{err:?}"
        );
    }
}

#[test]
fn xts_keys_are_two_aes_128_or_two_aes_256_keys() {
    let p = plugin(&[("k1", &K1)], "k1");
    let xts = |bits| {
        let mut spec = KeySpec::new("aes", bits);
        spec.mode = Some("xts".into());
        spec
    };
    assert_eq!(p.generate_symmetric(&xts(256)).unwrap().len(), 32);
    assert_eq!(p.generate_symmetric(&xts(512)).unwrap().len(), 64);
    for bits in [128, 192, 384] {
        assert!(matches!(
            p.generate_symmetric(&xts(bits)),
            Err(PluginError::Unsupported(_))
        ));
    }
}

#[test]
fn the_rsa_random_source_fills_whole_words() {
    use rand_core::TryRng;

    let system = SystemRandom::new();
    let mut rng = RingRng(&system);
    let (mut any32, mut all32) = (0u32, u32::MAX);
    let (mut any64, mut all64) = (0u64, u64::MAX);
    for _ in 0..64 {
        let a = rng.try_next_u32().unwrap();
        let b = rng.try_next_u64().unwrap();
        (any32, all32) = (any32 | a, all32 & a);
        (any64, all64) = (any64 | b, all64 & b);
    }
    // Over 64 draws every bit of every byte is seen both set and clear.
    assert_eq!((any32, all32), (u32::MAX, 0));
    assert_eq!((any64, all64), (u64::MAX, 0));
}

#[test]
fn a_random_source_failure_says_so() {
    let err: Box<dyn std::error::Error> = Box::new(RandomFailure);
    assert_eq!(err.to_string(), "system random source failed");
}

#[test]
fn master_key_file_shortcut() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("master.key");
    std::fs::write(
        &file,
        base64::engine::general_purpose::STANDARD.encode(K2) + "\n",
    )
    .unwrap();
    let cfg = serde_json::json!({"master_key_file": file, "master_key_id": "main"});
    let p = build(&ctx(&cfg, dir.path(), Profile::Production)).unwrap();
    let keks = MemoryKeks::new("proj");
    let kek = keks.active_kek(p.as_ref()).unwrap();
    assert_eq!(kek.wrapped.master_key_id, "main");
    let enc = p.encrypt(&kek, b"from file", bind("proj", "s")).unwrap();
    // The key read from the file is K2.
    let same = plugin(&[("main", &K2)], "main");
    assert_eq!(
        same.decrypt(&kek, &enc, bind("proj", "s"))
            .unwrap()
            .as_slice(),
        b"from file"
    );
}

#[test]
fn a_generated_key_that_cannot_be_written_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let cfg = serde_json::json!({});
    let err = build(&ctx(&cfg, &missing, Profile::Dev))
        .err()
        .expect("must fail");
    assert!(matches!(err, PluginError::Config(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("cannot write the generated master key to"),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

/// A subscriber that keeps each event's level and fields as text.
struct Capture(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={value:?}", field.name()));
            }
        }
        let mut line = Fields(event.metadata().level().to_string());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_generated_key_is_announced_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let cfg = serde_json::json!({});
    tracing::subscriber::with_default(Capture(logs.clone()), || {
        build(&ctx(&cfg, dir.path(), Profile::Dev)).unwrap();
    });
    let logs = logs.lock().unwrap();
    let path = dir.path().join(GENERATED_KEY_FILE);
    let warning = logs
        .iter()
        .find(|l| l.contains("GENERATED master KEK"))
        .unwrap_or_else(|| panic!("no warning in {logs:?}"));
    assert!(warning.starts_with("WARN "), "{warning}");
    assert!(warning.contains(" store=\"software\""), "{warning}");
    assert!(
        warning.contains(&format!(" key_file={}", path.display())),
        "{warning}"
    );
    // The key itself is never logged.
    let key = std::fs::read_to_string(&path).unwrap();
    assert!(!warning.contains(key.trim()), "{warning}");
}

#[test]
fn the_generated_master_key_is_declared_private() {
    let d = plugin_api::registry::find(plugin_api::Namespace::Crypto, "simple_crypto").unwrap();
    let files = d
        .capabilities
        .private_files
        .expect("declared private files");
    let dir = std::path::Path::new("/srv/coffer");
    assert_eq!(
        files(&serde_json::json!({}), dir),
        vec![("generated master key file", dir.join(GENERATED_KEY_FILE))]
    );
}
