//! Media types, read one way everywhere: the `Accept` and `Content-Type` headers of every
//! handler, the events a request produces, and the `payload_content_type` of bodies.
//!
//! A media type is `type/subtype` with at most one parameter, `charset`, whose only meaning
//! is UTF-8 (Barbican's `normalize_content_type` looks at the first parameter as a charset and
//! nothing else). Anything that a second reader could take for something else — several types
//! glued with `;`, a parameter without `=`, a repeated parameter, a list — is not a media type
//! Coffer serves, so it is refused rather than guessed at.

/// The content types Coffer stores and serves, in their internal (normalized) form.
pub const SUPPORTED: [&str; 3] = [
    "text/plain",
    "application/octet-stream",
    "application/pkcs8",
];

/// A syntactically valid media type: its essence in lower case and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    /// `type/subtype`, lower case.
    pub essence: String,
    /// `(name in lower case, value)` in order; values unquoted.
    pub params: Vec<(String, String)>,
}

/// Why a header value is not one media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaError {
    /// Not `type/subtype *(; name=value)`, a repeated parameter, or a list of types.
    Malformed,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn token(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_tchar(s[i]) {
        i += 1;
    }
    i
}

fn skip_ows(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

impl MediaType {
    /// Parse one media type (RFC 9110 §8.3.1 syntax); surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<MediaType, MediaError> {
        let s = text.trim_matches([' ', '\t']).as_bytes();
        let type_end = token(s, 0);
        if type_end == 0 || s.get(type_end) != Some(&b'/') {
            return Err(MediaError::Malformed);
        }
        let sub_end = token(s, type_end + 1);
        if sub_end == type_end + 1 {
            return Err(MediaError::Malformed);
        }
        let essence = String::from_utf8_lossy(&s[..sub_end]).to_ascii_lowercase();
        let mut params: Vec<(String, String)> = Vec::new();
        let mut i = skip_ows(s, sub_end);
        while i < s.len() {
            if s[i] != b';' {
                return Err(MediaError::Malformed);
            }
            i = skip_ows(s, i + 1);
            if i == s.len() || s[i] == b';' {
                continue; // an empty parameter is allowed
            }
            let name_end = token(s, i);
            if name_end == i || s.get(name_end) != Some(&b'=') {
                return Err(MediaError::Malformed);
            }
            let name = String::from_utf8_lossy(&s[i..name_end]).to_ascii_lowercase();
            let (value, end) = if s.get(name_end + 1) == Some(&b'"') {
                quoted(s, name_end + 1)?
            } else {
                let end = token(s, name_end + 1);
                if end == name_end + 1 {
                    return Err(MediaError::Malformed);
                }
                (
                    String::from_utf8_lossy(&s[name_end + 1..end]).into_owned(),
                    end,
                )
            };
            if params.iter().any(|(n, _)| *n == name) {
                return Err(MediaError::Malformed);
            }
            params.push((name, value));
            i = skip_ows(s, end);
        }
        Ok(MediaType { essence, params })
    }

    /// The internal content type this stands for, when Coffer supports it: a supported
    /// essence with no parameter, or only `charset=utf-8`.
    pub fn supported(&self) -> Option<&'static str> {
        let charset_ok = match self.params.as_slice() {
            [] => true,
            [(name, value)] => name == "charset" && value.eq_ignore_ascii_case("utf-8"),
            _ => false,
        };
        if !charset_ok {
            return None;
        }
        SUPPORTED.into_iter().find(|t| *t == self.essence)
    }
}

/// A quoted-string starting at `s[start] == '"'`: its unescaped value and the index after it.
fn quoted(s: &[u8], start: usize) -> Result<(String, usize), MediaError> {
    let mut out = Vec::new();
    let mut i = start + 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Ok((String::from_utf8_lossy(&out).into_owned(), i + 1)),
            b'\\' if i + 1 < s.len() => {
                out.push(s[i + 1]);
                i += 2;
            }
            c if c == b'\t' || (b' '..0x7f).contains(&c) => {
                out.push(c);
                i += 1;
            }
            _ => return Err(MediaError::Malformed),
        }
    }
    Err(MediaError::Malformed)
}

