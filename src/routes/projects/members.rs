//! `/projects/{id}/members/*`: who is on a project, with which role.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::http::body::request_body;
use crate::http::fields::Email;
use crate::http::input::Json;
use crate::http::problem::{ApiResult, Problem};
use crate::routes::{PathId, PathIds, schema};
use crate::state::AppState;
use flowtrack_core::error::{AppError, FieldError};
use flowtrack_store::models::project_members::ProjectRole;
use flowtrack_store::services::members::{self, Member, MemberRef};

/// The project's members (a plain array, not paginated).
#[utoipa::path(
    get, path = "/projects/{id}/members", tag = "members",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    responses(
        (status = 200, body = Vec<Member>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_members(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<axum::Json<Vec<Member>>> {
    Ok(axum::Json(members::list(&state, &me, id).await?))
}

request_body! {
    /// The body of `POST /projects/{id}/members`: `{user_id | email, role}` (exactly one of
    /// `user_id` and `email`; `null` counts as absent). Its schema is written by hand, as
    /// derives cannot state "exactly one of".
    pub struct AddMemberRequest {
        pub user_id: Option<Uuid>,
        pub email: Option<Email>,
        pub role: ProjectRole,
    }
    check { one_member(user_id, email) }
}

fn one_member(user_id: &Option<Uuid>, email: &Option<Email>) -> Result<(), FieldError> {
    match (user_id, email) {
        (Some(_), Some(_)) => Err(FieldError::new(
            "email",
            "give either user_id or email, not both",
        )),
        (None, None) => Err(FieldError::new("user_id", "user_id or email is required")),
        _ => Ok(()),
    }
}

impl AddMemberRequest {
    /// The member to add.
    fn who(self) -> Result<MemberRef, AppError> {
        match (self.user_id, self.email) {
            (Some(id), None) => Ok(MemberRef::Id(id)),
            (None, Some(email)) => Ok(MemberRef::Email(email.0)),
            // Not reached: `one_member` refused such a body.
            (user_id, email) => Err(AppError::Validation(Vec::from_iter(
                one_member(&user_id, &email).err(),
            ))),
        }
    }
}

impl utoipa::PartialSchema for AddMemberRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        schema::add_member(ProjectRole::name())
    }
}

impl ToSchema for AddMemberRequest {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        use utoipa::PartialSchema;
        schemas.push((ProjectRole::name().into(), ProjectRole::schema()));
        <ProjectRole as ToSchema>::schemas(schemas);
    }
}

/// Add a member by `user_id` or `email` (owner). An unknown user → 422 on that field.
#[utoipa::path(
    post, path = "/projects/{id}/members", tag = "members",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Project id")),
    request_body = AddMemberRequest,
    responses(
        (status = 201, body = Member),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn add_member(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Json(body): Json<AddMemberRequest>,
) -> ApiResult<(StatusCode, axum::Json<Member>)> {
    let role = body.role;
    let member = members::add(&state, &me, id, body.who()?, role).await?;
    Ok((StatusCode::CREATED, axum::Json(member)))
}

request_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"role": "viewer"}))]
    pub struct UpdateMemberRequest {
        pub role: ProjectRole,
    }
}

/// Change a member's role (owner). The last owner cannot be demoted (409).
#[utoipa::path(
    patch, path = "/projects/{id}/members/{user_id}", tag = "members",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("id" = Uuid, Path, description = "Project id"),
        ("user_id" = Uuid, Path, description = "Member's user id"),
    ),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, body = Member),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project or member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Last owner", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn update_member(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathIds(id, user_id): PathIds,
    Json(body): Json<UpdateMemberRequest>,
) -> ApiResult<axum::Json<Member>> {
    Ok(axum::Json(
        members::update_role(&state, &me, id, user_id, body.role).await?,
    ))
}

/// Remove a member (owner), or leave (the member itself). The last owner stays (409).
#[utoipa::path(
    delete, path = "/projects/{id}/members/{user_id}", tag = "members",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("id" = Uuid, Path, description = "Project id"),
        ("user_id" = Uuid, Path, description = "Member's user id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither owner nor the member", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project or member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Last owner", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn remove_member(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathIds(id, user_id): PathIds,
) -> ApiResult<StatusCode> {
    members::remove(&state, &me, id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
