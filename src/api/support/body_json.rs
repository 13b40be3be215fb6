//! JSON bodies that carry secret strings (a secret's `payload`, an order's passphrase): the
//! body is parsed into a `serde_json::Value` as usual, except that the strings at the secret
//! paths are never decoded by serde_json — whose scratch buffer for strings with escapes is
//! freed without being wiped — but taken as raw JSON text (borrowed from the body, which the
//! handler wipes) and unescaped here into a buffer that becomes the `Value`'s string, which
//! the validator wipes once it has copied the payload into its zeroizing container.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use zeroize::Zeroize;

/// The members of a JSON object, in order, values left as raw text.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parse `body`, decoding the strings at `secrets` (paths of object keys) without serde_json's
/// string buffers. `None` when the body is not JSON.
pub fn parse(body: &[u8], secrets: &[&[&str]]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    parse_text(text, secrets)
}

fn parse_text(text: &str, secrets: &[&[&str]]) -> Option<Value> {
    let Ok(members) = serde_json::from_str::<Members<'_>>(text) else {
        // Not an object (or not JSON): no secret path can be in it.
        return serde_json::from_str(text).ok();
    };
    let mut map = Map::new();
    for (key, raw) in members.0 {
        let here: Vec<&[&str]> = secrets
            .iter()
            .filter(|p| p.first() == Some(&key.as_ref()))
            .map(|p| &p[1..])
            .collect();
        let value = if here.iter().any(|rest| rest.is_empty()) && raw.get().starts_with('"') {
            Value::String(unescape(raw.get())?)
        } else if here.iter().any(|rest| !rest.is_empty()) {
            let deeper: Vec<&[&str]> = here.into_iter().filter(|r| !r.is_empty()).collect();
            parse_text(raw.get(), &deeper)?
        } else {
            serde_json::from_str(raw.get()).ok()?
        };
        map.insert(key.into_owned(), value);
    }
    Some(Value::Object(map))
}

/// The value of a JSON string literal (quotes included), decoded into a fresh string; the
/// buffer is wiped if the literal turns out invalid. Every byte is copied once, into that
/// string.
fn unescape(literal: &str) -> Option<String> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let ok = unescape_into(inner, &mut out);
    if ok.is_none() {
        out.zeroize();
    }
    ok.map(|()| out)
}

fn unescape_into(inner: &str, out: &mut String) -> Option<()> {
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            if (c as u32) < 0x20 || c == '"' {
                return None;
            }
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hi = hex4(&mut chars)?;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by `\u` and a low one.
                    if chars.next()? != '\\' || chars.next()? != 'u' {
                        return None;
                    }
                    let lo = hex4(&mut chars)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return None;
                } else {
                    hi
                };
                out.push(char::from_u32(code)?);
            }
            _ => return None,
        }
    }
    Some(())
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut n = 0;
    for _ in 0..4 {
        n = n * 16 + chars.next()?.to_digit(16)?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_strings_decode_like_serde_json() {
        let body = br#"{"name": "n", "payload": "a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\u0000", "meta": {"passphrase": "p\u0041", "x": 1}}"#;
        let plain: Value = serde_json::from_slice(body).unwrap();
        let ours = parse(body, &[&["payload"], &["meta", "passphrase"]]).unwrap();
        assert_eq!(ours, plain);
        // Key order is kept.
        let keys: Vec<_> = ours.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["name", "payload", "meta"]);
    }

    #[test]
    fn other_shapes_parse_as_usual() {
        assert_eq!(parse(b"[1, 2]", &[&["payload"]]), Some(json!([1, 2])));
        assert_eq!(
            parse(br#"{"payload": 5}"#, &[&["payload"]]),
            Some(json!({"payload": 5}))
        );
        assert_eq!(
            parse(br#"{"payload": "a", "payload": "b"}"#, &[&["payload"]]),
            Some(json!({"payload": "b"}))
        );
        for bad in [
            &b"{"[..],
            b"{\"payload\": \"a",
            b"\xff",
            br#"{"payload": "\ud800"}"#,
            br#"{"payload": "\udc00"}"#,
            br#"{"payload": "\ud800\u0041"}"#,
            br#"{"payload": "\x"}"#,
        ] {
            let ours = parse(bad, &[&["payload"]]);
            let plain = serde_json::from_slice::<Value>(bad).ok();
            assert_eq!(ours, plain, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(unescape("\"a\u{1}\""), None, "raw control characters");
        assert_eq!(unescape("x"), None);
    }
}
