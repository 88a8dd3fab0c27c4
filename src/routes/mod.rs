//! HTTP handlers only: extract, call a service, pick a status code. One router per module,
//! merged in `app.rs`; the OpenAPI annotations live here.

pub mod activity;
pub mod auth;
pub mod comments;
pub mod docs;
pub mod notifications;
pub mod ops;
pub mod projects;
pub mod reports;
pub mod schema;
pub mod tasks;
pub mod users;
pub mod webapp;

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

fn parse_segment(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound)
}

/// Two UUID path segments (e.g. `/projects/{id}/members/{user_id}`); anything else is 404.
pub struct PathIds(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((a, b)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_| AppError::NotFound)?;
        Ok(PathIds(parse_segment(&a)?, parse_segment(&b)?))
    }
}
