//! `p11_crypto`: a crypto plugin whose keys live in a PKCS#11 HSM.
//!
//! Key hierarchy:
//! * a **master KEK** (AES-256) and an **HMAC key** live in the token under configured labels
//!   (`coffer hsm gen-mkek` / `gen-hmac` create them); they never leave it;
//! * a **project KEK** (AES-256) is generated in the HSM, wrapped under the master KEK
//!   (`CKM_AES_KEY_WRAP`, RFC 3394, or `CKM_AES_KEY_WRAP_PAD`), and the wrapped bytes are
//!   HMAC-signed (`CKM_SHA256_HMAC`) together with the KEK's project and id; the core persists
//!   the result. On use the HMAC is verified first, then the KEK is unwrapped into a
//!   non-extractable session object, which is cached (bounded LRU);
//! * **payloads** are encrypted in the HSM with `CKM_AES_GCM` under the project KEK: a fresh
//!   96-bit IV, a 128-bit tag, and associated data binding the ciphertext to its project and
//!   secret (as simple_crypto does). Ciphertext format: `0x01 ‖ iv(12) ‖ ciphertext ‖ tag`.
//!
//! Keys are generated in the HSM too: symmetric keys as extractable session objects whose value
//! is read out (then encrypted like any payload), RSA key pairs with `CKM_RSA_PKCS_KEY_PAIR_GEN`
//! (the private key is read out and PEM-encoded as PKCS#8).
//!
//! Sessions come from a bounded pool (see [`token`]); a call that fails because sessions, the
//! login or handles were lost starts a new pool epoch and is retried once.

pub mod admin;
mod config;
pub mod token;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use crypto_kit::envelope::{self, NONCE_LEN, TAG_LEN};
use crypto_kit::support;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::types::Ulong;
use plugin_api::metrics::names;
use plugin_api::{
    Binding, Capabilities, CryptoPlugin, Encrypted, Factory, GeneratedKeyPair, KekBinding, KeySpec,
    Metrics, PluginContext, PluginDescriptor, PluginError, PluginStatus, ProjectKek, SecretBytes,
    SupportKind, WrappedKek,
};
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, UnitWeighter};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use zeroize::Zeroizing;

pub use config::{P11Config, TokenSelector, WrapMechanism};
use token::{describe, recovery, Lease, Recovery, Token};

const KEK_LEN: u64 = 32;
const KEK_DOMAIN: &str = "coffer/p11_crypto/project-kek/v1";
const SECRET_DOMAIN: &str = "coffer/p11_crypto/secret/v1";

plugin_api::register_plugin!(PluginDescriptor {
    name: "p11_crypto",
    version: env!("CARGO_PKG_VERSION"),
    status: PluginStatus::Stable,
    crate_name: env!("CARGO_PKG_NAME"),
    summary: "PKCS#11 HSM: master KEK and HMAC key in the token, AES-GCM in the HSM",
    factory: Factory::Crypto(build),
    capabilities: Capabilities {
        commands: Some(&admin::COMMANDS),
        ..Capabilities::NONE
    },
});

fn build(ctx: &PluginContext<'_>) -> Result<Arc<dyn CryptoPlugin>, PluginError> {
    let cfg: P11Config = ctx.parse_config()?;
    Ok(Arc::new(P11Crypto::new(&cfg)?.reporting_to(ctx.metrics)))
}

/// What the core persists with a wrapped project KEK (`plugin_meta`).
#[derive(Debug, PartialEq, Deserialize)]
struct KekMeta {
    /// HMAC-SHA256 of the KEK's binding and wrapped bytes, base64.
    hmac: String,
    /// The label of the HMAC key that made it.
    hmac_label: String,
    /// `CKM_AES_KEY_WRAP` or `CKM_AES_KEY_WRAP_PAD`.
    key_wrap_mechanism: String,
}

