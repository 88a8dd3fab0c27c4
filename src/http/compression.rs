//! Response compression (gzip, br) for answers of 1 KiB or more: lists and reports, for
//! browsers. tower-http's `CompressionLayer` does the work; two things are decided here.
//!
//! * **What it may see of `Accept-Encoding`** ([`negotiate`], a step right before it).
//!   The header is read once, by [`Accepted`] — as the board reads it — and what the
//!   layer and the handlers below see is that reading: the coding to use first, the other
//!   acceptable one after it, or no header at all when the answer is to be identity. So the
//!   layer compresses exactly when the board would, and it never answers 406 (which it does
//!   for a client refusing every coding, identity included: such a client gets identity,
//!   like before). The WebSocket upgrade and `/metrics` see no header, so they are never
//!   touched.
//! * **What it compresses** ([`Compressible`]): tower-http's default exclusions (gRPC,
//!   images, event streams), answers under 1 KiB (no gain worth the CPU; a 304 has no
//!   body), and answers that carry an `ETag`: such an answer's tag names its exact bytes —
//!   the board and the web app's files choose and tag their own encodings, and a task's
//!   tag is the version `If-Match` compares — so they go out as their handler made them.
//!   An answer that already has a `Content-Encoding` is left alone by the layer itself.
//! * **Who pays for it** ([`Compress`]): only requests that accept a coding go through
//!   tower-http's service. Its answer type carries the encoders' state inline (≈ 5.9 KB,
//!   brotli's mostly), moved several times on its way out even when nothing is compressed;
//!   a request that accepts no coding (most API clients, scripts) skips it and its answer
//!   stays a plain `Body`, and a compressing one's body is boxed once, right there.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Response, header};
use futures_util::TryFutureExt;
use futures_util::future::{Either, MapOk};
use tower::{Layer, Service};
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{Compression, CompressionBody, CompressionLayer};

use super::encoding::{Accepted, Coding};

/// Smaller answers are sent as they are.
const MIN_SIZE: u64 = 1024;

/// The compression layer of the middleware stack; [`negotiate`] must run right before it.
/// Its levels are tower-http's defaults (gzip 6, brotli 4): each of these answers is
/// compressed anew as it streams out, so speed matters more than the last few percent.
pub fn layer() -> CompressLayer {
    CompressLayer
}

fn tower_http_layer() -> CompressionLayer<Compressible> {
    CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .compress_when(Compressible::default())
}

/// Makes [`Compress`] services.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompressLayer;

impl<S: Clone> Layer<S> for CompressLayer {
    type Service = Compress<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Compress {
            compressing: tower_http_layer().layer(inner.clone()),
            plain: inner,
        }
    }
}

/// The service below, through tower-http's compression when the request (as [`negotiate`]
/// left it) accepts a coding, else directly (see the module's documentation).
#[derive(Clone)]
pub struct Compress<S> {
    compressing: Compression<S, Compressible>,
    plain: S,
}

type Boxed = fn(Response<CompressionBody<Body>>) -> Response<Body>;
type Plain = fn(Response<Body>) -> Response<Body>;

impl<S> Service<Request> for Compress<S>
where
    S: Service<Request, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<
        MapOk<<Compression<S, Compressible> as Service<Request>>::Future, Boxed>,
        MapOk<S::Future, Plain>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both are the same router below: ready together (axum's always is).
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.compressing.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.headers().contains_key(header::ACCEPT_ENCODING) {
            let boxed: Boxed = |response| response.map(Body::new);
            Either::Left(self.compressing.call(request).map_ok(boxed))
        } else {
            Either::Right(self.plain.call(request).map_ok(vary as Plain))
        }
    }
}

