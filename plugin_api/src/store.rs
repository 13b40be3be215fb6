//! Secret-store plugins own where a secret's material lives.

use std::collections::BTreeMap;
use std::fmt;

use crate::{CryptoPlugin, KeySpec, PluginError, ProjectKek, SecretBytes, SecretType};

/// A small string map a store returns when it stores or generates a secret. The core persists
/// it with the secret and hands it back unchanged to `get_secret` and `delete_secret`.
pub type StoreMetadata = BTreeMap<String, String>;

/// A secret's material and description, as handed to or returned by a store.
pub struct SecretDto {
    pub secret_type: SecretType,
    /// The raw payload bytes (not base64).
    pub payload: SecretBytes,
    /// The normalized content type (`text/plain`, `application/octet-stream`, ...).
    pub content_type: String,
    pub key_spec: KeySpec,
}

impl fmt::Debug for SecretDto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretDto")
            .field("secret_type", &self.secret_type)
            .field("payload", &"<redacted>")
            .field("payload_len", &self.payload.len())
            .field("content_type", &self.content_type)
            .field("key_spec", &self.key_spec)
            .finish()
    }
}

/// Project KEKs, as the core persists them. Stores that encrypt through a crypto plugin use
/// this to obtain the project's KEK; the core looks it up (cached) or has the crypto plugin
/// create one and persists it. Plugins never reach the database themselves.
pub trait KekResolver {
    /// The active KEK of the calling project for `crypto`, created on first use.
    ///
    /// Errors: whatever `crypto.create_project_kek` returns; `Unavailable` when the database
    /// cannot be reached.
    fn active_kek(&self, crypto: &dyn CryptoPlugin) -> Result<ProjectKek, PluginError>;

    /// The KEK with this id, which must belong to the calling project.
    ///
    /// Errors: `NotFound` when there is no such KEK for this project.
    fn kek_by_id(&self, kek_id: &str) -> Result<ProjectKek, PluginError>;
}

/// Who a store call is for: the owning project and secret, and the core's KEK access.
#[derive(Clone, Copy)]
pub struct StoreContext<'a> {
    pub project_id: &'a str,
    pub secret_id: &'a str,
    pub keks: &'a dyn KekResolver,
}

/// The secrets an asymmetric generation fills: one context each.
#[derive(Clone, Copy)]
pub struct KeyPairTargets<'a> {
    pub private_key: StoreContext<'a>,
    pub public_key: StoreContext<'a>,
    /// Where to store the spec's passphrase as a third secret; `None` when the caller keeps
    /// it elsewhere (or there is none).
    pub passphrase: Option<StoreContext<'a>>,
}

/// What `generate_asymmetric_key` returns: the metadata of each stored part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKeyPairMetadata {
    pub private_key: StoreMetadata,
    pub public_key: StoreMetadata,
    pub passphrase: Option<StoreMetadata>,
}

/// A secret store. Implementations are shared between threads and called concurrently; calls
/// may block.
pub trait SecretStore: Send + Sync {
    /// The registry name of the plugin (`"store_crypto"`).
    fn name(&self) -> &'static str;

    /// Whether the backend can serve requests right now (asked by `/readyz`; should answer
    /// within a second). Default: healthy.
    fn health(&self) -> Result<(), PluginError> {
        Ok(())
    }

    /// Store `secret` and return the metadata needed to get it back.
    ///
    /// Errors: `Unsupported` when `store_secret_supports` is false for its key spec,
    /// `Unavailable` when the backend is down.
    fn store_secret(
        &self,
        ctx: StoreContext<'_>,
        secret: &SecretDto,
    ) -> Result<StoreMetadata, PluginError>;

    /// Return the secret that `store_secret` (or a generation) stored under `metadata`.
    ///
    /// Errors: `NotFound` when the material is gone, `Integrity` when it does not verify,
    /// `InvalidInput` when `metadata` is not this store's, `Unavailable` when the backend is
    /// down.
    fn get_secret(
        &self,
        ctx: StoreContext<'_>,
        secret_type: SecretType,
        metadata: &StoreMetadata,
    ) -> Result<SecretDto, PluginError>;

    /// Delete the material behind `metadata`. Deleting what is already gone succeeds.
    ///
    /// Errors: `Unavailable` when the backend is down.
    fn delete_secret(
        &self,
        ctx: StoreContext<'_>,
        metadata: &StoreMetadata,
    ) -> Result<(), PluginError>;

    /// Generate a symmetric key for `spec`, store it and return its metadata.
    ///
    /// Errors: `Unsupported` when `generate_supports(spec)` is false.
    fn generate_symmetric_key(
        &self,
        ctx: StoreContext<'_>,
        spec: &KeySpec,
    ) -> Result<StoreMetadata, PluginError>;

    /// Generate an asymmetric key pair for `spec`, store its parts and return their metadata.
    ///
    /// Errors: `Unsupported` when `generate_supports(spec)` is false.
    fn generate_asymmetric_key(
        &self,
        targets: KeyPairTargets<'_>,
        spec: &KeySpec,
    ) -> Result<GeneratedKeyPairMetadata, PluginError>;

    /// Whether this store can store a secret with this key spec.
    fn store_secret_supports(&self, spec: &KeySpec) -> bool;

    /// Whether this store can generate a key with this spec.
    fn generate_supports(&self, spec: &KeySpec) -> bool;
}