impl KekMeta {
    /// The stored form: a JSON object of the three fields (a JSON value's text cannot fail,
    /// unlike serialising through serde).
    fn encode(&self) -> String {
        serde_json::json!({
            "hmac": self.hmac,
            "hmac_label": self.hmac_label,
            "key_wrap_mechanism": self.key_wrap_mechanism,
        })
        .to_string()
    }
}

/// An unwrapped project KEK: a session object in the token, valid in its epoch.
struct CachedKek {
    handle: ObjectHandle,
    epoch: u64,
    project_id: String,
    /// The stored form it was unwrapped from.
    wrapped: WrappedKek,
}

/// Collects the project KEKs the cache pushes out (evicted, or replaced under their id), so
/// their token objects are destroyed once no request uses them.
#[derive(Clone, Default)]
struct PushedOut;

impl Lifecycle<String, Arc<CachedKek>> for PushedOut {
    type RequestState = Vec<Arc<CachedKek>>;

    fn on_evict(&self, pushed: &mut Self::RequestState, _id: String, kek: Arc<CachedKek>) {
        pushed.push(kek);
    }
}

type KekCache = Cache<String, Arc<CachedKek>, UnitWeighter, DefaultHashBuilder, PushedOut>;

/// Why one attempt failed.
enum Failure {
    Ck(CkError, &'static str),
    Plugin(PluginError),
}

impl From<PluginError> for Failure {
    fn from(e: PluginError) -> Self {
        Failure::Plugin(e)
    }
}

/// Attach what was being done to a PKCS#11 error.
trait Doing<T> {
    fn doing(self, what: &'static str) -> Result<T, Failure>;
}

impl<T> Doing<T> for Result<T, CkError> {
    fn doing(self, what: &'static str) -> Result<T, Failure> {
        self.map_err(|e| Failure::Ck(e, what))
    }
}

/// Which master key a label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Mkek,
    Hmac,
}

impl Role {
    fn key_type(self) -> KeyType {
        match self {
            Role::Mkek => KeyType::AES,
            Role::Hmac => KeyType::GENERIC_SECRET,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Role::Mkek => "master KEK (AES)",
            Role::Hmac => "HMAC key (generic secret)",
        }
    }

    fn command(self) -> &'static str {
        match self {
            Role::Mkek => "coffer hsm gen-mkek",
            Role::Hmac => "coffer hsm gen-hmac",
        }
    }
}

/// The plugin. Every method may be called concurrently.
pub struct P11Crypto {
    token: Token,
    mkek_label: String,
    hmac_label: String,
    wrap: WrapMechanism,
    rng: SystemRandom,
    masters: Mutex<std::collections::HashMap<(Role, String), (u64, ObjectHandle)>>,
    keks: KekCache,
    /// Unwrapped KEKs pushed out of the cache, destroyed once no request uses them.
    retired: Mutex<Vec<Arc<CachedKek>>>,
    unwraps: AtomicU64,
    metrics: Metrics,
}

impl P11Crypto {
    /// Open the token, log in, and check that the master KEK and the HMAC key exist.
    pub fn new(cfg: &P11Config) -> Result<Self, PluginError> {
        cfg.validate()?;
        let token = Token::open(
            &cfg.library,
            cfg.token()?,
            cfg.load_pin()?,
            cfg.session_pool_size,
            Duration::from_millis(cfg.session_wait_ms),
        )?;
        // validate() refused a kek_cache_size of 0.
        let capacity = cfg.kek_cache_size;
        let plugin = P11Crypto {
            token,
            mkek_label: cfg.mkek_label.clone(),
            hmac_label: cfg.hmac_label.clone(),
            wrap: cfg.key_wrap_mechanism,
            rng: SystemRandom::new(),
            masters: Mutex::new(std::collections::HashMap::new()),
            keks: Cache::with(
                capacity,
                capacity as u64,
                UnitWeighter,
                DefaultHashBuilder::default(),
                PushedOut,
            ),
            retired: Mutex::new(Vec::new()),
            unwraps: AtomicU64::new(0),
            metrics: Metrics::discard(),
        };
        plugin.run("checking the master keys", |s| {
            plugin.master(s, Role::Mkek, &plugin.mkek_label)?;
            plugin.master(s, Role::Hmac, &plugin.hmac_label)?;
            Ok(())
        })?;
        Ok(plugin)
    }

