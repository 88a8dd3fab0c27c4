//! Logs (tracing: pretty by default, JSON with `FLOWTRACK_LOG_FORMAT=json`) and metrics
//! (Prometheus text at `/metrics`).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use pin_project_lite::pin_project;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use flowtrack_core::config::LogFormat;

/// Log lines that may wait for the writer thread (see [`init_tracing`]).
const LOG_QUEUE_LINES: usize = 8192;

/// Default filter: our own info logs; sqlx/SeaORM would log every statement at info.
const DEFAULT_FILTER: &str = "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn";

/// Installs the log subscriber. Lines go to stdout through a writer thread, in batches (the access log
/// writes one line per request, and a request should not wait on stdout's lock and pipe);
/// it blocks rather than drops lines if ever 8 192 are waiting (the queue's slots are
/// allocated and touched up front: tracing-appender's default of 128 000 lines was 4 MiB of
/// resident memory from the start, a fifth of an idle server). The returned guard
/// flushes what is queued when dropped: keep it until the process ends.
pub fn init_tracing(format: LogFormat) -> Option<WorkerGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let installed = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    installed.ok().map(|()| guard)
}

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// Fan-out times are tens of milliseconds at 10 000 sockets: finer steps where the budget
/// (100 ms) is.
const FANOUT_BUCKETS: [f64; 21] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.12, 0.15,
    0.2, 0.25, 0.3, 0.4, 0.5, 1.0,
];

/// The process-wide Prometheus recorder (installed on first use, so several app instances
/// in one test process share it).
fn metrics_handle() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        let buckets = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".into()),
                &buckets,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(crate::realtime::hub::FANOUT_METRIC.into()),
                    &FANOUT_BUCKETS,
                )
            })
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed");
        }
        handle
    })
}

/// Installs the recorder early so metrics recorded before the first scrape are kept.
pub fn init_metrics() {
    metrics_handle();
}

pub fn render_metrics() -> String {
    metrics_handle().render()
}

/// Counts and times each request under its route template (a route layer: the template is
/// known). A tower layer rather than `middleware::from_fn`, which boxes a future and clones
/// the route per request, on every request.
#[derive(Clone, Copy, Default)]
pub struct TrackMetricsLayer;

impl<S> tower::Layer<S> for TrackMetricsLayer {
    type Service = TrackMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TrackMetrics { inner }
    }
}

#[derive(Clone)]
pub struct TrackMetrics<S> {
    inner: S,
}

impl<S, B> tower::Service<Request> for TrackMetrics<S>
where
    S: tower::Service<Request, Response = Response<B>>,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = TrackMetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let method = req.method().clone();
        let route = req.extensions().get::<MatchedPath>().cloned();
        TrackMetricsFuture {
            inner: self.inner.call(req),
            started,
            method,
            route,
        }
    }
}

pin_project! {
    /// The route's future, then the request's counter and duration.
    pub struct TrackMetricsFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        method: Method,
        route: Option<MatchedPath>,
    }
}

impl<F, B, E> Future for TrackMetricsFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        if let Ok(response) = &mut result {
            record_request(
                this.route.as_ref().map_or("unmatched", MatchedPath::as_str),
                this.method,
                response.status().as_u16(),
                this.started.elapsed().as_secs_f64(),
            );
            // For the access log (`http::access`), which runs outside the router.
            if let Some(route) = this.route.take() {
                response.extensions_mut().insert(route);
            }
        }
        Poll::Ready(result)
    }
}

/// The counter and histogram of one (method, route, status).
type RouteMetrics = (metrics::Counter, metrics::Histogram);
/// Per route template: the handles of each (method, status) seen so far.
type RouteTable = foldhash::HashMap<Box<str>, Vec<(Method, u16, RouteMetrics)>>;

thread_local! {
    /// Registered handles by route, then (method, status): looking a handle up in the
    /// recorder builds its labels and key on every call (allocations, hashing, a sharded
    /// lock), which was a visible share of a cached read's CPU time. One table per thread:
    /// no lock and no shared reference count on the request path (each thread registers a
    /// route once; the recorder gives every thread the same metric).
    static ROUTE_METRICS: RefCell<RouteTable> = RefCell::default();
}

/// Counts one answered request of (method, route, status) and records its duration.
fn record_request(route: &str, method: &Method, status: u16, seconds: f64) {
    ROUTE_METRICS.with_borrow_mut(|table| {
        let entries = match table.get_mut(route) {
            Some(entries) => entries,
            None => table.entry(route.into()).or_default(),
        };
        let index = match entries
            .iter()
            .position(|(m, s, _)| m == method && *s == status)
        {
            Some(index) => index,
            None => {
                let labels = [
                    ("method", method.to_string()),
                    ("route", route.to_string()),
                    ("status", status.to_string()),
                ];
                let handles = (
                    metrics::counter!("http_requests_total", &labels),
                    metrics::histogram!("http_request_duration_seconds", &labels),
                );
                entries.push((method.clone(), status, handles));
                entries.len() - 1
            }
        };
        let (_, _, (requests, duration)) = &entries[index];
        requests.increment(1);
        duration.record(seconds);
    });
}
