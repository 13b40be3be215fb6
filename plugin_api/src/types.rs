//! Value types shared by the core and every plugin.

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroizing;

/// Secret material (payloads, keys, passphrases): zeroized when dropped.
pub type SecretBytes = Zeroizing<Vec<u8>>;

/// The kinds of secret Barbican knows, with their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretType {
    Symmetric,
    Public,
    Private,
    Passphrase,
    Certificate,
    Opaque,
}

impl SecretType {
    /// Every secret type, in the order Barbican lists them in its validation message.
    pub const ALL: [SecretType; 6] = [
        SecretType::Symmetric,
        SecretType::Passphrase,
        SecretType::Private,
        SecretType::Public,
        SecretType::Certificate,
        SecretType::Opaque,
    ];

    /// The wire name (`"symmetric"`, `"opaque"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SecretType::Symmetric => "symmetric",
            SecretType::Public => "public",
            SecretType::Private => "private",
            SecretType::Passphrase => "passphrase",
            SecretType::Certificate => "certificate",
            SecretType::Opaque => "opaque",
        }
    }
}

impl fmt::Display for SecretType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SecretType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        SecretType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(())
    }
}

/// What a caller asks a plugin to support or generate: algorithm, bit length and mode, as
/// given on the wire (algorithm names are compared case-insensitively by plugins).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeySpec {
    pub algorithm: Option<String>,
    pub bit_length: Option<u32>,
    pub mode: Option<String>,
    /// Passphrase protecting a generated private key (asymmetric generation only).
    pub passphrase: Option<Zeroizing<String>>,
}

impl KeySpec {
    /// A spec with an algorithm and a bit length, no mode and no passphrase.
    pub fn new(algorithm: &str, bit_length: u32) -> Self {
        KeySpec {
            algorithm: Some(algorithm.to_owned()),
            bit_length: Some(bit_length),
            mode: None,
            passphrase: None,
        }
    }

    /// The algorithm in lower case, or `None`.
    pub fn algorithm_lower(&self) -> Option<String> {
        self.algorithm.as_deref().map(str::to_ascii_lowercase)
    }
}

impl fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySpec")
            .field("algorithm", &self.algorithm)
            .field("bit_length", &self.bit_length)
            .field("mode", &self.mode)
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The operation a `supports` question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportKind {
    EncryptDecrypt,
    SymmetricKeyGeneration,
    AsymmetricKeyGeneration,
}

/// The owner a ciphertext is bound to. Crypto plugins authenticate it as associated data, so a
/// ciphertext copied to another secret or project does not decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding<'a> {
    pub project_id: &'a str,
    pub secret_id: &'a str,
}

impl Binding<'_> {
    /// An unambiguous byte encoding of the binding, for use as AEAD associated data:
    /// a domain label followed by each field with a 4-byte big-endian length prefix.
    pub fn associated_data(&self, domain: &str) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(12 + domain.len() + self.project_id.len() + self.secret_id.len());
        for part in [domain, self.project_id, self.secret_id] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// A generated asymmetric key pair, PEM encoded: the private key as PKCS#8 (encrypted under
/// the passphrase when one was given), the public key as SubjectPublicKeyInfo.
pub struct GeneratedKeyPair {
    pub private_key: SecretBytes,
    pub public_key: Vec<u8>,
    pub passphrase: Option<SecretBytes>,
}

impl fmt::Debug for GeneratedKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKeyPair")
            .field("private_key", &"<redacted>")
            .field("public_key_len", &self.public_key.len())
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_type_round_trips_through_its_wire_name() {
        for t in SecretType::ALL {
            assert_eq!(t.as_str().parse::<SecretType>(), Ok(t));
            assert_eq!(t.to_string(), t.as_str());
        }
        assert!("bogus".parse::<SecretType>().is_err());
        assert!("Opaque".parse::<SecretType>().is_err());
    }

    #[test]
    fn associated_data_is_unambiguous() {
        let a = Binding {
            project_id: "ab",
            secret_id: "c",
        }
        .associated_data("d");
        let b = Binding {
            project_id: "a",
            secret_id: "bc",
        }
        .associated_data("d");
        assert_ne!(a, b);
        assert_eq!(a.len(), 12 + 4);
    }

    #[test]
    fn key_spec_debug_redacts_the_passphrase() {
        let spec = KeySpec {
            passphrase: Some(Zeroizing::new("hunter2".into())),
            ..KeySpec::new("RSA", 2048)
        };
        let shown = format!("{spec:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("<redacted>"));
        assert_eq!(spec.algorithm_lower().as_deref(), Some("rsa"));
    }

    #[test]
    fn key_pair_debug_redacts_material() {
        let pair = GeneratedKeyPair {
            private_key: Zeroizing::new(b"PRIVATE".to_vec()),
            public_key: b"PUBLIC".to_vec(),
            passphrase: Some(Zeroizing::new(b"pw".to_vec())),
        };
        let shown = format!("{pair:?}");
        assert!(!shown.contains("PRIVATE"));
        assert!(!shown.contains("pw\""));
    }
}
