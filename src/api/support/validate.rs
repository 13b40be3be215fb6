//! The request-validation helpers every resource uses, with Barbican's rules and messages (see
//! [`super::schema`] for how the reported error is chosen): reading a JSON body ([`parse_json`]:
//! NUL characters refused, string values stripped of surrounding whitespace, as Barbican does),
//! typed string properties ([`string`], [`enumerated`]), Python's lenient base64, and the secret
//! types both secret bodies and order metas name.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::Value;
use zeroize::Zeroizing;

use super::schema::At;
use crate::error::ApiError;

/// The secret types, as a secret body (or an order's meta) may name them.
pub const SECRET_TYPES: [&str; 6] = [
    "symmetric",
    "passphrase",
    "private",
    "public",
    "certificate",
    "opaque",
];
/// [`SECRET_TYPES`] as Python lists them in jsonschema's message.
pub const SECRET_TYPES_LISTED: &str =
    "['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque']";
/// The largest value of a SMALLINT column (`bit_length`).
pub const MAX_SMALL_INT: i64 = 32767;

/// Parse a JSON request body for `schema`; `Malformed JSON` when it is not JSON. String values
/// are stripped (in place), as Barbican does before validating; a NUL character in any key or
/// string is refused (PostgreSQL text cannot hold one, and no Barbican field needs one).
///
/// `secrets` are the paths of string values that hold secret material (`["payload"]`,
/// `["meta", "passphrase"]`): those are decoded from the body by [`body_json::parse`] into
/// buffers that are wiped when dropped — never through serde_json's scratch buffer, which is
/// freed unwiped — and may contain NUL.
pub fn parse_json(body: &[u8], schema: &str, secrets: &[&[&str]]) -> Result<Value, ApiError> {
    let mut v = if secrets.is_empty() {
        serde_json::from_slice(body).ok()
    } else {
        super::body_json::parse(body, secrets)
    }
    .ok_or_else(|| ApiError::bad_request("Malformed JSON"))?;
    if let Some((property, text)) = nul_in(&v, secrets, &mut Vec::new()) {
        return Err(ApiError::schema(
            schema,
            &format!(
                "{} contains a NUL character",
                crate::json::py_repr(&Value::String(text))
            ),
            Some(&property),
        ));
    }
    strip_strings(&mut v);
    Ok(v)
}

/// The first key or string (outside `secrets`) holding a NUL: its top-level property and the
/// text.
fn nul_in(v: &Value, secrets: &[&[&str]], path: &mut Vec<String>) -> Option<(String, String)> {
    let top = |path: &[String], key: &str| path.first().cloned().unwrap_or_else(|| key.to_owned());
    match v {
        Value::String(s) if s.contains('\0') => {
            let secret = secrets
                .iter()
                .any(|p| p.len() == path.len() && p.iter().zip(path.iter()).all(|(a, b)| a == b));
            (!secret).then(|| (top(path, ""), s.clone()))
        }
        Value::Array(items) => items.iter().find_map(|i| nul_in(i, secrets, path)),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            if k.contains('\0') {
                return Some((top(path, k), k.clone()));
            }
            path.push(k.clone());
            let found = nul_in(item, secrets, path);
            path.pop();
            found
        }),
        _ => None,
    }
}

/// Trim every string in place: no copy of a (possibly secret) value is left behind unwiped.
fn strip_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            let end = s.trim_end().len();
            s.truncate(end);
            let start = s.len() - s.trim_start().len();
            s.drain(..start);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_strings),
        Value::Object(map) => map.values_mut().for_each(strip_strings),
        _ => {}
    }
}

/// Base64 the way Python's `base64.b64decode` reads it: characters outside the alphabet are
/// ignored, padding is required, stray trailing bits are tolerated.
pub fn lenient_base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
            .with_decode_allow_trailing_bits(true),
    );
    let filtered: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
            .collect(),
    );
    ENGINE.decode(filtered.as_bytes()).ok().map(Zeroizing::new)
}

/// A string property of one of `types` (`"string"`, `"null"`), `min` to `max` characters long;
/// `None` (with the error recorded) otherwise, or when absent.
pub fn string<'v>(
    at: Option<At<'_, 'v>>,
    types: &[&str],
    min: Option<usize>,
    max: Option<usize>,
) -> Option<&'v str> {
    let mut at = at?;
    if at.types(types) && at.length(min, max) {
        at.value.as_str()
    } else {
        None
    }
}

/// A string property, at most `max` characters, that must be one of `allowed` (`listed` is
/// their Python spelling for the message); `None` (with the error recorded) otherwise, or when
/// absent.
pub fn enumerated<'v>(
    at: Option<At<'_, 'v>>,
    max: Option<usize>,
    allowed: &[&str],
    listed: &str,
) -> Option<&'v str> {
    let mut at = at?;
    if at.types(&["string"]) && at.length(None, max) && at.one_of(allowed, listed) {
        at.value.as_str()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_and_base64() {
        assert_eq!(
            crate::media::normalize("TEXT/PLAIN; Charset=UTF-8"),
            "text/plain"
        );
        assert_eq!(
            crate::media::normalize("text/plain; charset=latin-1"),
            "text/plain; charset=latin-1"
        );
        assert_eq!(crate::media::normalize("text/plain; x"), "text/plain; x");
        assert_eq!(
            crate::media::normalize("application/pkcs8"),
            "application/pkcs8"
        );
        assert_eq!(
            lenient_base64("AA EC\nAw==").unwrap().as_slice(),
            &[0, 1, 2, 3]
        );
        assert!(lenient_base64("YWJ").is_none());
        assert_eq!(lenient_base64("YR==").unwrap().as_slice(), b"a");
    }
}
