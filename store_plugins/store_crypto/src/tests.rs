use std::path::Path;

use plugin_api::testkit::{store_conformance, MemoryKeks};
use plugin_api::Profile;
use simple_crypto::SimpleCrypto;
use zeroize::Zeroizing;

use super::*;

fn crypto() -> Arc<dyn CryptoPlugin> {
    let key = [7u8; 32];
    Arc::new(SimpleCrypto::new(&[("k".to_owned(), &key)], "k", 16).unwrap())
}

fn store() -> StoreCrypto {
    StoreCrypto::new(crypto())
}

fn ctx<'a>(keks: &'a MemoryKeks, secret_id: &'a str) -> StoreContext<'a> {
    StoreContext {
        project_id: "proj",
        secret_id,
        keks,
    }
}

fn dto(payload: &[u8]) -> SecretDto {
    SecretDto {
        secret_type: SecretType::Opaque,
        payload: Zeroizing::new(payload.to_vec()),
        content_type: "application/octet-stream".into(),
        key_spec: KeySpec::default(),
    }
}

#[test]
fn passes_the_store_conformance_suite() {
    store_conformance(&store());
}

#[test]
fn metadata_holds_ciphertext_not_plaintext() {
    let keks = MemoryKeks::new("proj");
    let s = store();
    let meta = s
        .store_secret(ctx(&keks, "s1"), &dto(b"plaintext!"))
        .unwrap();
    assert_eq!(meta[META_PLUGIN], "simple_crypto");
    assert_eq!(meta[META_KEK], keks.all()[0].id);
    assert!(!meta.values().any(|v| v.contains("plaintext")));
    let back = s
        .get_secret(ctx(&keks, "s1"), SecretType::Opaque, &meta)
        .unwrap();
    assert_eq!(back.payload.as_slice(), b"plaintext!");
    assert_eq!(back.secret_type, SecretType::Opaque);
}

#[test]
fn metadata_moved_to_another_secret_does_not_decrypt() {
    let keks = MemoryKeks::new("proj");
    let s = store();
    let meta = s.store_secret(ctx(&keks, "s1"), &dto(b"x")).unwrap();
    let err = s
        .get_secret(ctx(&keks, "s2"), SecretType::Opaque, &meta)
        .unwrap_err();
    assert!(matches!(err, PluginError::Integrity(_)), "{err:?}");
}

#[test]
fn bad_metadata_is_reported() {
    let keks = MemoryKeks::new("proj");
    let s = store();
    let good = s.store_secret(ctx(&keks, "s1"), &dto(b"x")).unwrap();
    let get = |m: &StoreMetadata| s.get_secret(ctx(&keks, "s1"), SecretType::Opaque, m);

    let mut m = good.clone();
    m.remove(META_KEK);
    assert!(matches!(get(&m), Err(PluginError::Integrity(e)) if e.contains("kek_id")));

    let mut m = good.clone();
    m.insert(META_PLUGIN.into(), "p11_crypto".into());
    assert!(matches!(get(&m), Err(PluginError::Integrity(e)) if e.contains("p11_crypto")));

    let mut m = good.clone();
    m.insert(META_CIPHERTEXT.into(), "%%%".into());
    assert!(matches!(get(&m), Err(PluginError::Integrity(_))));

    let mut m = good.clone();
    m.insert(META_KEK.into(), "no-such-kek".into());
    assert!(matches!(get(&m), Err(PluginError::NotFound(_))));

    let mut m = good;
    m.insert(META_CRYPTO.into(), "extra".into());
    assert!(get(&m).is_ok(), "simple_crypto ignores extended metadata");
}

/// A crypto plugin that, like an HSM plugin recording its mechanism, returns per-secret
/// metadata from `encrypt` and requires it back on `decrypt`. Delegates the crypto itself.
struct WithExtendedMeta(Arc<dyn CryptoPlugin>);

impl CryptoPlugin for WithExtendedMeta {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn create_project_kek(
        &self,
        binding: plugin_api::KekBinding<'_>,
    ) -> Result<plugin_api::WrappedKek, PluginError> {
        self.0.create_project_kek(binding)
    }
    fn rewrap_project_kek(
        &self,
        kek: &plugin_api::ProjectKek,
    ) -> Result<Option<plugin_api::WrappedKek>, PluginError> {
        self.0.rewrap_project_kek(kek)
    }
    fn encrypt(
        &self,
        kek: &plugin_api::ProjectKek,
        plaintext: &[u8],
        binding: Binding<'_>,
    ) -> Result<Encrypted, PluginError> {
        let mut enc = self.0.encrypt(kek, plaintext, binding)?;
        enc.extended_meta = Some("mechanism=test-v1".into());
        Ok(enc)
    }
    fn decrypt(
        &self,
        kek: &plugin_api::ProjectKek,
        encrypted: &Encrypted,
        binding: Binding<'_>,
    ) -> Result<plugin_api::SecretBytes, PluginError> {
        if encrypted.extended_meta.as_deref() != Some("mechanism=test-v1") {
            return Err(PluginError::Integrity(format!(
                "unexpected extended metadata {:?}",
                encrypted.extended_meta
            )));
        }
        self.0.decrypt(kek, encrypted, binding)
    }
    fn generate_symmetric(&self, spec: &KeySpec) -> Result<plugin_api::SecretBytes, PluginError> {
        self.0.generate_symmetric(spec)
    }
    fn generate_asymmetric(
        &self,
        spec: &KeySpec,
    ) -> Result<plugin_api::GeneratedKeyPair, PluginError> {
        self.0.generate_asymmetric(spec)
    }
    fn supports(&self, kind: SupportKind, spec: &KeySpec) -> bool {
        self.0.supports(kind, spec)
    }
}

