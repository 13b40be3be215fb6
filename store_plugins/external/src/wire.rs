//! The wire format of protocol version 1 (see `plugin_api/PROTOCOL.md`): frames of a 4-byte
//! big-endian length followed by that many bytes of UTF-8 JSON; requests
//! `{"id", "method", "params"}`, responses `{"id", "result"}` or `{"id", "error"}`.
//!
//! Frames may carry payloads, so they live in zeroizing buffers from the moment they are built
//! (or read) until they are dropped, and they are never logged.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use plugin_api::{KeySpec, PluginError, SecretBytes, StoreMetadata};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The protocol versions this Coffer speaks.
pub const PROTOCOL_VERSIONS: [u32; 1] = [1];

/// The largest frame either side may send (16 MiB).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

/// A frame's JSON body (without the length prefix).
pub type Frame = Zeroizing<Vec<u8>>;

/// A `Write` into a zeroizing buffer: when it grows, the old buffer is zeroized, so no copy of
/// a payload is left behind in freed memory.
pub struct ZBuf(Zeroizing<Vec<u8>>);

impl ZBuf {
    pub fn with_capacity(n: usize) -> Self {
        ZBuf(Zeroizing::new(Vec::with_capacity(n)))
    }

    pub fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl Write for ZBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let need = self.0.len() + buf.len();
        if need > self.0.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(need.max(2 * self.0.capacity())));
            bigger.extend_from_slice(&self.0);
            // The old buffer is zeroized when `self.0` is replaced and dropped.
            self.0 = bigger;
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Serialize a request into a frame body.
pub fn request(id: u64, method: &str, params: &impl Serialize) -> Result<Frame, PluginError> {
    #[derive(Serialize)]
    struct Request<'a, P> {
        id: u64,
        method: &'a str,
        params: &'a P,
    }
    let mut buf = ZBuf::with_capacity(1024);
    serde_json::to_writer(&mut buf, &Request { id, method, params })
        .map_err(|e| PluginError::Internal(format!("cannot encode a {method} request: {e}")))?;
    Ok(buf.into_inner())
}

/// Write one frame: the length prefix, then the body.
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&n| n as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(body)?;
    w.flush()
}

/// Read one frame. `Ok(None)` at a clean end of stream (between frames).
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended inside a frame header",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes(head) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {MAX_FRAME}"),
        ));
    }
    let mut body = Zeroizing::new(vec![0u8; len]);
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

/// The id of a response frame, read without keeping anything else of it.
pub fn response_id(frame: &[u8]) -> Result<u64, String> {
    #[derive(Deserialize)]
    struct Head {
        id: Option<u64>,
    }
    match serde_json::from_slice::<Head>(frame) {
        Ok(Head { id: Some(id) }) => Ok(id),
        Ok(Head { id: None }) => Err("a frame without a numeric \"id\"".to_owned()),
        Err(e) => Err(format!(
            "a frame that is not a JSON object ({})",
            json_error(&e)
        )),
    }
}

/// A JSON error without the input: serde_json's own message may quote the offending value,
/// which could be secret material.
fn json_error(e: &serde_json::Error) -> String {
    let shown = e.to_string();
    let kind = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "not valid JSON",
        // These name only fields of Coffer's own message types.
        serde_json::error::Category::Data
            if shown.starts_with("missing field") || shown.starts_with("duplicate field") =>
        {
            shown
                .split(" at line ")
                .next()
                .unwrap_or("a field is wrong")
        }
        serde_json::error::Category::Data => "a field has the wrong type",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}

