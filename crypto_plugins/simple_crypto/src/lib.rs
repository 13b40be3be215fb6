//! `simple_crypto`: software envelope encryption with AES-256-GCM.
//!
//! Key hierarchy: master KEK(s) from configuration → one random AES-256 KEK per project,
//! wrapped under the active master KEK (AES-256-GCM, bound to project and KEK id) and persisted
//! by the core → payloads encrypted under the project KEK (AES-256-GCM, fresh 96-bit nonce
//! from `ring`'s system random source, associated data binding the ciphertext to its project
//! and secret).
//!
//! Formats (version byte first, so they can evolve):
//! * wrapped project KEK: `0x01 ‖ nonce(12) ‖ AES-GCM(master, kek(32), aad=kek binding)`
//! * payload ciphertext: `0x01 ‖ nonce(12) ‖ AES-GCM(project KEK, payload, aad=secret binding)`
//!
//! Unwrapped project KEKs are cached (bounded, concurrent; key schedules zeroized on drop).

mod config;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use plugin_api::metrics::names;
use plugin_api::{
    Binding, Capabilities, CryptoPlugin, Encrypted, Factory, GeneratedKeyPair, KekBinding, KeySpec,
    Metrics, PluginContext, PluginDescriptor, PluginError, PluginStatus, ProjectKek, SecretBytes,
    SupportKind, WrappedKek,
};
use quick_cache::sync::Cache;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

pub use config::{MasterKeyConfig, SimpleCryptoConfig, GENERATED_KEY_FILE, GENERATED_KEY_ID};

use crypto_kit::envelope::{self, NONCE_LEN, TAG_LEN};
use crypto_kit::support;

const KEK_LEN: usize = 32;
const KEK_DOMAIN: &str = "coffer/simple_crypto/project-kek/v1";
const SECRET_DOMAIN: &str = "coffer/simple_crypto/secret/v1";

plugin_api::register_plugin!(PluginDescriptor {
    name: "simple_crypto",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "software AES-256-GCM envelope encryption (master KEK from config/env/file)",
    factory: Factory::Crypto(build),
    capabilities: Capabilities {
        private_files: Some(private_files),
        ..Capabilities::NONE
    },
});

/// The master key this plugin generates in the data directory when none is configured (dev).
fn private_files(_: &serde_json::Value, data_dir: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![(
        "generated master key file",
        data_dir.join(GENERATED_KEY_FILE),
    )]
}

fn build(ctx: &PluginContext<'_>) -> Result<Arc<dyn CryptoPlugin>, PluginError> {
    let cfg: SimpleCryptoConfig = ctx.parse_config()?;
    let plugin = SimpleCrypto::from_config(ctx, &cfg)?;
    Ok(Arc::new(plugin))
}

struct CachedKek {
    project_id: String,
    wrapped: Vec<u8>,
    cipher: Aes256Gcm,
}

/// The plugin. Cheap to share; every method may be called concurrently.
pub struct SimpleCrypto {
    master: HashMap<String, Aes256Gcm>,
    active: String,
    rng: SystemRandom,
    cache: Cache<String, Arc<CachedKek>>,
    metrics: Metrics,
}

impl SimpleCrypto {
    /// Build from a parsed configuration section (loads or, in dev, generates master keys).
    pub fn from_config(
        ctx: &PluginContext<'_>,
        cfg: &SimpleCryptoConfig,
    ) -> Result<Self, PluginError> {
        let loaded = cfg.load_keys(ctx)?;
        if let Some(path) = &loaded.generated {
            tracing::warn!(
                store = ctx.instance,
                key_file = %path.display(),
                "!!! simple_crypto is using a GENERATED master KEK stored next to the data. \
                 Anyone who can read the data directory can decrypt every secret. This is for \
                 development only: configure crypto.simple_crypto.master_key(s) and set \
                 profile = \"production\" for real use. !!!"
            );
        }
        let keys = loaded
            .keys
            .iter()
            .map(|k| (k.id.clone(), &*k.bytes))
            .collect::<Vec<_>>();
        Ok(Self::new(&keys, &loaded.active, cfg.kek_cache_size)?.reporting_to(ctx.metrics))
    }

    /// Report KEK cache hits and misses through `metrics` (both counted from zero).
    pub fn reporting_to(mut self, metrics: &Metrics) -> Self {
        for result in ["hit", "miss"] {
            metrics.count(names::KEK_CACHE, &[("result", result)], 0);
        }
        self.metrics = metrics.clone();
        self
    }

