//! `/comments/{id}`: edit or delete a comment (its author, or the project's owner).

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::AuthUser;
use crate::http::input::Json;
use crate::http::problem::{ApiResult, Problem};
use crate::routes::PathId;
use crate::routes::tasks::CommentRequest;
use crate::state::AppState;
use flowtrack_store::services::comments::{self as service, Comment};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(update_comment, delete_comment))
}

/// Edit a comment (author, or project owner).
#[utoipa::path(
    patch, path = "/comments/{id}", tag = "comments",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = uuid::Uuid, Path, description = "Comment id")),
    request_body = CommentRequest,
    responses(
        (status = 200, body = Comment),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither author nor owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_comment(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Json(body): Json<CommentRequest>,
) -> ApiResult<axum::Json<Comment>> {
    Ok(axum::Json(
        service::update(&state, &me, id, body.body.0).await?,
    ))
}

/// Delete a comment (author, or project owner).
#[utoipa::path(
    delete, path = "/comments/{id}", tag = "comments",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = uuid::Uuid, Path, description = "Comment id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Neither author nor owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_comment(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    service::delete(&state, &me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
