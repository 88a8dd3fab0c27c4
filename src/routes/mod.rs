//! HTTP handlers only: extract, call a service, pick a status code. One router per module,
//! merged in `app.rs`; the OpenAPI annotations live here.

pub mod auth;
pub mod docs;
pub mod ops;
pub mod users;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::core::error::AppError;

/// A UUID path segment; anything else answers 404 (a path that names nothing).
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| AppError::NotFound)?;
        Uuid::parse_str(&raw)
            .map(PathId)
            .map_err(|_| AppError::NotFound)
    }
}
