//! Hostile clients: oversized, deeply nested, invalid and flooding requests, thousands of
//! unauthenticated WebSocket connects, slow-loris clients, a slow body, and a connection
//! flood past the connection limit. Each must get a clear 4xx or be cut off; the server's
//! memory must stay bounded; a normal user, connected throughout, must keep being served.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Api, Server, ServerArgs, User, finish, percentile, rss_kib};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The server's connection limit (passed to it as FLOWTRACK_MAX_CONNECTIONS).
    #[arg(long, default_value_t = 3000)]
    pub connection_limit: usize,
    /// Slow-loris connections held open at once.
    #[arg(long, default_value_t = 1000)]
    pub slowloris: usize,
    /// Unauthenticated WebSocket connects.
    #[arg(long, default_value_t = 3000)]
    pub ws_connects: usize,
    /// The server's header read timeout, seconds (FlowTrack: 10).
    #[arg(long, default_value_t = 10)]
    pub header_timeout_s: u64,
    /// The server's request timeout, seconds (FlowTrack: 30).
    #[arg(long, default_value_t = 30)]
    pub request_timeout_s: u64,
    /// Largest allowed RSS growth over the idle server, MiB.
    #[arg(long, default_value_t = 300)]
    pub max_rss_growth_mib: u64,
}

const MIB: usize = 1024 * 1024;

/// What a raw exchange ended with.
#[derive(Debug, Clone)]
struct Raw {
    /// The status of the answer, if one came.
    status: Option<u16>,
    /// The first bytes of the answer.
    head: String,
    elapsed: Duration,
}

/// Connects, writes `request` (a write error — the server hung up — is fine), then reads
/// the answer until the server closes or `limit` passes.
async fn raw_exchange(addr: &str, request: &[u8], limit: Duration) -> anyhow::Result<Raw> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    let _ = tokio::time::timeout(limit, stream.write_all(request)).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = started + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() > 64 * 1024 {
                    break;
                }
            }
        }
    }
    let head = String::from_utf8_lossy(&answer[..answer.len().min(400)]).into_owned();
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok());
    Ok(Raw {
        status,
        head,
        elapsed: started.elapsed(),
    })
}

/// A hostile body: name, bytes, expected status, code and offending field.
type BodyCase = (
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
    Option<&'static str>,
);

/// The body of a raw answer, parsed as JSON (after the head).
fn raw_json(raw: &Raw) -> Value {
    raw.head
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null)
}

struct Findings {
    problems: std::sync::Mutex<Vec<String>>,
    /// attack → outcome (status or "cut off") → count
    outcomes: std::sync::Mutex<BTreeMap<String, BTreeMap<String, u64>>>,
    requests: AtomicU64,
    rejected_as_expected: AtomicU64,
}

impl Findings {
    fn fail(&self, message: String) {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message);
    }
    fn tried(&self, n: u64) {
        self.requests.fetch_add(n, Ordering::Relaxed);
    }
    fn rejected(&self) {
        self.rejected_as_expected.fetch_add(1, Ordering::Relaxed);
    }
    fn outcome(&self, attack: &str, outcome: impl Into<String>) {
        *self
            .outcomes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(attack.to_string())
            .or_default()
            .entry(outcome.into())
            .or_default() += 1;
    }
}