    /// Report sessions lent out and KEK cache hits and misses through `metrics` (from zero).
    pub fn reporting_to(mut self, metrics: &Metrics) -> Self {
        metrics.gauge(names::HSM_SESSIONS, &[], 0.0);
        for result in ["hit", "miss"] {
            metrics.count(names::KEK_CACHE, &[("result", result)], 0);
        }
        self.metrics = metrics.clone();
        self
    }

    /// How many times a project KEK has been unwrapped in the HSM (cache misses).
    pub fn unwrap_count(&self) -> u64 {
        self.unwraps.load(Ordering::Relaxed)
    }

    /// The token this plugin uses (for operator commands and tests).
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// Run `op` on a pooled session. When it fails because sessions, the login or handles are
    /// gone, start a new epoch and run it once more.
    fn run<T>(
        &self,
        operation: &str,
        op: impl Fn(&Lease<'_>) -> Result<T, Failure>,
    ) -> Result<T, PluginError> {
        let mut retried = false;
        loop {
            let lease = self.token.session()?;
            self.metrics.gauge_add(names::HSM_SESSIONS, &[], 1.0);
            let outcome = op(&lease);
            let epoch = lease.epoch;
            drop(lease);
            self.metrics.gauge_add(names::HSM_SESSIONS, &[], -1.0);
            match outcome {
                Ok(v) => return Ok(v),
                Err(Failure::Plugin(e)) => return Err(e),
                Err(Failure::Ck(e, what)) => {
                    let how = recovery(&e);
                    if how != Recovery::None {
                        tracing::warn!(operation, during = what, error = %describe(&e), retried,
                            "HSM session lost; starting new sessions");
                        self.token.recover(epoch, how);
                        if !retried {
                            retried = true;
                            continue;
                        }
                    }
                    return Err(classify(operation, what, &e));
                }
            }
        }
    }

    fn random_iv(&self) -> Result<[u8; NONCE_LEN], Failure> {
        let mut iv = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut iv)
            .map_err(|_| PluginError::Internal("system random source failed".into()))?;
        Ok(iv)
    }

