//! Operations: liveness, readiness, Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::core::telemetry;
use crate::state::AppState;

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
    /// `ok` or `unavailable`.
    status: &'static str,
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
        (status = 503, description = "A dependency is down", body = Readiness),
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
        Some(conn) => match tokio::time::timeout(timeout, crate::core::redis::ping(conn)).await {
            Ok(Ok(())) => "ok",
            _ => "unavailable",
        },
    };
    let ok = database == "ok" && redis != "unavailable";
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if ok { "ok" } else { "unavailable" },
        database,
        redis,
    };
    (status, axum::Json(body))
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
