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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
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
