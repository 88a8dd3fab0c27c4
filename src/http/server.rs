//! The HTTP/1.1 accept loop, with the limits that `axum::serve` does not expose.
//!
//! - **Listen backlog**: [`listen`] lets the kernel queue 4096 pending connections.
//! - **Header read timeout**: a client must send a complete request head within
//!   [`HEADER_READ_TIMEOUT`] of the connection starting to wait for one (also when it sits idle
//!   between keep-alive requests), else the connection is closed. This cuts off slow-loris
//!   clients that trickle headers byte by byte, and idle connections.
//! - **Header limits**: at most [`MAX_HEADERS`] headers and [`MAX_HEAD_BYTES`] of request head;
//!   beyond that hyper answers `431 Request Header Fields Too Large` and closes.
//! - **Connection limit**: at most `max_connections` open connections (WebSockets included, for
//!   their whole life). At the limit the loop stops accepting, so new clients wait in the
//!   kernel's backlog until a connection closes, instead of the server running out of memory
//!   or file descriptors.
//! - **No Nagle delay**: accepted sockets set `TCP_NODELAY` ([`prepare`]).
//! - **Oversized bodies**: [`RefuseOversizedBodyLayer`] reads a body declared over 1 MiB (up to
//!   [`DRAIN_LIMIT`]) before answering 413, so the client gets to see the answer.
//!
//! The request timeout (408) is a layer of the router (`app::REQUEST_TIMEOUT`); both timeouts
//! are kept cheap for requests answered at once by [`crate::http::timeout`].
//!
//! Each request gets `ConnectInfo<SocketAddr>` (the client address for rate limits), and
//! WebSocket upgrades work as with `axum::serve`. Shutdown: stop accepting, let every
//! connection finish its in-flight request, then return.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::TryFutureExt;
use futures_util::future::{Either, MapOk};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::http::input::MAX_BODY_BYTES;
use crate::http::problem::ApiError;
use flowtrack_core::error::AppError;

/// How long a client may take to send a complete request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most headers one request may carry.
pub const MAX_HEADERS: usize = 100;
/// The largest request head (request line + headers) accepted, in bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A body declared larger than the limit but not larger than this is read and thrown away
/// before the 413 answer; a larger one is refused unread.
pub const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;

/// Answers 413 to a body whose `Content-Length` is over [`MAX_BODY_BYTES`], after reading
/// (and discarding) it when it is at most [`DRAIN_LIMIT`]. Without this, the server would
/// answer at once and close the connection with the body half sent, and most clients then
/// see "connection reset" instead of the 413. Reading is bounded in size here and in time by
/// the request timeout; bodies without a length are limited while they are read.
#[derive(Clone, Copy, Default)]
pub struct RefuseOversizedBodyLayer;

impl<S> tower::Layer<S> for RefuseOversizedBodyLayer {
    type Service = RefuseOversizedBody<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RefuseOversizedBody { inner }
    }
}

/// See [`RefuseOversizedBodyLayer`]. A tower service rather than `middleware::from_fn`: every
/// request passes here and almost none is refused, so the usual path adds no allocation (the
/// refusal's draining future is boxed).
#[derive(Clone)]
pub struct RefuseOversizedBody<S> {
    inner: S,
}

type Refusal<E> = futures_util::future::BoxFuture<'static, Result<Response, E>>;
/// The inner answer as an axum `Response` (a function pointer: a nameable future type).
type Answer<F, R> = MapOk<F, fn(R) -> Response>;

impl<S> tower::Service<Request<Body>> for RefuseOversizedBody<S>
where
    S: tower::Service<Request<Body>>,
    S::Response: IntoResponse,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Answer<S::Future, S::Response>, Refusal<S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(len) if len > MAX_BODY_BYTES as u64 => Either::Right(Box::pin(refuse(req, len))),
            _ => Either::Left(
                self.inner
                    .call(req)
                    .map_ok(IntoResponse::into_response as fn(S::Response) -> Response),
            ),
        }
    }
}

async fn refuse<E>(req: Request<Body>, declared: u64) -> Result<Response, E> {
    if declared <= DRAIN_LIMIT {
        let mut body = req.into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    }
    Ok(ApiError(AppError::PayloadTooLarge).into_response())
}

/// Pending connections the kernel may queue before we accept them (capped by
/// `net.core.somaxconn`, 4096 on current Linux).
const LISTEN_BACKLOG: u32 = 4096;

/// The listening socket. Tokio's `TcpListener::bind` queues at most 1024 connections; a burst
/// past that (a reconnect storm after a restart, thousands of WebSocket clients at once) makes
/// the kernel fall back to SYN cookies and drop connections the client believes are open
/// (seen in the hostile-input test: slow clients cut off without an answer).
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted server may bind while old connections linger.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then waits for open
/// connections to finish their in-flight requests.
pub async fn run(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let connections = TaskTracker::new();
    loop {
        // Take a slot first: at the limit, stop accepting until a connection closes.
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    on_accept_error(err).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let shutdown = shutdown.clone();
        connections.spawn(serve_connection(stream, remote, permit, app, shutdown));
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Socket options of an accepted connection. Small writes go out at once (`TCP_NODELAY`): a
/// WebSocket frame written right after another would otherwise wait for the client's
/// (delayed, up to 40 ms) ACK of the first (Nagle). An HTTP answer is one write either way.
fn prepare(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    permit: OwnedSemaphorePermit,
    app: Router,
    shutdown: CancellationToken,
) {
    prepare(&stream);
    let io = TokioIo::new(Slotted {
        stream,
        _permit: permit,
    });
    let service = app.map_request(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(remote));
        req
    });
    let service = TowerToHyperService::new(service);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        // One timer per connection, moved rather than remade per request (`http::timeout`).
        .timer(crate::http::timeout::ConnectionTimer::default())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD_BYTES);
    let conn = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%remote, error = %err, "connection ended with an error");
                }
                break;
            }
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Accept errors: a client that gave up before we accepted is not our problem; running out
/// of file descriptors is, and retrying at once would spin, so wait a little.
async fn on_accept_error(err: io::Error) {
    if matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "accept failed; retrying shortly");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The connection under an upgraded request, its slot in the connection limit, and the bytes
/// the client sent after the request that were read already; `None` if the request did not
/// come through [`run`] (the WebSocket writers need the socket itself, see
/// `realtime::outlet`).
pub fn upgraded_socket(
    upgraded: hyper::upgrade::Upgraded,
) -> Option<(TcpStream, OwnedSemaphorePermit, Vec<u8>)> {
    let parts = upgraded.downcast::<TokioIo<Slotted>>().ok()?;
    let Slotted { stream, _permit } = parts.io.into_inner();
    // Copied out: the bytes are a view of the connection's whole read buffer (8 KiB and
    // more), which would otherwise stay allocated for the socket's life.
    Some((stream, _permit, parts.read_buf.to_vec()))
}

/// A client connection that holds its connection slot until it is dropped (after an upgrade,
/// that is when the WebSocket closes).
struct Slotted {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Slotted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let _client = TcpStream::connect(address).await.expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        assert!(!accepted.nodelay().expect("read the option"));
        prepare(&accepted);
        assert!(accepted.nodelay().expect("read the option"));
    }
}
