//! `/projects/*`: projects, their progress, board and activity; the members are in
//! [`members`].

mod board;
mod members;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::NaiveDate;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::AuthUser;
use crate::http::body::{patch_body, request_body};
use crate::http::fields::{Description, Name};
use crate::http::input::{Json, Patch};
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{self, Cursor, Limit, Params, query_params};
use crate::routes::{PageParams, PathId, schema};
use crate::state::AppState;
use flowtrack_core::error::FieldError;
use flowtrack_core::pagination::Page;
use flowtrack_core::validate;
use flowtrack_store::models::projects::ProjectStatus;
use flowtrack_store::services::activity::{self, ActivityLog};
use flowtrack_store::services::projects::{
    self as service, NewProject, Project, ProjectChanges, ProjectFilter, ProjectProgress,
};

pub use members::{AddMemberRequest, UpdateMemberRequest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_projects, create_project))
        .routes(routes!(get_project, update_project, delete_project))
        .routes(routes!(get_progress))
        .routes(routes!(board::get_board))
        .routes(routes!(members::list_members, members::add_member))
        .routes(routes!(members::update_member, members::remove_member))
        .routes(routes!(project_activity))
}

request_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"name": "Website relaunch", "description": "Q1 launch", "start_date": "2026-12-01", "due_date": "2027-03-31"}))]
    pub struct CreateProjectRequest {
        #[schema(schema_with = Name::schema)]
        pub name: Name,
        /// Default `""`.
        #[schema(schema_with = Description::schema_or_null)]
        pub description: Option<Description>,
        /// Default `active`.
        pub status: Option<ProjectStatus>,
        pub start_date: Option<NaiveDate>,
        /// Not before `start_date`.
        pub due_date: Option<NaiveDate>,
    }
    // Listed with the other problems (the service checks it again).
    check { dates_in_order(start_date, due_date) }
}

fn dates_in_order(start: &Option<NaiveDate>, due: &Option<NaiveDate>) -> Result<(), FieldError> {
    validate::dates_in_order(*start, *due)
}

/// Create a project; the caller becomes its owner.
#[utoipa::path(
    post, path = "/projects", tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateProjectRequest,
    responses(
        (status = 201, body = Project, headers(("Location" = String, description = "/projects/{id}"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_project(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Json(body): Json<CreateProjectRequest>,
) -> ApiResult<impl IntoResponse> {
    let project = service::create(
        &state,
        &me,
        NewProject {
            name: body.name.0,
            description: body.description.map(|d| d.0).unwrap_or_default(),
            status: body.status.unwrap_or(ProjectStatus::Active),
            start_date: body.start_date,
            due_date: body.due_date,
        },
    )
    .await?;
    let location = format!("/projects/{}", project.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(project),
    ))
}

query_params! {
    pub struct ProjectListParams {
        #[param(nullable = false)]
        pub status: Option<ProjectStatus>,
        /// Case-insensitive substring of the name or description.
        #[param(schema_with = schema::query_text)]
        pub q: Option<String>,
        /// 1–200, default 50.
        #[param(schema_with = schema::limit)]
        pub limit: Option<Limit>,
        #[param(schema_with = schema::cursor)]
        pub cursor: Option<Cursor>,
    }
}

/// Projects the caller is a member of (admins: all), newest first.
#[utoipa::path(
    get, path = "/projects", tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(ProjectListParams),
    responses(
        (status = 200, body = Page<Project>),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_projects(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Params(p): Params<ProjectListParams>,
) -> ApiResult<axum::Json<Page<Project>>> {
    let page = query::page(p.limit, p.cursor);
    let filter = ProjectFilter {
        status: p.status,
        q: p.q,
    };
    Ok(axum::Json(service::list(&state, &me, filter, page).await?))
}

/// A project (members; admins: any).
#[utoipa::path(
    get, path = "/projects/{id}", tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, body = Project),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or not a member", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_project(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<axum::Json<Project>> {
    Ok(axum::Json(service::get(&state, &me, id).await?))
}

patch_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"status": "on_hold", "due_date": null}))]
    pub struct UpdateProjectRequest {
        #[schema(schema_with = Name::schema)]
        pub name: Option<Name>,
        #[schema(schema_with = Description::schema)]
        pub description: Option<Description>,
        #[schema(nullable = false)]
        pub status: Option<ProjectStatus>,
        /// `null` clears it. Not after `due_date` (given or stored).
        #[schema(value_type = Option<NaiveDate>)]
        pub start_date: Patch<NaiveDate>,
        /// `null` clears it. Not before `start_date` (given or stored).
        #[schema(value_type = Option<NaiveDate>)]
        pub due_date: Patch<NaiveDate>,
    }
    // Listed with the other problems; the service checks against stored dates too.
    check { new_dates_in_order(start_date, due_date) }
}

fn new_dates_in_order(start: &Patch<NaiveDate>, due: &Patch<NaiveDate>) -> Result<(), FieldError> {
    validate::dates_in_order(start.set().copied(), due.set().copied())
}

impl From<UpdateProjectRequest> for ProjectChanges {
    fn from(body: UpdateProjectRequest) -> Self {
        ProjectChanges {
            name: body.name.map(|n| n.0),
            description: body.description.map(|d| d.0),
            status: body.status,
            start_date: body.start_date,
            due_date: body.due_date,
        }
    }
}

/// Update a project (owner or editor).
#[utoipa::path(
    patch, path = "/projects/{id}", tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    request_body = UpdateProjectRequest,
    responses(
        (status = 200, body = Project),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Viewer", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_project(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Json(body): Json<UpdateProjectRequest>,
) -> ApiResult<axum::Json<Project>> {
    Ok(axum::Json(
        service::update(&state, &me, id, body.into()).await?,
    ))
}

/// Delete a project and its tasks (owner).
#[utoipa::path(
    delete, path = "/projects/{id}", tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_project(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    service::delete(&state, &me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Task counts by status and overdue tasks.
#[utoipa::path(
    get, path = "/projects/{id}/progress", tag = "projects",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, body = ProjectProgress),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_progress(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<axum::Json<ProjectProgress>> {
    Ok(axum::Json(service::progress(&state, &me, id).await?))
}

/// The project's activity, newest first (members).
#[utoipa::path(
    get, path = "/projects/{id}/activity", tag = "activity",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id"), PageParams),
    responses(
        (status = 200, body = Page<ActivityLog>),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn project_activity(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Params(p): Params<PageParams>,
) -> ApiResult<axum::Json<Page<ActivityLog>>> {
    let page = query::page(p.limit, p.cursor);
    Ok(axum::Json(
        activity::for_project(&state, &me, id, page).await?,
    ))
}
