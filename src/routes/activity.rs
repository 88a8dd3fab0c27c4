//! `GET /activity`: the activity across projects.

use axum::extract::State;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::http::input::{Query, QueryReader, ReadPage};
use crate::http::problem::{ApiResult, Problem};
use crate::routes::schema;
use crate::state::AppState;
use flowtrack_core::pagination::{Page, PageRequest};
use flowtrack_store::services::activity::{self as service, ActivityLog};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_activity))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation of the query string, read by `QueryReader`
pub struct ActivityParams {
    /// Only what this user did.
    #[param(nullable = false)]
    user_id: Option<Uuid>,
    /// 1–200, default 50.
    #[param(schema_with = schema::limit)]
    limit: Option<u64>,
    #[param(schema_with = schema::cursor)]
    cursor: Option<String>,
}

/// Activity, newest first: admins see all; others the projects they are members of.
#[utoipa::path(
    get, path = "/activity", tag = "activity",
    security(("bearer" = []), ("oauth2" = [])),
    params(ActivityParams),
    responses(
        (status = 200, body = Page<ActivityLog>),
        (status = 400, description = "Bad cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_activity(
    State(state): State<AppState>,
    AuthUser(me): AuthUser,
    query: Query,
) -> ApiResult<axum::Json<Page<ActivityLog>>> {
    let mut q = QueryReader::new(query);
    let page = PageRequest::read(&mut q)?;
    let user_id = q.get("user_id", |raw| {
        Uuid::parse_str(raw).map_err(|_| "must be a UUID".to_string())
    });
    q.finish()?;
    Ok(axum::Json(
        service::for_caller(&state, &me, user_id, page).await?,
    ))
}