/// A content type as Coffer stores it: the internal form of a supported type, or the text as
/// given (which validation then refuses). Barbican's `normalize_content_type`, read strictly.
pub fn normalize(text: &str) -> String {
    match MediaType::parse(text).ok().and_then(|m| m.supported()) {
        Some(t) => t.to_owned(),
        None => text.to_owned(),
    }
}

/// What an `Accept` header asks of a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// No header, or an empty one.
    Absent,
    /// Exactly `application/json`.
    Json,
    /// Exactly `*/*`.
    Any,
    /// A supported payload type (internal form).
    Payload(&'static str),
    /// Anything else: malformed, several values, unsupported types or parameters.
    Unsupported,
}

impl Accept {
    /// Read the `Accept` header values of a request (`None` for a value that is not visible
    /// ASCII). More than one header is a list, which no secret is served as.
    pub fn of<'a>(mut values: impl Iterator<Item = Option<&'a str>>) -> Accept {
        let Some(first) = values.next() else {
            return Accept::Absent;
        };
        if values.next().is_some() {
            return Accept::Unsupported;
        }
        let Some(text) = first else {
            return Accept::Unsupported;
        };
        match text.trim_matches([' ', '\t']) {
            "" => Accept::Absent,
            "application/json" => Accept::Json,
            "*/*" => Accept::Any,
            t => match MediaType::parse(t).ok().and_then(|m| m.supported()) {
                Some(p) => Accept::Payload(p),
                None => Accept::Unsupported,
            },
        }
    }

    /// Whether `GET /v1/secrets/{id}` answers with metadata (as Barbican's
    /// `is_json_request_accept`); otherwise it is a (legacy) payload read.
    pub fn wants_metadata(self) -> bool {
        matches!(self, Accept::Absent | Accept::Json | Accept::Any)
    }

    /// The content type a payload is sent as (`stored`: the secret's own), or `None` when it
    /// cannot be sent as asked.
    pub fn payload_type(self, stored: Option<&str>) -> Option<&'static str> {
        match self {
            Accept::Absent => Some("application/octet-stream"),
            Accept::Any => SUPPORTED
                .into_iter()
                .find(|t| Some(*t) == stored)
                .or(Some("application/octet-stream")),
            Accept::Payload(t) => Some(t),
            Accept::Json | Accept::Unsupported => None,
        }
    }
}

/// What a request's `Content-Type` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentType {
    Absent,
    /// A well-formed media type (its essence, lower case).
    Media(MediaType),
    /// Present but not one media type (or several headers).
    Invalid,
}