    /// Build from explicit master keys (id, 32 bytes); `active` wraps new project KEKs.
    pub fn new(
        master_keys: &[(String, &[u8; 32])],
        active: &str,
        cache_size: usize,
    ) -> Result<Self, PluginError> {
        let mut master = HashMap::new();
        for (id, bytes) in master_keys {
            // The key is 32 bytes by type: AES-256 accepts it as it is.
            master.insert(id.clone(), Aes256Gcm::new((*bytes).into()));
        }
        if !master.contains_key(active) {
            return Err(PluginError::Config(format!(
                "active master key '{active}' is not configured"
            )));
        }
        Ok(SimpleCrypto {
            master,
            active: active.to_owned(),
            rng: SystemRandom::new(),
            cache: Cache::new(cache_size.max(1)),
            metrics: Metrics::discard(),
        })
    }

    /// The id of the master key that wraps new project KEKs.
    pub fn active_master_key(&self) -> &str {
        &self.active
    }

    fn random<const N: usize>(&self) -> Result<Zeroizing<[u8; N]>, PluginError> {
        let mut out = Zeroizing::new([0u8; N]);
        self.rng
            .fill(out.as_mut())
            .map_err(|_| PluginError::Internal("system random source failed".into()))?;
        Ok(out)
    }

    /// `0x01 ‖ nonce ‖ ciphertext+tag` of `plaintext` under `cipher`.
    fn seal(
        &self,
        cipher: &Aes256Gcm,
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        let nonce_bytes = self.random::<NONCE_LEN>()?;
        let nonce = Nonce::from(*nonce_bytes);
        // Reserve the whole output up front: the buffer holds plaintext until it is encrypted
        // in place, and a reallocation would leave a plaintext copy behind in freed memory.
        let mut buf = Zeroizing::new(Vec::with_capacity(
            1 + NONCE_LEN + plaintext.len() + TAG_LEN,
        ));
        buf.extend_from_slice(plaintext);
        cipher
            .encrypt_in_place(&nonce, aad, &mut *buf)
            .map_err(|_| PluginError::Internal("AES-GCM encryption failed".into()))?;
        Ok(envelope::wrap(&nonce_bytes, &buf))
    }

    /// Inverse of `seal`; every failure is an integrity failure.
    fn open(
        &self,
        cipher: &Aes256Gcm,
        sealed: &[u8],
        aad: &[u8],
        what: &str,
    ) -> Result<SecretBytes, PluginError> {
        let (nonce_bytes, body) = envelope::unwrap(sealed, what)?;
        let nonce = Nonce::from(nonce_bytes);
        let mut buf = Zeroizing::new(body.to_vec());
        cipher
            .decrypt_in_place(&nonce, aad, &mut *buf)
            .map_err(|_| envelope::tampered(what))?;
        Ok(buf)
    }

    fn master_key(&self, id: &str, kek_id: &str) -> Result<&Aes256Gcm, PluginError> {
        self.master.get(id).ok_or_else(|| {
            let mut known: Vec<_> = self.master.keys().map(String::as_str).collect();
            known.sort_unstable();
            PluginError::KeyUnavailable(format!(
                "project KEK {kek_id} is wrapped by master key '{id}', which is not configured \
                 (configured: {})",
                known.join(", ")
            ))
        })
    }

    fn kek_aad(binding: KekBinding<'_>) -> Vec<u8> {
        Binding {
            project_id: binding.project_id,
            secret_id: binding.kek_id,
        }
        .associated_data(KEK_DOMAIN)
    }

    fn wrap(&self, kek: &[u8], binding: KekBinding<'_>) -> Result<WrappedKek, PluginError> {
        let master = self.master_key(&self.active, binding.kek_id)?;
        Ok(WrappedKek {
            wrapped: self.seal(master, kek, &Self::kek_aad(binding))?,
            master_key_id: self.active.clone(),
            plugin_meta: None,
        })
    }

    fn unwrap_raw(&self, kek: &ProjectKek) -> Result<SecretBytes, PluginError> {
        let master = self.master_key(&kek.wrapped.master_key_id, &kek.id)?;
        let raw = self.open(
            master,
            &kek.wrapped.wrapped,
            &Self::kek_aad(kek.binding()),
            &format!("wrapped project KEK {}", kek.id),
        )?;
        if raw.len() != KEK_LEN {
            return Err(PluginError::Integrity(format!(
                "project KEK {} has a bad length",
                kek.id
            )));
        }
        Ok(raw)
    }

