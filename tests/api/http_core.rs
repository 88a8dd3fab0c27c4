//! Framework-level behaviour: problem+json for every failure, request ids, CORS, limits.

use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::*;

const ORIGIN: &str = "https://app.example.com";

/// The comma-separated items of a header, lower-cased.
fn header_items(response: &Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().expect("ASCII header").split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn register_body() -> serde_json::Value {
    json!({"email": unique_email(), "password": PASSWORD, "full_name": "Body Test"})
}

// ---------------------------------------------------------------------------------------
// Routing

#[tokio::test]
async fn unknown_route_is_a_problem_404() {
    let app = TestApp::spawn().await;
    let response = app.get("/no/such/route").send().await.expect("send");
    assert_problem(response, 404, "not_found").await;
    let response = app
        .post("/no/such/route")
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn wrong_method_is_405_with_allow_and_a_problem_body() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let cases: [(Method, &str, &[&str]); 4] = [
        (Method::DELETE, "/users/me", &["GET", "PATCH"]),
        (Method::GET, "/auth/login", &["POST"]),
        (Method::POST, "/health", &["GET"]),
        (Method::POST, "/users/me/password", &["PUT"]),
    ];
    for (method, path, allowed) in cases {
        let response = app
            .request(method.clone(), path)
            .bearer_auth(&user.access)
            .send()
            .await
            .expect("send");
        let allow: Vec<String> = header_items(&response, "allow")
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        for m in allowed {
            assert!(
                allow.iter().any(|a| a == m),
                "{method} {path}: Allow {allow:?}"
            );
        }
        assert!(
            !allow.contains(&method.to_string()),
            "{method} {path}: Allow {allow:?}"
        );
        assert_problem(response, 405, "method_not_allowed").await;
    }
}

// ---------------------------------------------------------------------------------------
// Bodies

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    for raw in [r#"{"email": "#, "{,}", "not json", r#"{"a":1}{"#, ""] {
        let response = app
            .post("/auth/register")
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("send");
        assert_problem(response, 400, "bad_request").await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_422_on_field_empty() {
    let app = TestApp::spawn().await;
    for raw in [
        "[]",
        r#"[{"email":"a@b.org"}]"#,
        r#""text""#,
        "42",
        "null",
        "true",
    ] {
        let response = app
            .post("/auth/register")
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("send");
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [""], "{raw}");
    }
}

#[tokio::test]
async fn json_with_charset_or_a_json_suffix_is_accepted() {
    let app = TestApp::spawn().await;
    for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
        let response = app
            .post("/auth/register")
            .header("content-type", content_type)
            .body(register_body().to_string())
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::CREATED, "{content_type}");
    }
}

#[tokio::test]
async fn a_non_json_content_type_is_415() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let text = register_body().to_string();
    for content_type in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .post("/auth/register")
            .header("content-type", content_type)
            .body(text.clone())
            .send()
            .await
            .expect("send");
        assert_problem(response, 415, "unsupported_media_type").await;
        let response = app
            .patch("/users/me")
            .bearer_auth(&user.access)
            .header("content-type", content_type)
            .body(r#"{"full_name":"X"}"#)
            .send()
            .await
            .expect("send");
        assert_problem(response, 415, "unsupported_media_type").await;
    }
}

#[tokio::test]
async fn a_missing_content_type_is_415() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .post("/auth/register")
        .body(register_body().to_string())
        .send()
        .await
        .expect("send");
    assert_problem(response, 415, "unsupported_media_type").await;
    let response = app
        .put("/users/me/password")
        .bearer_auth(&user.access)
        .body(json!({"current_password": PASSWORD, "new_password": "something new"}).to_string())
        .send()
        .await
        .expect("send");
    assert_problem(response, 415, "unsupported_media_type").await;
    // Nothing changed.
    app.login(&user.email, PASSWORD).await;
}

/// A JSON object of about `size` bytes.
fn big_json(size: usize) -> String {
    json!({"email": unique_email(), "password": PASSWORD, "full_name": "x".repeat(size)})
        .to_string()
}

