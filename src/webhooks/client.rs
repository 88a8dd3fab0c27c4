//! The HTTP client of webhook deliveries. Each attempt resolves the URL's host and checks
//! every address (non-public ones are refused unless allowed), then connects to a checked
//! address itself — so a host cannot pass the check and then resolve elsewhere — and sends
//! one `POST` with the Standard Webhooks headers over HTTP/1.1 (TLS by rustls for `https`).
//! No proxy, no redirects (a 3xx is a failed attempt), one timeout for the whole attempt,
//! and the answer read up to 64 KiB.
//!
//! A webhook's run of deliveries keeps its connection open between attempts ([`Link`]): a
//! receiver that keeps connections alive costs one TCP (and TLS) handshake per run rather
//! than per event. The connection is reused only while the host still resolves to the
//! address it was opened to, and is dropped after any failure, timeout or unread answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flowtrack_core::config::WebhookConfig;
use flowtrack_core::net;
use flowtrack_store::services::webhooks::delivery::{ERROR_BYTES, Outcome};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Request, Response};
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

/// An open connection to a webhook's receiver, kept between attempts of one run.
pub struct Link {
    /// `scheme://host:port` of the URL it was opened for.
    origin: String,
    /// The checked address it is connected to.
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.driver.abort();
    }
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

    /// Sends one attempt, on `link`'s connection when it still fits (and leaves the
    /// connection there for the next attempt when it can be reused); never fails: what
    /// happened is in the [`Outcome`].
    pub async fn send(&self, link: &mut Option<Link>, message: Message<'_>) -> Outcome {
        let started = Instant::now();
        let attempt = self.attempt(link, message);
        let result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => {
                // The connection is mid-exchange: it cannot carry another request.
                *link = None;
                Err(format!("timed out after {} ms", self.timeout.as_millis()))
            }
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

    async fn attempt(
        &self,
        link: &mut Option<Link>,
        message: Message<'_>,
    ) -> Result<(u16, Vec<u8>), String> {
        let url = url::Url::parse(message.url).map_err(|e| format!("bad URL: {e}"))?;
        let host = url.host_str().ok_or("the URL has no host")?.to_string();
        let port = url.port_or_known_default().ok_or("the URL has no port")?;
        let origin = format!("{}://{host}:{port}", url.scheme());
        let addrs = net::resolve_allowed(&host, port, self.allow_private).await?;
        let body = Bytes::from(message.body);
        let request = || {
            Request::post(request_target(&url))
                .header(HOST, host_header(&url))
                .header(CONTENT_TYPE, "application/json")
                .header(USER_AGENT, AGENT)
                .header("webhook-id", message.id)
                .header("webhook-timestamp", message.timestamp.to_string())
                .header("webhook-signature", message.signature)
                .body(Full::new(body.clone()))
                .map_err(|e| format!("bad request: {e}"))
        };
        // Reuse the open connection only while it goes where the host resolves now.
        let reusable = link.take().filter(|open| {
            open.origin == origin && addrs.contains(&open.addr) && !open.sender.is_closed()
        });
        if let Some(mut open) = reusable {
            match open.sender.ready().await {
                Ok(()) => {
                    // A receiver may close an idle connection just as the request goes out:
                    // then the attempt goes on over a new one (same webhook-id, so a receiver
                    // that got it anyway deduplicates).
                    if let Ok(response) = open.sender.send_request(request()?).await {
                        return finish(link, open, response).await;
                    }
                }
                Err(_) => drop(open),
            }
        }
        let mut open = self.open(&url, &host, origin, &addrs).await?;
        let response = open
            .sender
            .send_request(request()?)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        finish(link, open, response).await
    }

    /// Connects to the first checked address that accepts, with TLS for `https`, and does
    /// the HTTP/1.1 handshake.
    async fn open(
        &self,
        url: &url::Url,
        host: &str,
        origin: String,
        addrs: &[SocketAddr],
    ) -> Result<Link, String> {
        let (tcp, addr) = connect(addrs).await?;
        let (sender, driver) = if url.scheme() == "https" {
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| format!("bad TLS name: {e}"))?;
            let stream = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            handshake(stream).await?
        } else {
            handshake(tcp).await?
        };
        Ok(Link {
            origin,
            addr,
            sender,
            driver,
        })
    }
}

