//! `/notifications/*`: the caller's personal notifications.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::AuthUser;
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{self, Cursor, Limit, Params, query_params};
use crate::routes::{PathId, schema};
use crate::state::AppState;
use flowtrack_core::pagination::Page;
use flowtrack_store::services::notifications::{self as service, Notification};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(read_all))
        .routes(routes!(read_one))
}

query_params! {
    pub struct NotificationParams {
        /// `true`: only unread notifications.
        #[param(nullable = false)]
        pub unread: Option<bool>,
        /// 1–200, default 50.
        #[param(schema_with = schema::limit)]
        pub limit: Option<Limit>,
        #[param(schema_with = schema::cursor)]
        pub cursor: Option<Cursor>,
    }
}

/// My notifications, newest first.
#[utoipa::path(
    get, path = "/notifications", tag = "notifications",
    security(("bearer" = []), ("oauth2" = [])),
    params(NotificationParams),
    responses(
        (status = 200, body = Page<Notification>, links(
            ("MarkFirstRead" = (
                operation_id = "read_one",
                parameters(("id" = "$response.body#/items/0/id")),
                description = "Mark the first notification of the page read",
            )),
        )),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_notifications(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    Params(p): Params<NotificationParams>,
) -> ApiResult<axum::Json<Page<Notification>>> {
    let page = query::page(p.limit, p.cursor);
    let unread = p.unread.unwrap_or(false);
    Ok(axum::Json(service::list(&state, &me, unread, page).await?))
}

/// Mark one notification read (someone else's: 404).
#[utoipa::path(
    post, path = "/notifications/{id}/read", tag = "notifications",
    security(("bearer" = []), ("oauth2" = [])),
    params(("id" = uuid::Uuid, Path, description = "Notification id")),
    responses(
        (status = 204, description = "Marked read"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn read_one(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    service::mark_read(&state, &me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mark all my notifications read.
#[utoipa::path(
    post, path = "/notifications/read-all", tag = "notifications",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 204, description = "All marked read"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn read_all(State(state): State<AppState>, AuthUser(me): AuthUser) -> ApiResult<StatusCode> {
    service::mark_all_read(&state, &me).await?;
    Ok(StatusCode::NO_CONTENT)
}
