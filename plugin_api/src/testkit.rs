//! Test support for plugin authors (feature `testkit`):
//!
//! * [`MemoryKeks`], an in-memory [`KekResolver`] standing in for the core;
//! * [`MemoryStore`], an `experimental` in-memory secret store registered as `memory`, which
//!   the core's tests use to exercise the status policy;
//! * conformance suites, [`crypto_conformance`] and [`store_conformance`], that every crypto
//!   and store plugin crate runs against its own implementation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use zeroize::Zeroizing;

use crate::{
    Binding, CryptoPlugin, Encrypted, Factory, GeneratedKeyPairMetadata, KekBinding, KekResolver,
    KeyPairTargets, KeySpec, PluginContext, PluginDescriptor, PluginError, PluginStatus,
    ProjectKek, SecretDto, SecretStore, SecretType, StoreContext, StoreFactoryInput, StoreMetadata,
    SupportKind,
};

/// An in-memory KEK table for one project, as the core would keep it.
pub struct MemoryKeks {
    project_id: String,
    keks: Mutex<Vec<ProjectKek>>,
}

impl MemoryKeks {
    pub fn new(project_id: &str) -> Self {
        MemoryKeks {
            project_id: project_id.to_owned(),
            keks: Mutex::new(Vec::new()),
        }
    }

    /// Every KEK created so far.
    pub fn all(&self) -> Vec<ProjectKek> {
        self.keks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replace a stored KEK (to simulate tampering or rewrapping).
    pub fn replace(&self, kek: ProjectKek) {
        let mut keks = self.keks.lock().unwrap_or_else(PoisonError::into_inner);
        keks.retain(|k| k.id != kek.id);
        keks.insert(0, kek);
    }
}

impl KekResolver for MemoryKeks {
    fn active_kek(&self, crypto: &dyn CryptoPlugin) -> Result<ProjectKek, PluginError> {
        let mut keks = self.keks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = keks.first() {
            return Ok(k.clone());
        }
        let id = format!("kek-{}", keks.len() + 1);
        let wrapped = crypto.create_project_kek(KekBinding {
            kek_id: &id,
            project_id: &self.project_id,
        })?;
        let kek = ProjectKek {
            id,
            project_id: self.project_id.clone(),
            wrapped,
        };
        keks.push(kek.clone());
        Ok(kek)
    }

    fn kek_by_id(&self, kek_id: &str) -> Result<ProjectKek, PluginError> {
        self.keks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|k| k.id == kek_id)
            .cloned()
            .ok_or_else(|| PluginError::NotFound(format!("project KEK {kek_id}")))
    }
}

/// An experimental store that keeps payloads in process memory. For tests only: nothing
/// survives a restart.
#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<HashMap<String, MemoryItem>>,
    /// Settings `{"fail_deletes": true}`: every delete fails as a backend that is down would
    /// (for tests of what the core does then).
    fail_deletes: bool,
}

/// What the memory store keeps per secret: type, payload, content type.
type MemoryItem = (SecretType, Zeroizing<Vec<u8>>, String);

fn build_memory_store(
    ctx: &PluginContext<'_>,
    _crypto: StoreFactoryInput,
) -> Result<Arc<dyn SecretStore>, PluginError> {
    let fail_deletes = ctx
        .config
        .get("fail_deletes")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    Ok(Arc::new(MemoryStore {
        fail_deletes,
        ..MemoryStore::default()
    }))
}

crate::register_plugin!(PluginDescriptor {
    name: "memory",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Experimental,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "in-memory store for tests (nothing persists)",
    factory: Factory::Store(build_memory_store),
    capabilities: crate::Capabilities::NONE,
});

impl MemoryStore {
    fn put(&self, ctx: StoreContext<'_>, t: SecretType, bytes: &[u8], ct: &str) -> StoreMetadata {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                ctx.secret_id.to_owned(),
                (t, Zeroizing::new(bytes.to_vec()), ct.to_owned()),
            );
        StoreMetadata::from([("memory_key".to_owned(), ctx.secret_id.to_owned())])
    }
}