/// The first checked address that accepts a connection.
async fn connect(addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr), String> {
    let mut last = String::from("no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, *addr));
            }
            Err(e) => last = format!("connection to {addr} failed: {e}"),
        }
    }
    Err(last)
}

/// The HTTP/1.1 handshake on a connected stream; the connection runs on a task of its own.
async fn handshake<S>(
    stream: S,
) -> Result<(SendRequest<Full<Bytes>>, tokio::task::JoinHandle<()>), String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok((sender, driver))
}

/// Reads the answer (up to 64 KiB) and puts the connection back in `link` when it can carry
/// the next request: the whole answer was read and the receiver did not ask to close.
async fn finish(
    link: &mut Option<Link>,
    open: Link,
    response: Response<hyper::body::Incoming>,
) -> Result<(u16, Vec<u8>), String> {
    let status = response.status().as_u16();
    let closing = response
        .headers()
        .get(CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let mut body = response.into_body();
    let mut answer = Vec::new();
    let mut complete = false;
    while answer.len() <= ANSWER_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    answer.extend_from_slice(data);
                }
            }
            Some(Err(_)) => break,
            None => {
                complete = true;
                break;
            }
        }
    }
    answer.truncate(ANSWER_BYTES);
    if complete && !closing {
        *link = Some(open);
    }
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use hyper::server::conn::http1;
    use hyper::service::service_fn;

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
            let outcome = sender(false).send(&mut None, message(url)).await;
            assert_eq!(outcome.status, None, "{url}");
            let error = outcome.error.unwrap_or_default();
            assert!(error.contains("non-public"), "{url}: {error}");
        }
        // Allowed: the attempt goes on to connect (nothing listens on port 9).
        let outcome = sender(true)
            .send(&mut None, message("http://127.0.0.1:9/x"))
            .await;
        assert!(outcome.error.unwrap_or_default().contains("connection"));
    }

    /// A receiver on 127.0.0.1 that counts the connections it accepts and answers every
    /// request with 200, `answer_bytes` of body, and `Connection: close` when asked.
    async fn counting_receiver(close: bool, answer_bytes: usize) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = service_fn(move |_request| async move {
                    let mut response =
                        Response::new(Full::new(Bytes::from(vec![b'x'; answer_bytes])));
                    if close {
                        response
                            .headers_mut()
                            .insert(CONNECTION, "close".parse().expect("header"));
                    }
                    Ok::<_, std::convert::Infallible>(response)
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(tcp), answer));
            }
        });
        (url, accepted)
    }

    /// A run of deliveries keeps one connection while the receiver keeps it alive and the
    /// answer is read whole; a receiver that closes it, or an answer past the read limit,
    /// costs a new connection per attempt.
    #[tokio::test]
    async fn a_run_of_deliveries_reuses_the_connection_while_it_can() {
        for (close, answer_bytes, connections) in [
            (false, 10, 1),
            (true, 10, 3),
            (false, ANSWER_BYTES + 1000, 3),
        ] {
            let (url, accepted) = counting_receiver(close, answer_bytes).await;
            let sender = sender(true);
            let mut link = None;
            for _ in 0..3 {
                let outcome = sender.send(&mut link, message(&url)).await;
                assert_eq!(outcome.status, Some(200), "{:?}", outcome.error);
            }
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                connections,
                "close: {close}, answer: {answer_bytes} bytes"
            );
        }
    }

    #[test]
    fn the_request_line_and_host_come_from_the_url() {
        let url = url::Url::parse("https://hooks.example.com:8443/a/b?x=1").expect("url");
        assert_eq!(request_target(&url), "/a/b?x=1");
        assert_eq!(host_header(&url), "hooks.example.com:8443");
        assert_eq!(excerpt(&[b'a'; 5000]).len(), ERROR_BYTES);
    }
}
