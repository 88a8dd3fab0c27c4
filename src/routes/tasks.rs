//! `/tasks/*`: tasks, board moves and task comments.

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::http::body::{IS_REQUIRED, patch_body, request_body};
use crate::http::fields::{CommentBody, Description, Labels, Name};
use crate::http::input::{
    Json, Patch, Query, QueryReader, ReadPage, is_json_content_type, parse_object, read_body,
};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::routes::{PathId, schema};
use crate::state::AppState;
use flowtrack_core::error::{AppError, FieldError};
use flowtrack_core::pagination::{Page, PageRequest};
use flowtrack_core::validate::{self, ApiEnum};
use flowtrack_store::models::tasks::{Priority, TaskStatus};
use flowtrack_store::services::comments::{self, Comment};
use flowtrack_store::services::tasks::{
    self as service, IfMatch, Move, NewTask, Sort, Task, TaskChanges, TaskFilter, etag,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(get_task, update_task, delete_task))
        .routes(routes!(move_task))
        .routes(routes!(list_comments, create_comment))
}

/// A single task with its `ETag: "<version>"`.
fn with_etag(status: StatusCode, task: Task) -> Response {
    let tag = HeaderValue::from_str(&etag(task.version)).ok();
    let mut response = (status, axum::Json(task)).into_response();
    if let Some(tag) = tag {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// The `If-Match` request header.
pub struct IfMatchHeader(IfMatch);

impl<S: Send + Sync> FromRequestParts<S> for IfMatchHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> ApiResult<Self> {
        let raw = match parts.headers.get(header::IF_MATCH) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| AppError::PreconditionFailed)?),
        };
        Ok(Self(IfMatch::parse(raw)))
    }
}

request_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"project_id": "01936f0e-1c2a-7cc0-9d4e-3f5a6b7c8d9e", "title": "Write the launch post", "priority": "high", "labels": ["marketing"], "due_date": "2026-12-01"}))]
    pub struct CreateTaskRequest {
        pub project_id: Uuid,
        #[schema(schema_with = Name::schema)]
        pub title: Name,
        /// Default `""`.
        #[schema(schema_with = Description::schema_or_null)]
        pub description: Option<Description>,
        /// Default `todo`; the task goes to the end of its column.
        pub status: Option<TaskStatus>,
        /// Default `medium`.
        pub priority: Option<Priority>,
        /// Must be a member of the project.
        pub assignee_id: Option<Uuid>,
        #[schema(schema_with = Labels::schema_or_null)]
        pub labels: Option<Labels>,
        pub due_date: Option<NaiveDate>,
    }
}

