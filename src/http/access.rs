//! The context of every request, in one layer at the top of the stack (`app::build`):
//!
//! - its **request id**: the client's `X-Request-Id` if it sent one, else a new one
//!   ([`SequentialRequestIds`]), and the same header on the answer;
//! - its **span** (method, path — never the query string, which may carry a WebSocket token —
//!   and request id), so every log line of the request carries them;
//! - **who it comes from** and the **access log**.
//!
//! One layer rather than tower-http's `SetRequestId`, `Trace` and `PropagateRequestId` plus
//! ours: each layer wraps the request's future and moves the response once more, on every
//! request (a cached read is a few microseconds of work; the layers were a visible part).
//!
//! The client's address (the peer, or — behind a trusted reverse proxy — from `X-Forwarded-For`:
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
use axum::http::{HeaderName, HeaderValue, Method, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::state::AppState;

const FORWARDED_FOR: &str = "x-forwarded-for";
/// The request id's header, on requests and answers.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids in UUID form, unique per process: a random 64-bit prefix and a counter
/// (a random v4 UUID per request costs a system call on the hot path).
#[derive(Clone)]
pub struct SequentialRequestIds {
    prefix: u64,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SequentialRequestIds {
    pub fn new() -> Self {
        Self {
            prefix: uuid::Uuid::new_v4().as_u64_pair().0,
            next: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }

    fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = uuid::Uuid::from_u64_pair(self.prefix, n);
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        // Hyphenated hex is always a valid header value.
        HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static(""))
    }
}

impl Default for SequentialRequestIds {
    fn default() -> Self {
        Self::new()
    }
}

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

/// The layer of [`AccessLog`]: the outermost (`app::build`).
#[derive(Clone)]
pub struct AccessLogLayer {
    state: AppState,
    ids: SequentialRequestIds,
}

impl AccessLogLayer {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            ids: SequentialRequestIds::new(),
        }
    }
}

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog {
            inner,
            state: self.state.clone(),
            ids: self.ids.clone(),
        }
    }
}

/// Gives the request its id, span and [`ClientIp`]; puts the id on the answer and logs it.
#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
    /// For the trusted proxies of the configuration.
    state: AppState,
    ids: SequentialRequestIds,
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
        let request_id = match req.headers().get(REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = self.ids.next();
                req.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            path = %req.uri().path(),
            request_id = request_id.to_str().unwrap_or(""),
        );
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
            tracing::enabled!(target: "flowtrack::access", tracing::Level::INFO).then(|| Line {
                started: Instant::now(),
                method: req.method().clone(),
                client,
            });
        AccessLogFuture {
            inner: self.inner.call(req).instrument(span),
            line,
            request_id: Some(request_id),
        }
    }
}

pin_project! {
    /// The inner service's future in the request's span, then the id on the answer and the
    /// access line.
    pub struct AccessLogFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        line: Option<Line>,
        // A clone of the header's shared bytes, not a copy of the text.
        request_id: Option<HeaderValue>,
    }
}

impl<F, ResBody, E> Future for AccessLogFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        // The router's error type is `Infallible`: every request ends with a response.
        if let Ok(response) = &mut result {
            let request_id = this.request_id.take();
            if response.status().is_server_error() {
                // Handlers log their internal errors with the cause; this line also covers
                // a 5xx made by a layer (as tower-http's trace layer did).
                tracing::error!(
                    status = response.status().as_u16(),
                    request_id = request_id
                        .as_ref()
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or(""),
                    "request failed"
                );
            }
            if let Some(line) = this.line.take() {
                line.write(response, request_id.as_ref());
            }
            if let Some(id) = request_id {
                response.headers_mut().entry(REQUEST_ID).or_insert(id);
            }
        }
        Poll::Ready(result)
    }
}

/// What the access line of a request needs from before it was answered.
struct Line {
    started: Instant,
    method: Method,
    client: IpAddr,
}

impl Line {
    fn write<B>(self, response: &Response<B>, request_id: Option<&HeaderValue>) {
        // The metrics layer (`telemetry::TrackMetricsLayer`) leaves the matched route's template
        // on the response; none: no route matched.
        let route = response
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        let request_id = request_id.and_then(|v| v.to_str().ok()).unwrap_or("");
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
