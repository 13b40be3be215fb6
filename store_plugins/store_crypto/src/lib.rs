//! `store_crypto`: the secret store that encrypts through a crypto plugin and keeps the
//! ciphertext in Coffer's database (as the store metadata the core persists with each secret).
//!
//! Metadata it returns (all strings):
//! * `crypto_plugin` — the crypto plugin's name, checked on read;
//! * `kek_id` — the project KEK the payload is encrypted under;
//! * `ciphertext` — base64 of the crypto plugin's ciphertext;
//! * `crypto_meta` — the plugin's per-secret metadata, when it returns any.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use plugin_api::{
    Binding, CryptoPlugin, Encrypted, Factory, GeneratedKeyPairMetadata, KeyPairTargets, KeySpec,
    PluginContext, PluginDescriptor, PluginError, PluginStatus, SecretDto, SecretStore, SecretType,
    StoreContext, StoreFactoryInput, StoreMetadata, SupportKind,
};

const META_PLUGIN: &str = "crypto_plugin";
const META_KEK: &str = "kek_id";
const META_CIPHERTEXT: &str = "ciphertext";
const META_CRYPTO: &str = "crypto_meta";

plugin_api::register_plugin!(PluginDescriptor {
    name: "store_crypto",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "encrypts through a crypto plugin, keeps ciphertext in the database",
    factory: Factory::Store(build),
    capabilities: plugin_api::Capabilities::NONE,
});

fn build(
    ctx: &PluginContext<'_>,
    crypto: StoreFactoryInput,
) -> Result<Arc<dyn SecretStore>, PluginError> {
    let crypto = crypto.ok_or_else(|| {
        PluginError::Config(format!(
            "store '{}' uses store_crypto, which needs a crypto_plugin",
            ctx.instance
        ))
    })?;
    if !ctx.config.is_null() && ctx.config.as_object().is_some_and(|o| !o.is_empty()) {
        return Err(PluginError::Config(format!(
            "store_crypto takes no settings (store '{}')",
            ctx.instance
        )));
    }
    Ok(Arc::new(StoreCrypto::new(crypto)))
}

/// The store. Holds the crypto plugin it encrypts through.
pub struct StoreCrypto {
    crypto: Arc<dyn CryptoPlugin>,
}

impl StoreCrypto {
    pub fn new(crypto: Arc<dyn CryptoPlugin>) -> Self {
        StoreCrypto { crypto }
    }

    fn encrypt_into_metadata(
        &self,
        ctx: StoreContext<'_>,
        payload: &[u8],
    ) -> Result<StoreMetadata, PluginError> {
        let kek = ctx.keks.active_kek(self.crypto.as_ref())?;
        let enc = self.crypto.encrypt(
            &kek,
            payload,
            Binding {
                project_id: ctx.project_id,
                secret_id: ctx.secret_id,
            },
        )?;
        let mut meta = StoreMetadata::new();
        meta.insert(META_PLUGIN.into(), self.crypto.name().into());
        meta.insert(META_KEK.into(), kek.id);
        meta.insert(META_CIPHERTEXT.into(), STANDARD.encode(&enc.ciphertext));
        if let Some(extra) = enc.extended_meta {
            meta.insert(META_CRYPTO.into(), extra);
        }
        Ok(meta)
    }

    fn field<'m>(meta: &'m StoreMetadata, key: &str) -> Result<&'m str, PluginError> {
        meta.get(key)
            .map(String::as_str)
            .ok_or_else(|| PluginError::Integrity(format!("store metadata lacks '{key}'")))
    }
}

impl SecretStore for StoreCrypto {
    fn name(&self) -> &'static str {
        "store_crypto"
    }

    fn store_secret(
        &self,
        ctx: StoreContext<'_>,
        secret: &SecretDto,
    ) -> Result<StoreMetadata, PluginError> {
        self.encrypt_into_metadata(ctx, &secret.payload)
    }

    fn get_secret(
        &self,
        ctx: StoreContext<'_>,
        secret_type: SecretType,
        metadata: &StoreMetadata,
    ) -> Result<SecretDto, PluginError> {
        let plugin = Self::field(metadata, META_PLUGIN)?;
        if plugin != self.crypto.name() {
            return Err(PluginError::Integrity(format!(
                "secret was encrypted by crypto plugin '{plugin}', this store uses '{}'",
                self.crypto.name()
            )));
        }
        let kek = ctx.keks.kek_by_id(Self::field(metadata, META_KEK)?)?;
        let ciphertext = STANDARD
            .decode(Self::field(metadata, META_CIPHERTEXT)?)
            .map_err(|_| PluginError::Integrity("stored ciphertext is not valid base64".into()))?;
        let payload = self.crypto.decrypt(
            &kek,
            &Encrypted {
                ciphertext,
                extended_meta: metadata.get(META_CRYPTO).cloned(),
            },
            Binding {
                project_id: ctx.project_id,
                secret_id: ctx.secret_id,
            },
        )?;
        Ok(SecretDto {
            secret_type,
            payload,
            content_type: String::new(),
            key_spec: KeySpec::default(),
        })
    }

    fn delete_secret(
        &self,
        _ctx: StoreContext<'_>,
        _metadata: &StoreMetadata,
    ) -> Result<(), PluginError> {
        // The ciphertext lives in the metadata, which the core deletes with the secret row.
        Ok(())
    }

    fn generate_symmetric_key(
        &self,
        ctx: StoreContext<'_>,
        spec: &KeySpec,
    ) -> Result<StoreMetadata, PluginError> {
        let key = self.crypto.generate_symmetric(spec)?;
        self.encrypt_into_metadata(ctx, &key)
    }

    fn generate_asymmetric_key(
        &self,
        targets: KeyPairTargets<'_>,
        spec: &KeySpec,
    ) -> Result<GeneratedKeyPairMetadata, PluginError> {
        let pair = self.crypto.generate_asymmetric(spec)?;
        let passphrase = match (targets.passphrase, &pair.passphrase) {
            (Some(ctx), Some(p)) => Some(self.encrypt_into_metadata(ctx, p)?),
            // The caller keeps the passphrase elsewhere (or there is none).
            (None, _) => None,
            (Some(_), None) => {
                return Err(PluginError::InvalidInput(
                    "a passphrase target needs a passphrase in the key spec".into(),
                ))
            }
        };
        Ok(GeneratedKeyPairMetadata {
            private_key: self.encrypt_into_metadata(targets.private_key, &pair.private_key)?,
            public_key: self.encrypt_into_metadata(targets.public_key, &pair.public_key)?,
            passphrase,
        })
    }

    fn store_secret_supports(&self, spec: &KeySpec) -> bool {
        self.crypto.supports(SupportKind::EncryptDecrypt, spec)
    }

    fn generate_supports(&self, spec: &KeySpec) -> bool {
        self.crypto
            .supports(SupportKind::SymmetricKeyGeneration, spec)
            || self
                .crypto
                .supports(SupportKind::AsymmetricKeyGeneration, spec)
    }
}

#[cfg(test)]
mod tests;
