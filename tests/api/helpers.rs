//! `TestApp`: a real FlowTrack server on an ephemeral port with a fresh database.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Once;

use flowtrack::state::AppState;
use flowtrack_core::clock::Clock;
use flowtrack_core::config::Config;
use flowtrack_store::models::users::Role;
use flowtrack_store::services::users::{self, NewUser};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery";

/// Which backends this run uses.
pub fn postgres_url() -> Option<String> {
    std::env::var("FLOWTRACK_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

pub fn redis_url() -> Option<String> {
    std::env::var("FLOWTRACK_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

pub fn on_postgres() -> bool {
    postgres_url().is_some()
}

static TRACING: Once = Once::new();

fn init_tracing() {
    TRACING.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            // The writer thread lives as long as the test process.
            std::mem::forget(flowtrack::http::telemetry::init_tracing(
                flowtrack_core::config::LogFormat::Pretty,
            ));
        }
    });
}

/// A fresh, empty database for one test: a new PostgreSQL database on the test cluster, or a
/// SQLite file in a temporary directory.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn create() -> Self {
        match postgres_url() {
            Some(base) => {
                use sea_orm::{ConnectionTrait, Database};
                let name = format!("ft_{}", Uuid::now_v7().simple());
                let admin = Database::connect(base.as_str())
                    .await
                    .expect("connect to the test PostgreSQL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                let mut url = url::Url::parse(&base).expect("FLOWTRACK_TEST_DATABASE_URL");
                url.set_path(&format!("/{name}"));
                Self {
                    url: url.to_string(),
                    _dir: None,
                }
            }
            None => {
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("flowtrack.db");
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    _dir: Some(dir),
                }
            }
        }
    }
}

/// An HTTP client for the servers of the tests (127.0.0.1: never through a proxy).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: Clock,
    pub db: std::sync::Arc<TestDatabase>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// The configuration of a test server: generous limits (all tests come from 127.0.0.1),
/// Redis when the run has it, a Redis prefix of its own so parallel tests do not share
/// counters.
pub fn test_config(db: &TestDatabase) -> Config {
    Config {
        bind: "127.0.0.1:0".parse().expect("addr"),
        database_url: db.url.clone(),
        redis_url: redis_url(),
        redis_prefix: format!("fttest-{}", Uuid::now_v7().simple()),
        register_per_hour: 1_000_000,
        login_max_failures: 5,
        ..Config::default()
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server with a fresh database and a configuration adjusted by `adjust`.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let db = std::sync::Arc::new(TestDatabase::create().await);
        let mut config = test_config(&db);
        adjust(&mut config);
        Self::start(config, db).await
    }

    /// A second instance sharing this one's database (and Redis, when configured).
    pub async fn spawn_sibling(&self) -> Self {
        let mut config = self.state.config.clone();
        config.bind = "127.0.0.1:0".parse().expect("addr");
        Self::start(config, self.db.clone()).await
    }

    pub async fn start(config: Config, db: std::sync::Arc<TestDatabase>) -> Self {
        init_tracing();
        let clock = Clock::system();
        let state = AppState::init(config, clock.clone())
            .await
            .expect("app state");
        let listener = flowtrack::http::server::listen(([127, 0, 0, 1], 0).into()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            flowtrack::app::serve(server_state, listener)
                .await
                .expect("server");
        });
        let client = http_client();
        Self {
            addr,
            base: format!("http://{addr}"),
            client,
            state,
            clock,
            db,
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// Registers a new member through the API.
    pub async fn register(&self) -> TestUser {
        let email = unique_email();
        let response = self
            .post("/auth/register")
            .json(&json!({"email": email, "password": PASSWORD, "full_name": "Test User"}))
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), StatusCode::CREATED, "register");
        TestUser::from_pair(response.json().await.expect("json"), PASSWORD)
    }

    /// Creates an admin directly (as `flowtrack user create --admin` would) and logs in.
    pub async fn admin(&self) -> TestUser {
        let email = unique_email();
        users::create(
            &self.state,
            NewUser {
                email: email.clone(),
                password: PASSWORD.into(),
                full_name: "Admin".into(),
                role: Role::Admin,
            },
        )
        .await
        .expect("create admin");
        self.login(&email, PASSWORD).await
    }

    /// Logs in through the API; the login must succeed.
    pub async fn login(&self, email: &str, password: &str) -> TestUser {
        let response = login_raw(self, email, password).await;
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, StatusCode::OK, "login of {email}: {body}");
        TestUser::from_pair(serde_json::from_str(&body).expect("json"), password)
    }

    /// Stops accepting connections and lets in-flight requests finish.
    pub async fn shutdown(mut self) {
        self.state.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
    }
}