#[test]
fn keeps_the_crypto_plugins_extended_metadata_and_hands_it_back() {
    let keks = MemoryKeks::new("proj");
    let s = StoreCrypto::new(Arc::new(WithExtendedMeta(crypto())));
    let meta = s.store_secret(ctx(&keks, "s1"), &dto(b"payload")).unwrap();
    assert_eq!(meta[META_CRYPTO], "mechanism=test-v1");
    let back = s
        .get_secret(ctx(&keks, "s1"), SecretType::Opaque, &meta)
        .unwrap();
    assert_eq!(back.payload.as_slice(), b"payload");

    // Without it the plugin gets None and refuses.
    let mut m = meta;
    m.remove(META_CRYPTO);
    let err = s
        .get_secret(ctx(&keks, "s1"), SecretType::Opaque, &m)
        .unwrap_err();
    assert!(err.to_string().contains("None"), "{err}");
}

#[test]
fn generates_symmetric_keys_through_the_crypto_plugin() {
    let keks = MemoryKeks::new("proj");
    let s = store();
    let spec = KeySpec::new("aes", 256);
    assert!(s.generate_supports(&spec));
    let meta = s.generate_symmetric_key(ctx(&keks, "k1"), &spec).unwrap();
    let key = s
        .get_secret(ctx(&keks, "k1"), SecretType::Symmetric, &meta)
        .unwrap();
    assert_eq!(key.payload.len(), 32);
    assert!(!s.generate_supports(&KeySpec::new("aes", 100)));
    assert!(matches!(
        s.generate_symmetric_key(ctx(&keks, "k2"), &KeySpec::new("aes", 100)),
        Err(PluginError::Unsupported(_))
    ));
}

#[test]
fn generates_key_pairs_into_three_secrets() {
    let keks = MemoryKeks::new("proj");
    let s = store();
    let mut spec = KeySpec::new("rsa", 2048);
    spec.passphrase = Some(Zeroizing::new("pw".into()));
    assert!(s.generate_supports(&spec));
    let targets = KeyPairTargets {
        private_key: ctx(&keks, "priv"),
        public_key: ctx(&keks, "pub"),
        passphrase: Some(ctx(&keks, "pass")),
    };
    let meta = s.generate_asymmetric_key(targets, &spec).unwrap();
    let private = s
        .get_secret(ctx(&keks, "priv"), SecretType::Private, &meta.private_key)
        .unwrap();
    assert!(private
        .payload
        .starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let public = s
        .get_secret(ctx(&keks, "pub"), SecretType::Public, &meta.public_key)
        .unwrap();
    assert!(public.payload.starts_with(b"-----BEGIN PUBLIC KEY-----"));
    let pass = s
        .get_secret(
            ctx(&keks, "pass"),
            SecretType::Passphrase,
            meta.passphrase.as_ref().unwrap(),
        )
        .unwrap();
    assert_eq!(pass.payload.as_slice(), b"pw");

    // Without a passphrase target the passphrase is only used, not stored.
    let no_target = KeyPairTargets {
        passphrase: None,
        ..targets
    };
    assert!(s
        .generate_asymmetric_key(no_target, &spec)
        .unwrap()
        .passphrase
        .is_none());
    // A passphrase target without a passphrase is refused.
    assert!(matches!(
        s.generate_asymmetric_key(targets, &KeySpec::new("rsa", 2048)),
        Err(PluginError::InvalidInput(_))
    ));
}

#[test]
fn factory_needs_a_crypto_plugin_and_no_settings() {
    let dir = Path::new("/nonexistent");
    let empty = serde_json::json!({});
    let null = serde_json::Value::Null;
    let some = serde_json::json!({"x": 1});
    let c = |config| PluginContext {
        metrics: plugin_api::Metrics::discarding(),
        instance: "software",
        config,
        data_dir: dir,
        profile: Profile::Dev,
    };
    let err = build(&c(&empty), None).err().unwrap();
    assert!(err.to_string().contains("needs a crypto_plugin"), "{err}");
    assert!(build(&c(&empty), Some(crypto())).is_ok());
    assert!(build(&c(&null), Some(crypto())).is_ok());
    let err = build(&c(&some), Some(crypto())).err().unwrap();
    assert!(err.to_string().contains("takes no settings"), "{err}");
    let store = build(&c(&empty), Some(crypto())).unwrap();
    assert_eq!(store.name(), "store_crypto");
    assert!(store
        .delete_secret(ctx(&MemoryKeks::new("proj"), "s"), &StoreMetadata::new())
        .is_ok());
}

#[test]
fn registered_as_stable_store_plugin() {
    let d = plugin_api::registry::find(plugin_api::Namespace::Store, "store_crypto").unwrap();
    assert_eq!(d.status, PluginStatus::Stable);
}