    /// The handle of a master key by role and label, found once per epoch.
    fn master(&self, s: &Lease<'_>, role: Role, label: &str) -> Result<ObjectHandle, Failure> {
        let epoch = s.epoch;
        let key = (role, label.to_owned());
        if let Some((e, h)) = self
            .masters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            if *e == epoch {
                return Ok(*h);
            }
        }
        let found = s
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(role.key_type()),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .doing("finding a master key")?;
        let handle = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(PluginError::KeyUnavailable(format!(
                    "no {} labelled '{label}' in the token; create it with `{}`",
                    role.what(),
                    role.command()
                ))
                .into())
            }
            _ => {
                return Err(PluginError::KeyUnavailable(format!(
                    "{} {} keys are labelled '{label}' in the token; labels must be unique",
                    found.len(),
                    role.what()
                ))
                .into())
            }
        };
        self.masters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (epoch, handle));
        Ok(handle)
    }

    /// What the HMAC covers: the domain, the KEK's project and id, how it was wrapped and
    /// under which master KEK, and the wrapped bytes.
    fn mac_input(binding: KekBinding<'_>, mechanism: &str, mkek: &str, wrapped: &[u8]) -> Vec<u8> {
        let mut out = Binding {
            project_id: binding.project_id,
            secret_id: binding.kek_id,
        }
        .associated_data(KEK_DOMAIN);
        for part in [mechanism.as_bytes(), mkek.as_bytes(), wrapped] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Wrap the key object `kek` under the configured master KEK and sign it.
    fn wrap_and_sign(
        &self,
        s: &Lease<'_>,
        kek: ObjectHandle,
        binding: KekBinding<'_>,
    ) -> Result<WrappedKek, Failure> {
        let mkek = self.master(s, Role::Mkek, &self.mkek_label)?;
        let hmac = self.master(s, Role::Hmac, &self.hmac_label)?;
        let wrapped = s
            .wrap_key(&self.wrap.mechanism(), mkek, kek)
            .doing("wrapping a project KEK")?;
        let mac = s
            .sign(
                &Mechanism::Sha256Hmac,
                hmac,
                &Self::mac_input(binding, self.wrap.name(), &self.mkek_label, &wrapped),
            )
            .doing("signing a wrapped project KEK")?;
        let meta = KekMeta {
            hmac: B64.encode(mac),
            hmac_label: self.hmac_label.clone(),
            key_wrap_mechanism: self.wrap.name().to_owned(),
        };
        Ok(WrappedKek {
            wrapped,
            master_key_id: self.mkek_label.clone(),
            plugin_meta: Some(meta.encode()),
        })
    }

    /// Verify a stored project KEK's HMAC and unwrap it into a session object.
    fn verify_and_unwrap(
        &self,
        s: &Lease<'_>,
        kek: &ProjectKek,
        extractable: bool,
    ) -> Result<ObjectHandle, Failure> {
        let meta: KekMeta = kek
            .wrapped
            .plugin_meta
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .ok_or_else(|| {
                PluginError::Integrity(format!(
                    "project KEK {} has no readable p11_crypto metadata",
                    kek.id
                ))
            })?;
        let mechanism = WrapMechanism::from_name(&meta.key_wrap_mechanism).ok_or_else(|| {
            PluginError::Integrity(format!(
                "project KEK {} names an unknown wrap mechanism",
                kek.id
            ))
        })?;
        let mac = B64.decode(&meta.hmac).map_err(|_| {
            PluginError::Integrity(format!("project KEK {} has a malformed HMAC", kek.id))
        })?;
        let hmac = self.master(s, Role::Hmac, &meta.hmac_label)?;
        let input = Self::mac_input(
            kek.binding(),
            &meta.key_wrap_mechanism,
            &kek.wrapped.master_key_id,
            &kek.wrapped.wrapped,
        );
        match s.verify(&Mechanism::Sha256Hmac, hmac, &input, &mac) {
            Ok(()) => {}
            Err(CkError::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)) => {
                return Err(PluginError::Integrity(format!(
                    "wrapped project KEK {} failed its HMAC check (tampered, or bound to \
                     another project)",
                    kek.id
                ))
                .into())
            }
            Err(e) => return Err(Failure::Ck(e, "verifying a project KEK's HMAC")),
        }
        let mkek = self.master(s, Role::Mkek, &kek.wrapped.master_key_id)?;
        let handle = s
            .unwrap_key(
                &mechanism.mechanism(),
                mkek,
                &kek.wrapped.wrapped,
                &kek_template(extractable),
            )
            .doing("unwrapping a project KEK")?;
        self.unwraps.fetch_add(1, Ordering::Relaxed);
        Ok(handle)
    }

    /// The unwrapped project KEK, from the cache or unwrapped (once) and cached.
    fn project_kek(&self, s: &Lease<'_>, kek: &ProjectKek) -> Result<Arc<CachedKek>, Failure> {
        // Objects are tagged with the epoch of the session that made them: a session of the
        // current epoch is never closed while the epoch lasts, so neither are its objects.
        let epoch = s.epoch;
        if let Some(hit) = self.keks.get(&kek.id) {
            // Only an entry for exactly these stored bytes counts: a row changed in the
            // database (tampered, moved, rewrapped) is verified and unwrapped again.
            if hit.epoch == epoch && hit.wrapped == kek.wrapped && hit.project_id == kek.project_id
            {
                self.metrics
                    .count(names::KEK_CACHE, &[("result", "hit")], 1);
                return Ok(hit);
            }
        }
        self.metrics
            .count(names::KEK_CACHE, &[("result", "miss")], 1);
        let handle = self.verify_and_unwrap(s, kek, false)?;
        let entry = Arc::new(CachedKek {
            handle,
            epoch,
            project_id: kek.project_id.clone(),
            wrapped: kek.wrapped.clone(),
        });
        let mut pushed_out = Vec::new();
        self.keks
            .insert_with_lifecycle(kek.id.clone(), Arc::clone(&entry), &mut pushed_out);
        self.retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(&mut pushed_out);
        self.destroy_retired(s);
        Ok(entry)
    }

    /// Destroy the retired KEK objects no request holds any more (those of a past epoch went
    /// with their sessions).
    fn destroy_retired(&self, s: &Lease<'_>) {
        let epoch = self.token.epoch();
        let done: Vec<Arc<CachedKek>> = {
            let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
            let (free, busy) = std::mem::take(&mut *retired)
                .into_iter()
                .partition(|k| Arc::strong_count(k) == 1);
            *retired = busy;
            free
        };
        for k in done.iter().filter(|k| k.epoch == epoch) {
            if let Err(e) = s.destroy_object(k.handle) {
                tracing::debug!(error = %describe(&e), "could not destroy a retired project KEK object");
            }
        }
    }

    /// Generate a secret key of `len` bytes in the HSM, read its value out, destroy it.
    fn generate_value(&self, s: &Lease<'_>, aes: bool, len: u64) -> Result<SecretBytes, Failure> {
        let (mechanism, key_type) = if aes {
            (Mechanism::AesKeyGen, KeyType::AES)
        } else {
            (Mechanism::GenericSecretKeyGen, KeyType::GENERIC_SECRET)
        };
        let handle = s
            .generate_key(
                &mechanism,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(key_type),
                    Attribute::ValueLen(Ulong::from(len)),
                    Attribute::Token(false),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                ],
            )
            .doing("generating a key")?;
        let value = s.get_attributes(handle, &[AttributeType::Value]);
        let _ = s.destroy_object(handle);
        let mut attrs = value.doing("reading a generated key")?;
        match attrs.pop() {
            Some(Attribute::Value(v)) if v.len() as u64 == len => Ok(Zeroizing::new(v)),
            Some(Attribute::Value(mut v)) => {
                zeroize::Zeroize::zeroize(&mut v);
                Err(
                    PluginError::Internal("the HSM generated a key of the wrong length".into())
                        .into(),
                )
            }
            _ => Err(PluginError::Internal("the HSM returned no key value".into()).into()),
        }
    }

    fn generate_rsa(&self, s: &Lease<'_>, bits: u32) -> Result<Zeroizing<RsaParts>, Failure> {
        let (public, private) = s
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::Token(false),
                    Attribute::ModulusBits(Ulong::from(u64::from(bits))),
                    Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                    Attribute::Verify(true),
                    Attribute::Encrypt(true),
                ],
                &[
                    Attribute::Token(false),
                    Attribute::Private(true),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                    Attribute::Sign(true),
                    Attribute::Decrypt(true),
                ],
            )
            .doing("generating an RSA key pair")?;
        let read = s.get_attributes(
            private,
            &[
                AttributeType::Modulus,
                AttributeType::PublicExponent,
                AttributeType::Prime1,
                AttributeType::Prime2,
            ],
        );
        let _ = s.destroy_object(private);
        let _ = s.destroy_object(public);
        let mut parts = Zeroizing::new(RsaParts::default());
        for attr in read.doing("reading a generated RSA key")? {
            match attr {
                Attribute::Modulus(v) => parts.n = v,
                Attribute::PublicExponent(v) => parts.e = v,
                Attribute::Prime1(v) => parts.p = v,
                Attribute::Prime2(v) => parts.q = v,
                _ => {}
            }
        }
        Ok(parts)
    }
}