/// A normal user, connected throughout: reads its task and moves it.
async fn normal_user(
    api: Api,
    user: User,
    task: String,
    stop: Arc<AtomicBool>,
) -> (u64, Vec<f64>, Vec<String>) {
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let statuses = ["in_progress", "review", "done", "todo"];
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let answer = if i.is_multiple_of(5) {
            api.call(
                Method::PATCH,
                &format!("/tasks/{task}/move"),
                Some(&user.token),
                Some(&json!({"status": statuses[(i / 5) % 4]})),
            )
            .await
        } else {
            api.call(
                Method::GET,
                &format!("/tasks/{task}"),
                Some(&user.token),
                None,
            )
            .await
        };
        match answer {
            Ok(a) if a.ok() => latencies.push(a.elapsed.as_secs_f64() * 1000.0),
            Ok(a) => failures.push(format!("{} {}", a.status, a.body)),
            Err(e) => failures.push(format!("no answer: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (i as u64, latencies, failures)
}

/// Body attacks through a normal HTTP client: each must get its documented 4xx.
async fn body_attacks(api: &Api, user: &User, project: &str, f: &Findings) {
    let url = format!("{}/tasks", api.base);
    let post_raw = |body: Vec<u8>| {
        api.http
            .post(url.clone())
            .bearer_auth(&user.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // (name, body, expected status, expected code, field named in errors)
    let just_under = {
        let head = format!(r#"{{"project_id":"{project}","title":"x","description":""#);
        let mut body = head.into_bytes();
        let fill = MIB - body.len() - 2;
        body.extend(std::iter::repeat_n(b'a', fill));
        body.extend_from_slice(b"\"}");
        assert_eq!(body.len(), MIB);
        body
    };
    let just_over = {
        let mut body = just_under.clone();
        body.insert(body.len() - 2, b'a');
        body
    };
    let labels: Vec<String> = (0..10_000).map(|i| format!("label-{i}")).collect();
    let many_labels =
        serde_json::to_vec(&json!({"project_id": project, "title": "t", "labels": labels}))
            .unwrap_or_default();
    let huge_title =
        serde_json::to_vec(&json!({"project_id": project, "title": "x".repeat(1_000_000)}))
            .unwrap_or_default();
    let nested_arrays = vec![b'['; 100_000];
    let nested_objects = br#"{"a":"#.repeat(50_000);
    let mut bad_utf8 = format!(r#"{{"project_id":"{project}","title":""#).into_bytes();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    bad_utf8.extend_from_slice(b"\"}");
    let raw_invalid = vec![0xffu8, 0xfe, 0x00, 0x80, 0xc0];
    let mut many_fields = String::from("{");
    for i in 0..40_000 {
        if i > 0 {
            many_fields.push(',');
        }
        many_fields.push_str(&format!(r#""f{i}":0"#));
    }
    many_fields.push('}');
    let cases: Vec<BodyCase> = vec![
        (
            "1 MiB body (422)",
            just_under,
            422,
            "validation_failed",
            Some("description"),
        ),
        (
            "1 MiB + 1 byte body",
            just_over,
            413,
            "payload_too_large",
            None,
        ),
        (
            "10 000 labels",
            many_labels,
            422,
            "validation_failed",
            Some("labels"),
        ),
        (
            "1 MB title",
            huge_title,
            422,
            "validation_failed",
            Some("title"),
        ),
        ("100 000 nested [", nested_arrays, 400, "bad_request", None),
        ("50 000 nested {", nested_objects, 400, "bad_request", None),
        (
            "invalid UTF-8 in a string",
            bad_utf8,
            400,
            "bad_request",
            None,
        ),
        ("invalid UTF-8 body", raw_invalid, 400, "bad_request", None),
        (
            "40 000 unknown fields",
            many_fields.into_bytes(),
            422,
            "validation_failed",
            Some("f0"),
        ),
    ];
    for (name, body, status, code, field) in cases {
        // Each one 20 times, 10 at a time, to put pressure on memory.
        let mut pending = FuturesUnordered::new();
        for _ in 0..20 {
            pending.push(post_raw(body.clone()));
            if pending.len() >= 10 {
                let r = pending.next().await;
                check_body_answer(name, r, status, code, field, f).await;
            }
        }
        while let Some(r) = pending.next().await {
            check_body_answer(name, Some(r), status, code, field, f).await;
        }
    }
}

async fn check_body_answer(
    name: &str,
    answer: Option<Result<reqwest::Response, reqwest::Error>>,
    status: u16,
    code: &str,
    field: Option<&str>,
    f: &Findings,
) {
    f.tried(1);
    let Some(answer) = answer else { return };
    let resp = match answer {
        Ok(resp) => resp,
        Err(e) => {
            f.fail(format!("{name}: no answer ({e})"));
            return;
        }
    };
    let got = resp.status().as_u16();
    f.outcome(name, got.to_string());
    let problem = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let field_ok = field.is_none_or(|field| {
        body["errors"]
            .as_array()
            .is_some_and(|errors| errors.iter().any(|e| e["field"] == field))
    });
    if got == status && problem && body["code"] == code && field_ok {
        f.rejected();
    } else {
        let mut shown = body.to_string();
        shown.truncate(300);
        f.fail(format!(
            "{name}: expected {status} {code}{}, got {got} (problem+json: {problem}) {shown}",
            field.map(|f| format!(" naming {f}")).unwrap_or_default()
        ));
    }
}

/// Raw-socket attacks: header floods and an endless chunked body.
async fn raw_attacks(addr: &str, token: &str, f: &Findings) {
    let many_headers = {
        let mut r = String::from("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for i in 0..5_000 {
            r.push_str(&format!("X-Flood-{i}: v\r\n"));
        }
        r.push_str("\r\n");
        r.into_bytes()
    };
    let huge_header = {
        let mut r = String::from("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
        r.push_str(&"a".repeat(MIB));
        r.push_str("\r\n\r\n");
        r.into_bytes()
    };
    let huge_url = {
        let mut r = String::from("GET /tasks?q=");
        r.push_str(&"a".repeat(MIB));
        r.push_str(" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        r.into_bytes()
    };
    let chunked = {
        let mut r = format!(
            "POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
        for _ in 0..40 {
            r.extend_from_slice(chunk.as_bytes());
        }
        r.extend_from_slice(b"0\r\n\r\n");
        r
    };
    // (name, request, acceptable statuses; None = the server may also just hang up)
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("5 000 headers", many_headers, &[431]),
        ("1 MiB header", huge_header, &[431]),
        ("1 MiB URL", huge_url, &[414, 431, 400]),
        ("2.5 MiB chunked body", chunked, &[413]),
    ];
    for (name, request, statuses) in cases {
        let mut pending = FuturesUnordered::new();
        for _ in 0..50 {
            pending.push(raw_exchange(addr, &request, Duration::from_secs(10)));
            if pending.len() >= 25
                && let Some(r) = pending.next().await
            {
                check_raw(name, r, statuses, f);
            }
        }
        while let Some(r) = pending.next().await {
            check_raw(name, r, statuses, f);
        }
    }
}

fn check_raw(name: &str, r: anyhow::Result<Raw>, statuses: &[u16], f: &Findings) {
    f.tried(1);
    if let Ok(raw) = &r {
        f.outcome(
            name,
            raw.status
                .map_or_else(|| "cut off".to_string(), |s| s.to_string()),
        );
    }
    match r {
        Err(e) => f.fail(format!("{name}: {e}")),
        // Cut off (no answer) within the time limit is a valid outcome for a flood.
        Ok(raw) if raw.status.is_none() && raw.elapsed < Duration::from_secs(9) => f.rejected(),
        Ok(raw) if raw.status.is_some_and(|s| statuses.contains(&s)) => f.rejected(),
        Ok(raw) => f.fail(format!(
            "{name}: expected {statuses:?} or a hang-up, got {:?} after {} ms: {:?}",
            raw.status,
            raw.elapsed.as_millis(),
            raw.head.lines().next()
        )),
    }
}

/// Thousands of WebSocket upgrades without (or with a bad) token: each 401 before the upgrade.
async fn ws_storm(base: &str, count: usize, f: &Findings) {
    let ws = base.replacen("http", "ws", 1);
    let mut pending = FuturesUnordered::new();
    let attempt = |i: usize| {
        let url = if i % 4 == 3 {
            format!(
                "{ws}/ws/notifications/{}?token=not-a-token",
                uuid::Uuid::now_v7()
            )
        } else {
            format!("{ws}/ws/notifications/{}", uuid::Uuid::now_v7())
        };
        async move { tokio_tungstenite::connect_async(url).await }
    };
    let check = |r: Result<_, tokio_tungstenite::tungstenite::Error>| {
        f.tried(1);
        match r {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) if resp.status() == 401 => {
                f.outcome("unauthenticated WebSocket", "401");
                f.rejected()
            }
            Err(e) => f.fail(format!("unauthenticated WebSocket: expected 401, got {e}")),
            Ok(_) => f.fail("unauthenticated WebSocket was accepted".into()),
        }
    };
    for i in 0..count {
        pending.push(attempt(i));
        if pending.len() >= 200
            && let Some(r) = pending.next().await
        {
            check(r.map(|_| ()));
        }
    }
    while let Some(r) = pending.next().await {
        check(r.map(|_| ()));
    }
}

/// Slow-loris: connections that send their headers one byte per second, forever. Each must
/// be cut off by the server within the header timeout (+3 s).
async fn slowloris(addr: String, count: usize, header_timeout: Duration, f: Arc<Findings>) {
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut stream = TcpStream::connect(&addr).await?;
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .await?;
            let give_up = header_timeout + Duration::from_secs(20);
            let mut buf = [0u8; 1024];
            loop {
                if started.elapsed() > give_up {
                    return Ok::<Option<Duration>, anyhow::Error>(None);
                }
                // One byte, then see whether the server hung up.
                if stream.write_all(b"a").await.is_err() {
                    return Ok(Some(started.elapsed()));
                }
                match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Ok(Some(started.elapsed())),
                    Ok(Ok(_)) => {
                        // An answer to a request that never ended is wrong.
                        anyhow::bail!("the server answered an incomplete request");
                    }
                    Err(_) => {}
                }
            }
        }));
    }
    let limit = header_timeout + Duration::from_secs(5);
    let mut longest = Duration::ZERO;
    for t in tasks {
        f.tried(1);
        match t.await {
            Ok(Ok(Some(after))) if after <= limit => {
                longest = longest.max(after);
                f.outcome("slow-loris", "cut off");
                f.rejected();
            }
            Ok(Ok(Some(after))) => f.fail(format!(
                "slow-loris: cut off only after {} ms (limit {} ms)",
                after.as_millis(),
                limit.as_millis()
            )),
            Ok(Ok(None)) => f.fail("slow-loris: never cut off".into()),
            Ok(Err(e)) => f.fail(format!("slow-loris: {e}")),
            Err(e) => f.fail(format!("slow-loris task: {e}")),
        }
    }
    println!(
        "hostile: {count} slow-loris connections cut off, the last after {} ms",
        longest.as_millis()
    );
}

/// Slow bodies: complete headers, then one body byte per second: 408 after the request timeout.
async fn slow_body(addr: String, token: String, count: usize, timeout: Duration, f: Arc<Findings>) {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let addr = addr.clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut stream = TcpStream::connect(&addr).await?;
            stream
                .write_all(
                    format!(
                        "POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"
                    )
                    .as_bytes(),
                )
                .await?;
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            let give_up = timeout + Duration::from_secs(15);
            while started.elapsed() < give_up {
                let _ = stream.write_all(b" ").await;
                match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => {
                        answer.extend_from_slice(&buf[..n]);
                        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                            // Read the rest of the (small) body.
                            let _ = tokio::time::timeout(
                                Duration::from_millis(300),
                                stream.read(&mut buf),
                            )
                            .await
                            .map(|r| r.map(|n| answer.extend_from_slice(&buf[..n])));
                            break;
                        }
                    }
                    Err(_) => {}
                }
            }
            Ok::<_, anyhow::Error>((started.elapsed(), String::from_utf8_lossy(&answer).into_owned()))
        }));
    }
    for t in tasks {
        f.tried(1);
        match t.await {
            Ok(Ok((after, answer))) => {
                let raw = Raw {
                    status: answer
                        .strip_prefix("HTTP/1.1 ")
                        .and_then(|r| r.get(..3))
                        .and_then(|s| s.parse().ok()),
                    head: answer.clone(),
                    elapsed: after,
                };
                let body = raw_json(&raw);
                let in_time = after <= timeout + Duration::from_secs(3);
                if raw.status == Some(408) && body["code"] == "request_timeout" && in_time {
                    f.outcome("slow body", "408");
                    f.rejected();
                } else {
                    f.fail(format!(
                        "slow body: expected a 408 request_timeout problem within {} s, got {:?} after {} ms: {:?}",
                        timeout.as_secs() + 3,
                        raw.status,
                        after.as_millis(),
                        answer.lines().next()
                    ));
                }
            }
            Ok(Err(e)) => f.fail(format!("slow body: {e}")),
            Err(e) => f.fail(format!("slow body task: {e}")),
        }
    }
}

