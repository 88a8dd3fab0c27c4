//! `TestApp`: a real FlowTrack server on an ephemeral port with a fresh database.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Once;

use flowtrack::core::clock::Clock;
use flowtrack::core::config::Config;
use flowtrack::models::users::Role;
use flowtrack::services::users::{self, NewUser};
use flowtrack::state::AppState;
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
            flowtrack::core::telemetry::init_tracing(flowtrack::core::config::LogFormat::Pretty);
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
        let listener = flowtrack::core::server::listen(([127, 0, 0, 1], 0).into()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server_state = state.clone();
        let server = tokio::spawn(async move {
            flowtrack::app::serve(server_state, listener)
                .await
                .expect("server");
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
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

    pub async fn login(&self, email: &str, password: &str) -> TestUser {
        let response = self
            .post("/auth/login")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        TestUser::from_pair(response.json().await.expect("json"), password)
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
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
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
        use flowtrack::models::events;
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
