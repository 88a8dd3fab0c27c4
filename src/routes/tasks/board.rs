//! `PATCH /tasks/{id}/move`: moving a task on the board, the target given as a JSON body
//! or as query parameters.

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{IfMatchHeader, with_etag};
use crate::auth::AuthUser;
use crate::http::body::{IS_REQUIRED, request_body};
use crate::http::input::{Query, is_json_content_type, parse_object, read_body};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::routes::PathId;
use crate::state::AppState;
use flowtrack_core::error::{AppError, FieldError};
use flowtrack_store::models::tasks::TaskStatus;
use flowtrack_store::services::tasks::{self as service, Move, Task};

request_body! {
    /// Where to move a task (as a JSON body, or the same names as query parameters).
    #[derive(ToSchema)]
    #[schema(example = json!({"status": "in_progress", "after_id": "01936f0e-2b3c-7d4e-8f90-a1b2c3d4e5f6"}))]
    pub struct MoveRequest {
        pub status: TaskStatus,
        /// Put the task directly before this task of the target column.
        pub before_id: Option<Uuid>,
        /// Put the task directly after this task of the target column.
        pub after_id: Option<Uuid>,
    }
}

/// The move target from the JSON body when there is one, else from the query string. The
/// query's move parameters are checked either way (a bad one is a 422 even next to a body,
/// whose values win).
pub struct MoveInput(MoveRequest);

/// The problems of the move parameters the query string gives (next to a body, none of
/// them is required).
fn query_move_problems(fields: serde_json::Map<String, serde_json::Value>) -> Vec<FieldError> {
    match MoveRequest::try_from(fields) {
        Err(AppError::Validation(errors)) => errors
            .into_iter()
            .filter(|e| e.message != IS_REQUIRED)
            .collect(),
        _ => Vec::new(),
    }
}

impl<S: Send + Sync> FromRequest<S> for MoveInput {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let has_body = req.headers().contains_key(header::CONTENT_TYPE)
            || req
                .headers()
                .get(header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        let (mut parts, body) = req.into_parts();
        let Query(params) = Query::from_request_parts(&mut parts, state).await?;
        let fields: serde_json::Map<String, serde_json::Value> = params
            .into_iter()
            .filter(|(k, _)| matches!(k.as_str(), "status" | "before_id" | "after_id"))
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        let bytes = read_body(&parts.headers, body).await?;
        // An empty body (whatever its content type) means "the query string has it".
        if has_body && !bytes.is_empty() {
            if !is_json_content_type(&parts.headers) {
                return Err(AppError::UnsupportedMediaType(
                    "Expected a body with Content-Type: application/json.".into(),
                )
                .into());
            }
            let from_body = MoveRequest::try_from(parse_object(&bytes)?);
            return match (from_body, query_move_problems(fields)) {
                (Ok(target), more) if more.is_empty() => Ok(MoveInput(target)),
                (Ok(_), more) => Err(AppError::Validation(more).into()),
                (Err(AppError::Validation(mut errors)), more) => {
                    errors.extend(more);
                    Err(AppError::Validation(errors).into())
                }
                (Err(err), _) => Err(err.into()),
            };
        }
        Ok(MoveInput(MoveRequest::try_from(fields)?))
    }
}

/// Move a task on the board: to `status`, directly before `before_id` and/or after
/// `after_id` (both: they must be adjacent), else to the end of the column.
///
/// Parameters come as query parameters or as a JSON body. Moving to `done` sets
/// `completed_at`; moving out of `done` clears it. Honours `If-Match`.
#[utoipa::path(
    patch, path = "/tasks/{id}/move", tag = "tasks",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("id" = Uuid, Path, description = "Task id"),
        ("status" = Option<TaskStatus>, Query, nullable = false, description = "Target column (required unless given in the body)"),
        ("before_id" = Option<Uuid>, Query, nullable = false, description = "Directly before this task"),
        ("after_id" = Option<Uuid>, Query, nullable = false, description = "Directly after this task"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "`\"<version>\"` (strong entity tags, comma-separated) or `*`; a stale version → 412"),
    ),
    request_body(content = Option<MoveRequest>, content_type = "application/json"),
    responses(
        (status = 200, body = Task, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewer", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad status or neighbour", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn move_task(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    IfMatchHeader(if_match): IfMatchHeader,
    MoveInput(body): MoveInput,
) -> ApiResult<Response> {
    let target = Move {
        status: body.status,
        before_id: body.before_id,
        after_id: body.after_id,
    };
    let task = service::move_task(&state, &me, id, target, if_match).await?;
    Ok(with_etag(StatusCode::OK, task))
}