/// An answer sent as identity only because the request accepted no coding still says
/// that it depends on `Accept-Encoding`, as tower-http's service marks it, so a shared cache
/// does not give this copy to a client that would have had it compressed.
fn vary(mut response: Response<Body>) -> Response<Body> {
    let headers = response.headers();
    // The predicate first: it rules out the commonest answers (tagged, small) cheaply.
    let compressible = Compressible::default().should_compress(&response)
        && !headers.contains_key(header::CONTENT_ENCODING)
        && !headers.contains_key(header::CONTENT_RANGE);
    if !compressible {
        return response;
    }
    let named = headers.get_all(header::VARY).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("accept-encoding"))
    });
    if !named {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Which answers [`layer`] compresses (see the module's documentation).
#[derive(Clone)]
pub struct Compressible {
    size: SizeAbove,
    kinds: [NotForContentType; 3],
}

impl Default for Compressible {
    fn default() -> Self {
        Self {
            size: SizeAbove::new(MIN_SIZE),
            kinds: [
                NotForContentType::GRPC,
                NotForContentType::IMAGES,
                NotForContentType::SSE,
            ],
        }
    }
}

impl Predicate for Compressible {
    fn should_compress<B: HttpBody>(&self, response: &Response<B>) -> bool {
        !response.headers().contains_key(header::ETAG)
            && self.size.should_compress(response)
            && self.kinds.iter().all(|kind| kind.should_compress(response))
    }
}

/// Replaces the request's `Accept-Encoding` with the server's reading of it (see the
/// module's documentation). The values are static: no allocation per request.
pub fn negotiate(mut request: Request) -> Request {
    let headers = request.headers();
    if !headers.contains_key(header::ACCEPT_ENCODING) {
        return request;
    }
    let exempt = headers.contains_key(header::UPGRADE) || request.uri().path() == "/metrics";
    let accepted = Accepted::of(headers);
    let reading = match accepted.preferred() {
        _ if exempt => None,
        None => None,
        Some(Coding::Br) if accepted.accepts(Coding::Gzip) => Some("br, gzip;q=0.5"),
        Some(Coding::Br) => Some("br"),
        Some(Coding::Gzip) if accepted.accepts(Coding::Br) => Some("gzip, br;q=0.5"),
        Some(Coding::Gzip) => Some("gzip"),
    };
    let headers = request.headers_mut();
    match reading {
        Some(value) => {
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
        }
        None => {
            headers.remove(header::ACCEPT_ENCODING);
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::encoding::negotiate as coding_of;

    fn read(path: &str, pairs: &[(&'static str, &'static str)]) -> Option<String> {
        let mut request = Request::builder().uri(path);
        for (name, value) in pairs {
            request = request.header(*name, *value);
        }
        let request = negotiate(request.body(axum::body::Body::empty()).expect("request"));
        request
            .headers()
            .get(header::ACCEPT_ENCODING)
            .map(|v| v.to_str().expect("ascii").to_string())
    }

    #[test]
    fn the_reading_keeps_the_choice_and_what_else_is_acceptable() {
        let cases: &[(&'static str, Option<&str>)] = &[
            ("gzip, deflate, br, zstd", Some("br, gzip;q=0.5")),
            ("br", Some("br")),
            ("gzip", Some("gzip")),
            ("gzip, br;q=0.2", Some("gzip, br;q=0.5")),
            ("gzip;q=0, br;q=0", None),
            ("identity", None),
            ("gzip;q=0, br;q=0, identity;q=0", None),
        ];
        for (sent, expected) in cases {
            let reading = read("/tasks", &[("accept-encoding", sent)]);
            assert_eq!(reading.as_deref(), *expected, "{sent}");
            // The board, reading the result, decides as it would have on the original.
            let original = crate::http::conditional::headers(&[("accept-encoding", sent)]);
            let mut seen = axum::http::HeaderMap::new();
            if let Some(value) = reading {
                seen.insert(
                    header::ACCEPT_ENCODING,
                    value.parse().expect("header value"),
                );
            }
            assert_eq!(coding_of(&seen), coding_of(&original), "{sent}");
        }
        assert_eq!(read("/tasks", &[]), None);
    }

    #[test]
    fn the_websocket_upgrade_and_metrics_are_never_compressed() {
        let ws = [("accept-encoding", "gzip"), ("upgrade", "websocket")];
        assert_eq!(read("/ws/notifications/x", &ws), None);
        assert_eq!(read("/metrics", &[("accept-encoding", "gzip, br")]), None);
    }
}