/// A second instance on the same database + Redis, when the run has both.
pub async fn sibling_of(app: &TestApp) -> Option<TestApp> {
    if on_postgres() && redis_url().is_some() {
        Some(app.spawn_sibling().await)
    } else {
        None
    }
}

/// A fresh address no other test uses.
pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::now_v7().simple())
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub password: String,
    pub access: String,
    pub refresh: String,
    pub user: Value,
}

impl TestUser {
    pub fn from_pair(pair: Value, password: &str) -> Self {
        Self {
            id: pair["user"]["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("user.id"),
            email: pair["user"]["email"].as_str().expect("email").to_string(),
            password: password.to_string(),
            access: pair["access_token"].as_str().expect("access").to_string(),
            refresh: pair["refresh_token"].as_str().expect("refresh").to_string(),
            user: pair["user"].clone(),
        }
    }
}

/// Asserts a problem+json error answer with `status` and `code`; returns its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = content_type(&response);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "status; body: {body}");
    assert_eq!(
        content_type, "application/problem+json",
        "content type; body: {body}"
    );
    assert_eq!(body["code"], code, "code; body: {body}");
    assert_eq!(body["status"], status, "status field; body: {body}");
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    assert_eq!(body["type"], "about:blank");
    body
}

// ---------------------------------------------------------------------------------------
// Requests and answers

/// Sends `method path` as `user`, with a JSON body when given.
pub async fn call(
    app: &TestApp,
    user: &TestUser,
    method: Method,
    path: &str,
    json: Option<Value>,
) -> Response {
    let mut request = app.request(method, path).bearer_auth(&user.access);
    if let Some(json) = json {
        request = request.json(&json);
    }
    request.send().await.expect("send")
}

/// `GET /users/me` with `token` as the bearer access token.
pub async fn me_with(app: &TestApp, token: &str) -> Response {
    app.get("/users/me")
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
}

/// `POST /auth/login` with `email` and `password`, whatever the answer.
pub async fn login_raw(app: &TestApp, email: &str, password: &str) -> Response {
    app.post("/auth/login")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
}

/// `POST /auth/refresh` with `refresh_token`, whatever the answer.
pub async fn refresh_raw(app: &TestApp, refresh_token: &str) -> Response {
    app.post("/auth/refresh")
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .expect("refresh")
}

/// `POST /tasks/{task_id}/comments` with `text` as `user`, whatever the answer.
pub async fn post_comment(app: &TestApp, user: &TestUser, task_id: &str, text: &str) -> Response {
    call(
        app,
        user,
        Method::POST,
        &format!("/tasks/{task_id}/comments"),
        Some(json!({ "body": text })),
    )
    .await
}

/// The OpenAPI document the server serves (200, JSON).
/// The `/metrics` page's text (Prometheus format).
pub async fn metrics_text(app: &TestApp) -> String {
    app.get("/metrics")
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

pub async fn openapi(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").send().await.expect("send");
    assert!(content_type(&response).starts_with("application/json"));
    body(response, 200).await
}

/// The JSON body of a response that must have `status`.
pub async fn body(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON body ({e}): {text}"))
}

/// Asserts an empty 204 answer.
pub async fn no_content(response: Response) {
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::NO_CONTENT, "body: {text}");
    assert!(text.is_empty(), "204 with a body: {text}");
}

/// The value of header `name`, if present (it must be ASCII).
pub fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_string())
}

/// The `Content-Type` of a response (empty when missing).
pub fn content_type(response: &Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

// ---------------------------------------------------------------------------------------
// JSON values

/// The `id` of a JSON resource.
pub fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("id").to_string()
}

/// The ids of a page's `items`, in order.
pub fn item_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect()
}

/// `text` URL-encoded for a query string.
pub fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A string timestamp in RFC 3339, UTC (`Z`).
pub fn is_rfc3339_utc(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

/// Asserts a timestamp of the contract, `2026-11-26T10:00:00.123Z`: RFC 3339, UTC with
/// `Z`, milliseconds.
pub fn assert_timestamp(value: &Value, what: &str) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {value}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "{what}: not RFC 3339: {s}"
    );
    let shape_ok = s.len() == 24
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'.',
            23 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    assert!(shape_ok, "{what}: not like 2026-11-26T10:00:00.123Z: {s}");
}

