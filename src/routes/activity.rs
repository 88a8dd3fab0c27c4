//! `GET /activity`: the activity across projects.

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::http::problem::{ApiResult, Problem};
use crate::http::query::{self, Cursor, Limit, Params, query_params};
use crate::routes::schema;
use crate::state::AppState;
use flowtrack_core::pagination::Page;
use flowtrack_store::services::activity::{self as service, ActivityLog};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_activity))
}

query_params! {
    pub struct ActivityParams {
        /// Only what this user did.
        #[param(nullable = false)]
        pub user_id: Option<Uuid>,
        /// 1–200, default 50.
        #[param(schema_with = schema::limit)]
        pub limit: Option<Limit>,
        #[param(schema_with = schema::cursor)]
        pub cursor: Option<Cursor>,
    }
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
    Params(p): Params<ActivityParams>,
) -> ApiResult<axum::Json<Page<ActivityLog>>> {
    let page = query::page(p.limit, p.cursor);
    Ok(axum::Json(
        service::for_caller(&state, &me, p.user_id, page).await?,
    ))
}
