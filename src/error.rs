//! The one API error type, mapped to HTTP in one place, in Barbican's error shape:
//! `{"code": <int>, "title": "<reason>", "description": "<message>"}`.
//!
//! 5xx bodies never carry internals: the detail is logged (with the request id) instead.

use std::fmt;

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use plugin_api::PluginError;
use serde::Serialize;

use crate::db::DbError;
use crate::json::json_response;
use crate::service::ServiceError;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    description: String,
    /// Send `description` as a `text/plain` page instead of the JSON shape.
    plain: bool,
    /// A body of another shape, sent as is with its content type.
    raw: Option<(&'static str, Vec<u8>)>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Barbican's error body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The HTTP status code.
    pub code: u16,
    /// The HTTP reason phrase.
    pub title: String,
    /// What went wrong.
    pub description: String,
}

/// The reason phrase webob uses (and Barbican therefore sends) for a status.
pub fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        413 => "Request Entity Too Large",
        code => StatusCode::from_u16(code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error"),
    }
}

impl ApiError {
    pub fn new(status: StatusCode, description: impl Into<String>) -> Self {
        ApiError {
            status,
            description: description.into(),
            plain: false,
            raw: None,
            headers: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Add a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// A `text/plain` error page (as webob middleware answers some errors).
    pub fn plain(status: StatusCode, body: impl Into<String>) -> Self {
        ApiError {
            plain: true,
            ..ApiError::new(status, body)
        }
    }

    /// An error whose body has a shape of its own (an authentication scheme's 401);
    /// `description` is what the log says.
    pub fn raw(
        status: StatusCode,
        description: impl Into<String>,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Self {
        ApiError {
            raw: Some((content_type, body)),
            ..ApiError::new(status, description)
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, description)
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, description)
    }

    pub fn conflict(description: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, description)
    }

    /// A JSON-schema violation, in Barbican's template.
    pub fn schema(schema: &str, reason: &str, property: Option<&str>) -> Self {
        ApiError::bad_request(format!(
            "Provided object does not match schema '{schema}': {reason}. Invalid property: '{}'",
            property.unwrap_or("None")
        ))
    }

    /// The caller may not perform `operation` ("Secret creation", "Secret retrieval", ...).
    pub fn forbidden(operation: &str) -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{operation} attempt not allowed - please review your user/project privileges"),
        )
    }

    /// 413, as Barbican words it.
    pub fn too_large() -> Self {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Provided information too large to process",
        )
    }

    /// 415 listing the accepted content types the way Python prints a list.
    pub fn unsupported_media_type(expected: &[&str]) -> Self {
        let list: Vec<String> = expected.iter().map(|t| format!("'{t}'")).collect();
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Unexpected content type. Expected content types are: [{}]",
                list.join(", ")
            ),
        )
    }

    /// 405 with an `Allow` header.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "").with_header(
            actix_web::http::header::ALLOW,
            HeaderValue::from_static(allow),
        )
    }

    /// A client-caused failure reported by an operation: "`{operation}` issue seen - `{reason}`."
    pub fn issue(status: StatusCode, operation: &str, reason: &str) -> Self {
        ApiError::new(status, format!("{operation} issue seen - {reason}."))
    }

    /// A server-side failure: the client gets Barbican's generic sentence, the log gets
    /// `detail`.
    pub fn failure(operation: &str, detail: &dyn fmt::Display) -> Self {
        tracing::error!(operation, error = %detail, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{operation} failure seen - please contact site administrator."),
        )
    }

    /// 503: a backend (database, HSM, identity service) is unreachable or saturated.
    pub fn unavailable(operation: &str, detail: &dyn fmt::Display) -> Self {
        tracing::warn!(operation, error = %detail, "backend unavailable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{operation} failed: the service is temporarily unavailable, retry later."),
        )
    }

    /// Map a plugin failure during `operation`.
    fn from_plugin(operation: &str, err: PluginError) -> Self {
        match err {
            PluginError::Unsupported(_) => ApiError::issue(
                StatusCode::BAD_REQUEST,
                operation,
                "No plugin was found that could support your request",
            ),
            PluginError::InvalidInput(ref m) => {
                tracing::warn!(operation, error = %m, "plugin refused input");
                ApiError::issue(
                    StatusCode::BAD_REQUEST,
                    operation,
                    "Problem decoding payload",
                )
            }
            PluginError::NotFound(ref m) => {
                tracing::warn!(operation, error = %m, "secret material missing in its store");
                ApiError::not_found("Secret not found.")
            }
            PluginError::Unavailable(ref m) => ApiError::unavailable(operation, m),
            // A row that does not match its material, its KEK or its binding: tampering or
            // corruption. Answered as Barbican answers a failed decryption; logged as what it
            // is (the check that failed, never material; the span carries the request id).
            PluginError::Integrity(ref m) => {
                tracing::error!(operation, check = %m, "integrity check failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("{operation} failure seen - please contact site administrator."),
                )
            }
            PluginError::KeyUnavailable(_) | PluginError::Config(_) | PluginError::Internal(_) => {
                ApiError::failure(operation, &err)
            }
        }
    }

    /// Map a database failure during `operation`.
    fn from_db(operation: &str, err: DbError) -> Self {
        match err {
            DbError::Unavailable(_) => ApiError::unavailable(operation, &err),
            DbError::Query(_) | DbError::Migration(_) | DbError::Corrupt(_) => {
                ApiError::failure(operation, &err)
            }
        }
    }
}

