//! The HTTP client of webhook deliveries. Each attempt resolves the URL's host and checks
//! every address (non-public ones are refused unless allowed), then connects to a checked
//! address itself — so a host cannot pass the check and then resolve elsewhere — and sends
//! one `POST` with the Standard Webhooks headers over HTTP/1.1 (TLS by rustls for `https`).
//! No proxy, no redirects (a 3xx is a failed attempt), one timeout for the whole attempt,
//! and the answer read up to 64 KiB.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flowtrack_core::config::WebhookConfig;
use flowtrack_core::net;
use flowtrack_store::services::webhooks::delivery::{ERROR_BYTES, Outcome};
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// The most of a receiver's answer that is read.
const ANSWER_BYTES: usize = 64 * 1024;
const AGENT: &str = concat!("FlowTrack-Webhooks/", env!("CARGO_PKG_VERSION"));

/// One message to send.
pub struct Message<'a> {
    pub url: &'a str,
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: String,
}

#[derive(Clone)]
pub struct Sender {
    tls: TlsConnector,
    allow_private: bool,
    timeout: Duration,
}

impl Sender {
    pub fn new(config: &WebhookConfig) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: TlsConnector::from(Arc::new(tls)),
            allow_private: config.allow_private,
            timeout: config.timeout,
        })
    }

    /// Sends one attempt; never fails: what happened is in the [`Outcome`].
    pub async fn send(&self, message: Message<'_>) -> Outcome {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, self.attempt(message)).await {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {} ms", self.timeout.as_millis())),
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match result {
            Ok((status, answer)) => {
                let ok = (200..300).contains(&status);
                Outcome {
                    status: Some(status),
                    error: (!ok).then(|| excerpt(&answer)),
                    duration_ms,
                }
            }
            Err(error) => Outcome {
                status: None,
                error: Some(error),
                duration_ms,
            },
        }
    }

    async fn attempt(&self, message: Message<'_>) -> Result<(u16, Vec<u8>), String> {
        let url = url::Url::parse(message.url).map_err(|e| format!("bad URL: {e}"))?;
        let host = url.host_str().ok_or("the URL has no host")?.to_string();
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let addrs = net::resolve_allowed(&host, port, self.allow_private).await?;
        let tcp = connect(&addrs).await?;
        let request = Request::post(request_target(&url))
            .header(HOST, host_header(&url))
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, AGENT)
            .header("webhook-id", message.id)
            .header("webhook-timestamp", message.timestamp.to_string())
            .header("webhook-signature", message.signature)
            .body(Full::new(Bytes::from(message.body)))
            .map_err(|e| format!("bad request: {e}"))?;
        if url.scheme() == "https" {
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| format!("bad TLS name: {e}"))?;
            let stream = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            exchange(stream, request).await
        } else {
            exchange(tcp, request).await
        }
    }
}

/// The first checked address that accepts a connection.
async fn connect(addrs: &[std::net::SocketAddr]) -> Result<TcpStream, String> {
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = format!("connection to {addr} failed: {e}"),
        }
    }
    Err(last)
}

/// Sends the request on a fresh HTTP/1.1 connection and reads the answer (up to 64 KiB).
async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<(u16, Vec<u8>), String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut answer = Vec::new();
    while answer.len() < ANSWER_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    answer.extend_from_slice(data);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    answer.truncate(ANSWER_BYTES);
    driver.abort();
    Ok((status, answer))
}

/// The path and query of the URL (what the request line carries).
fn request_target(url: &url::Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// The start of a receiver's answer, as text.
fn excerpt(answer: &[u8]) -> String {
    String::from_utf8_lossy(&answer[..answer.len().min(ERROR_BYTES)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(allow_private: bool) -> Sender {
        Sender::new(&WebhookConfig {
            allow_private,
            timeout: Duration::from_secs(2),
            retry_base: Duration::from_secs(1),
            give_up: Duration::from_secs(60),
        })
        .expect("sender")
    }

    fn message(url: &str) -> Message<'_> {
        Message {
            url,
            id: "msg_1",
            timestamp: 1,
            signature: "v1,x",
            body: "{}".into(),
        }
    }

    /// The address check runs at every attempt, not only when the webhook was created: a
    /// host that resolves to a private address now fails the attempt, before any connection.
    #[tokio::test]
    async fn every_attempt_checks_where_the_host_resolves() {
        for url in [
            "http://localhost:9/x",
            "http://127.0.0.1:9/x",
            "http://[::1]:9/x",
        ] {
            let outcome = sender(false).send(message(url)).await;
            assert_eq!(outcome.status, None, "{url}");
            let error = outcome.error.unwrap_or_default();
            assert!(error.contains("non-public"), "{url}: {error}");
        }
        // Allowed: the attempt goes on to connect (nothing listens on port 9).
        let outcome = sender(true).send(message("http://127.0.0.1:9/x")).await;
        assert!(outcome.error.unwrap_or_default().contains("connection"));
    }

    #[test]
    fn the_request_line_and_host_come_from_the_url() {
        let url = url::Url::parse("https://hooks.example.com:8443/a/b?x=1").expect("url");
        assert_eq!(request_target(&url), "/a/b?x=1");
        assert_eq!(host_header(&url), "hooks.example.com:8443");
        assert_eq!(excerpt(&[b'a'; 5000]).len(), ERROR_BYTES);
    }
}
