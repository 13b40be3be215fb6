//! Configuration of simple_crypto and loading of its master keys.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use plugin_api::{PluginContext, PluginError, Profile};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The id given to a master key generated in the data directory (dev profile only).
pub const GENERATED_KEY_ID: &str = "dev-generated";
/// The file name of that key, inside the data directory.
pub const GENERATED_KEY_FILE: &str = "simple_crypto_master.key";

/// `[crypto.simple_crypto]` (or a store's `crypto` table).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SimpleCryptoConfig {
    /// Every master KEK that may have wrapped a project KEK.
    #[serde(default)]
    pub master_keys: Vec<MasterKeyConfig>,
    /// Shortcut for one key given inline as base64 (for instance from
    /// `COFFER__CRYPTO__SIMPLE_CRYPTO__MASTER_KEY`). Zeroized when dropped, never in `Debug`.
    #[serde(default)]
    pub master_key: Option<SecretString>,
    /// Shortcut for one key read from a file (base64 text).
    #[serde(default)]
    pub master_key_file: Option<PathBuf>,
    /// The id of the shortcut key.
    #[serde(default = "default_key_id")]
    pub master_key_id: String,
    /// The id of the key that wraps new project KEKs; defaults to the first key listed.
    #[serde(default)]
    pub active_master_key: Option<String>,
    /// How many unwrapped project KEKs to keep in memory.
    #[serde(default = "default_cache_size")]
    pub kek_cache_size: usize,
}

fn default_key_id() -> String {
    "primary".to_owned()
}

fn default_cache_size() -> usize {
    4096
}

/// One master KEK: an id and exactly one source of 32 key bytes (base64).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterKeyConfig {
    pub id: String,
    /// The key inline (base64). Zeroized when dropped, never in `Debug`.
    #[serde(default)]
    pub key: Option<SecretString>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The name of an environment variable holding the key.
    #[serde(default)]
    pub key_env: Option<String>,
}

/// A loaded master key.
pub struct MasterKey {
    pub id: String,
    pub bytes: Zeroizing<[u8; 32]>,
}

/// The outcome of loading: the keys, which is active, and whether it was generated.
pub struct LoadedKeys {
    pub keys: Vec<MasterKey>,
    pub active: String,
    pub generated: Option<PathBuf>,
}

fn decode_key(id: &str, text: &str) -> Result<Zeroizing<[u8; 32]>, PluginError> {
    let raw = Zeroizing::new(
        STANDARD
            .decode(text.trim())
            .map_err(|_| PluginError::Config(format!("master key '{id}' is not valid base64")))?,
    );
    let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| {
        PluginError::Config(format!(
            "master key '{id}' must be 32 bytes (AES-256), got {}",
            raw.len()
        ))
    })?;
    Ok(Zeroizing::new(bytes))
}

fn read_key_file(id: &str, path: &Path) -> Result<Zeroizing<[u8; 32]>, PluginError> {
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| {
        PluginError::Config(format!(
            "cannot read master key '{id}' from {}: {e}",
            path.display()
        ))
    })?);
    decode_key(id, &text)
}

impl MasterKeyConfig {
    fn load(&self) -> Result<MasterKey, PluginError> {
        let bytes = match (&self.key, &self.key_file, &self.key_env) {
            (Some(k), None, None) => decode_key(&self.id, k.expose_secret())?,
            (None, Some(p), None) => read_key_file(&self.id, p)?,
            (None, None, Some(var)) => {
                let text = Zeroizing::new(std::env::var(var).map_err(|_| {
                    PluginError::Config(format!(
                        "master key '{}' names environment variable {var}, which is not set",
                        self.id
                    ))
                })?);
                decode_key(&self.id, &text)?
            }
            _ => {
                return Err(PluginError::Config(format!(
                    "master key '{}' needs exactly one of key, key_file, key_env",
                    self.id
                )))
            }
        };
        Ok(MasterKey {
            id: self.id.clone(),
            bytes,
        })
    }
}

