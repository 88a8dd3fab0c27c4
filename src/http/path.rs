//! UUID path segments: anything that is not a UUID names nothing (404).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use uuid::Uuid;

use flowtrack_core::error::AppError;

use crate::http::problem::ApiError;

/// A UUID path segment; anything else answers 404 (a path that names nothing).
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| AppError::NotFound)?;
        Ok(PathId(parse_segment(&raw)?))
    }
}

fn parse_segment(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::NotFound)
}

/// Two UUID path segments (e.g. `/projects/{id}/members/{user_id}`); anything else is 404.
pub struct PathIds(pub Uuid, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((a, b)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|_| AppError::NotFound)?;
        Ok(PathIds(parse_segment(&a)?, parse_segment(&b)?))
    }
}
