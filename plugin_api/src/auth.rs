//! Authentication plugins turn a request's headers into the caller's identity.

use thiserror::Error;

/// Read access to a request's headers, without tying plugins to an HTTP framework.
pub trait HeaderLookup: Sync {
    /// The first value of header `name` (case-insensitive), if present and valid UTF-8.
    fn header(&self, name: &str) -> Option<&str>;
}

/// Who is calling: the identity policy and ACL checks use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthContext {
    /// The project the request acts in.
    pub project_id: String,
    /// The calling user, when known.
    pub user_id: Option<String>,
    /// Role names, lower case.
    pub roles: Vec<String>,
}

impl AuthContext {
    /// Whether the caller holds `role` (compared case-insensitively).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
}

/// Why a request could not be authenticated.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No usable credentials, or credentials that are invalid or expired. Maps to 401.
    #[error("{0}")]
    Unauthenticated(String),
    /// The identity backend cannot be reached in time. Maps to 503.
    #[error("{0}")]
    Unavailable(String),
}

/// An authentication plugin.
#[async_trait::async_trait]
pub trait AuthPlugin: Send + Sync {
    /// The registry name of the plugin (`"trusted_headers"`).
    fn name(&self) -> &'static str;

    /// Authenticate a request from its headers.
    async fn authenticate(&self, headers: &dyn HeaderLookup) -> Result<AuthContext, AuthError>;

    /// The value of `WWW-Authenticate` to send with a 401, if the scheme has one.
    fn challenge(&self) -> Option<String> {
        None
    }

    /// The body of a 401, when the scheme's clients expect their own shape; `None`: the
    /// service's error JSON with the [`AuthError::Unauthenticated`] message.
    fn rejection(&self) -> Option<Rejection> {
        None
    }

    /// Whether the identity backend (Keystone ...) can be asked right now (asked by `/readyz`;
    /// should answer within a second). Default: healthy.
    async fn health(&self) -> Result<(), AuthError> {
        Ok(())
    }

    /// Whether the plugin believes what a caller says of itself without any proof (identity
    /// headers with no shared secret from an authenticating proxy). The core then refuses the
    /// production profile and public binds, and answers only requests addressed to it by a
    /// loopback name or its configured host (DNS rebinding).
    fn believes_caller(&self) -> bool {
        false
    }
}

/// A 401 response body of the plugin's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}