impl ContentType {
    /// Read the `Content-Type` header values of a request.
    pub fn of<'a>(mut values: impl Iterator<Item = Option<&'a str>>) -> ContentType {
        let Some(first) = values.next() else {
            return ContentType::Absent;
        };
        if values.next().is_some() {
            return ContentType::Invalid;
        }
        match first.map(MediaType::parse) {
            Some(Ok(m)) => ContentType::Media(m),
            _ => ContentType::Invalid,
        }
    }

    /// The essence (`""` when absent or invalid).
    pub fn essence(&self) -> &str {
        match self {
            ContentType::Media(m) => &m.essence,
            _ => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> Accept {
        Accept::of(std::iter::once(Some(v)))
    }

    #[test]
    fn media_types_parse_strictly() {
        let m = MediaType::parse(" Text/Plain ; Charset=\"UTF-8\" ").unwrap();
        assert_eq!(m.essence, "text/plain");
        assert_eq!(m.params, vec![("charset".into(), "UTF-8".into())]);
        assert_eq!(m.supported(), Some("text/plain"));
        assert_eq!(
            MediaType::parse("text/plain;").unwrap().supported(),
            Some("text/plain")
        );
        for bad in [
            "",
            "text",
            "text/",
            "/plain",
            "text/plain;charset",
            "text/plain;charset=",
            "text/plain;charset=utf-8;charset=utf-8",
            "text/plain;CHARSET=utf-8;charset=latin-1",
            "text/plain;charset=utf-8;application/json",
            "text/plain, application/json",
            "text/plain;charset=\"utf-8",
            "text/plain x",
            "text/pl\u{e9}in",
        ] {
            assert_eq!(MediaType::parse(bad), Err(MediaError::Malformed), "{bad:?}");
        }
        assert_eq!(
            MediaType::parse("text/plain; charset=latin-1")
                .unwrap()
                .supported(),
            None
        );
        assert_eq!(
            MediaType::parse("text/plain; q=0.5").unwrap().supported(),
            None
        );
        assert_eq!(
            MediaType::parse("text/plain; charset=utf-8; format=flowed")
                .unwrap()
                .supported(),
            None
        );
        assert_eq!(MediaType::parse("text/html").unwrap().supported(), None);
    }

    #[test]
    fn normalization_keeps_unsupported_text() {
        assert_eq!(normalize("TEXT/PLAIN; Charset=UTF-8"), "text/plain");
        assert_eq!(normalize("application/pkcs8"), "application/pkcs8");
        assert_eq!(
            normalize("text/plain; charset=latin-1"),
            "text/plain; charset=latin-1"
        );
        assert_eq!(
            normalize("text/plain;charset=utf-8;application/json"),
            "text/plain;charset=utf-8;application/json"
        );
    }

    #[test]
    fn accept_has_one_reading() {
        assert_eq!(Accept::of(std::iter::empty()), Accept::Absent);
        assert_eq!(accept("  "), Accept::Absent);
        assert_eq!(accept("application/json"), Accept::Json);
        assert_eq!(accept(" */* "), Accept::Any);
        assert_eq!(accept("text/plain"), Accept::Payload("text/plain"));
        assert_eq!(
            accept("text/plain;charset=utf-8"),
            Accept::Payload("text/plain")
        );
        for odd in [
            "text/plain;charset=utf-8;application/json",
            "application/json;charset=utf-8",
            "application/json, text/plain",
            "text/*",
            "text/plain;q=1",
            "text/plain;;charset=utf-8;charset=utf-8",
        ] {
            assert_eq!(accept(odd), Accept::Unsupported, "{odd}");
            assert!(!accept(odd).wants_metadata(), "{odd}");
        }
        assert_eq!(Accept::of(std::iter::once(None)), Accept::Unsupported);
        assert_eq!(
            Accept::of([Some("application/json"), Some("text/plain")].into_iter()),
            Accept::Unsupported
        );
        assert_eq!(
            Accept::Any.payload_type(Some("text/plain")),
            Some("text/plain")
        );
        assert_eq!(
            Accept::Any.payload_type(None),
            Some("application/octet-stream")
        );
        assert_eq!(
            Accept::Absent.payload_type(Some("text/plain")),
            Some("application/octet-stream")
        );
        assert_eq!(Accept::Json.payload_type(None), None);
        assert_eq!(Accept::Unsupported.payload_type(None), None);
    }

    #[test]
    fn content_type_headers() {
        assert_eq!(ContentType::of(std::iter::empty()), ContentType::Absent);
        assert_eq!(
            ContentType::of(std::iter::once(Some("application/json; charset=UTF-8"))).essence(),
            "application/json"
        );
        assert_eq!(
            ContentType::of(std::iter::once(Some("application/json;x;y"))),
            ContentType::Invalid
        );
        assert_eq!(
            ContentType::of([Some("application/json"), Some("text/plain")].into_iter()),
            ContentType::Invalid
        );
        assert_eq!(ContentType::of(std::iter::once(None)), ContentType::Invalid);
    }
}
