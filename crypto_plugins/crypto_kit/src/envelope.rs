//! A secret's stored ciphertext: `version ‖ nonce ‖ AES-GCM ciphertext with its tag`. Version
//! 1 is a 12-byte nonce and a 16-byte tag; the associated data (the secret's binding) is not
//! stored.

use plugin_api::PluginError;

/// The format version written today.
pub const FORMAT_V1: u8 = 1;
/// The AES-GCM nonce (IV) length.
pub const NONCE_LEN: usize = 12;
/// The AES-GCM tag length.
pub const TAG_LEN: usize = 16;

/// The envelope of a ciphertext (`sealed`: ciphertext and tag) made under `nonce`.
pub fn wrap(nonce: &[u8; NONCE_LEN], sealed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(nonce);
    out.extend_from_slice(sealed);
    out
}

/// The nonce and the ciphertext (with its tag) of an envelope; an `Integrity` failure naming
/// `what` when it is too short or of an unknown version.
pub fn unwrap<'a>(
    envelope: &'a [u8],
    what: &str,
) -> Result<([u8; NONCE_LEN], &'a [u8]), PluginError> {
    if envelope.len() < 1 + NONCE_LEN + TAG_LEN {
        return Err(PluginError::Integrity(format!("{what} is truncated")));
    }
    if envelope[0] != FORMAT_V1 {
        return Err(PluginError::Integrity(format!(
            "{what} has unknown format version {}",
            envelope[0]
        )));
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&envelope[1..1 + NONCE_LEN]);
    Ok((nonce, &envelope[1 + NONCE_LEN..]))
}

/// The failure of a ciphertext whose tag does not verify.
pub fn tampered(what: &str) -> PluginError {
    PluginError::Integrity(format!(
        "{what} failed authentication (tampered, or bound to another owner)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_reads_back_and_bad_ones_are_integrity_failures() {
        let nonce = [7u8; NONCE_LEN];
        let body = [9u8; TAG_LEN + 3];
        let env = wrap(&nonce, &body);
        assert_eq!(env[0], FORMAT_V1);
        assert_eq!(env.len(), 1 + NONCE_LEN + body.len());
        let (n, b) = unwrap(&env, "x").unwrap();
        assert_eq!((n, b), (nonce, &body[..]));
        let short = &env[..NONCE_LEN + TAG_LEN];
        let failure = |e: &[u8]| format!("{:?}", unwrap(e, "x").map(|_| ()));
        assert_eq!(failure(short), r#"Err(Integrity("x is truncated"))"#);
        let mut v2 = env.clone();
        v2[0] = 2;
        assert_eq!(
            failure(&v2),
            r#"Err(Integrity("x has unknown format version 2"))"#
        );
        assert!(tampered("x").to_string().contains("failed authentication"));
    }
}