/// An error as the plugin reports it.
#[derive(Debug, Deserialize)]
pub struct WireError {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// Longest plugin message Coffer keeps (they reach logs).
const MAX_MESSAGE: usize = 1000;

/// Cut `s` to at most `max` bytes, on a character boundary.
pub fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

impl WireError {
    /// The `PluginError` for this error code (unknown codes are `Internal`).
    pub fn into_plugin_error(self, context: &str) -> PluginError {
        let msg = truncate(format!("{context}: {}", self.message), MAX_MESSAGE);
        match self.code.as_str() {
            "unsupported" => PluginError::Unsupported(msg),
            "invalid_input" => PluginError::InvalidInput(msg),
            "not_found" => PluginError::NotFound(msg),
            "integrity" => PluginError::Integrity(msg),
            "key_unavailable" => PluginError::KeyUnavailable(msg),
            "unavailable" => PluginError::Unavailable(msg),
            "config" => PluginError::Config(msg),
            "internal" => PluginError::Internal(msg),
            other => PluginError::Internal(truncate(
                format!("{msg} (unknown error code {other:?})"),
                MAX_MESSAGE + 40,
            )),
        }
    }
}

/// Parse a response frame into its result, or the plugin's error.
pub fn parse_response<T: DeserializeOwned>(frame: &[u8], context: &str) -> Result<T, PluginError> {
    #[derive(Deserialize)]
    #[serde(bound = "T: DeserializeOwned")]
    struct Response<T> {
        #[serde(default = "Option::default")]
        result: Option<T>,
        #[serde(default)]
        error: Option<WireError>,
    }
    let resp: Response<T> = serde_json::from_slice(frame).map_err(|e| {
        PluginError::Internal(format!(
            "{context}: the plugin sent a malformed response ({})",
            json_error(&e)
        ))
    })?;
    match (resp.result, resp.error) {
        (_, Some(err)) => Err(err.into_plugin_error(context)),
        (Some(result), None) => Ok(result),
        (None, None) => Err(PluginError::Internal(format!(
            "{context}: the plugin's response has neither \"result\" nor \"error\""
        ))),
    }
}

/// A key spec on the wire. The passphrase (asymmetric generation only) is base64 of its UTF-8
/// bytes.
#[derive(Serialize)]
pub struct WireKeySpec<'a> {
    pub algorithm: Option<&'a str>,
    pub bit_length: Option<u32>,
    pub mode: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<&'a str>,
}

impl<'a> WireKeySpec<'a> {
    /// The spec without its passphrase.
    pub fn of(spec: &'a KeySpec) -> Self {
        WireKeySpec {
            algorithm: spec.algorithm.as_deref(),
            bit_length: spec.bit_length,
            mode: spec.mode.as_deref(),
            passphrase: None,
        }
    }
}

/// Base64 of secret bytes, in a zeroizing string.
pub fn b64(bytes: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(STANDARD.encode(bytes))
}

/// Secret bytes from base64 sent by the plugin.
pub fn unb64(text: &str, context: &str) -> Result<SecretBytes, PluginError> {
    STANDARD
        .decode(text.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| PluginError::Internal(format!("{context}: the payload is not valid base64")))
}

