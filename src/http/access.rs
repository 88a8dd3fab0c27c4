//! Who a request comes from, and the access log. The outermost layer after the request id
//! (outside the request's span: the line carries its own fields) works out the client's
//! address (the peer, or — behind a trusted reverse proxy — from `X-Forwarded-For`:
//! `flowtrack_core::client_addr`) for the rate limits, and logs one `info` line per request
//! when it is answered: method, route template (never the path or the query string, which
//! may carry a WebSocket token), status, latency, request id and client. The lines have the
//! target `flowtrack::access`, so `RUST_LOG=info,flowtrack::access=warn` silences them.
//!
//! A hand-written `tower` layer rather than `axum::middleware::from_fn`, which boxes a
//! future and clones the rest of the stack into a boxed service on every request: this
//! one's future is the inner future plus what the log line needs, on the stack.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

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

/// The layer of [`AccessLog`]: the outermost inside the request id (`app::build`).
#[derive(Clone)]
pub struct AccessLogLayer {
    state: AppState,
}

impl AccessLogLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog {
            inner,
            state: self.state.clone(),
        }
    }
}

/// Sets [`ClientIp`] and logs the request once answered.
#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
    /// For the trusted proxies of the configuration.
    state: AppState,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AccessLog<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = AccessLogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let peer = peer(req.extensions().get());
        let forwarded = req
            .headers()
            .get_all(FORWARDED_FOR)
            .iter()
            .map(|v| v.to_str().unwrap_or(""));
        let client = self.state.config.trusted_proxies.client(peer, forwarded);
        req.extensions_mut().insert(ClientIp(client));
        // The access log's own work only when it is on (it is not at RUST_LOG=warn).
        let line =
            tracing::enabled!(target: "flowtrack::access", tracing::Level::INFO).then(|| {
                Line {
                    started: Instant::now(),
                    method: req.method().clone(),
                    // A clone of the header's shared bytes, not a copy of the text.
                    request_id: req.headers().get("x-request-id").cloned(),
                    client,
                }
            });
        AccessLogFuture {
            inner: self.inner.call(req),
            line,
        }
    }
}

pin_project! {
    /// The inner service's future, then the access line.
    pub struct AccessLogFuture<F> {
        #[pin]
        inner: F,
        line: Option<Line>,
    }
}

impl<F, ResBody, E> Future for AccessLogFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        // The router's error type is `Infallible`: every request ends with a response.
        if let (Some(line), Ok(response)) = (this.line.take(), &result) {
            line.write(response);
        }
        Poll::Ready(result)
    }
}

/// What the access line of a request needs from before it was answered.
struct Line {
    started: Instant,
    method: Method,
    request_id: Option<HeaderValue>,
    client: IpAddr,
}

impl Line {
    fn write<B>(self, response: &Response<B>) {
        // The metrics layer (`telemetry::TrackMetricsLayer`) leaves the matched route's template
        // on the response; none: no route matched.
        let route = response
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        let request_id = self
            .request_id
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info!(
            target: "flowtrack::access",
            method = %self.method,
            route,
            status = response.status().as_u16(),
            latency_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            request_id,
            client = %self.client,
            "request"
        );
    }
}