/// Open file descriptors of a process (its sockets included).
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Opens more idle connections than the limit: the server must hold at most `limit` of them
/// (counted as its open file descriptors), a new client must still be served once the idle
/// ones are cut off, and the connected normal user is not affected.
async fn connection_flood(
    addr: &str,
    pid: u32,
    limit: usize,
    header_timeout: Duration,
    f: &Findings,
) -> anyhow::Result<(Duration, usize)> {
    let fds_before = fd_count(pid);
    let mut idle = Vec::with_capacity(limit + 50);
    let mut pending = FuturesUnordered::new();
    for _ in 0..limit + 50 {
        pending.push(TcpStream::connect(addr));
        if pending.len() >= 200
            && let Some(conn) = pending.next().await
        {
            idle.push(conn.context("idle connect")?);
        }
    }
    while let Some(conn) = pending.next().await {
        idle.push(conn.context("idle connect")?);
    }
    // Let the server accept what it will, then count what it holds.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let held = fd_count(pid).saturating_sub(fds_before);
    let probe = raw_exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        header_timeout + Duration::from_secs(10),
    )
    .await?;
    f.tried(1);
    drop(idle);
    let waited = probe.elapsed;
    if held > limit {
        f.fail(format!(
            "connection flood: the server holds {held} more connections than before the flood (limit {limit})"
        ));
    } else if held + 100 < limit {
        f.fail(format!(
            "connection flood: only {held} connections were accepted: the flood did not reach the limit of {limit}"
        ));
    } else if probe.status != Some(200) {
        f.fail(format!(
            "connection flood: the probe got {:?} after {} ms",
            probe.status,
            waited.as_millis()
        ));
    } else {
        f.outcome("connection flood probe", "200 once a slot was free");
        f.rejected();
    }
    Ok((waited, held))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut server_args = args.server.clone();
    server_args.server_env.push((
        "FLOWTRACK_MAX_CONNECTIONS".into(),
        args.connection_limit.to_string(),
    ));
    let mut server = Server::new(server_args)?;
    server.start().await?;
    let pid = server.pid().context("server pid")?;
    let addr = format!("127.0.0.1:{}", server.port);
    let api = Api::new(&server.base)?;
    let normal = api.register("normal").await?;
    let project = api.create_project(&normal, "normal work").await?;
    let task = api
        .must(
            Method::POST,
            "/tasks",
            Some(&normal.token),
            Some(json!({"project_id": project, "title": "keep working"})),
        )
        .await?;
    let task = task["id"].as_str().context("task id")?.to_string();
    let attacker = api.register("attacker").await?;
    let attacker_project = api.create_project(&attacker, "attacker").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib(pid).unwrap_or(0);

    // Memory sampler.
    let stop = Arc::new(AtomicBool::new(false));
    let rss_peak = Arc::new(AtomicU64::new(rss_idle));
    let sampler = {
        let stop = stop.clone();
        let rss_peak = rss_peak.clone();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    rss_peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    // The normal user, on its own client (one keep-alive connection).
    let normal_task = tokio::spawn(normal_user(
        Api::new(&server.base)?,
        normal.clone(),
        task,
        stop.clone(),
    ));

    let f = Arc::new(Findings {
        problems: std::sync::Mutex::new(Vec::new()),
        outcomes: std::sync::Mutex::new(BTreeMap::new()),
        requests: AtomicU64::new(0),
        rejected_as_expected: AtomicU64::new(0),
    });
    let header_timeout = Duration::from_secs(args.header_timeout_s);
    let request_timeout = Duration::from_secs(args.request_timeout_s);
    // Slow clients run in the background while the floods go on.
    let loris = tokio::spawn(slowloris(
        addr.clone(),
        args.slowloris,
        header_timeout,
        f.clone(),
    ));
    let slow = tokio::spawn(slow_body(
        addr.clone(),
        attacker.token.clone(),
        20,
        request_timeout,
        f.clone(),
    ));
    let t = Instant::now();
    body_attacks(&api, &attacker, &attacker_project, &f).await;
    println!(
        "hostile: body attacks done in {} ms",
        t.elapsed().as_millis()
    );
    let t = Instant::now();
    raw_attacks(&addr, &attacker.token, &f).await;
    println!(
        "hostile: header floods done in {} ms",
        t.elapsed().as_millis()
    );
    let t = Instant::now();
    ws_storm(&server.base, args.ws_connects, &f).await;
    println!(
        "hostile: {} unauthenticated WebSocket connects done in {} ms",
        args.ws_connects,
        t.elapsed().as_millis()
    );
    let _ = loris.await;
    let _ = slow.await;
    println!("hostile: slow bodies done");
    let rss_before_flood = rss_kib(pid).unwrap_or(0);
    let (waited, held) =
        connection_flood(&addr, pid, args.connection_limit, header_timeout, &f).await?;
    println!(
        "hostile: connection flood: a new client waited {} ms for a slot",
        waited.as_millis()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let (normal_requests, mut latencies, normal_failures) = normal_task.await?;
    server.check_alive()?;
    let rss_end = rss_kib(pid).unwrap_or(0);
    server.stop().await;

    let mut problems = f.problems.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for failure in normal_failures.iter().take(10) {
        problems.push(format!("the normal user's request failed: {failure}"));
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let normal_max = latencies.last().copied().unwrap_or(0.0);
    if normal_max > 5000.0 {
        problems.push(format!(
            "a normal user's request took {normal_max:.0} ms (> 5000 ms)"
        ));
    }
    let peak = rss_peak.load(Ordering::Relaxed);
    let growth_mib = peak.saturating_sub(rss_idle) / 1024;
    if growth_mib > args.max_rss_growth_mib {
        problems.push(format!(
            "server RSS grew by {growth_mib} MiB (limit {} MiB)",
            args.max_rss_growth_mib
        ));
    }
    let summary = json!({
        "attack_requests": f.requests.load(Ordering::Relaxed),
        "rejected_or_cut_off_as_expected": f.rejected_as_expected.load(Ordering::Relaxed),
        "slowloris_connections": args.slowloris,
        "unauthenticated_ws_connects": args.ws_connects,
        "connection_limit": args.connection_limit,
        "flood_probe_waited_ms": waited.as_millis() as u64,
        "flood_connections_held_by_server": held,
        "normal_user_requests": normal_requests,
        "normal_user_failures": normal_failures.len(),
        "normal_user_latency_ms_p50": percentile(&latencies, 50.0).round(),
        "normal_user_latency_ms_p99": percentile(&latencies, 99.0).round(),
        "normal_user_latency_ms_max": normal_max.round(),
        "rss_idle_mib": rss_idle / 1024,
        "rss_peak_mib": peak / 1024,
        "rss_before_flood_mib": rss_before_flood / 1024,
        "rss_end_mib": rss_end / 1024,
        "seconds": started.elapsed().as_secs_f64().round(),
        "outcomes": *f.outcomes.lock().unwrap_or_else(|p| p.into_inner()),
    });
    finish("hostile", summary, &problems)
}