/// A string from a response that may hold secret material (base64 of a payload): kept in a
/// zeroizing buffer.
pub struct SecretString(pub Zeroizing<String>);

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SecretString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SecretString, E> {
                Ok(SecretString(Zeroizing::new(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<SecretString, E> {
                Ok(SecretString(Zeroizing::new(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// `result` of the handshake.
#[derive(Debug, Deserialize)]
pub struct HandshakeResult {
    pub protocol_version: u32,
    pub plugin_name: String,
    pub plugin_version: String,
}

/// `result` of store_secret and generate_symmetric_key.
#[derive(Debug, Deserialize)]
pub struct MetadataResult {
    pub metadata: StoreMetadata,
}

/// `result` of get_secret.
#[derive(Debug, Deserialize)]
pub struct GetResult {
    pub payload: SecretString,
    #[serde(default)]
    pub content_type: Option<String>,
}

/// `result` of generate_asymmetric_key.
#[derive(Debug, Deserialize)]
pub struct KeyPairResult {
    pub private_key: StoreMetadata,
    pub public_key: StoreMetadata,
    #[serde(default)]
    pub passphrase: Option<StoreMetadata>,
}

/// `result` of store_secret_supports and generate_supports.
#[derive(Debug, Deserialize)]
pub struct SupportedResult {
    pub supported: bool,
}

/// The empty `result` of delete_secret (any object is accepted).
#[derive(Debug, Deserialize)]
pub struct EmptyResult {}

/// Who a call is for.
#[derive(Serialize)]
pub struct Owner<'a> {
    pub project_id: &'a str,
    pub secret_id: &'a str,
}

/// Metadata as sent back to the plugin.
pub type WireMetadata<'a> = &'a BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut out = Vec::new();
        write_frame(&mut out, br#"{"id":1}"#).unwrap();
        write_frame(&mut out, b"{}").unwrap();
        assert_eq!(&out[..4], &[0, 0, 0, 8]);
        let mut r = &out[..];
        assert_eq!(
            read_frame(&mut r).unwrap().unwrap().as_slice(),
            br#"{"id":1}"#
        );
        assert_eq!(read_frame(&mut r).unwrap().unwrap().as_slice(), b"{}");
        assert!(read_frame(&mut r).unwrap().is_none());
    }

    #[test]
    fn truncated_and_oversized_frames_are_errors() {
        let mut r = &[0u8, 0][..];
        assert_eq!(
            read_frame(&mut r).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let mut r = &[0u8, 0, 0, 5, b'{'][..];
        assert!(read_frame(&mut r).is_err());
        let big = (MAX_FRAME as u32 + 1).to_be_bytes();
        let mut r = &big[..];
        assert_eq!(
            read_frame(&mut r).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn requests_are_json_with_id_method_params() {
        let spec = KeySpec::new("AES", 256);
        let frame = request(
            7,
            "generate_supports",
            &serde_json::json!({
                "key_spec": WireKeySpec::of(&spec)
            }),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&frame).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": 7, "method": "generate_supports", "params": {
                "key_spec": {"algorithm": "AES", "bit_length": 256, "mode": null}}})
        );
    }

    #[test]
    fn zbuf_grows_and_keeps_everything() {
        let mut b = ZBuf::with_capacity(2);
        for _ in 0..100 {
            b.write_all(b"abc").unwrap();
        }
        assert_eq!(b.into_inner().len(), 300);
    }

    #[test]
    fn responses_map_error_codes_onto_plugin_errors() {
        let ok: SupportedResult =
            parse_response(br#"{"id":1,"result":{"supported":true}}"#, "c").unwrap();
        assert!(ok.supported);
        for (code, want) in [
            ("unsupported", PluginError::Unsupported("c: m".into())),
            ("invalid_input", PluginError::InvalidInput("c: m".into())),
            ("not_found", PluginError::NotFound("c: m".into())),
            ("integrity", PluginError::Integrity("c: m".into())),
            (
                "key_unavailable",
                PluginError::KeyUnavailable("c: m".into()),
            ),
            ("unavailable", PluginError::Unavailable("c: m".into())),
            ("config", PluginError::Config("c: m".into())),
            ("internal", PluginError::Internal("c: m".into())),
        ] {
            let frame = format!(r#"{{"id":1,"error":{{"code":"{code}","message":"m"}}}}"#);
            let err = parse_response::<SupportedResult>(frame.as_bytes(), "c").unwrap_err();
            assert_eq!(err, want);
        }
        let err = parse_response::<SupportedResult>(
            br#"{"id":1,"error":{"code":"weird","message":"m"}}"#,
            "c",
        )
        .unwrap_err();
        assert!(matches!(err, PluginError::Internal(m) if m.contains("weird")));
    }

    #[test]
    fn malformed_responses_are_internal_errors_without_their_content() {
        for frame in [
            &br#"{"id":1}"#[..],
            br#"{"id":1,"result":{"supported":"yes-SECRET"}}"#,
            b"not json SECRET",
        ] {
            let err = parse_response::<SupportedResult>(frame, "ctx").unwrap_err();
            let shown = err.to_string();
            assert!(matches!(err, PluginError::Internal(_)), "{shown}");
            assert!(!shown.contains("SECRET"), "{shown}");
        }
    }

    #[test]
    fn response_ids_are_read_from_any_frame() {
        assert_eq!(response_id(br#"{"result":{},"id":42}"#), Ok(42));
        assert!(response_id(br#"{"result":{}}"#).is_err());
        assert!(response_id(b"[1,2]").is_err());
        assert!(response_id(br#"{"id":"7"}"#).is_err());
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let s = truncate("é".repeat(10), 5);
        assert_eq!(s, "éé…");
    }

    #[test]
    fn secret_strings_do_not_show_in_debug() {
        let r: GetResult = serde_json::from_str(r#"{"payload":"c2VjcmV0"}"#).unwrap();
        assert!(!format!("{r:?}").contains("c2VjcmV0"));
        assert_eq!(unb64(&r.payload.0, "x").unwrap().as_slice(), b"secret");
    }
}
