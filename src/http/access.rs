//! Who a request comes from, and the access log. The outermost layer inside the request's
//! span works out the client's address (the peer, or — behind a trusted reverse proxy —
//! from `X-Forwarded-For`: `flowtrack_core::client_addr`) for the rate limits, and logs one
//! `info` line per request when it is answered: method, route template (never the path or
//! the query string, which may carry a WebSocket token), status, latency, request id and
//! client. The lines have the target `flowtrack::access`, so
//! `RUST_LOG=info,flowtrack::access=warn` silences them.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address, as the rate limits and the access log see it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or_else(|| ClientIp(peer(parts.extensions.get()))))
    }
}

fn peer(info: Option<&ConnectInfo<SocketAddr>>) -> IpAddr {
    info.map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip())
}

/// Sets [`ClientIp`] and logs the request once answered.
pub async fn client_and_access_log(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = peer(req.extensions().get());
    let forwarded = req
        .headers()
        .get_all(FORWARDED_FOR)
        .iter()
        .map(|v| v.to_str().unwrap_or(""));
    let client = state.config.trusted_proxies.client(peer, forwarded);
    req.extensions_mut().insert(ClientIp(client));
    // The access log's own work only when it is on (it is not at RUST_LOG=warn).
    if !tracing::enabled!(target: "flowtrack::access", tracing::Level::INFO) {
        return next.run(req).await;
    }
    let started = Instant::now();
    let method = req.method().clone();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let response = next.run(req).await;
    // The metrics layer (`telemetry::track_metrics`) leaves the matched route's template
    // on the response; none: no route matched.
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info!(
        target: "flowtrack::access",
        method = %method,
        route,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_id,
        client = %client,
        "request"
    );
    response
}