/// Asserts a 422 `validation_failed` whose `errors` name exactly `fields` (in any order),
/// each with a message; returns the problem.
pub async fn assert_invalid(response: Response, fields: &[&str]) -> Value {
    assert_invalid_as(response, fields, "invalid").await
}

/// [`assert_invalid`], naming the case (`what`) in its failures.
pub async fn assert_invalid_as(response: Response, fields: &[&str], what: &str) -> Value {
    let problem = assert_problem(response, 422, "validation_failed").await;
    let mut actual = error_fields(&problem);
    actual.sort();
    let mut expected: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    expected.sort();
    assert_eq!(actual, expected, "{what}: fields of {problem}");
    for error in problem["errors"].as_array().expect("errors") {
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: every error has a message: {problem}"
        );
    }
    problem
}

/// The `field` names of a 422 body, in order.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Board helpers shared by the project/task tests.
impl TestApp {
    /// Creates a project as `owner`; returns its JSON.
    pub async fn create_project(&self, owner: &TestUser, name: &str) -> Value {
        let response = self
            .post("/projects")
            .bearer_auth(&owner.access)
            .json(&json!({"name": name}))
            .send()
            .await
            .expect("create project");
        assert_eq!(response.status(), StatusCode::CREATED, "create project");
        response.json().await.expect("json")
    }

