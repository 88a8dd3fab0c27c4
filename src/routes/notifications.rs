//! `/notifications/*`: the caller's personal notifications.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::AuthUser;
use crate::http::input::{Query, QueryReader, ReadPage, query_bool};
use crate::http::problem::{ApiResult, Problem};
use crate::routes::{PathId, schema};
use crate::state::AppState;
use flowtrack_core::pagination::{Page, PageRequest};
use flowtrack_store::services::notifications::{self as service, Notification};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(read_all))
        .routes(routes!(read_one))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation of the query string, read by `QueryReader`
pub struct NotificationParams {
    /// `true`: only unread notifications.
    #[param(nullable = false)]
    unread: Option<bool>,
    /// 1–200, default 50.
    #[param(schema_with = schema::limit)]
    limit: Option<u64>,
    #[param(schema_with = schema::cursor)]
    cursor: Option<String>,
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
    query: Query,
) -> ApiResult<axum::Json<Page<Notification>>> {
    let mut q = QueryReader::new(query);
    let page = PageRequest::read(&mut q)?;
    let unread = q.get("unread", query_bool).unwrap_or(false);
    q.finish()?;
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
