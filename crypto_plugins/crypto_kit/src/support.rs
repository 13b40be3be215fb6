//! The key specs the crypto plugins generate (the same for the software and the HSM plugin,
//! so that moving a store between them changes nothing a client sees).

use plugin_api::{KeySpec, SupportKind};

/// AES key sizes (XTS takes two keys: 256 or 512 bits).
pub const AES_BITS: [u32; 3] = [128, 192, 256];
/// HMAC algorithms, as Barbican names them (lower case).
pub const HMAC_ALGORITHMS: [&str; 4] = ["hmacsha1", "hmacsha256", "hmacsha384", "hmacsha512"];
/// HMAC key sizes.
pub const HMAC_BITS: [u32; 5] = [128, 192, 256, 384, 512];
/// RSA modulus sizes.
pub const RSA_BITS: [u32; 3] = [2048, 3072, 4096];

/// Whether a symmetric key of this spec can be generated.
pub fn symmetric(spec: &KeySpec) -> bool {
    let (Some(alg), Some(bits)) = (spec.algorithm_lower(), spec.bit_length) else {
        return false;
    };
    let mode = spec.mode.as_deref().map(str::to_ascii_lowercase);
    match alg.as_str() {
        // XTS keys are two AES keys.
        "aes" if mode.as_deref() == Some("xts") => bits == 256 || bits == 512,
        "aes" => AES_BITS.contains(&bits),
        a if HMAC_ALGORITHMS.contains(&a) => HMAC_BITS.contains(&bits),
        _ => false,
    }
}

/// Whether a key pair of this spec can be generated.
pub fn asymmetric(spec: &KeySpec) -> bool {
    spec.algorithm_lower().as_deref() == Some("rsa")
        && spec.bit_length.is_some_and(|b| RSA_BITS.contains(&b))
}

/// `CryptoPlugin::supports` for a plugin that encrypts anything and generates what
/// [`symmetric`] and [`asymmetric`] accept.
pub fn supports(kind: SupportKind, spec: &KeySpec) -> bool {
    match kind {
        SupportKind::EncryptDecrypt => true,
        SupportKind::SymmetricKeyGeneration => symmetric(spec),
        SupportKind::AsymmetricKeyGeneration => asymmetric(spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(alg: Option<&str>, bits: Option<u32>, mode: Option<&str>) -> KeySpec {
        KeySpec {
            algorithm: alg.map(str::to_owned),
            bit_length: bits,
            mode: mode.map(str::to_owned),
            ..KeySpec::default()
        }
    }

    #[test]
    fn the_supported_specs() {
        let yes = [
            spec(Some("AES"), Some(256), Some("CBC")),
            spec(Some("aes"), Some(128), None),
            spec(Some("aes"), Some(512), Some("XTS")),
            spec(Some("aes"), Some(256), Some("xts")),
            spec(Some("HmacSHA256"), Some(384), None),
        ];
        let no = [
            spec(Some("aes"), Some(512), None),
            spec(Some("aes"), Some(128), Some("xts")),
            spec(Some("hmacsha256"), Some(64), None),
            spec(Some("des"), Some(64), None),
            spec(None, Some(256), None),
            spec(Some("aes"), None, None),
        ];
        for s in &yes {
            assert!(symmetric(s), "{s:?}");
            assert!(supports(SupportKind::SymmetricKeyGeneration, s), "{s:?}");
        }
        for s in &no {
            assert!(!symmetric(s), "{s:?}");
        }
        assert!(asymmetric(&spec(Some("RSA"), Some(3072), None)));
        assert!(supports(
            SupportKind::AsymmetricKeyGeneration,
            &spec(Some("rsa"), Some(2048), None)
        ));
        assert!(!asymmetric(&spec(Some("rsa"), Some(1024), None)));
        assert!(!asymmetric(&spec(Some("rsa"), None, None)));
        assert!(!asymmetric(&spec(Some("ec"), Some(2048), None)));
        assert!(supports(
            SupportKind::EncryptDecrypt,
            &spec(None, None, None)
        ));
    }
}
