//! The service layer's error: what went wrong, in the domain's terms. It names no HTTP status;
//! `crate::error` maps every case to a status and Barbican's body, exhaustively, and logs
//! server-side failures there, once.
//!
//! The sentences carried here are Barbican's own (clients and tests compare them), so they
//! belong to the operation, not to the transport.

use std::borrow::Cow;

use plugin_api::PluginError;
use thiserror::Error;

use crate::db::DbError;

/// The name of an operation as Barbican words it in its messages ("Secret creation", ...).
pub type Operation = &'static str;

/// Why a service operation did not complete.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// The entity does not exist, is not visible to the caller, or its id is malformed; the
    /// sentence is Barbican's ("Secret not found.").
    #[error("{0}")]
    NotFound(Cow<'static, str>),
    /// The policy refused `operation` to the caller.
    #[error("{0} refused by policy")]
    Forbidden(Operation),
    /// The operation is reserved to another caller (Barbican's sentence).
    #[error("{0}")]
    NotAllowed(&'static str),
    /// The project is at its quota for what `operation` creates.
    #[error("{0}: quota reached")]
    QuotaReached(Operation),
    /// The request contradicts the entity's state (Barbican's sentence).
    #[error("{0}")]
    Conflict(&'static str),
    /// Input the caller can correct, with the message for them.
    #[error("{0}")]
    Invalid(String),
    /// `operation` cannot be done for a reason the caller can act on (Barbican's "issue seen").
    #[error("{operation}: {reason}")]
    Refused {
        operation: Operation,
        reason: &'static str,
    },
    /// The database failed during `operation`.
    #[error("{operation}: {source}")]
    Db {
        operation: Operation,
        #[source]
        source: DbError,
    },
    /// A plugin failed during `operation`.
    #[error("{operation}: {source}")]
    Plugin {
        operation: Operation,
        #[source]
        source: PluginError,
    },
    /// The service found itself in a state it cannot serve (a secret held by a store that is
    /// no longer configured, a row gone between two reads). `detail` is for the log only.
    #[error("{operation}: {detail}")]
    Internal {
        operation: Operation,
        detail: String,
    },
}

impl ServiceError {
    pub fn not_found(sentence: impl Into<Cow<'static, str>>) -> Self {
        ServiceError::NotFound(sentence.into())
    }

    pub fn internal(operation: Operation, detail: impl Into<String>) -> Self {
        ServiceError::Internal {
            operation,
            detail: detail.into(),
        }
    }
}

/// Name the operation a database or plugin failure happened in: `.during(ops::CREATE)?`.
pub trait During<T> {
    fn during(self, operation: Operation) -> Result<T, ServiceError>;
}

impl<T> During<T> for Result<T, DbError> {
    fn during(self, operation: Operation) -> Result<T, ServiceError> {
        self.map_err(|source| ServiceError::Db { operation, source })
    }
}

impl<T> During<T> for Result<T, PluginError> {
    fn during(self, operation: Operation) -> Result<T, ServiceError> {
        self.map_err(|source| ServiceError::Plugin { operation, source })
    }
}