/// The big-endian components of a generated RSA key, zeroized when dropped.
#[derive(Default, zeroize::Zeroize)]
struct RsaParts {
    n: Vec<u8>,
    e: Vec<u8>,
    p: Vec<u8>,
    q: Vec<u8>,
}

/// The template of an unwrapped project KEK: a session object for AES-GCM only (never usable
/// to wrap, unwrap, sign or verify, so a stale handle of a master key can never act on it);
/// extractable only while being rewrapped. It is not a private object: a lost login must not
/// destroy it under a request that holds its handle (the handle could be reissued to another
/// key); it lives only as long as the session that made it, inside this process.
fn kek_template(extractable: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Private(false),
        Attribute::Sensitive(true),
        Attribute::Extractable(extractable),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
    ]
}

/// The plugin error for a PKCS#11 failure that recovery cannot help.
fn classify(operation: &str, what: &str, e: &CkError) -> PluginError {
    match e {
        CkError::Pkcs11(
            RvError::EncryptedDataInvalid
            | RvError::EncryptedDataLenRange
            | RvError::WrappedKeyInvalid
            | RvError::WrappedKeyLenRange
            | RvError::SignatureInvalid,
            _,
        ) => PluginError::Integrity(format!("{operation}: {what}: {}", describe(e))),
        CkError::Pkcs11(
            RvError::DeviceMemory
            | RvError::HostMemory
            | RvError::SessionCount
            | RvError::FunctionCanceled,
            _,
        ) => PluginError::Unavailable(format!("{operation}: {what}: {}", describe(e))),
        e if token::is_outage(e) => {
            PluginError::Unavailable(format!("{operation}: {what}: {}", describe(e)))
        }
        _ => PluginError::Internal(format!("{operation}: {what}: {}", describe(e))),
    }
}

