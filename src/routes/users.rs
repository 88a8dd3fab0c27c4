//! `/users/*`: one's own account, and account management for admins.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{AdminUser, AuthUser};
use crate::http::body::{patch_body, request_body};
use crate::http::fields::{Email, FullName, NewPassword, Secret};
use crate::http::input::Json;
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{self, Cursor, Limit, Params, query_params};
use crate::routes::{PathId, schema};
use crate::state::AppState;
use flowtrack_core::pagination::Page;
use flowtrack_store::models::users::Role;
use flowtrack_store::services::users::{self as service, NewUser, User, UserChanges, UserFilter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me))
        .routes(routes!(change_password))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, deactivate_user))
}

/// Own account.
#[utoipa::path(
    get, path = "/users/me", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_me(AuthUser(me): AuthUser) -> axum::Json<User> {
    axum::Json(service::me(&me))
}

patch_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"full_name": "Ada King"}))]
    pub struct UpdateMeRequest {
        /// 1–100 characters after trimming.
        #[schema(schema_with = FullName::schema)]
        pub full_name: Option<FullName>,
        /// A new, unused address (409 if taken).
        #[schema(schema_with = Email::schema)]
        pub email: Option<Email>,
    }
}

/// Update own name or email. Any other field (e.g. `role`) is rejected with 422.
#[utoipa::path(
    patch, path = "/users/me", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_me(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Json(body): Json<UpdateMeRequest>,
) -> ApiResult<axum::Json<User>> {
    let changes = UserChanges {
        full_name: body.full_name.map(|n| n.0),
        email: body.email.map(|e| e.0),
        ..UserChanges::default()
    };
    let updated = service::apply_changes(&state, me.id(), changes).await?;
    Ok(axum::Json(User::from(&updated)))
}

request_body! {
    #[derive(ToSchema)]
    pub struct ChangePasswordRequest {
        /// Wrong → 422 on this field.
        #[schema(schema_with = Secret::schema)]
        pub current_password: Secret,
        /// 8–128 characters.
        #[schema(schema_with = NewPassword::schema)]
        pub new_password: NewPassword,
    }
}

/// Change own password; signs out every session.
///
/// All refresh tokens are revoked and every access token issued before, the one of this
/// request included, stops working within a second (sign in again). API tokens keep working.
#[utoipa::path(
    put, path = "/users/me/password", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or wrong `current_password`", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Json(body): Json<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    service::change_password(&state, &me, &body.current_password.0, &body.new_password.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

query_params! {
    /// Query parameters of `GET /users`.
    pub struct UserListParams {
        /// Case-insensitive substring of the email or full name.
        #[param(schema_with = schema::query_text)]
        pub q: Option<String>,
        #[param(nullable = false)]
        pub role: Option<Role>,
        #[param(nullable = false)]
        pub is_active: Option<bool>,
        /// 1–200, default 50.
        #[param(schema_with = schema::limit)]
        pub limit: Option<Limit>,
        /// `next_cursor` of the previous page.
        #[param(schema_with = schema::cursor)]
        pub cursor: Option<Cursor>,
    }
}

/// List users (admin only).
#[utoipa::path(
    get, path = "/users", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(UserListParams),
    responses(
        (status = 200, body = Page<User>),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Params(p): Params<UserListParams>,
) -> ApiResult<axum::Json<Page<User>>> {
    let page = query::page(p.limit, p.cursor);
    let filter = UserFilter {
        q: p.q,
        role: p.role,
        is_active: p.is_active,
    };
    Ok(axum::Json(service::list(&state, filter, page).await?))
}

request_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"email": "grace@example.com", "password": "correct horse battery", "full_name": "Grace Hopper", "role": "member"}))]
    pub struct CreateUserRequest {
        #[schema(schema_with = Email::schema)]
        pub email: Email,
        #[schema(schema_with = NewPassword::schema)]
        pub password: NewPassword,
        #[schema(schema_with = FullName::schema)]
        pub full_name: FullName,
        pub role: Role,
    }
}

/// Create a user (admin only).
#[utoipa::path(
    post, path = "/users", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Json(body): Json<CreateUserRequest>,
) -> ApiResult<(StatusCode, axum::Json<User>)> {
    let user = service::create(
        &state,
        NewUser {
            email: body.email.0,
            password: body.password.0,
            full_name: body.full_name.0,
            role: body.role,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(User::from(&user))))
}

/// A user: admins see everyone; others see themselves and people they share a project with.
#[utoipa::path(
    get, path = "/users/{id}", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_user(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(service::get_visible(&state, &me, id).await?))
}

patch_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"role": "admin"}))]
    pub struct UpdateUserRequest {
        #[schema(schema_with = FullName::schema)]
        pub full_name: Option<FullName>,
        #[schema(schema_with = Email::schema)]
        pub email: Option<Email>,
        #[schema(nullable = false)]
        pub role: Option<Role>,
        /// `false` deactivates, `true` reactivates.
        #[schema(nullable = false)]
        pub is_active: Option<bool>,
        /// A new password, 8–128 characters (account recovery). Ends all of the user's
        /// sessions: refresh tokens are revoked and access tokens issued before stop
        /// working within a second; API tokens keep working.
        #[schema(schema_with = NewPassword::schema)]
        pub password: Option<NewPassword>,
    }
}

/// Update a user (admin only). The last active admin cannot be demoted or deactivated (409).
///
/// Setting `password` (account recovery) ends all of the user's sessions: refresh tokens are
/// revoked and access tokens issued before stop working within a second. API tokens keep
/// working.
#[utoipa::path(
    patch, path = "/users/{id}", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken, or last active admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    PathId(id): PathId,
    Json(body): Json<UpdateUserRequest>,
) -> ApiResult<axum::Json<User>> {
    let changes = UserChanges {
        full_name: body.full_name.map(|n| n.0),
        email: body.email.map(|e| e.0),
        role: body.role,
        is_active: body.is_active,
        password: body.password.map(|p| p.0),
    };
    let updated = service::apply_changes(&state, id, changes).await?;
    Ok(axum::Json(User::from(&updated)))
}

/// Deactivate a user (admin only): history keeps the id; tokens stop working at once.
#[utoipa::path(
    delete, path = "/users/{id}", tag = "users",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Last active admin", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn deactivate_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    let changes = UserChanges {
        is_active: Some(false),
        ..UserChanges::default()
    };
    service::apply_changes(&state, id, changes).await?;
    Ok(StatusCode::NO_CONTENT)
}
