//! Operations: liveness, readiness, Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::http::problem::{ApiError, PROBLEM_JSON, Problem};
use crate::http::telemetry;
use crate::state::AppState;
use flowtrack_core::error::AppError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    status: &'static str,
}

/// Liveness: 200 while the process runs.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = Health)))]
async fn health() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "database": "ok", "redis": "not_configured"}))]
pub struct Readiness {
    /// `ok` (a dependency that is down gives a 503 problem instead).
    status: &'static str,
    /// `ok` or `unavailable`.
    database: &'static str,
    /// `ok`, `unavailable` or `not_configured`.
    redis: &'static str,
}

/// The 503 answer of `/ready`: a problem (like every error) that also names the state of
/// each dependency.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank", "title": "Service unavailable", "status": 503, "code": "unavailable",
    "detail": "Not ready: redis is unavailable.", "database": "ok", "redis": "unavailable"
}))]
pub struct NotReady {
    #[serde(flatten)]
    problem: Problem,
    /// `ok` or `unavailable`.
    database: &'static str,
    /// `ok`, `unavailable` or `not_configured`.
    redis: &'static str,
}

/// Readiness: 200 when the database (and Redis, if configured) answer; else 503 naming
/// which one failed.
#[utoipa::path(
    get, path = "/ready", tag = "ops",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "A dependency is down", body = NotReady, content_type = "application/problem+json"),
    )
)]
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let timeout = std::time::Duration::from_secs(2);
    let database = match tokio::time::timeout(timeout, state.db.ping()).await {
        Ok(Ok(())) => "ok",
        _ => "unavailable",
    };
    let redis = match &state.redis {
        None => "not_configured",
        Some(conn) => {
            match tokio::time::timeout(timeout, flowtrack_core::redis::ping(conn)).await {
                Ok(Ok(())) => "ok",
                _ => "unavailable",
            }
        }
    };
    if database == "ok" && redis != "unavailable" {
        let body = Readiness {
            status: "ok",
            database,
            redis,
        };
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    let failed: Vec<&str> = [("database", database), ("redis", redis)]
        .into_iter()
        .filter(|(_, state)| *state == "unavailable")
        .map(|(name, _)| name)
        .collect();
    let mut problem = ApiError(AppError::Unavailable(String::new())).problem();
    problem.detail = format!("Not ready: {} unavailable.", failed.join(" and "));
    let body = NotReady {
        problem,
        database,
        redis,
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, PROBLEM_JSON)],
        axum::Json(body),
    )
        .into_response()
}

/// Prometheus metrics: requests by route and status, latency histogram, and the gauges and
/// counters of the real-time layer. No auth: restrict it at the proxy.
#[utoipa::path(
    get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
async fn metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::render_metrics(),
    )
}
