//! The domain's records and queries that every layer shares: plain data, no SQL, no HTTP.
//! The API builds them from a request, the service passes them on, the database reads and
//! writes them; none of those layers owns them.

use chrono::NaiveDateTime;

/// An explicit `read` ACL of a secret or container (none: the implicit open one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub project_access: bool,
    pub users: Vec<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A secret reference inside a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub name: Option<String>,
    pub secret_id: String,
}

/// A comparison in a date filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A sortable column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Algorithm,
    BitLength,
    Created,
    Expiration,
    Mode,
    Name,
    SecretType,
    Status,
    Updated,
}

/// What `GET /v1/secrets` asks for.
#[derive(Debug, Clone, Default)]
pub struct SecretQuery {
    pub project_id: String,
    /// List the secrets whose read ACL names this user, in any project (`acl_only=true`).
    pub acl_user: Option<String>,
    /// Case-insensitive exact matches.
    pub name: Option<String>,
    pub algorithm: Option<String>,
    pub mode: Option<String>,
    pub bit_length: Option<i32>,
    pub secret_type: Option<String>,
    pub created: Vec<(DateOp, NaiveDateTime)>,
    pub updated: Vec<(DateOp, NaiveDateTime)>,
    pub expiration: Vec<(DateOp, NaiveDateTime)>,
    /// `(key, descending)`; empty means by creation time.
    pub sort: Vec<(SortKey, bool)>,
    pub offset: i64,
    pub limit: i64,
}
