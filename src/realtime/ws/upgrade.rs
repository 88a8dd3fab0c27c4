//! The WebSocket opening handshake (RFC 6455 §4.2), answered here rather than by axum's
//! extractor: the session and the hub's writers share the TCP socket itself (see
//! `realtime::outlet`), which axum's `WebSocket` keeps behind its own stream.

use std::future::Future;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::http::server::upgraded_socket;
use flowtrack_core::error::AppError;

/// A valid WebSocket upgrade request, not answered yet.
pub(super) struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Whether a comma-separated header has `token` (case-insensitive).
fn header_has(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl Upgrade {
    /// Checks the request is a WebSocket upgrade (a 400 naming what is missing if not).
    pub(super) fn from_parts(parts: &mut Parts) -> Result<Self, AppError> {
        let refuse = |why: &str| AppError::BadRequest(format!("Not a WebSocket upgrade: {why}"));
        if parts.method != Method::GET {
            return Err(refuse("the method must be GET"));
        }
        if !header_has(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(refuse("`Connection` must include `upgrade`"));
        }
        if !header_has(&parts.headers, header::UPGRADE, "websocket") {
            return Err(refuse("`Upgrade` must be `websocket`"));
        }
        if !header_has(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(refuse("`Sec-WebSocket-Version` must be 13"));
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .cloned()
            .ok_or_else(|| refuse("`Sec-WebSocket-Key` is missing"))?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or_else(|| refuse("the connection cannot be upgraded"))?;
        Ok(Self { key, on_upgrade })
    }

    /// The `101 Switching Protocols` answer (selecting `protocol`, if any); `run` gets the
    /// socket, its connection slot and any bytes the client sent ahead once the client has
    /// the answer. A client that leaves before that never reaches `run`.
    pub(super) fn accept<F, Fut>(self, protocol: Option<&'static str>, run: F) -> Response
    where
        F: FnOnce(TcpStream, OwnedSemaphorePermit, Vec<u8>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let accept = derive_accept_key(self.key.as_bytes());
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            match upgraded_socket(upgraded) {
                Some((stream, slot, read)) => run(stream, slot, read).await,
                None => tracing::error!("a WebSocket upgrade outside the server's accept loop"),
            }
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(protocol) = protocol {
            headers.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut builder = axum::http::Request::get("/ws");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    #[test]
    fn a_request_missing_any_part_of_the_handshake_is_refused() {
        let full = [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        // Complete but not on a server connection: only the upgrade itself is missing.
        let err = Upgrade::from_parts(&mut parts(&full))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("cannot be upgraded"), "{err}");
        for skip in 0..full.len() {
            let some: Vec<_> = (0..full.len())
                .filter(|i| *i != skip)
                .map(|i| full[i])
                .collect();
            let err = Upgrade::from_parts(&mut parts(&some))
                .err()
                .expect("refused");
            assert!(matches!(err, AppError::BadRequest(_)), "{err}");
            assert!(
                !err.to_string().contains("cannot be upgraded"),
                "{skip}: {err}"
            );
        }
    }

    #[test]
    fn the_accept_key_is_rfc_6455s() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