/// The one mapping of the service layer's errors to HTTP: every case, its status and
/// Barbican's sentence; server-side failures are logged here and nowhere else.
impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::NotFound(sentence) => ApiError::not_found(sentence),
            ServiceError::Forbidden(operation) => ApiError::forbidden(operation),
            ServiceError::NotAllowed(sentence) => ApiError::new(StatusCode::FORBIDDEN, sentence),
            ServiceError::QuotaReached(operation) => ApiError::issue(
                StatusCode::FORBIDDEN,
                operation,
                "Creation not allowed because a quota has been reached",
            ),
            ServiceError::Conflict(sentence) => ApiError::conflict(sentence),
            ServiceError::Invalid(message) => ApiError::bad_request(message),
            ServiceError::Refused { operation, reason } => {
                ApiError::issue(StatusCode::BAD_REQUEST, operation, reason)
            }
            ServiceError::Db { operation, source } => ApiError::from_db(operation, source),
            ServiceError::Plugin { operation, source } => ApiError::from_plugin(operation, source),
            ServiceError::Internal { operation, detail } => ApiError::failure(operation, &detail),
        }
    }
}

/// The status and description a service error is answered with (an order records both when
/// its generation fails).
pub fn status_and_description(err: ServiceError) -> (u16, String) {
    let api = ApiError::from(err);
    (api.status.as_u16(), api.description)
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.description)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = if let Some((content_type, body)) = &self.raw {
            let mut res = HttpResponse::build(self.status).body(body.clone());
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            res
        } else if self.plain {
            let mut res = HttpResponse::build(self.status).body(self.description.clone());
            res.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=UTF-8"),
            );
            res
        } else {
            json_response(
                self.status,
                &ErrorBody {
                    code: self.status.as_u16(),
                    title: title(self.status).to_owned(),
                    description: self.description.clone(),
                },
            )
        };
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            res.head_mut().reason = Some("Request Entity Too Large");
        }
        // The rest of the body was not read: the connection cannot carry another request.
        if matches!(
            self.status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
        ) {
            res.head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        for (name, value) in &self.headers {
            res.headers_mut().insert(name.clone(), value.clone());
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    async fn body(e: ApiError) -> (StatusCode, String, String) {
        let res = e.error_response();
        let ct = res
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let status = res.status();
        let bytes = to_bytes(res.into_body()).await.unwrap_or_default();
        (status, ct, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[actix_web::test]
    async fn errors_have_barbicans_shape() {
        let (s, ct, b) = body(ApiError::not_found("Secret not found.")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(ct, "application/json");
        assert_eq!(
            b,
            r#"{"code": 404, "title": "Not Found", "description": "Secret not found."}"#
        );

        let (_, _, b) = body(ApiError::too_large()).await;
        assert!(
            b.starts_with(r#"{"code": 413, "title": "Request Entity Too Large""#),
            "{b}"
        );

        let (_, _, b) = body(ApiError::schema("Secret", "'x' is too long", Some("name"))).await;
        assert!(b.contains("Provided object does not match schema 'Secret': 'x' is too long. Invalid property: 'name'"));

        let (_, _, b) = body(ApiError::unsupported_media_type(&["application/json"])).await;
        assert!(
            b.contains(r"Expected content types are: ['application/json']"),
            "{b}"
        );

        let (s, ct, b) = body(ApiError::plain(StatusCode::NOT_ACCEPTABLE, "nope")).await;
        assert_eq!(
            (s.as_u16(), ct.as_str(), b.as_str()),
            (406, "text/plain; charset=UTF-8", "nope")
        );
    }

    #[actix_web::test]
    async fn server_failures_hide_internals() {
        let err = ApiError::from_plugin(
            "Secret payload retrieval",
            PluginError::Integrity("ciphertext of secret 42 failed".into()),
        );
        let (s, _, b) = body(err).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(b.contains(
            "Secret payload retrieval failure seen - please contact site administrator."
        ));
        assert!(!b.contains("ciphertext"));

        let (s, _, b) = body(ApiError::from_plugin(
            "Secret creation",
            PluginError::Unavailable("hsm down".into()),
        ))
        .await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!b.contains("hsm"));

        let (s, _, b) = body(ApiError::from_plugin(
            "Secret creation",
            PluginError::Unsupported("x".into()),
        ))
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(b.contains(
            "Secret creation issue seen - No plugin was found that could support your request."
        ));

        let (s, _, _) = body(ApiError::from_plugin(
            "Secret retrieval",
            PluginError::NotFound("x".into()),
        ))
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }

    #[actix_web::test]
    async fn method_not_allowed_carries_allow() {
        let res = ApiError::method_not_allowed("GET, POST").error_response();
        assert_eq!(res.headers().get("allow").unwrap(), "GET, POST");
    }
}