impl SecretStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn store_secret(
        &self,
        ctx: StoreContext<'_>,
        secret: &SecretDto,
    ) -> Result<StoreMetadata, PluginError> {
        Ok(self.put(
            ctx,
            secret.secret_type,
            &secret.payload,
            &secret.content_type,
        ))
    }

    fn get_secret(
        &self,
        _ctx: StoreContext<'_>,
        _secret_type: SecretType,
        metadata: &StoreMetadata,
    ) -> Result<SecretDto, PluginError> {
        let key = metadata
            .get("memory_key")
            .ok_or_else(|| PluginError::InvalidInput("no memory_key in metadata".into()))?;
        let items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        let (t, bytes, ct) = items
            .get(key)
            .ok_or_else(|| PluginError::NotFound(format!("memory item {key}")))?;
        Ok(SecretDto {
            secret_type: *t,
            payload: bytes.clone(),
            content_type: ct.clone(),
            key_spec: KeySpec::default(),
        })
    }

    fn delete_secret(
        &self,
        _ctx: StoreContext<'_>,
        metadata: &StoreMetadata,
    ) -> Result<(), PluginError> {
        if self.fail_deletes {
            return Err(PluginError::Unavailable(
                "deletes fail (fail_deletes)".into(),
            ));
        }
        if let Some(key) = metadata.get("memory_key") {
            self.items
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(key);
        }
        Ok(())
    }

    fn generate_symmetric_key(
        &self,
        _ctx: StoreContext<'_>,
        spec: &KeySpec,
    ) -> Result<StoreMetadata, PluginError> {
        Err(PluginError::Unsupported(format!(
            "the memory store generates no keys ({spec:?})"
        )))
    }

    fn generate_asymmetric_key(
        &self,
        _targets: KeyPairTargets<'_>,
        spec: &KeySpec,
    ) -> Result<GeneratedKeyPairMetadata, PluginError> {
        Err(PluginError::Unsupported(format!(
            "the memory store generates no keys ({spec:?})"
        )))
    }

    fn store_secret_supports(&self, _spec: &KeySpec) -> bool {
        true
    }

    fn generate_supports(&self, _spec: &KeySpec) -> bool {
        false
    }
}

fn binding<'a>(project_id: &'a str, secret_id: &'a str) -> Binding<'a> {
    Binding {
        project_id,
        secret_id,
    }
}

