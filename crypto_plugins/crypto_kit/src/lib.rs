//! What Coffer's crypto plugins (`simple_crypto`, `p11_crypto`) share, written once because it
//! is security-relevant: which key specs they generate ([`support`]), the stored form of a
//! secret's ciphertext ([`envelope`]), and an RSA key pair as PKCS#8 / SPKI PEM
//! ([`rsa_key_pair`]).

pub mod envelope;
pub mod support;

use plugin_api::{GeneratedKeyPair, PluginError};
use zeroize::Zeroizing;

/// The parts of a generated RSA key pair: the private key as PKCS#8 PEM (encrypted under
/// `passphrase` when there is one), the public key as SPKI PEM, and the passphrase itself.
pub fn rsa_key_pair(
    private: &rsa::PrivateKey,
    passphrase: Option<&str>,
) -> Result<GeneratedKeyPair, PluginError> {
    use pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    let private_pem = match passphrase {
        Some(pass) => private.to_pkcs8_encrypted_pem(pass.as_bytes(), LineEnding::LF),
        None => private.to_pkcs8_pem(LineEnding::LF),
    }
    .map_err(|e| PluginError::Internal(format!("PKCS#8 encoding failed: {e}")))?;
    let public_pem = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| PluginError::Internal(format!("SPKI encoding failed: {e}")))?;
    Ok(GeneratedKeyPair {
        private_key: Zeroizing::new(private_pem.as_bytes().to_vec()),
        public_key: public_pem.into_bytes(),
        passphrase: passphrase.map(|p| Zeroizing::new(p.as_bytes().to_vec())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::{DecodePrivateKey, DecodePublicKey};

    /// A small fixed key made for this test only (`openssl genpkey`; it protects nothing): the
    /// encoding does not care about the size, and generating a key is slow in a debug build.
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAN8Iklnz16cQEyXd
3jcvKGm2qbcdxGKNkhbOMCigxwB51r464GMhBIdci+9EGZxCyFYfMRFkKi/tZYc3
Fd25J/eUTRYdNVLfd+pfUU2tkm/VSqCoSXOWMYPYE6IG7Qi9UsIWk0ZawQ2uZ5UW
N7CJzm3blFoE/oI0tidTt251osDvAgMBAAECgYEAkuvunNsI4MCyHGu/itLB6IGv
4zT0vYdNCUDicKEY9rNMRxw53JNPjGvmssNFq65CkpkRlcdKEzBrhVtASENEk5Qa
nvDT8a868dP/f7KCg1pg6cKcovoM9E16B1K8+cXrBuFUrLYGu63dVjbdOCOw3qMo
HVk9C2Pm7LxD4M0seeECQQD7ydTa8/iJvDX/XSucLcIQck4dghiO31fAhuwy6EOV
G8CGX7xIjQnhQ7UBTEk1Bgueuo1TlCXMDdAjKbNQtEYtAkEA4sOcRa1tAbdtywmT
sbKJl5BPfDN1LMAGaWPus7YjbFrjago7eUoid2/k/YkwWE+XpySzkQZVeiwYpbLS
Q53RCwJAT0JLhNkDxae/f7E+hx1IV5ED0fof7OmVX/+Y3rWKgKeJxULhrBzpnUWI
9u2ipdRPWBn1XvflpgQ7HraDwcXdyQJACYMFAhM1OFY2X8bmEBUaGmZuPxp1dswT
OMZ9U8J3F+t0EJWfSwYmDfZ+l3fytDGafeNXOOUYHsjMu96VXUq4YwJAOPUU/o7v
TQLA3/s6/3wip1BK0lDrojwLojhMPH37CtevdE+zZZR7N8zNJo85TEQlHiqj+875
7/97ZdbKi6FkFQ==
-----END PRIVATE KEY-----";

    fn small_key() -> rsa::PrivateKey {
        rsa::PrivateKey::from_pkcs8_pem(KEY).expect("the test key")
    }

    #[test]
    fn a_key_pair_reads_back_with_and_without_a_passphrase() {
        let key = small_key();
        let plain = rsa_key_pair(&key, None).unwrap();
        let pem = std::str::from_utf8(&plain.private_key).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        assert_eq!(rsa::PrivateKey::from_pkcs8_pem(pem).unwrap(), key);
        let public = std::str::from_utf8(&plain.public_key).unwrap();
        assert_eq!(
            rsa::PublicKey::from_public_key_pem(public).unwrap(),
            key.to_public_key()
        );
        assert!(plain.passphrase.is_none());

        let locked = rsa_key_pair(&key, Some("open sesame")).unwrap();
        let pem = std::str::from_utf8(&locked.private_key).unwrap();
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{pem}"
        );
        assert_eq!(
            rsa::PrivateKey::from_pkcs8_encrypted_pem(pem, b"open sesame").unwrap(),
            key
        );
        assert_eq!(
            locked.passphrase.as_deref().map(|p| &p[..]),
            Some(&b"open sesame"[..])
        );
    }
}
