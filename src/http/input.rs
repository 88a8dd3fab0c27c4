//! What every request body and query string goes through before it is read.
//!
//! A JSON body is checked here (content type, size, syntax: an object), then read into its
//! type, declared with `http::body::request_body!`, which reports every offending field. A
//! query string is split here into name → value ([`Query`]), then read by the parameter set
//! declared with `http::query::query_params!`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde_json::{Map, Value};

use crate::http::problem::ApiError;
use flowtrack_core::error::AppError;
pub use flowtrack_core::patch::Patch;

/// The largest request body accepted (docs/api.md: over 1 MiB → 413).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body checked for content type, size, syntax and shape, then read into `T`.
pub struct Json<T>(pub T);

pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Reads the whole body, answering 413 past [`MAX_BODY_BYTES`].
pub async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, AppError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(AppError::PayloadTooLarge);
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|err| {
            let too_large = std::error::Error::source(&err)
                .is_some_and(|src| src.is::<http_body_util::LengthLimitError>())
                || err.to_string().contains("length limit");
            if too_large {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest("The request body could not be read.".into())
            }
        })
}

/// Parses bytes as a JSON object (400 on bad syntax, 422 on a non-object).
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, AppError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|err| AppError::BadRequest(format!("Malformed JSON: {err}")))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(AppError::field("", "the body must be a JSON object")),
    }
}

/// Reads a JSON object body (content type, size and syntax checked).
pub async fn json_object(req: Request) -> Result<Map<String, Value>, AppError> {
    let (parts, body) = req.into_parts();
    if !is_json_content_type(&parts.headers) {
        return Err(AppError::UnsupportedMediaType(
            "Expected a body with Content-Type: application/json.".into(),
        ));
    }
    let bytes = read_body(&parts.headers, body).await?;
    parse_object(&bytes)
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: TryFrom<Map<String, Value>, Error = AppError>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let object = json_object(req).await?;
        Ok(Json(T::try_from(object)?))
    }
}

/// The raw query string as name → value (the last value wins for repeated names).
pub struct Query(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| AppError::BadRequest("The query string is malformed.".into()))?;
        Ok(Query(pairs.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_must_be_objects() {
        assert!(matches!(parse_object(b"[1]"), Err(AppError::Validation(_))));
        assert!(matches!(parse_object(b"{"), Err(AppError::BadRequest(_))));
        assert!(matches!(
            parse_object(b"\xff"),
            Err(AppError::BadRequest(_))
        ));
    }
}