    /// The project KEK's cipher, from the cache or unwrapped (once) and cached.
    fn project_cipher(&self, kek: &ProjectKek) -> Result<Arc<CachedKek>, PluginError> {
        if let Some(hit) = self.cache.get(&kek.id) {
            // Only a cached entry for exactly these stored bytes counts: a row changed in the
            // database (tampered, moved, rewrapped) is unwrapped and verified again.
            if hit.wrapped == kek.wrapped.wrapped && hit.project_id == kek.project_id {
                self.metrics
                    .count(names::KEK_CACHE, &[("result", "hit")], 1);
                return Ok(hit);
            }
        }
        self.metrics
            .count(names::KEK_CACHE, &[("result", "miss")], 1);
        let raw = self.unwrap_raw(kek)?;
        let cipher = Aes256Gcm::new_from_slice(&raw)
            .map_err(|_| PluginError::Integrity(format!("project KEK {} is unusable", kek.id)))?;
        let entry = Arc::new(CachedKek {
            project_id: kek.project_id.clone(),
            wrapped: kek.wrapped.wrapped.clone(),
            cipher,
        });
        self.cache.insert(kek.id.clone(), Arc::clone(&entry));
        Ok(entry)
    }
}

/// `ring`'s system random source as a `rand_core` RNG, for RSA key generation.
struct RingRng<'a>(&'a SystemRandom);

impl rand_core::TryRng for RingRng<'_> {
    type Error = RandomFailure;

    fn try_next_u32(&mut self) -> Result<u32, RandomFailure> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, RandomFailure> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), RandomFailure> {
        self.0.fill(dst).map_err(|_| RandomFailure)
    }
}

impl rand_core::TryCryptoRng for RingRng<'_> {}

#[derive(Debug)]
struct RandomFailure;

impl std::fmt::Display for RandomFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("system random source failed")
    }
}

impl std::error::Error for RandomFailure {}

impl CryptoPlugin for SimpleCrypto {
    fn name(&self) -> &'static str {
        "simple_crypto"
    }

    fn create_project_kek(&self, binding: KekBinding<'_>) -> Result<WrappedKek, PluginError> {
        let kek = self.random::<KEK_LEN>()?;
        self.wrap(kek.as_ref(), binding)
    }

    fn rewrap_project_kek(&self, kek: &ProjectKek) -> Result<Option<WrappedKek>, PluginError> {
        let raw = self.unwrap_raw(kek)?;
        if kek.wrapped.master_key_id == self.active {
            return Ok(None);
        }
        self.wrap(&raw, kek.binding()).map(Some)
    }

    fn encrypt(
        &self,
        kek: &ProjectKek,
        plaintext: &[u8],
        binding: Binding<'_>,
    ) -> Result<Encrypted, PluginError> {
        let entry = self.project_cipher(kek)?;
        let aad = binding.associated_data(SECRET_DOMAIN);
        let ciphertext = self.seal(&entry.cipher, plaintext, &aad)?;
        Ok(Encrypted {
            ciphertext,
            extended_meta: None,
        })
    }

    fn decrypt(
        &self,
        kek: &ProjectKek,
        encrypted: &Encrypted,
        binding: Binding<'_>,
    ) -> Result<SecretBytes, PluginError> {
        let entry = self.project_cipher(kek)?;
        self.open(
            &entry.cipher,
            &encrypted.ciphertext,
            &binding.associated_data(SECRET_DOMAIN),
            &format!("ciphertext of secret {}", binding.secret_id),
        )
    }

    fn generate_symmetric(&self, spec: &KeySpec) -> Result<SecretBytes, PluginError> {
        if !support::symmetric(spec) {
            return Err(PluginError::Unsupported(format!(
                "simple_crypto cannot generate a symmetric key for {spec:?}"
            )));
        }
        let len = spec.bit_length.unwrap_or(0) as usize / 8;
        let mut key = Zeroizing::new(vec![0u8; len]);
        self.rng
            .fill(&mut key)
            .map_err(|_| PluginError::Internal("system random source failed".into()))?;
        Ok(key)
    }

    fn generate_asymmetric(&self, spec: &KeySpec) -> Result<GeneratedKeyPair, PluginError> {
        if !support::asymmetric(spec) {
            return Err(PluginError::Unsupported(format!(
                "simple_crypto cannot generate a key pair for {spec:?}"
            )));
        }
        let bits = spec.bit_length.unwrap_or(0) as usize;
        let private = rsa::PrivateKey::new(&mut RingRng(&self.rng), bits)
            .map_err(|e| PluginError::Internal(format!("RSA generation failed: {e}")))?;
        crypto_kit::rsa_key_pair(&private, spec.passphrase.as_ref().map(|p| p.as_str()))
    }

    fn supports(&self, kind: SupportKind, spec: &KeySpec) -> bool {
        support::supports(kind, spec)
    }
}

#[cfg(test)]
mod tests;
