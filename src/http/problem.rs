//! Errors as HTTP answers: every [`AppError`] becomes an RFC 9457 problem+json response
//! with a stable snake_case `code` (and `WWW-Authenticate` / `Retry-After` where they apply).
//! Internal errors are logged inside the request span (which carries the request id) and
//! never shown to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flowtrack_core::error::{AppError, FieldError};
use serde::Serialize;
use utoipa::ToSchema;

/// An [`AppError`] on its way to the client: the error type of every handler and extractor.
#[derive(Debug)]
pub struct ApiError(pub AppError);

/// What handlers and extractors return.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        Self(err)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self(AppError::Internal(err))
    }
}

/// The problem+json body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[schema(example = "about:blank")]
    #[serde(rename = "type")]
    pub type_: &'static str,
    #[schema(example = "Validation failed")]
    pub title: &'static str,
    #[schema(example = 422)]
    pub status: u16,
    /// Stable machine-readable error code.
    #[schema(example = "validation_failed")]
    pub code: &'static str,
    pub detail: String,
    /// Present on 422 answers only: every offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match &self.0 {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Builds the problem body for this error (used by the handlers and by the fallback that
    /// turns framework responses into problems).
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let (code, title) = code_and_title(status);
        Problem {
            type_: "about:blank",
            title,
            status: status.as_u16(),
            code,
            detail: self.0.detail(),
            errors: match &self.0 {
                AppError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
        }
    }
}

/// The stable `code` and human `title` of each status the API answers with.
pub fn code_and_title(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad_request", "Bad request"),
        401 => ("unauthorized", "Unauthorized"),
        403 => ("forbidden", "Forbidden"),
        404 => ("not_found", "Not found"),
        405 => ("method_not_allowed", "Method not allowed"),
        408 => ("request_timeout", "Request timeout"),
        409 => ("conflict", "Conflict"),
        412 => ("precondition_failed", "Precondition failed"),
        413 => ("payload_too_large", "Payload too large"),
        415 => ("unsupported_media_type", "Unsupported media type"),
        422 => ("validation_failed", "Validation failed"),
        429 => ("rate_limited", "Too many requests"),
        503 => ("unavailable", "Service unavailable"),
        _ if status.is_client_error() => ("bad_request", "Bad request"),
        _ => ("internal", "Internal server error"),
    }
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Serializes a problem into a response with the right content type.
pub fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self.0 {
            AppError::Internal(err) => tracing::error!(error = ?err, "internal error"),
            AppError::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            _ => {}
        }
        let mut response = problem_response(&self.problem());
        let headers = response.headers_mut();
        match &self.0 {
            AppError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            AppError::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}