/// The conformance suite for crypto plugins. Panics (with a message naming the property) on
/// the first violation. The plugin must support `EncryptDecrypt`.
pub fn crypto_conformance(plugin: &dyn CryptoPlugin) {
    let keks = MemoryKeks::new("project-a");
    let kek = keks
        .active_kek(plugin)
        .expect("create_project_kek must succeed");
    assert!(plugin.supports(SupportKind::EncryptDecrypt, &KeySpec::default()));

    // Round trip, for empty-ish and large payloads.
    for payload in [
        &b"x"[..],
        b"hello world",
        &[0u8; 4096][..],
        &[0xffu8; 20000][..],
    ] {
        let enc = plugin
            .encrypt(&kek, payload, binding("project-a", "s1"))
            .expect("encrypt must succeed");
        assert_ne!(
            enc.ciphertext.as_slice(),
            payload,
            "ciphertext equals plaintext"
        );
        let dec = plugin
            .decrypt(&kek, &enc, binding("project-a", "s1"))
            .expect("decrypt of fresh ciphertext must succeed");
        assert_eq!(dec.as_slice(), payload, "round trip changed the payload");
    }

    // Two encryptions of the same payload differ (fresh nonce / IV).
    let a = plugin
        .encrypt(&kek, b"same", binding("project-a", "s1"))
        .expect("encrypt");
    let b = plugin
        .encrypt(&kek, b"same", binding("project-a", "s1"))
        .expect("encrypt");
    assert_ne!(a.ciphertext, b.ciphertext, "encryption is deterministic");

    // Binding: another secret id or project must not decrypt.
    for (p, s) in [("project-a", "s2"), ("project-b", "s1")] {
        match plugin.decrypt(&kek, &a, binding(p, s)) {
            Err(PluginError::Integrity(_)) => {}
            other => panic!("ciphertext moved to ({p}, {s}) gave {other:?}, want Integrity"),
        }
    }

    // Tampering with any byte of the ciphertext is detected.
    for i in [0, a.ciphertext.len() / 2, a.ciphertext.len() - 1] {
        let mut bad = a.clone();
        bad.ciphertext[i] ^= 0x01;
        match plugin.decrypt(&kek, &bad, binding("project-a", "s1")) {
            Err(PluginError::Integrity(_)) => {}
            other => panic!("ciphertext with byte {i} flipped gave {other:?}, want Integrity"),
        }
    }
    let truncated = Encrypted {
        ciphertext: a.ciphertext[..3.min(a.ciphertext.len())].to_vec(),
        extended_meta: a.extended_meta.clone(),
    };
    assert!(
        matches!(
            plugin.decrypt(&kek, &truncated, binding("project-a", "s1")),
            Err(PluginError::Integrity(_))
        ),
        "truncated ciphertext must fail with Integrity"
    );

    // Tampering with the wrapped KEK is detected.
    let mut bad_kek = kek.clone();
    let last = bad_kek.wrapped.wrapped.len() - 1;
    bad_kek.wrapped.wrapped[last] ^= 0x80;
    match plugin.decrypt(&bad_kek, &a, binding("project-a", "s1")) {
        Err(PluginError::Integrity(_)) => {}
        other => panic!("tampered wrapped KEK gave {other:?}, want Integrity"),
    }

    // A wrapped KEK copied into another project's row does not unwrap.
    let mut moved_kek = kek.clone();
    moved_kek.project_id = "project-b".into();
    assert!(
        plugin
            .encrypt(&moved_kek, b"x", binding("project-b", "s1"))
            .is_err(),
        "a KEK moved to another project must not unwrap"
    );

    // Rewrapping keeps ciphertext readable.
    if let Some(rewrapped) = plugin.rewrap_project_kek(&kek).expect("rewrap") {
        let new_kek = ProjectKek {
            wrapped: rewrapped,
            ..kek.clone()
        };
        let dec = plugin
            .decrypt(&new_kek, &a, binding("project-a", "s1"))
            .expect("decrypt under a rewrapped KEK");
        assert_eq!(dec.as_slice(), b"same");
    }

    // Symmetric generation gives keys of the asked length, different each time.
    for bits in [128u32, 192, 256] {
        let spec = KeySpec::new("aes", bits);
        if plugin.supports(SupportKind::SymmetricKeyGeneration, &spec) {
            let k1 = plugin
                .generate_symmetric(&spec)
                .expect("generate_symmetric");
            let k2 = plugin
                .generate_symmetric(&spec)
                .expect("generate_symmetric");
            assert_eq!(k1.len() * 8, bits as usize, "generated key length");
            assert_ne!(k1.as_slice(), k2.as_slice(), "generated keys repeat");
        }
    }
    let odd = KeySpec::new("aes", 100);
    assert!(!plugin.supports(SupportKind::SymmetricKeyGeneration, &odd));
    assert!(matches!(
        plugin.generate_symmetric(&odd),
        Err(PluginError::Unsupported(_))
    ));
    let unknown = KeySpec::new("rot13", 128);
    assert!(!plugin.supports(SupportKind::SymmetricKeyGeneration, &unknown));
}

/// The conformance suite for secret stores. `store` must support storing opaque secrets.
pub fn store_conformance(store: &dyn SecretStore) {
    let keks = MemoryKeks::new("project-a");
    let ctx = StoreContext {
        project_id: "project-a",
        secret_id: "secret-1",
        keks: &keks,
    };
    let spec = KeySpec::default();
    assert!(store.store_secret_supports(&spec));
    for (payload, ct) in [
        (&b"hello"[..], "text/plain"),
        (&[0u8, 159, 146, 150][..], "application/octet-stream"),
    ] {
        let dto = SecretDto {
            secret_type: SecretType::Opaque,
            payload: Zeroizing::new(payload.to_vec()),
            content_type: ct.to_owned(),
            key_spec: spec.clone(),
        };
        let meta = store.store_secret(ctx, &dto).expect("store_secret");
        let back = store
            .get_secret(ctx, SecretType::Opaque, &meta)
            .expect("get_secret");
        assert_eq!(back.payload.as_slice(), payload, "stored payload changed");
        store.delete_secret(ctx, &meta).expect("delete_secret");
        store
            .delete_secret(ctx, &meta)
            .expect("deleting twice must succeed");
    }
    let aes = KeySpec::new("aes", 256);
    if store.generate_supports(&aes) {
        let meta = store.generate_symmetric_key(ctx, &aes).expect("generate");
        let key = store
            .get_secret(ctx, SecretType::Symmetric, &meta)
            .expect("get generated key");
        assert_eq!(key.payload.len(), 32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_passes_the_store_conformance_suite() {
        store_conformance(&MemoryStore::default());
    }

    #[test]
    fn memory_store_is_registered_as_experimental() {
        let d = crate::registry::find(crate::Namespace::Store, "memory").expect("registered");
        assert_eq!(d.status, PluginStatus::Experimental);
    }
}
