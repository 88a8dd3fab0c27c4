//! Request bodies and query strings: read, check and turn into typed values, collecting
//! *every* offending field for the 422 answer.
//!
//! serde stops at the first error and cannot say which fields are unknown *and* which have a
//! wrong type at once, so bodies are first parsed into a JSON object, then each request type
//! reads its fields through a [`FieldReader`] that records problems instead of stopping. Any
//! field left unread is unknown and rejected (so `role` can never be smuggled into a
//! self-update).

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

/// Reads the fields of one JSON object, recording every problem.
pub struct FieldReader {
    fields: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl FieldReader {
    pub fn new(fields: Map<String, Value>) -> Self {
        Self {
            fields,
            errors: Vec::new(),
        }
    }

    fn fail(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message));
    }

    /// Records a problem that involves several fields (e.g. "give one of a or b").
    pub fn error(&mut self, name: &str, message: &str) {
        self.fail(name, message);
    }

    fn parsed<T>(
        &mut self,
        name: &str,
        value: Value,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<T> {
        match parse(value) {
            Ok(v) => Some(v),
            Err(message) => {
                self.fail(name, message);
                None
            }
        }
    }

    /// A field that must be present and not null.
    pub fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.fields.remove(name) {
            None => {
                self.fail(name, "is required");
                None
            }
            Some(Value::Null) => {
                self.fail(name, "must not be null");
                None
            }
            Some(value) => self.parsed(name, value, parse),
        }
    }

    /// A field that may be absent or null (both mean "not given"). `Some(None)` is a valid
    /// absence; `None` means the field was invalid.
    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match self.fields.remove(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => self.parsed(name, value, parse).map(Some),
        }
    }

    /// A PATCH field that cannot be cleared: absent leaves it, `null` is an error.
    pub fn update<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match self.fields.remove(name) {
            None => Some(None),
            Some(Value::Null) => {
                self.fail(name, "must not be null");
                None
            }
            Some(value) => self.parsed(name, value, parse).map(Some),
        }
    }

    /// A PATCH field that `null` clears.
    pub fn patch<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(Value) -> Result<T, String>,
    ) -> Option<Patch<T>> {
        match self.fields.remove(name) {
            None => Some(Patch::Unchanged),
            Some(Value::Null) => Some(Patch::Clear),
            Some(value) => self.parsed(name, value, parse).map(Patch::Set),
        }
    }

    /// A field this endpoint knows but never accepts (e.g. `status` on a task PATCH).
    pub fn forbid(&mut self, name: &str, message: &str) {
        if self.fields.remove(name).is_some() {
            self.fail(name, message);
        }
    }

    /// Drops fields that are tolerated and ignored (e.g. OAuth2's `grant_type`).
    pub fn ignore(&mut self, name: &str) {
        self.fields.remove(name);
    }

    /// Reports every field left unread as unknown, then the collected errors if any.
    pub fn finish<T>(mut self, value: Option<T>) -> Result<T, AppError> {
        let mut unknown: Vec<String> = self.fields.keys().cloned().collect();
        unknown.sort();
        for name in unknown {
            self.fail(&name, "unknown field");
        }
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(AppError::Validation(self.errors)),
        }
    }
}

/// A request body type read field by field.
pub trait FromFields: Sized {
    /// Reads every field (evaluate all reads before combining them, so that all problems
    /// are reported); `None` when any was invalid.
    fn from_fields(reader: &mut FieldReader) -> Option<Self>;

    fn from_object(fields: Map<String, Value>) -> Result<Self, AppError> {
        let mut reader = FieldReader::new(fields);
        let value = Self::from_fields(&mut reader);
        reader.finish(value)
    }
}

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

impl<S: Send + Sync, T: FromFields> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let object = json_object(req).await?;
        Ok(Json(T::from_object(object)?))
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

/// Reads typed query parameters, collecting every problem like [`FieldReader`]. Unknown
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
    use serde_json::json;

    struct Sample {
        name: String,
        age: Option<bool>,
        due: Patch<chrono::NaiveDate>,
    }

    impl FromFields for Sample {
        fn from_fields(r: &mut FieldReader) -> Option<Self> {
            let name = r.required("name", |v| validate::trimmed_string(v, 1, 5));
            let age = r.optional("age", validate::boolean);
            let due = r.patch("due", validate::date);
            Some(Self {
                name: name?,
                age: age?,
                due: due?,
            })
        }
    }

    fn read(value: Value) -> Result<Sample, AppError> {
        match value {
            Value::Object(map) => Sample::from_object(map),
            _ => unreachable!(),
        }
    }

    fn fields(err: AppError) -> Vec<String> {
        match err {
            AppError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = read(json!({"age": "x", "due": "2026-13-01", "role": "admin", "zz": 1}))
            .err()
            .expect("invalid");
        assert_eq!(fields(err), ["name", "age", "due", "role", "zz"]);
    }

    #[test]
    fn absent_null_and_set_are_distinguished() {
        let s = read(json!({"name": " ab "})).expect("valid");
        assert_eq!(s.name, "ab");
        assert_eq!(s.age, None);
        assert_eq!(s.due, Patch::Unchanged);
        let s = read(json!({"name": "ab", "due": null, "age": true})).expect("valid");
        assert_eq!(s.due, Patch::Clear);
        assert_eq!(s.age, Some(true));
    }

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
