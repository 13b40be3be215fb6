use thiserror::Error;

/// Every way a plugin call can fail. The core maps each variant to one HTTP status; messages
/// must never contain payloads or key material (they are logged and some reach clients).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// The request asks for something this plugin cannot do (an algorithm, a bit length, a
    /// mode, a passphrase). Maps to 400.
    #[error("not supported: {0}")]
    Unsupported(String),

    /// The caller's input is unusable (for instance malformed stored metadata handed back by a
    /// caller, or a payload the backend refuses). Maps to 400.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The backend no longer holds the material the metadata points at. Maps to 404.
    #[error("secret material not found: {0}")]
    NotFound(String),

    /// Authenticated decryption or unwrapping failed: the ciphertext, the wrapped KEK or the
    /// binding (project, secret) does not match what was encrypted. Tampering or a row copied
    /// elsewhere. Maps to 500; the detail goes to the log, never to the client.
    #[error("integrity check failed: {0}")]
    Integrity(String),

    /// A key this operation needs (for instance the master KEK a project KEK was wrapped with)
    /// is not configured or not present in the backend. Maps to 500.
    #[error("key unavailable: {0}")]
    KeyUnavailable(String),

    /// The backend is down, busy or timed out; retrying later may succeed. Maps to 503.
    #[error("backend unavailable: {0}")]
    Unavailable(String),

    /// The plugin's configuration section is wrong. Reported at start-up.
    #[error("configuration error: {0}")]
    Config(String),

    /// Anything else. Maps to 500.
    #[error("internal plugin error: {0}")]
    Internal(String),
}
