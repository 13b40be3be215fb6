//! Extractors for what the pipeline attached to a request: the caller's identity and the
//! negotiated microversion.

use std::fmt;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, Ready};
use plugin_api::AuthContext;

use crate::error::ApiError;

/// The authenticated caller.
#[derive(Clone)]
pub struct Caller(pub Arc<AuthContext>);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "Authentication required",
            )
        }))
    }
}

/// A key-manager API microversion (`1.0`, `1.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Microversion {
    pub major: u32,
    pub minor: u32,
}

impl Microversion {
    pub const MIN: Microversion = Microversion { major: 1, minor: 0 };
    pub const MAX: Microversion = Microversion { major: 1, minor: 2 };

    /// Whether secret consumers are shown (introduced in 1.1).
    pub fn has_consumers(self) -> bool {
        self >= Microversion { major: 1, minor: 1 }
    }

    /// Whether deleting a secret honours `force` and refuses consumed secrets (1.2).
    pub fn guards_consumed_deletes(self) -> bool {
        self >= Microversion { major: 1, minor: 2 }
    }
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why a requested microversion was refused: 406 (unsupported) or 400 (unparseable).
#[derive(Debug, PartialEq, Eq)]
pub enum MicroversionError {
    Unacceptable(String),
    Invalid(String),
}

/// The microversion a request asks for in `OpenStack-API-Version` (the last `key-manager`
/// entry wins, as microversion_parse reads folded headers); the minimum when absent.
pub fn requested_microversion(header: Option<&str>) -> Result<Microversion, MicroversionError> {
    let Some(value) = header.and_then(|h| {
        h.split(',').rev().find_map(|part| {
            let mut it = part.split_whitespace();
            match (it.next(), it.next()) {
                (Some(service), Some(version)) if service.eq_ignore_ascii_case("key-manager") => {
                    Some(version.to_owned())
                }
                _ => None,
            }
        })
    }) else {
        return Ok(Microversion::MIN);
    };
    if value == "latest" {
        return Ok(Microversion::MAX);
    }
    let parsed = value
        .split_once('.')
        .and_then(|(a, b)| Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?)));
    let Some((major, minor)) = parsed else {
        return Err(MicroversionError::Invalid(format!(
            "invalid version string: {value}"
        )));
    };
    let v = Microversion { major, minor };
    if (Microversion::MIN..=Microversion::MAX).contains(&v) {
        Ok(v)
    } else {
        Err(MicroversionError::Unacceptable(format!(
            "Unacceptable version header: {value}"
        )))
    }
}

/// The negotiated microversion of a request.
#[derive(Debug, Clone, Copy)]
pub struct ApiVersion(pub Microversion);

impl FromRequest for ApiVersion {
    type Error = ApiError;
    type Future = Ready<Result<ApiVersion, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(req
            .extensions()
            .get::<ApiVersion>()
            .copied()
            .unwrap_or(ApiVersion(Microversion::MIN))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microversion_negotiation() {
        let v = |h: Option<&str>| requested_microversion(h);
        assert_eq!(v(None), Ok(Microversion::MIN));
        assert_eq!(v(Some("key-manager 1.2")), Ok(Microversion::MAX));
        assert_eq!(
            v(Some("key-manager 1.1")),
            Ok(Microversion { major: 1, minor: 1 })
        );
        assert_eq!(v(Some("Key-Manager 1.0")), Ok(Microversion::MIN));
        assert_eq!(v(Some("key-manager latest")), Ok(Microversion::MAX));
        assert_eq!(v(Some("compute 2.1")), Ok(Microversion::MIN));
        assert_eq!(
            v(Some("key-manager 1.0, key-manager 1.2")),
            Ok(Microversion::MAX)
        );
        assert_eq!(
            v(Some("key-manager 9.9")),
            Err(MicroversionError::Unacceptable(
                "Unacceptable version header: 9.9".into()
            ))
        );
        assert!(matches!(
            v(Some("key-manager abc")),
            Err(MicroversionError::Invalid(_))
        ));
        assert_eq!(Microversion::MAX.to_string(), "1.2");
        assert!(Microversion::MAX.has_consumers() && !Microversion::MIN.has_consumers());
        assert!(Microversion::MAX.guards_consumed_deletes());
        assert!(!Microversion { major: 1, minor: 1 }.guards_consumed_deletes());
    }
}
