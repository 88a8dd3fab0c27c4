//! The router, assembled in one place, and the server around it.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::http::input::MAX_BODY_BYTES;
use crate::http::problem::{ApiError, PROBLEM_JSON, code_and_title, problem_response};
use crate::http::telemetry;
use crate::routes;
use crate::state::AppState;
use flowtrack_core::error::AppError;

/// The longest a request may take, body upload included (then 408 `request_timeout`).
/// A WebSocket is not bound by it: its upgrade answers at once.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The OpenAPI document and the routes it describes.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(routes::docs::ApiDoc::openapi())
        .merge(routes::auth::router())
        .merge(routes::users::router())
        .merge(routes::tokens::router())
        .merge(routes::webhooks::router())
        .merge(routes::projects::router())
        .merge(routes::tasks::router())
        .merge(routes::comments::router())
        .merge(routes::activity::router())
        .merge(routes::notifications::router())
        .merge(routes::reports::router())
        .merge(routes::ops::router())
        .merge(crate::realtime::ws::router())
        .split_for_parts();
    routes::docs::add_common_answers(&mut openapi);
    (router, openapi)
}

/// `GET /openapi.json` and the Swagger UI at `/docs` that loads it. The document is
/// serialized once here and the structure dropped: kept (as `SwaggerUi::url` keeps it) it
/// was ≈ 4 MiB of the idle server's heap (heaptrack), as JSON it is ≈ 150 KiB.
fn docs(openapi: utoipa::openapi::OpenApi) -> Router<AppState> {
    const SPEC: &str = "/openapi.json";
    let spec = Bytes::from(
        serde_json::to_vec(&openapi).expect("the OpenAPI document serializes (tests/api/docs.rs)"),
    );
    drop(openapi);
    let serve_spec = move || {
        let spec = spec.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], spec).into_response() }
    };
    Router::new()
        .route(SPEC, get(serve_spec))
        .merge(SwaggerUi::new("/docs").config(SwaggerConfig::new([SPEC])))
}

pub fn build(state: AppState) -> Router {
    let (api_routes, openapi) = api();
    let cors = cors_layer(&state.config.cors_origins);
    let access_log = crate::http::access::AccessLogLayer::new(state.clone());
    // The web app: outside the OpenAPI document, metered under its own few route templates
    // (`/app/{*path}`…), so visited URLs never become metric labels or pose as API routes.
    let webapp = routes::webapp::router().route_layer(telemetry::TrackMetricsLayer);
    api_routes
        .route_layer(telemetry::TrackMetricsLayer)
        .merge(docs(openapi))
        .merge(webapp)
        .fallback(|| async { ApiError(AppError::NotFound) })
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                // Request id, span, client address, access log (`http::access`).
                .layer(access_log)
                .option_layer(cors)
                // `Accept-Encoding` read once (`http::encoding`, as the board reads it), then
                // answers of 1 KiB or more compressed: lists and reports. The board, the web
                // app's files, 304s, `/metrics` and the WebSocket upgrade pass untouched.
                .map_request(crate::http::compression::negotiate)
                .layer(crate::http::compression::layer())
                .map_response(problem_for_framework_errors)
                // An answer ready at once arms no timer (`http::timeout`).
                .layer(crate::http::timeout::RequestTimeoutLayer::new(
                    REQUEST_TIMEOUT,
                ))
                .layer(crate::http::server::RefuseOversizedBodyLayer)
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES)),
        )
}

/// CORS for the configured origins; none when there are none (the default: the web app is
/// served from the API's own origin), so no answer carries CORS's `Vary` and no request pays
/// for the layer.
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    // Credentials are never allowed: bearer tokens need none, and `*` must not carry them.
    let layer = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            crate::http::access::REQUEST_ID,
        ])
        .expose_headers([
            header::ETAG,
            crate::http::access::REQUEST_ID,
            header::RETRY_AFTER,
            header::LOCATION,
        ])
        .max_age(Duration::from_secs(600));
    Some(layer)
}

/// Error answers made by the framework or a layer rather than a handler (405 with `Allow`,
/// 413 from the body limit, a failed WebSocket upgrade…) get the problem+json body too,
/// keeping their headers. A plain function (tower's `map_response`): no future of its own
/// per request.
fn problem_for_framework_errors(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (code, title) = code_and_title(status);
    let error = match status.as_u16() {
        405 => AppError::MethodNotAllowed,
        413 => AppError::PayloadTooLarge,
        404 => AppError::NotFound,
        _ => AppError::BadRequest(format!("{title}.")),
    };
    let mut problem = ApiError(error).problem();
    problem.status = status.as_u16();
    problem.code = code;
    problem.title = title;
    let (mut parts, _) = response.into_parts();
    let rebuilt = problem_response(&problem);
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in rebuilt.headers() {
        parts.headers.insert(name, value.clone());
    }
    Response::from_parts(parts, rebuilt.into_body())
}

/// Serves until `state.shutdown` is cancelled, then lets in-flight requests finish.
/// Connection limits and the slow-loris guard: see [`crate::http::server`].
pub async fn serve(state: AppState, listener: TcpListener) -> anyhow::Result<()> {
    let shutdown = state.shutdown.clone();
    let max_connections = state.config.max_connections;
    let app = build(state);
    // Start-up's garbage (the OpenAPI document's structure, migration work) back to the
    // system before the first request.
    flowtrack_core::memory::release_free_memory();
    crate::http::server::run(listener, app, max_connections, shutdown).await?;
    Ok(())
}
