//! The one error type of the server (rendered as RFC 9457 problem details by the HTTP layer).
//!
//! Every failure a client can see goes through [`AppError`], so every error body has the same
//! shape and a stable snake_case `code`. Internal errors are logged (inside the request span,
//! which carries the request id) and never shown to the client.

use sea_orm::DbErr;
use serde::Serialize;
use utoipa::ToSchema;

pub type AppResult<T> = Result<T, AppError>;

/// One offending field of a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The JSON name of the field (or query parameter); `""` for the body itself.
    #[schema(example = "title")]
    pub field: String,
    #[schema(example = "must not be empty")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("rate limited; retry after {retry_after_secs}s")]
    RateLimited { retry_after_secs: u64 },
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A 422 naming one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::Internal(anyhow::anyhow!("{message}"))
    }

    /// The text shown to the client (never the cause of an internal error).
    pub fn detail(&self) -> String {
        match self {
            Self::BadRequest(d)
            | Self::Unauthorized(d)
            | Self::Forbidden(d)
            | Self::Conflict(d)
            | Self::UnsupportedMediaType(d) => d.clone(),
            Self::NotFound => "The requested resource was not found.".into(),
            Self::MethodNotAllowed => "This method is not allowed on this resource.".into(),
            Self::PreconditionFailed => {
                "The resource has changed since the version given in If-Match.".into()
            }
            Self::PayloadTooLarge => "The request body is larger than 1 MiB.".into(),
            Self::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                format!("Invalid input in: {}", fields.join(", "))
            }
            Self::RateLimited { retry_after_secs } => {
                format!("Too many requests; retry after {retry_after_secs} seconds.")
            }
            // The cause of an outage or an internal error is logged, never sent.
            Self::Unavailable(_) => "The service is temporarily unavailable.".into(),
            Self::Internal(_) => "An internal error occurred.".into(),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if is_connection_error(&err) {
            Self::Unavailable(format!("database: {err}"))
        } else {
            Self::Internal(anyhow::Error::new(err))
        }
    }
}

/// True when the database could not be reached (pool exhausted, connection refused or lost,
/// server shutting down or starting up): those become 503 `unavailable`, not 500.
pub fn is_connection_error(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
        | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => is_sqlx_connection_error(e),
        _ => false,
    }
}

fn is_sqlx_connection_error(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed => true,
        // PostgreSQL SQLSTATE classes 08 (connection exception) and 57P (operator
        // intervention: admin/crash shutdown, cannot connect now), and 53300 (too many
        // connections): the server went away or is not accepting work, the query was not run.
        Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }),
        _ => false,
    }
}

/// True when the error is a unique-constraint violation (e.g. a taken email).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
