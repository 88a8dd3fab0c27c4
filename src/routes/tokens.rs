//! `/users/me/tokens`: the caller's API tokens (from a login session only: a token can never
//! manage tokens).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::http::body::request_body;
use crate::http::fields::TokenName;
use crate::http::input::Json;
use crate::http::path::PathId;
use crate::http::problem::{ApiResult, Problem};
use crate::state::AppState;
use flowtrack_store::models::api_tokens::TokenScope;
use flowtrack_store::services::tokens::{self as service, ApiToken, CreatedToken, NewToken};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(delete_token))
}

request_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"name": "CI deploy notes", "scope": "write", "project_id": "01936f0e-1c2a-7cc0-9d4e-3f5a6b7c8d9e", "expires_at": "2027-06-30T00:00:00Z"}))]
    pub struct CreateTokenRequest {
        /// 1–100 characters after trimming.
        #[schema(schema_with = TokenName::schema)]
        pub name: TokenName,
        /// `read`: only `GET`/`HEAD` requests and the WebSocket; `write`: what the owner may do.
        pub scope: TokenScope,
        /// Narrows the token to this project (one the caller is a member of; an admin: any).
        /// Absent or `null`: whatever the owner sees.
        pub project_id: Option<Uuid>,
        /// RFC 3339, in the future; absent or `null`: the token does not expire.
        #[schema(value_type = Option<String>, format = DateTime)]
        pub expires_at: Option<DateTime<Utc>>,
    }
}

/// My API tokens, newest first (never their secrets).
#[utoipa::path(
    get, path = "/users/me/tokens", tag = "tokens",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, body = [ApiToken]),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with an API token", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_tokens(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<axum::Json<Vec<ApiToken>>> {
    Ok(axum::Json(service::list(&state, &me).await?))
}

/// Create an API token. Its `secret` is in this answer only: only its hash is stored.
#[utoipa::path(
    post, path = "/users/me/tokens", tag = "tokens",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "The token and its secret (shown once)", body = CreatedToken),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with an API token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already 50 tokens", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad name, scope, past `expires_at`, or a `project_id` the caller is not a member of", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_token(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Json(body): Json<CreateTokenRequest>,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    let new = NewToken {
        name: body.name.0,
        scope: body.scope,
        project_id: body.project_id,
        expires_at: body.expires_at,
    };
    let created = service::create(&state, &me, new).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// Delete one of my API tokens: it stops working within a second on every instance.
#[utoipa::path(
    delete, path = "/users/me/tokens/{id}", tag = "tokens",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with an API token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token of mine", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_token(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    service::delete(&state, &me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
