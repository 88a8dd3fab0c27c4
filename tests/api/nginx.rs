//! The documented reverse-proxy setup, tested: a real nginx (Debian's package) runs
//! `deploy/nginx/flowtrack.conf` — only its addresses, ports and certificate paths replaced —
//! with a throwaway certificate authority, in front of a FlowTrack that trusts it
//! (`FLOWTRACK_TRUSTED_PROXIES=127.0.0.1`). Through it: HTTPS REST, `wss://` live events
//! and a resume, the body limit, and per-client login limits — clients connect from
//! different loopback addresses (127.0.0.2, 127.0.0.3), and one forging `X-Forwarded-For`
//! is not believed.
//!
//! nginx and openssl missing: the test is skipped with a message, except on CI (`CI` set),
//! where it fails (.ci/run installs nginx).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::helpers::*;

const NGINX: &str = "/usr/sbin/nginx";
const CONFIG: &str = "deploy/nginx/flowtrack.conf";

/// A client machine: the loopback address it connects from.
#[derive(Clone, Copy)]
struct From([u8; 4]);

const ALICE: From = From([127, 0, 0, 2]);
const BOB: From = From([127, 0, 0, 3]);

fn available() -> bool {
    let found = Path::new(NGINX).exists()
        && std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        found || !ci,
        "nginx ({NGINX}) and openssl are required on CI"
    );
    if !found {
        eprintln!("SKIPPED: nginx or openssl missing (apt-get install nginx openssl)");
    }
    found
}