impl CryptoPlugin for P11Crypto {
    fn name(&self) -> &'static str {
        "p11_crypto"
    }

    /// A pooled session reads the master KEK from the token (a lost session, login or
    /// handle is recovered once, as for any call).
    fn health(&self) -> Result<(), PluginError> {
        self.run("checking the token", |s| {
            let mkek = self.master(s, Role::Mkek, &self.mkek_label)?;
            s.get_attributes(mkek, &[AttributeType::Label])
                .doing("reading the master KEK")?;
            Ok(())
        })
    }

    fn create_project_kek(&self, binding: KekBinding<'_>) -> Result<WrappedKek, PluginError> {
        self.run("creating a project KEK", |s| {
            let kek = s
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(Ulong::from(KEK_LEN)),
                        Attribute::Token(false),
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(true),
                        Attribute::Encrypt(false),
                        Attribute::Decrypt(false),
                        Attribute::Wrap(false),
                        Attribute::Unwrap(false),
                        Attribute::Sign(false),
                        Attribute::Verify(false),
                    ],
                )
                .doing("generating a project KEK")?;
            let wrapped = self.wrap_and_sign(s, kek, binding);
            let _ = s.destroy_object(kek);
            wrapped
        })
    }

    fn rewrap_project_kek(&self, kek: &ProjectKek) -> Result<Option<WrappedKek>, PluginError> {
        self.run("rewrapping a project KEK", |s| {
            let current = kek.wrapped.master_key_id == self.mkek_label
                && kek
                    .wrapped
                    .plugin_meta
                    .as_deref()
                    .and_then(|m| serde_json::from_str::<KekMeta>(m).ok())
                    .is_some_and(|m| {
                        m.hmac_label == self.hmac_label && m.key_wrap_mechanism == self.wrap.name()
                    });
            let handle = self.verify_and_unwrap(s, kek, !current)?;
            if current {
                let _ = s.destroy_object(handle);
                return Ok(None);
            }
            let rewrapped = self.wrap_and_sign(s, handle, kek.binding());
            let _ = s.destroy_object(handle);
            rewrapped.map(Some)
        })
    }

    fn encrypt(
        &self,
        kek: &ProjectKek,
        plaintext: &[u8],
        binding: Binding<'_>,
    ) -> Result<Encrypted, PluginError> {
        let aad = binding.associated_data(SECRET_DOMAIN);
        self.run("encrypting a secret", |s| {
            let key = self.project_kek(s, kek)?;
            let mut iv = self.random_iv()?;
            let iv_copy = iv;
            let params = GcmParams::new(&mut iv, &aad, Ulong::from(TAG_LEN as u64 * 8))
                .doing("preparing AES-GCM")?;
            let sealed = s
                .encrypt(&Mechanism::AesGcm(params), key.handle, plaintext)
                .doing("encrypting")?;
            Ok(Encrypted {
                ciphertext: envelope::wrap(&iv_copy, &sealed),
                extended_meta: None,
            })
        })
    }

    fn decrypt(
        &self,
        kek: &ProjectKek,
        encrypted: &Encrypted,
        binding: Binding<'_>,
    ) -> Result<SecretBytes, PluginError> {
        let ct = &encrypted.ciphertext;
        let what = format!("ciphertext of secret {}", binding.secret_id);
        let (iv, body) = envelope::unwrap(ct, &what)?;
        let aad = binding.associated_data(SECRET_DOMAIN);
        self.run("decrypting a secret", |s| {
            let key = self.project_kek(s, kek)?;
            let mut iv = iv;
            let params = GcmParams::new(&mut iv, &aad, Ulong::from(TAG_LEN as u64 * 8))
                .doing("preparing AES-GCM")?;
            match s.decrypt(&Mechanism::AesGcm(params), key.handle, body) {
                Ok(plain) => Ok(Zeroizing::new(plain)),
                // A tag that does not verify: SoftHSM2 says CKR_GENERAL_ERROR, the standard
                // says CKR_ENCRYPTED_DATA_INVALID.
                Err(CkError::Pkcs11(
                    RvError::EncryptedDataInvalid
                    | RvError::EncryptedDataLenRange
                    | RvError::GeneralError,
                    _,
                )) => Err(envelope::tampered(&what).into()),
                Err(e) => Err(Failure::Ck(e, "decrypting")),
            }
        })
    }

    fn generate_symmetric(&self, spec: &KeySpec) -> Result<SecretBytes, PluginError> {
        if !support::symmetric(spec) {
            return Err(PluginError::Unsupported(format!(
                "p11_crypto cannot generate a symmetric key for {spec:?}"
            )));
        }
        let bits = u64::from(spec.bit_length.unwrap_or(0));
        // A plain AES key is made by the AES key generator; XTS pairs and HMAC keys are
        // generic secrets of the asked length.
        let aes = spec.algorithm_lower().as_deref() == Some("aes")
            && spec.mode.as_deref().map(str::to_ascii_lowercase).as_deref() != Some("xts");
        self.run("generating a symmetric key", |s| {
            self.generate_value(s, aes, bits / 8)
        })
    }

    fn generate_asymmetric(&self, spec: &KeySpec) -> Result<GeneratedKeyPair, PluginError> {
        if !support::asymmetric(spec) {
            return Err(PluginError::Unsupported(format!(
                "p11_crypto cannot generate a key pair for {spec:?}"
            )));
        }
        let bits = spec.bit_length.unwrap_or(0);
        let parts = self.run("generating an RSA key pair", |s| self.generate_rsa(s, bits))?;
        let number = |bytes: &[u8]| rsa::BoxedUint::from_be_slice_vartime(bytes);
        let private =
            rsa::PrivateKey::from_p_q(number(&parts.p), number(&parts.q), number(&parts.e))
                .map_err(|e| {
                    PluginError::Internal(format!("the HSM's RSA key is unusable: {e}"))
                })?;
        if *rsa::traits::PublicKeyParts::n_bytes(&private) != *trim_leading_zeros(&parts.n) {
            return Err(PluginError::Internal(
                "the HSM's RSA modulus does not match its primes".into(),
            ));
        }
        crypto_kit::rsa_key_pair(&private, spec.passphrase.as_ref().map(|p| p.as_str()))
    }

    fn supports(&self, kind: SupportKind, spec: &KeySpec) -> bool {
        support::supports(kind, spec)
    }
}

fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_covers_every_field() {
        let b = |p, k| KekBinding {
            project_id: p,
            kek_id: k,
        };
        let base = P11Crypto::mac_input(b("p", "k"), "CKM_AES_KEY_WRAP", "mkek", b"wrapped");
        for other in [
            P11Crypto::mac_input(b("q", "k"), "CKM_AES_KEY_WRAP", "mkek", b"wrapped"),
            P11Crypto::mac_input(b("p", "j"), "CKM_AES_KEY_WRAP", "mkek", b"wrapped"),
            P11Crypto::mac_input(b("p", "k"), "CKM_AES_KEY_WRAP_PAD", "mkek", b"wrapped"),
            P11Crypto::mac_input(b("p", "k"), "CKM_AES_KEY_WRAP", "mkek2", b"wrapped"),
            P11Crypto::mac_input(b("p", "k"), "CKM_AES_KEY_WRAP", "mkek", b"wrappeD"),
            // Moving bytes between fields changes the framing.
            P11Crypto::mac_input(b("p", "k"), "CKM_AES_KEY_WRAP", "mkekw", b"rapped"),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn kek_metadata_reads_back() {
        let meta = KekMeta {
            hmac: "bWFj".into(),
            hmac_label: "coffer-hmac".into(),
            key_wrap_mechanism: "CKM_AES_KEY_WRAP".into(),
        };
        let text = meta.encode();
        assert_eq!(
            text,
            r#"{"hmac":"bWFj","hmac_label":"coffer-hmac","key_wrap_mechanism":"CKM_AES_KEY_WRAP"}"#
        );
        assert_eq!(serde_json::from_str::<KekMeta>(&text).ok(), Some(meta));
    }

    #[test]
    fn pkcs11_failures_map_to_plugin_errors() {
        use cryptoki::context::Function;
        let e = |rv| CkError::Pkcs11(rv, Function::Decrypt);
        assert!(matches!(
            classify("op", "x", &e(RvError::EncryptedDataInvalid)),
            PluginError::Integrity(_)
        ));
        assert!(matches!(
            classify("op", "x", &e(RvError::DeviceMemory)),
            PluginError::Unavailable(_)
        ));
        assert!(matches!(
            classify("op", "x", &e(RvError::GeneralError)),
            PluginError::Internal(_)
        ));
        assert_eq!(
            recovery(&e(RvError::SessionHandleInvalid)),
            Recovery::NewEpoch
        );
        assert_eq!(recovery(&e(RvError::UserNotLoggedIn)), Recovery::NewEpoch);
        assert_eq!(
            recovery(&e(RvError::CryptokiNotInitialized)),
            Recovery::Reinitialize
        );
        assert_eq!(recovery(&e(RvError::EncryptedDataInvalid)), Recovery::None);
        // An outage that outlasted the retry is a 503.
        assert!(matches!(
            classify("op", "x", &e(RvError::SessionClosed)),
            PluginError::Unavailable(_)
        ));
        // A failure of the binding itself, not of the module, is nothing to recover from.
        assert_eq!(recovery(&CkError::NotSupported), Recovery::None);
        let internal = classify("op", "x", &CkError::NotSupported);
        assert!(matches!(internal, PluginError::Internal(_)));
        assert!(internal.to_string().contains("op: x: "), "{internal}");
        assert_eq!(trim_leading_zeros(&[0, 0, 1, 0]), &[1, 0]);
        assert_eq!(trim_leading_zeros(&[0, 0]), &[] as &[u8]);
    }
}
