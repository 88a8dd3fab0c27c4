//! Request bodies and query strings: read, check and turn into typed values, collecting
//! *every* offending field for the 422 answer.
//!
//! A JSON body is checked here (content type, size, syntax: an object), then read into its
//! type, declared with `core::body::request_body!`, which reports every offending field.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde_json::{Map, Value};

use crate::http::problem::{ApiError, ApiResult};
use flowtrack_core::error::{AppError, FieldError};
use flowtrack_core::pagination::{self, PageRequest};
pub use flowtrack_core::patch::Patch;
use flowtrack_core::validate;

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

/// Reads typed query parameters, collecting every problem like a body's reader. Unknown
/// parameters are ignored (clients add cache busters).
pub struct QueryReader {
    params: HashMap<String, String>,
    errors: Vec<FieldError>,
}

impl QueryReader {
    pub fn new(query: Query) -> Self {
        Self {
            params: query.0,
            errors: Vec::new(),
        }
    }

    /// The raw value of a free-text parameter, if given (empty counts as not given). A value
    /// holding NUL is recorded as a problem.
    pub fn raw(&mut self, name: &str) -> Option<String> {
        let value = self.params.get(name).filter(|v| !v.is_empty())?.clone();
        if value.contains('\0') {
            self.errors
                .push(FieldError::new(name, validate::NUL_MESSAGE));
            return None;
        }
        Some(value)
    }

    /// A typed parameter: absent is `None`; present, it must parse (an empty value too is a
    /// problem: `?status=` names no status).
    pub fn get<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.params.get(name)?.clone();
        let result = if raw.is_empty() {
            Err("must not be empty".to_string())
        } else {
            parse(&raw)
        };
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.errors.push(FieldError::new(name, message));
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.errors))
        }
    }
}

/// Reads a page request from the query string.
pub trait ReadPage: Sized {
    /// Reads `limit` (a 422 on the reader when invalid) and `cursor` (400 when invalid).
    fn read(query: &mut QueryReader) -> ApiResult<Self>;
}

impl ReadPage for PageRequest {
    fn read(query: &mut QueryReader) -> ApiResult<Self> {
        let limit = query
            .get("limit", pagination::parse_limit)
            .unwrap_or(pagination::DEFAULT_LIMIT);
        let after = query
            .raw("cursor")
            .map(|c| pagination::decode_cursor(&c))
            .transpose()?;
        Ok(Self { limit, after })
    }
}

pub fn query_bool(raw: &str) -> Result<bool, String> {
    match raw {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("must be true or false".into()),
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