    /// Creates a task with `body` merged over `{project_id, title}`; returns its JSON.
    pub async fn create_task(&self, user: &TestUser, project_id: &str, body: Value) -> Value {
        let mut full = json!({"project_id": project_id, "title": "A task"});
        if let (Some(full), Value::Object(extra)) = (full.as_object_mut(), body) {
            full.extend(extra);
        }
        let response = self
            .post("/tasks")
            .bearer_auth(&user.access)
            .json(&full)
            .send()
            .await
            .expect("create task");
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, StatusCode::CREATED, "create task: {text}");
        serde_json::from_str(&text).expect("json")
    }

    /// Adds `user` to the project with `role` (`owner` acting).
    pub async fn add_member(
        &self,
        owner: &TestUser,
        project_id: &str,
        user: &TestUser,
        role: &str,
    ) {
        let response = self
            .post(&format!("/projects/{project_id}/members"))
            .bearer_auth(&owner.access)
            .json(&json!({"user_id": user.id, "role": role}))
            .send()
            .await
            .expect("add member");
        assert_eq!(response.status(), StatusCode::CREATED, "add member");
    }

    /// Moves a task through the API; returns the response.
    pub async fn move_task(&self, user: &TestUser, task_id: &str, body: Value) -> Response {
        self.patch(&format!("/tasks/{task_id}/move"))
            .bearer_auth(&user.access)
            .json(&body)
            .send()
            .await
            .expect("move")
    }

    /// The board of a project as `user` sees it.
    pub async fn board(&self, user: &TestUser, project_id: &str) -> Value {
        let response = self
            .get(&format!("/projects/{project_id}/board"))
            .bearer_auth(&user.access)
            .send()
            .await
            .expect("board");
        assert_eq!(response.status(), StatusCode::OK, "board");
        response.json().await.expect("json")
    }

    /// Every stored event of a project (the outbox), in seq order, as (seq, parsed payload).
    pub async fn stored_events(&self, project_id: &str) -> Vec<(i64, Value)> {
        use flowtrack_store::models::events;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let id: Uuid = project_id.parse().expect("uuid");
        events::Entity::find()
            .filter(events::Column::ProjectId.eq(id))
            .order_by_asc(events::Column::Seq)
            .all(&self.state.db.read)
            .await
            .expect("events")
            .into_iter()
            .map(|e| {
                (
                    e.seq,
                    serde_json::from_str(&e.payload).expect("payload json"),
                )
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Tasks and the board

/// The four statuses, in board order.
pub const STATUSES: [&str; 4] = ["todo", "in_progress", "review", "done"];

/// `request` with `If-Match: tag` when a tag is given.
pub fn with_if_match(request: RequestBuilder, tag: Option<&str>) -> RequestBuilder {
    match tag {
        Some(tag) => request.header("If-Match", tag),
        None => request,
    }
}

/// `GET /tasks/{id}` as `user`, whatever the answer.
pub async fn get_task(app: &TestApp, user: &TestUser, id: &str) -> Response {
    app.get(&format!("/tasks/{id}"))
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("get task")
}

/// `GET /tasks/{id}` that must succeed: the task.
pub async fn fetch_task(app: &TestApp, user: &TestUser, id: &str) -> Value {
    body(get_task(app, user, id).await, 200).await
}

/// `PATCH /tasks/{id}` with an optional `If-Match`.
pub async fn patch_task(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    patch: Value,
    if_match: Option<&str>,
) -> Response {
    let request = app
        .patch(&format!("/tasks/{id}"))
        .bearer_auth(&user.access)
        .json(&patch);
    with_if_match(request, if_match)
        .send()
        .await
        .expect("patch task")
}

/// `PATCH /tasks/{id}/move` with a JSON body and an optional `If-Match`.
pub async fn move_with(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    target: Value,
    if_match: Option<&str>,
) -> Response {
    let request = app
        .patch(&format!("/tasks/{id}/move"))
        .bearer_auth(&user.access)
        .json(&target);
    with_if_match(request, if_match)
        .send()
        .await
        .expect("move task")
}

/// `DELETE /tasks/{id}` with an optional `If-Match`.
pub async fn delete_task(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    if_match: Option<&str>,
) -> Response {
    let request = app
        .delete(&format!("/tasks/{id}"))
        .bearer_auth(&user.access);
    with_if_match(request, if_match)
        .send()
        .await
        .expect("delete task")
}

/// `POST /tasks` with a raw body; the response.
pub async fn post_task(app: &TestApp, user: &TestUser, task: Value) -> Response {
    app.post("/tasks")
        .bearer_auth(&user.access)
        .json(&task)
        .send()
        .await
        .expect("create task")
}

/// The ids of a board column, in board order.
pub fn column_ids(board: &Value, status: &str) -> Vec<String> {
    board["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .find(|c| c["status"] == status)
        .unwrap_or_else(|| panic!("column {status} in {board}"))["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(id_of)
        .collect()
}

/// A project with `owner` as owner; its id.
pub async fn project_id(app: &TestApp, owner: &TestUser, name: &str) -> String {
    id_of(&app.create_project(owner, name).await)
}

/// A real WebSocket client over TCP.
pub struct WsClient {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pub response_protocol: Option<String>,
}

/// How a socket ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum WsEnd {
    Closed(u16),
    Dropped,
}

impl TestApp {
    pub fn ws_url(&self, user_id: Uuid, query: &str) -> String {
        format!("ws://{}/ws/notifications/{user_id}{query}", self.addr)
    }

    /// Connects as `user` with `?token=` (and `extra` query, e.g. `&resume=…`).
    pub async fn ws(&self, user: &TestUser, extra: &str) -> WsClient {
        self.ws_url_connect(&self.ws_url(user.id, &format!("?token={}{extra}", user.access)))
            .await
            .expect("websocket connect")
    }

    pub async fn ws_url_connect(
        &self,
        url: &str,
    ) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let request = url.into_client_request()?;
        ws_connect(request).await
    }
}

pub async fn ws_connect(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Result<WsClient, tokio_tungstenite::tungstenite::Error> {
    let (stream, response) = tokio_tungstenite::connect_async(request).await?;
    let response_protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok(WsClient {
        stream,
        response_protocol,
    })
}

impl WsClient {
    pub async fn send_json(&mut self, value: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(
                value.to_string().into(),
            ))
            .await
            .expect("send");
    }

    /// The next JSON text message within `wait`, skipping pings; `None` on timeout or close.
    pub async fn next_json_within(&mut self, wait: std::time::Duration) -> Option<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("json message"));
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => continue,
                Ok(Some(Ok(Message::Binary(_)))) => panic!("unexpected binary message"),
                _ => return None,
            }
        }
    }

    /// The next JSON message (5 s at most).
    pub async fn next_json(&mut self) -> Value {
        self.next_json_within(std::time::Duration::from_secs(5))
            .await
            .expect("a message within 5 s")
    }

    /// The next `n` project events (skipping other message types).
    pub async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let m = self.next_json().await;
            if m["seq"].is_i64() {
                out.push(m);
            }
        }
        out
    }

    /// Asserts nothing arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: std::time::Duration) {
        if let Some(m) = self.next_json_within(wait).await {
            panic!("expected no message, got {m}");
        }
    }

    /// Waits (up to `wait`) for the socket to end; returns the close code.
    pub async fn closed_within(&mut self, wait: std::time::Duration) -> Option<WsEnd> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Some(WsEnd::Closed(
                        frame.map(|f| u16::from(f.code)).unwrap_or(1005),
                    ));
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return Some(WsEnd::Dropped),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Redis outages

