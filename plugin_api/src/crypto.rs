//! Crypto plugins own key-encryption keys and encryption; they never store anything.

use std::fmt;

use crate::{Binding, GeneratedKeyPair, KeySpec, PluginError, SecretBytes, SupportKind};

/// Identifies the project KEK being created or rewrapped. Plugins bind wrapped KEKs to it
/// (as associated data) so a wrapped KEK copied into another row does not unwrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KekBinding<'a> {
    /// The id the core gives the KEK row (a UUID).
    pub kek_id: &'a str,
    pub project_id: &'a str,
}

/// A project KEK as a crypto plugin returns it for the core to persist: opaque wrapped bytes,
/// the id of the master key that wrapped them, and optional plugin-owned metadata.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKek {
    pub wrapped: Vec<u8>,
    pub master_key_id: String,
    pub plugin_meta: Option<String>,
}

impl fmt::Debug for WrappedKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKek")
            .field("wrapped_len", &self.wrapped.len())
            .field("master_key_id", &self.master_key_id)
            .field("plugin_meta", &self.plugin_meta)
            .finish()
    }
}

/// A persisted project KEK, as the core hands it back to the plugin on every use.
#[derive(Clone, PartialEq, Eq)]
pub struct ProjectKek {
    pub id: String,
    pub project_id: String,
    pub wrapped: WrappedKek,
}

impl ProjectKek {
    /// The binding this KEK was wrapped under.
    pub fn binding(&self) -> KekBinding<'_> {
        KekBinding {
            kek_id: &self.id,
            project_id: &self.project_id,
        }
    }
}

impl fmt::Debug for ProjectKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectKek")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("wrapped", &self.wrapped)
            .finish()
    }
}

/// The output of an encryption: ciphertext plus optional per-secret plugin metadata (for
/// instance the mechanism used). The core stores both and returns them unchanged to `decrypt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    pub ciphertext: Vec<u8>,
    pub extended_meta: Option<String>,
}

/// A crypto plugin: creates and wraps project KEKs, encrypts and decrypts payloads under them,
/// and generates keys.
///
/// Implementations are shared between threads and called concurrently; calls may block.
pub trait CryptoPlugin: Send + Sync {
    /// The registry name of the plugin (`"simple_crypto"`).
    fn name(&self) -> &'static str;

    /// Whether the backend (an HSM token ...) can serve requests right now (asked by
    /// `/readyz`; should answer within a second). Default: healthy.
    fn health(&self) -> Result<(), PluginError> {
        Ok(())
    }

    /// Create a fresh project KEK and return it wrapped under the active master key.
    ///
    /// Errors: `KeyUnavailable` when no master key can be used, `Unavailable` when the
    /// backend is down, `Internal` otherwise.
    fn create_project_kek(&self, binding: KekBinding<'_>) -> Result<WrappedKek, PluginError>;

    /// Re-wrap an existing project KEK under the active master key without changing the KEK
    /// itself (so ciphertext under it stays readable). Returns `Ok(None)` when it already is
    /// wrapped under the active master key.
    ///
    /// Errors: `Integrity` when the stored wrapped KEK does not verify, `KeyUnavailable` when
    /// the master key that wrapped it is not configured.
    fn rewrap_project_kek(&self, kek: &ProjectKek) -> Result<Option<WrappedKek>, PluginError>;

    /// Encrypt `plaintext` under the project KEK, bound to `binding`.
    ///
    /// Errors: `Integrity`/`KeyUnavailable` when the project KEK cannot be unwrapped,
    /// `Unavailable` when the backend is down.
    fn encrypt(
        &self,
        kek: &ProjectKek,
        plaintext: &[u8],
        binding: Binding<'_>,
    ) -> Result<Encrypted, PluginError>;

    /// Decrypt what `encrypt` returned for the same KEK and binding.
    ///
    /// Errors: `Integrity` when the ciphertext, the wrapped KEK or the binding does not match
    /// (tampering, or a ciphertext moved to another secret or project); `KeyUnavailable` when
    /// the master key is not configured; `Unavailable` when the backend is down.
    fn decrypt(
        &self,
        kek: &ProjectKek,
        encrypted: &Encrypted,
        binding: Binding<'_>,
    ) -> Result<SecretBytes, PluginError>;

    /// Generate a symmetric key of `spec.bit_length` bits and return its raw bytes.
    ///
    /// Errors: `Unsupported` when `supports(SymmetricKeyGeneration, spec)` is false.
    fn generate_symmetric(&self, spec: &KeySpec) -> Result<SecretBytes, PluginError>;

    /// Generate an asymmetric key pair.
    ///
    /// Errors: `Unsupported` when `supports(AsymmetricKeyGeneration, spec)` is false.
    fn generate_asymmetric(&self, spec: &KeySpec) -> Result<GeneratedKeyPair, PluginError>;

    /// Whether this plugin can perform `kind` for `spec`. Never fails, never blocks for long.
    fn supports(&self, kind: SupportKind, spec: &KeySpec) -> bool;
}
