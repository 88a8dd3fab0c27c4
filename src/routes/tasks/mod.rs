//! `/tasks/*`: tasks; board moves are in [`board`], a task's comments in [`comments`].

mod board;
mod comments;

use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::http::body::{patch_body, request_body};
use crate::http::fields::{Description, Labels, Name};
use crate::http::input::{Json, Patch};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::http::query::{self, Cursor, Limit, ParamError, Params, QueryValue, query_params};
use crate::routes::{PathId, schema};
use crate::state::AppState;
use flowtrack_core::error::AppError;
use flowtrack_core::pagination::Page;
use flowtrack_store::models::tasks::{Priority, TaskStatus};
use flowtrack_store::services::tasks::{
    self as service, IfMatch, NewTask, Sort, Task, TaskChanges, TaskFilter, etag,
};

pub use board::MoveRequest;
pub use comments::CommentRequest;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(get_task, update_task, delete_task))
        .routes(routes!(board::move_task))
        .routes(routes!(comments::list_comments, comments::create_comment))
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

/// The `assignee_id` filter of `GET /tasks`: a user id, or `me` (the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignee {
    Me,
    User(Uuid),
}

impl QueryValue for Assignee {
    fn parse(raw: &str) -> Result<Self, ParamError> {
        match raw {
            "me" => Ok(Self::Me),
            _ => Uuid::parse_str(raw)
                .map(Self::User)
                .map_err(|_| "must be a UUID or `me`".into()),
        }
    }
}

query_params! {
    pub struct TaskListParams {
        #[param(nullable = false)]
        pub project_id: Option<Uuid>,
        #[param(nullable = false)]
        pub status: Option<TaskStatus>,
        #[param(nullable = false)]
        pub priority: Option<Priority>,
        /// A user id, or `me`.
        #[param(schema_with = schema::assignee_filter)]
        pub assignee_id: Option<Assignee>,
        /// Tasks carrying this label (trimmed).
        #[param(schema_with = schema::query_text)]
        pub label: Option<String>,
        /// Case-insensitive substring of the title or description.
        #[param(schema_with = schema::query_text)]
        pub q: Option<String>,
        /// Tasks due strictly before this date.
        #[param(schema_with = schema::date)]
        pub due_before: Option<NaiveDate>,
        /// `position`, `created_at`, `due_date` or `priority`, `-` prefix for descending.
        /// Default `position` when `project_id` and `status` are given, else `-created_at`.
        #[param(schema_with = schema::task_sort)]
        pub sort: Option<Sort>,
        /// 1–200, default 50.
        #[param(schema_with = schema::limit)]
        pub limit: Option<Limit>,
        #[param(schema_with = schema::cursor)]
        pub cursor: Option<Cursor>,
    }
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
    Params(p): Params<TaskListParams>,
) -> ApiResult<axum::Json<Page<Task>>> {
    let page = query::page(p.limit, p.cursor);
    let filter = TaskFilter {
        project_id: p.project_id,
        status: p.status,
        priority: p.priority,
        assignee_id: p.assignee_id.map(|a| match a {
            Assignee::Me => me.id(),
            Assignee::User(id) => id,
        }),
        label: p.label.map(|l| l.trim().to_string()),
        q: p.q,
        due_before: p.due_before,
        sort: p.sort,
    };
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
