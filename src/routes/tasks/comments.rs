//! `/tasks/{id}/comments`: a task's comments (editing one is `/comments/{id}`).

use axum::extract::State;
use axum::http::StatusCode;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::http::body::request_body;
use crate::http::fields::CommentBody;
use crate::http::input::Json;
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{self, Params};
use crate::routes::{PageParams, PathId};
use crate::state::AppState;
use flowtrack_core::pagination::Page;
use flowtrack_store::services::comments::{self, Comment};

/// A task's comments, oldest first.
#[utoipa::path(
    get, path = "/tasks/{id}/comments", tag = "comments",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = Uuid, Path, description = "Task id"), PageParams),
    responses(
        (status = 200, body = Page<Comment>),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_comments(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Params(p): Params<PageParams>,
) -> ApiResult<axum::Json<Page<Comment>>> {
    let page = query::page(p.limit, p.cursor);
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
pub(super) async fn create_comment(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
    Json(body): Json<CommentRequest>,
) -> ApiResult<(StatusCode, axum::Json<Comment>)> {
    let comment = comments::create(&state, &me, id, body.body.0).await?;
    Ok((StatusCode::CREATED, axum::Json(comment)))
}