fn run(dir: &Path, args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A throwaway CA and a certificate for `localhost` signed by it; returns the CA (DER).
fn certificates(dir: &Path) -> CertificateDer<'static> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=FlowTrack test CA",
    ]);
    run(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(dir, &csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    run(
        dir,
        &["x509", "-in", "ca.pem", "-outform", "der", "-out", "ca.der"],
    );
    CertificateDer::from(std::fs::read(dir.join("ca.der")).expect("ca.der"))
}

/// The deployed file with this test's addresses: each replaced text must be there exactly
/// once, so the file and the test cannot drift apart unnoticed.
fn site_config(upstream: SocketAddr, http: u16, https: u16, dir: &Path) -> String {
    let mut config = std::fs::read_to_string(CONFIG).expect("deploy/nginx/flowtrack.conf");
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    for (from, to) in [
        ("server 127.0.0.1:8000;", format!("server {upstream};")),
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        ("listen [::]:80;", String::new()),
        (
            "listen 443 ssl http2;",
            format!("listen 127.0.0.1:{https} ssl http2;"),
        ),
        ("listen [::]:443 ssl http2;", String::new()),
        ("/etc/ssl/certs/flowtrack.crt", cert.display().to_string()),
        ("/etc/ssl/private/flowtrack.key", key.display().to_string()),
    ] {
        assert_eq!(config.matches(from).count(), 1, "`{from}` in {CONFIG}");
        config = config.replace(from, &to);
    }
    config
}

/// nginx running the deployed configuration; stopped (TERM) when dropped.
struct Nginx {
    https: u16,
    tls: TlsConnector,
    pid: u32,
    _dir: tempfile::TempDir,
}

impl Nginx {
    async fn start(upstream: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        // Workers may run as another user when the test runs as root.
        set_mode(&path, 0o755);
        let ca = certificates(&path);
        let (http, https) = (free_port(), free_port());
        std::fs::write(
            path.join("flowtrack.conf"),
            site_config(upstream, http, https, &path),
        )
        .expect("site");
        for temp in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            let temp = path.join(temp);
            std::fs::create_dir(&temp).expect("temp dir");
            set_mode(&temp, 0o777);
        }
        let p = path.display();
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  \
             fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n  \
             include {p}/flowtrack.conf;\n}}\n"
        );
        std::fs::write(path.join("nginx.conf"), main).expect("nginx.conf");
        let mut child = std::process::Command::new(NGINX)
            .args([
                "-p",
                &p.to_string(),
                "-c",
                &format!("{p}/nginx.conf"),
                "-e",
                &format!("{p}/error.log"),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start nginx");
        let pid = child.id();
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", https)).await.is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(path.join("error.log")).unwrap_or_default();
                panic!("nginx exited ({status}): {log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut roots = RootCertStore::empty();
        roots.add(ca).expect("CA");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            https,
            tls: TlsConnector::from(Arc::new(config)),
            pid,
            _dir: dir,
        }
    }

    /// A TLS connection to nginx from `from`'s address, the certificate checked.
    async fn connect(&self, from: From) -> TlsStream<TcpStream> {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.bind((from.0, 0).into()).expect("bind");
        let tcp = socket
            .connect(([127, 0, 0, 1], self.https).into())
            .await
            .expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        self.tls.connect(name, tcp).await.expect("TLS handshake")
    }

    /// One HTTPS request; the answer's status, headers and JSON body (`Null` if none).
    async fn request(
        &self,
        from: From,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> (u16, hyper::HeaderMap, Value) {
        let stream = self.connect(from).await;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn post(&self, from: From, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let body = Bytes::from(body.to_string());
        let (status, _, body) = self
            .request(from, "POST", path, token, &[], Some(body))
            .await;
        (status, body)
    }

    /// A `wss://` live-event socket through nginx.
    async fn websocket(
        &self,
        from: From,
        path: &str,
    ) -> tokio_tungstenite::WebSocketStream<TlsStream<TcpStream>> {
        let request = format!("wss://localhost:{}{path}", self.https)
            .into_client_request()
            .expect("request");
        let stream = self.connect(from).await;
        let (socket, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .expect("WebSocket through nginx");
        socket
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The next project event on a socket (5 s at most).
async fn next_event<S>(socket: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let message: Value = serde_json::from_str(text.as_str()).expect("json");
                if message["seq"].is_i64() {
                    return message;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no event through nginx: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_documented_nginx_setup_serves_https_wss_and_per_client_limits() {
    if !available() {
        return;
    }
    let app = TestApp::spawn_with(|cfg| {
        cfg.trusted_proxies =
            flowtrack_core::client_addr::TrustedProxies::parse("127.0.0.1").expect("proxies");
        cfg.login_max_failures = 1;
    })
    .await;
    let nginx = Nginx::start(app.addr).await;

    // HTTPS REST: register, create a project, read it back.
    let email = unique_email();
    let (status, pair) = nginx
        .post(
            ALICE,
            "/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "full_name": "Via nginx"}),
        )
        .await;
    assert_eq!(status, 201, "{pair}");
    let token = pair["access_token"].as_str().expect("token").to_string();
    let user_id = pair["user"]["id"].as_str().expect("id").to_string();
    let (status, project) = nginx
        .post(ALICE, "/projects", Some(&token), json!({"name": "Proxied"}))
        .await;
    assert_eq!(status, 201, "{project}");
    let project_id = project["id"].as_str().expect("id").to_string();
    let (status, headers, me) = nginx
        .request(ALICE, "GET", "/users/me", Some(&token), &[], None)
        .await;
    assert_eq!((status, me["email"].as_str()), (200, Some(email.as_str())));
    assert!(
        headers.contains_key("x-request-id"),
        "FlowTrack's headers pass"
    );
    assert!(headers.contains_key("strict-transport-security"));

    // The body limit: FlowTrack's own 413 (problem+json) comes through.
    let big = Bytes::from(format!(r#"{{"name":"{}"}}"#, "x".repeat(1_200_000)));
    let (status, _, problem) = nginx
        .request(ALICE, "POST", "/projects", Some(&token), &[], Some(big))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    // wss://: a live event, then a resume after a gap replays what was missed.
    let path = format!("/ws/notifications/{user_id}?token={token}");
    let mut socket = nginx.websocket(ALICE, &path).await;
    nginx
        .post(
            ALICE,
            "/tasks",
            Some(&token),
            json!({"project_id": project_id, "title": "one"}),
        )
        .await;
    let first = next_event(&mut socket).await;
    assert_eq!(first["type"], "task.created");
    let seq = first["seq"].as_i64().expect("seq");
    drop(socket);
    nginx
        .post(
            ALICE,
            "/tasks",
            Some(&token),
            json!({"project_id": project_id, "title": "two"}),
        )
        .await;
    let mut socket = nginx
        .websocket(ALICE, &format!("{path}&resume={project_id}:{seq}"))
        .await;
    let missed = next_event(&mut socket).await;
    assert_eq!(
        (missed["seq"].as_i64(), missed["type"].as_str()),
        (Some(seq + 1), Some("task.created"))
    );

    // Per-client login limits: 10 failures from Alice's address (10 × 1 per account),
    // however she forges X-Forwarded-For, then she is limited…
    let wrong =
        |n: usize| json!({"email": format!("nobody{n}@example.com"), "password": "wrong password"});
    for n in 0..10 {
        let forged = format!("203.0.113.{n}");
        let body = Bytes::from(wrong(n).to_string());
        let (status, _, _) = nginx
            .request(
                ALICE,
                "POST",
                "/auth/login",
                None,
                &[("x-forwarded-for", &forged)],
                Some(body),
            )
            .await;
        assert_eq!(status, 401, "failure {n}");
    }
    let (status, _) = nginx.post(ALICE, "/auth/login", None, wrong(10)).await;
    assert_eq!(status, 429, "Alice is limited");
    // …while Bob, behind the same proxy, is not.
    let (status, _) = nginx.post(BOB, "/auth/login", None, wrong(11)).await;
    assert_eq!(
        status, 401,
        "Bob is not limited with her (a limited login answers 429)"
    );
}