/// Create a task (owner or editor of the project).
#[utoipa::path(
    post, path = "/tasks", tag = "tasks",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateTaskRequest,
    responses(
        (status = 201, body = Task, headers(("ETag" = String, description = "\"<version>\""), ("Location" = String))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Project not found or not visible", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_task(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Json(body): Json<CreateTaskRequest>,
) -> ApiResult<Response> {
    let task = service::create(
        &state,
        &me,
        NewTask {
            project_id: body.project_id,
            title: body.title.0,
            description: body.description.map(|d| d.0).unwrap_or_default(),
            status: body.status.unwrap_or(TaskStatus::Todo),
            priority: body.priority.unwrap_or(Priority::Medium),
            assignee_id: body.assignee_id,
            labels: body.labels.map(|l| l.0).unwrap_or_default(),
            due_date: body.due_date,
        },
    )
    .await?;
    let location = HeaderValue::from_str(&format!("/tasks/{}", task.id)).ok();
    let mut response = with_etag(StatusCode::CREATED, task);
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation of the query string, read by `QueryReader`
pub struct TaskListParams {
    #[param(nullable = false)]
    project_id: Option<Uuid>,
    #[param(nullable = false)]
    status: Option<TaskStatus>,
    #[param(nullable = false)]
    priority: Option<Priority>,
    /// A user id, or `me`.
    #[param(schema_with = schema::assignee_filter)]
    assignee_id: Option<String>,
    /// Tasks carrying this label (trimmed).
    #[param(schema_with = schema::query_text)]
    label: Option<String>,
    /// Case-insensitive substring of the title or description.
    #[param(schema_with = schema::query_text)]
    q: Option<String>,
    /// Tasks due strictly before this date.
    #[param(schema_with = schema::date)]
    due_before: Option<NaiveDate>,
    /// `position`, `created_at`, `due_date` or `priority`, `-` prefix for descending.
    /// Default `position` when `project_id` and `status` are given, else `-created_at`.
    #[param(schema_with = schema::task_sort)]
    sort: Option<String>,
    /// 1–200, default 50.
    #[param(schema_with = schema::limit)]
    limit: Option<u64>,
    #[param(schema_with = schema::cursor)]
    cursor: Option<String>,
}

/// Tasks visible to the caller (admins: all), filtered, sorted, paginated.
#[utoipa::path(
    get, path = "/tasks", tag = "tasks",
    security(("bearer" = []), ("oauth2" = [])),
    params(TaskListParams),
    responses(
        (status = 200, body = Page<Task>),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_tasks(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    query: Query,
) -> ApiResult<axum::Json<Page<Task>>> {
    let mut q = QueryReader::new(query);
    let page = PageRequest::read(&mut q)?;
    let uuid = |raw: &str| Uuid::parse_str(raw).map_err(|_| "must be a UUID".to_string());
    let me_id = me.id();
    let filter = TaskFilter {
        project_id: q.get("project_id", uuid),
        status: q.get("status", |r| {
            TaskStatus::parse(r).ok_or_else(TaskStatus::expected)
        }),
        priority: q.get("priority", |r| {
            Priority::parse(r).ok_or_else(Priority::expected)
        }),
        assignee_id: q.get("assignee_id", |r| {
            if r == "me" {
                Ok(me_id)
            } else {
                Uuid::parse_str(r).map_err(|_| "must be a UUID or `me`".to_string())
            }
        }),
        label: q.raw("label").map(|l| l.trim().to_string()),
        q: q.raw("q"),
        due_before: q.get("due_before", validate::parse_date),
        sort: q.get("sort", Sort::parse),
    };
    q.finish()?;
    Ok(axum::Json(service::list(&state, &me, filter, page).await?))
}

/// A task (members of its project; admins: any).
#[utoipa::path(
    get, path = "/tasks/{id}", tag = "tasks",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    responses(
        (status = 200, body = Task, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_task(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<Response> {
    let task = service::get_cached(&state, &me, id).await?;
    let mut response = (
        [(header::CONTENT_TYPE, "application/json")],
        task.body.clone(),
    )
        .into_response();
    if let Ok(tag) = HeaderValue::from_str(&etag(task.version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    Ok(response)
}

patch_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"priority": "urgent", "assignee_id": null}))]
    pub struct UpdateTaskRequest {
        #[schema(schema_with = Name::schema)]
        pub title: Option<Name>,
        #[schema(schema_with = Description::schema)]
        pub description: Option<Description>,
        #[schema(nullable = false)]
        pub priority: Option<Priority>,
        /// `null` unassigns; must be a project member.
        #[schema(value_type = Option<Uuid>)]
        pub assignee_id: Patch<Uuid>,
        #[schema(schema_with = Labels::schema)]
        pub labels: Option<Labels>,
        /// `null` clears it.
        #[schema(value_type = Option<NaiveDate>)]
        pub due_date: Patch<NaiveDate>,
    }
    forbid {
        status: "is changed only by PATCH /tasks/{id}/move",
        project_id: "cannot be changed",
    }
}

impl From<UpdateTaskRequest> for TaskChanges {
    fn from(body: UpdateTaskRequest) -> Self {
        TaskChanges {
            title: body.title.map(|t| t.0),
            description: body.description.map(|d| d.0),
            priority: body.priority,
            assignee_id: body.assignee_id,
            labels: body.labels.map(|l| l.0),
            due_date: body.due_date,
        }
    }
}

/// Update a task (owner or editor). Honours `If-Match: "<version>"` (412 when stale).
#[utoipa::path(
    patch, path = "/tasks/{id}", tag = "tasks",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("id" = Uuid, Path, description = "Task id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "`\"<version>\"` (strong entity tags, comma-separated) or `*`; a stale version → 412"),
    ),
    request_body = UpdateTaskRequest,
    responses(
        (status = 200, body = Task, headers(("ETag" = String, description = "\"<version>\""))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewer", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_task(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    IfMatchHeader(if_match): IfMatchHeader,
    Json(body): Json<UpdateTaskRequest>,
) -> ApiResult<Response> {
    let task = service::update(&state, &me, id, body.into(), if_match).await?;
    Ok(with_etag(StatusCode::OK, task))
}

/// Delete a task (owner or editor). Honours `If-Match`.
#[utoipa::path(
    delete, path = "/tasks/{id}", tag = "tasks",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("id" = Uuid, Path, description = "Task id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "`\"<version>\"` (strong entity tags, comma-separated) or `*`; a stale version → 412"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewer", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Stale If-Match", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_task(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    IfMatchHeader(if_match): IfMatchHeader,
) -> ApiResult<StatusCode> {
    service::delete(&state, &me, id, if_match).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
struct MoveInput(MoveRequest);

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
async fn move_task(
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

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation of the query string, read by `QueryReader`
pub struct CommentPageParams {
    /// 1–200, default 50.
    #[param(schema_with = schema::limit)]
    limit: Option<u64>,
    #[param(schema_with = schema::cursor)]
    cursor: Option<String>,
}

/// A task's comments, oldest first.
#[utoipa::path(
    get, path = "/tasks/{id}/comments", tag = "comments",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Task id"), CommentPageParams),
    responses(
        (status = 200, body = Page<Comment>),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_comments(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    query: Query,
) -> ApiResult<axum::Json<Page<Comment>>> {
    let mut q = QueryReader::new(query);
    let page = PageRequest::read(&mut q)?;
    q.finish()?;
    Ok(axum::Json(comments::list(&state, &me, id, page).await?))
}

request_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"body": "Looks good to me."}))]
    pub struct CommentRequest {
        #[schema(schema_with = CommentBody::schema)]
        pub body: CommentBody,
    }
}

/// Comment on a task (any member, viewers included).
#[utoipa::path(
    post, path = "/tasks/{id}/comments", tag = "comments",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Task id")),
    request_body = CommentRequest,
    responses(
        (status = 201, body = Comment),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_comment(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Json(body): Json<CommentRequest>,
) -> ApiResult<(StatusCode, axum::Json<Comment>)> {
    let comment = comments::create(&state, &me, id, body.body.0).await?;
    Ok((StatusCode::CREATED, axum::Json(comment)))
}