#[tokio::test]
async fn a_body_over_1_mib_is_413() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let body = big_json(1024 * 1024 + 100 * 1024);
    let response = app
        .post("/auth/register")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("send");
    assert_problem(response, 413, "payload_too_large").await;
    let response = app
        .patch("/users/me")
        .bearer_auth(&user.access)
        .header("content-type", "application/json")
        .body(json!({"full_name": "y".repeat(1024 * 1024 + 1)}).to_string())
        .send()
        .await
        .expect("send");
    assert_problem(response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn a_body_just_under_1_mib_is_read() {
    let app = TestApp::spawn().await;
    // 1 MiB minus some room for the other fields: parsed, then refused for its content.
    let body = big_json(1024 * 1024 - 200);
    assert!(body.len() <= 1024 * 1024);
    let response = app
        .post("/auth/register")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["full_name"]);
}

/// Sends a chunked request (no `Content-Length`) over a raw connection and returns the
/// status code and the raw response head and body.
async fn send_chunked(app: &TestApp, path: &str, chunks: Vec<Vec<u8>>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    let (mut reader, mut writer) = stream.into_split();
    // The server may answer (and stop reading) before the body is complete: write from
    // another task and ignore write errors. The task hands the write half back rather than
    // dropping it, since closing our side early would end the exchange.
    let writing = tokio::spawn(async move {
        for chunk in chunks {
            let frame_head = format!("{:x}\r\n", chunk.len());
            if writer.write_all(frame_head.as_bytes()).await.is_err()
                || writer.write_all(&chunk).await.is_err()
                || writer.write_all(b"\r\n").await.is_err()
            {
                return writer;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
        let _ = writer.flush().await;
        writer
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
        // Stop once the head and the whole (content-length) body are in.
        if let Some(complete) = complete_response(&response) {
            response.truncate(complete);
            break;
        }
    }
    writing.abort();
    drop(writing);
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in: {text}"));
    (status, text)
}

/// The length of a complete HTTP response with a `content-length`, if `bytes` holds one.
fn complete_response(bytes: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(bytes);
    let head_end = text.find("\r\n\r\n")? + 4;
    let length = text[..head_end].lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    })?;
    (bytes.len() >= head_end + length).then_some(head_end + length)
}

#[tokio::test]
async fn a_chunked_body_over_1_mib_is_413() {
    let app = TestApp::spawn().await;
    let body = big_json(1024 * 1024 + 100 * 1024).into_bytes();
    let chunks: Vec<Vec<u8>> = body.chunks(64 * 1024).map(<[u8]>::to_vec).collect();
    let (status, text) = send_chunked(&app, "/auth/register", chunks).await;
    assert_eq!(status, 413, "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{text}"
    );
    assert!(text.contains(r#""code":"payload_too_large""#), "{text}");
}

#[tokio::test]
async fn a_small_chunked_body_is_accepted() {
    let app = TestApp::spawn().await;
    let body = register_body().to_string().into_bytes();
    let chunks: Vec<Vec<u8>> = body.chunks(16).map(<[u8]>::to_vec).collect();
    let (status, text) = send_chunked(&app, "/auth/register", chunks).await;
    assert_eq!(status, 201, "{text}");
}

// ---------------------------------------------------------------------------------------
// Request ids

#[tokio::test]
async fn every_response_has_a_uuid_request_id() {
    let app = TestApp::spawn().await;
    let mut ids = std::collections::HashSet::new();
    let responses = [
        app.get("/health").send().await.expect("send"),
        app.get("/no/such/route").send().await.expect("send"),
        app.get("/users/me").send().await.expect("send"),
        app.delete("/health").send().await.expect("send"),
        app.post("/auth/register")
            .json(&json!({}))
            .send()
            .await
            .expect("send"),
        app.post("/auth/register")
            .body(big_json(1024 * 1024 + 10))
            .header("content-type", "application/json")
            .send()
            .await
            .expect("send"),
        app.request(Method::OPTIONS, "/users/me")
            .send()
            .await
            .expect("send"),
    ];
    for response in responses {
        let id = header(&response, "x-request-id")
            .unwrap_or_else(|| panic!("no X-Request-Id on {}", response.url()));
        assert!(Uuid::parse_str(&id).is_ok(), "not a UUID: {id}");
        assert!(ids.insert(id.clone()), "repeated request id {id}");
    }
}

#[tokio::test]
async fn a_given_request_id_is_echoed() {
    let app = TestApp::spawn().await;
    for (path, id) in [
        ("/health", "trace-abc-123"),
        ("/users/me", "01936f0e-1c2a-7cc0-9d4e-3f5a6b7c8d9e"),
        ("/missing", "another-id"),
    ] {
        let response = app
            .get(path)
            .header("x-request-id", id)
            .send()
            .await
            .expect("send");
        assert_eq!(
            header(&response, "x-request-id").as_deref(),
            Some(id),
            "{path}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// CORS

async fn cors_app(origins: &[&str]) -> TestApp {
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    TestApp::spawn_with(move |cfg| cfg.cors_origins = origins).await
}

async fn preflight(app: &TestApp, origin: &str, path: &str) -> Response {
    app.request(Method::OPTIONS, path)
        .header("origin", origin)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization,if-match,content-type,x-request-id",
        )
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn cors_allowed_origin_on_a_simple_request() {
    let app = cors_app(&[ORIGIN]).await;
    let response = app
        .get("/health")
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    let exposed = header_items(&response, "access-control-expose-headers");
    for name in ["etag", "x-request-id", "retry-after", "location"] {
        assert!(
            exposed.iter().any(|e| e == name),
            "{name} not exposed: {exposed:?}"
        );
    }
    assert!(
        header_items(&response, "vary")
            .iter()
            .any(|v| v == "origin"),
        "Vary must name Origin"
    );
}

#[tokio::test]
async fn cors_headers_are_on_error_answers_too() {
    let app = cors_app(&[ORIGIN]).await;
    let response = app
        .get("/users/me")
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("send");
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    assert_problem(response, 401, "unauthorized").await;
}

#[tokio::test]
async fn cors_preflight_of_an_allowed_origin() {
    let app = cors_app(&[ORIGIN, "https://other.example.com"]).await;
    let response = preflight(&app, ORIGIN, "/users/me").await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(ORIGIN)
    );
    let methods = header_items(&response, "access-control-allow-methods");
    assert!(
        methods.iter().any(|m| m == "patch" || m == "*"),
        "{methods:?}"
    );
    let allowed = header_items(&response, "access-control-allow-headers");
    for name in ["authorization", "if-match", "content-type", "x-request-id"] {
        assert!(
            allowed.iter().any(|h| h == name),
            "{name} not allowed: {allowed:?}"
        );
    }
    assert!(header(&response, "access-control-allow-credentials").is_none());
    // Each listed origin gets itself back, never the whole list.
    let response = preflight(&app, "https://other.example.com", "/users/me").await;
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("https://other.example.com")
    );
}

#[tokio::test]
async fn cors_disallowed_origin_gets_no_allow_origin() {
    let app = cors_app(&[ORIGIN]).await;
    for origin in [
        "https://evil.example.com",
        "http://app.example.com",
        "https://app.example.com.evil.org",
    ] {
        let response = app
            .get("/health")
            .header("origin", origin)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            header(&response, "access-control-allow-origin").is_none(),
            "{origin}"
        );
        assert!(
            header(&response, "access-control-allow-credentials").is_none(),
            "{origin}"
        );
        let response = preflight(&app, origin, "/users/me").await;
        assert!(
            header(&response, "access-control-allow-origin").is_none(),
            "{origin}"
        );
        assert!(
            header(&response, "access-control-allow-credentials").is_none(),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn cors_without_configured_origins_allows_none() {
    let app = TestApp::spawn().await;
    let response = app
        .get("/health")
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("send");
    assert!(header(&response, "access-control-allow-origin").is_none());
    let response = preflight(&app, ORIGIN, "/users/me").await;
    assert!(header(&response, "access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_wildcard_never_carries_credentials() {
    let app = cors_app(&["*"]).await;
    let response = app
        .get("/health")
        .header("origin", "https://anywhere.example.net")
        .send()
        .await
        .expect("send");
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert!(header(&response, "access-control-allow-credentials").is_none());
    let response = preflight(&app, "https://anywhere.example.net", "/users/me").await;
    assert!(response.status().is_success(), "{}", response.status());
    let allow_origin = header(&response, "access-control-allow-origin");
    assert!(
        matches!(
            allow_origin.as_deref(),
            Some("*") | Some("https://anywhere.example.net")
        ),
        "{allow_origin:?}"
    );
    assert!(header(&response, "access-control-allow-credentials").is_none());
    let allowed = header_items(&response, "access-control-allow-headers");
    for name in ["authorization", "if-match", "content-type", "x-request-id"] {
        assert!(
            allowed.iter().any(|h| h == name || h == "*"),
            "{name}: {allowed:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Connection handling (src/http/server.rs)

/// Sends a raw request head and returns the status line of the answer ("" if none).
async fn raw_status_line(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn too_many_or_too_large_headers_get_431() {
    let app = TestApp::spawn().await;
    let mut flood = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        flood.push_str(&format!("X-Flood-{i}: v\r\n"));
    }
    flood.push_str("Connection: close\r\n\r\n");
    let line = raw_status_line(app.addr, flood.as_bytes()).await;
    assert!(line.starts_with("HTTP/1.1 431"), "200 headers: {line:?}");

    let big = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let line = raw_status_line(app.addr, big.as_bytes()).await;
    assert!(
        line.is_empty() || line.starts_with("HTTP/1.1 431"),
        "100 KiB header: {line:?}"
    );

    // A normal request on the same server still works.
    let ok = raw_status_line(
        app.addr,
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok:?}");
}

#[tokio::test]
async fn at_the_connection_limit_new_clients_wait_for_a_free_slot() {
    let app = TestApp::spawn_with(|config| config.max_connections = 2).await;
    let request = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // Two idle connections take both slots.
    let idle_a = tokio::net::TcpStream::connect(app.addr).await.expect("a");
    let idle_b = tokio::net::TcpStream::connect(app.addr).await.expect("b");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let addr = app.addr;
    let waiting = tokio::spawn(async move { raw_status_line(addr, request).await });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(
        !waiting.is_finished(),
        "served although both slots were taken"
    );
    // A slot frees up: the waiting client is served.
    drop(idle_a);
    let line = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .expect("served once a slot was free")
        .expect("task");
    assert!(line.starts_with("HTTP/1.1 200"), "{line:?}");
    drop(idle_b);
}

/// The listening socket queues thousands of pending connections (tokio's default is 1024;
/// past the queue the kernel drops new handshakes): 1 500 clients connect to a listener
/// that accepts none of them yet.
#[tokio::test]
async fn the_listener_queues_a_burst_of_1500_connections() {
    const CLIENTS: usize = 1500;
    let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    if somaxconn.is_none_or(|n| n <= CLIENTS) {
        eprintln!("skipped: net.core.somaxconn {somaxconn:?} caps the backlog");
        return;
    }
    if !raise_open_files_limit(CLIENTS as u64 + 200) {
        eprintln!("skipped: cannot open {CLIENTS} sockets (RLIMIT_NOFILE)");
        return;
    }
    let listener = flowtrack::http::server::listen(([127, 0, 0, 1], 0).into()).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let connects = (0..CLIENTS).map(|_| {
        tokio::time::timeout(
            std::time::Duration::from_secs(3),
            tokio::net::TcpStream::connect(addr),
        )
    });
    let results = futures_util::future::join_all(connects).await;
    let connected: Vec<_> = results.into_iter().flatten().flatten().collect();
    assert_eq!(
        connected.len(),
        CLIENTS,
        "connections that completed in time"
    );
    drop(listener);
}

/// Raises the soft limit of open files to at least `wanted` (up to the hard limit).
fn raise_open_files_limit(wanted: u64) -> bool {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return false;
        }
        if limit.rlim_cur >= wanted {
            return true;
        }
        if limit.rlim_max < wanted {
            return false;
        }
        limit.rlim_cur = wanted;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
    }
}

/// The header read timeout also holds between requests on a keep-alive connection (its
/// timer is moved forward per request head, not remade: `http::timeout`): after two
/// answered requests, a client that sends only part of the next head is cut off once
/// `HEADER_READ_TIMEOUT` has passed, not before.
#[tokio::test]
async fn a_keep_alive_connection_that_stalls_in_its_next_head_is_cut_off() {
    use flowtrack::http::server::HEADER_READ_TIMEOUT;
    use std::time::{Duration, Instant};

    let app = TestApp::spawn().await;
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let mut buffer = vec![0u8; 4096];
    for _ in 0..2 {
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("request");
        let n = stream.read(&mut buffer).await.expect("answer");
        assert!(
            buffer[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            &buffer[..n]
        );
    }
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHo")
        .await
        .expect("part of a head");
    let stalled = Instant::now();
    let closed = tokio::time::timeout(HEADER_READ_TIMEOUT * 2, async {
        // Whatever the server says (an error status or nothing), then the end of the stream.
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "never cut off");
    let waited = stalled.elapsed();
    assert!(
        waited >= HEADER_READ_TIMEOUT - Duration::from_millis(100),
        "cut off after {waited:?}"
    );
}