/// A Redis server of a test's own, which the test may kill, restart, pause and resume.
pub struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<tokio::process::Child>,
    /// TLS only (`rediss://`), with the certificates in `dir` (see [`OwnRedis::start_tls`]).
    tls: bool,
}

/// Whether a `redis-server` binary is on the PATH.
pub fn have_redis_server() -> bool {
    std::process::Command::new("redis-server")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl OwnRedis {
    /// Starts `redis-server` on a free port; `None` when it cannot (no binary).
    pub async fn start() -> Option<Self> {
        let mut redis = Self::new(false)?;
        redis.spawn().await.then_some(redis)
    }

    /// Starts `redis-server` speaking TLS only, with a server certificate for 127.0.0.1 from a
    /// throwaway CA (its certificate: [`OwnRedis::ca_file`]). `None` when there is no
    /// `redis-server`; a server that is there but does not start (a build without TLS) fails
    /// the test, with its log.
    pub async fn start_tls() -> Option<Self> {
        if !have_redis_server() {
            return None;
        }
        let mut redis = Self::new(true).expect("temporary directory and port");
        write_test_certificates(redis.dir.path());
        assert!(
            redis.spawn().await,
            "redis-server with TLS did not start:\n{}",
            std::fs::read_to_string(redis.dir.path().join("redis.log")).unwrap_or_default()
        );
        Some(redis)
    }

    fn new(tls: bool) -> Option<Self> {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        let port = probe.local_addr().ok()?.port();
        drop(probe);
        Some(Self {
            port,
            dir: tempfile::tempdir().ok()?,
            child: None,
            tls,
        })
    }

    /// The PEM certificate of the CA that signed a TLS server's certificate.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// (Re)starts the server on its port; whether it accepts connections within 5 s.
    pub async fn spawn(&mut self) -> bool {
        let mut command = tokio::process::Command::new("redis-server");
        if self.tls {
            // `--port 0`: no plaintext listener at all, so nothing can work around TLS.
            let file = |name: &str| self.dir.path().join(name);
            command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(file("server.pem"))
                .arg("--tls-key-file")
                .arg(file("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(file("ca.pem"))
                // Server authentication only: FlowTrack presents no client certificate.
                .args(["--tls-auth-clients", "no"])
                .arg("--logfile")
                .arg(file("redis.log"));
        } else {
            command.args(["--port", &self.port.to_string()]);
        }
        let child = command
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }

    /// Kills the server (SIGKILL) and waits for it to end.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await; // SIGKILL
            let _ = child.wait().await;
        }
    }

    /// Sends SIGSTOP (`pause`) or SIGCONT: a paused Redis holds every message.
    pub async fn signal(&self, signal: &str) {
        let pid = self
            .child
            .as_ref()
            .and_then(|c| c.id())
            .expect("redis runs");
        let status = tokio::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .await
            .expect("kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// The URL of this Redis.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

/// Writes a throwaway CA (`ca.pem`) and a certificate it signed for 127.0.0.1 and localhost
/// (`server.pem`, key `server.key`) into `dir`.
pub fn write_test_certificates(dir: &std::path::Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "FlowTrack test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate().expect("server key");
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("server params");
    server
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let server_cert = server
        .signed_by(&server_key, &issuer)
        .expect("server certificate");

    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("write ca.pem");
    std::fs::write(dir.join("server.pem"), server_cert.pem()).expect("write server.pem");
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).expect("write key");
}

/// Two instances on PostgreSQL sharing a Redis of the test's own; `None` when the run has
/// no PostgreSQL or no `redis-server`.
pub async fn pair_with_own_redis() -> Option<(OwnRedis, TestApp, TestApp)> {
    if !on_postgres() {
        eprintln!("skipped: needs PostgreSQL");
        return None;
    }
    let Some(redis) = OwnRedis::start().await else {
        eprintln!("skipped: no redis-server binary");
        return None;
    };
    let url = redis.url();
    let a = TestApp::spawn_with(|cfg| cfg.redis_url = Some(url.clone())).await;
    let b = a.spawn_sibling().await;
    Some((redis, a, b))
}