/// Generate (or reuse) the dev master key in the data directory, readable by the owner only.
fn dev_key(data_dir: &Path) -> Result<(MasterKey, PathBuf), PluginError> {
    let path = data_dir.join(GENERATED_KEY_FILE);
    if !path.exists() {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| PluginError::Internal("system random source failed".into()))?;
        let text = Zeroizing::new(STANDARD.encode(bytes.as_ref()));
        write_private_file(&path, text.as_bytes()).map_err(|e| {
            PluginError::Config(format!(
                "cannot write the generated master key to {}: {e}",
                path.display()
            ))
        })?;
    }
    let bytes = read_key_file(GENERATED_KEY_ID, &path)?;
    Ok((
        MasterKey {
            id: GENERATED_KEY_ID.to_owned(),
            bytes,
        },
        path,
    ))
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

impl SimpleCryptoConfig {
    /// Load every configured master key; in the dev profile, generate one when none is set.
    pub fn load_keys(&self, ctx: &PluginContext<'_>) -> Result<LoadedKeys, PluginError> {
        let mut keys = Vec::new();
        match (&self.master_key, &self.master_key_file) {
            (Some(k), None) => keys.push(MasterKey {
                id: self.master_key_id.clone(),
                bytes: decode_key(&self.master_key_id, k.expose_secret())?,
            }),
            (None, Some(p)) => keys.push(MasterKey {
                id: self.master_key_id.clone(),
                bytes: read_key_file(&self.master_key_id, p)?,
            }),
            (Some(_), Some(_)) => {
                return Err(PluginError::Config(
                    "set master_key or master_key_file, not both".into(),
                ))
            }
            (None, None) => {}
        }
        for k in &self.master_keys {
            keys.push(k.load()?);
        }
        let mut generated = None;
        if keys.is_empty() {
            if ctx.profile == Profile::Production {
                return Err(PluginError::Config(format!(
                    "no master KEK configured for simple_crypto (store '{}'); set \
                     crypto.simple_crypto.master_key, master_key_file or master_keys \
                     (the production profile never generates one)",
                    ctx.instance
                )));
            }
            let (key, path) = dev_key(ctx.data_dir)?;
            keys.push(key);
            generated = Some(path);
        }
        for (i, k) in keys.iter().enumerate() {
            if k.id.is_empty() {
                return Err(PluginError::Config("a master key has an empty id".into()));
            }
            if keys[..i].iter().any(|other| other.id == k.id) {
                return Err(PluginError::Config(format!(
                    "master key id '{}' is configured twice",
                    k.id
                )));
            }
        }
        let active = match &self.active_master_key {
            Some(id) if keys.iter().any(|k| &k.id == id) => id.clone(),
            Some(id) => {
                return Err(PluginError::Config(format!(
                    "active_master_key '{id}' is not among the configured master keys ({})",
                    keys.iter()
                        .map(|k| k.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            None => keys[0].id.clone(),
        };
        if self.kek_cache_size == 0 {
            return Err(PluginError::Config(
                "kek_cache_size must be at least 1".into(),
            ));
        }
        Ok(LoadedKeys {
            keys,
            active,
            generated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_key() {
        let cfg: SimpleCryptoConfig = serde_json::from_value(serde_json::json!({
            "master_key": "aW5saW5lLXNob3J0Y3V0LWtleS1ieXRlcy0zMmJ5dGU=",
            "master_keys": [{"id": "old", "key": "bGlzdGVkLW1hc3Rlci1rZXktYnl0ZXMtMzItYnl0ZXM="}],
        }))
        .unwrap();
        for shown in [format!("{cfg:?}"), format!("{cfg:#?}")] {
            assert!(!shown.contains("aW5saW5lLXNob3J0Y3V0"), "{shown}");
            assert!(!shown.contains("bGlzdGVkLW1hc3Rlci1r"), "{shown}");
            assert!(shown.contains("master_key"), "{shown}");
            assert!(shown.contains("\"old\""), "{shown}");
        }
        // The keys themselves are intact.
        assert_eq!(
            cfg.master_keys[0].key.as_ref().map(|k| k.expose_secret()),
            Some("bGlzdGVkLW1hc3Rlci1rZXktYnl0ZXMtMzItYnl0ZXM=")
        );
    }
}
