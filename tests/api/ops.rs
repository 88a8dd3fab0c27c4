//! Operations: liveness, readiness, metrics, the OpenAPI document and the offline docs page.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn health_is_ok() {
    let app = TestApp::spawn().await;
    let response = app.get("/health").send().await.expect("send");
    assert!(content_type(&response).starts_with("application/json"));
    assert_eq!(body(response, 200).await, json!({"status": "ok"}));
}

#[tokio::test]
async fn ready_reports_the_database_and_redis() {
    let app = TestApp::spawn().await;
    let response = app.get("/ready").send().await.expect("send");
    let body = body(response, 200).await;
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["database"], "ok", "{body}");
    let expected_redis = if redis_url().is_some() {
        "ok"
    } else {
        "not_configured"
    };
    assert_eq!(body["redis"], expected_redis, "{body}");
}

#[tokio::test]
async fn ready_is_503_naming_redis_when_redis_is_down_while_rest_keeps_working() {
    let app = TestApp::spawn_with(|cfg| cfg.redis_url = Some("redis://127.0.0.1:1".into())).await;
    let response = app.get("/ready").send().await.expect("send");
    let problem = assert_problem(response, 503, "unavailable").await;
    assert_eq!(problem["redis"], "unavailable", "{problem}");
    assert_eq!(problem["database"], "ok", "{problem}");
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains("redis") && !detail.contains("database"),
        "{detail}"
    );

    // Liveness and the REST API do not depend on Redis.
    let response = app.get("/health").send().await.expect("send");
    assert_eq!(body(response, 200).await, json!({"status": "ok"}));
    let user = app.register().await;
    let again = app.login(&user.email, PASSWORD).await;
    let response = app
        .get("/users/me")
        .bearer_auth(&again.access)
        .send()
        .await
        .expect("send");
    assert_eq!(body(response, 200).await["id"], user.id.to_string());
}

#[tokio::test]
async fn ready_is_503_naming_the_database_when_it_is_gone() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    // Close the server's pools under it.
    app.state.db.clone().close().await;

    let response = app.get("/ready").send().await.expect("send");
    let problem = assert_problem(response, 503, "unavailable").await;
    assert_eq!(problem["database"], "unavailable", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("database")
    );
    // Liveness does not depend on the database; requests that need it answer 503.
    let response = app.get("/health").send().await.expect("send");
    assert_eq!(body(response, 200).await, json!({"status": "ok"}));
    let response = app
        .post("/auth/login")
        .json(&json!({"email": user.email, "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 503, "unavailable").await;
    let detail = problem["detail"].as_str().expect("detail").to_lowercase();
    assert!(
        !detail.contains("pool") && !detail.contains("sqlx"),
        "internals leaked: {detail}"
    );
}

#[tokio::test]
async fn metrics_is_prometheus_text_counting_requests() {
    let app = TestApp::spawn().await;
    // The first scrape installs the process-wide recorder if nothing did yet.
    app.get("/metrics").send().await.expect("send");
    let response = app.get("/health").send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.get("/users/me").send().await.expect("send");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let response = app.get("/metrics").send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        content_type(&response).starts_with("text/plain"),
        "{}",
        content_type(&response)
    );
    let text = response.text().await.expect("text");
    assert!(
        text.contains("# TYPE http_requests_total counter"),
        "{text}"
    );
    let health_line = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{")
                && l.contains(r#"route="/health""#)
                && l.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no /health counter in:\n{text}"));
    let count: f64 = health_line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("counter value");
    assert!(count >= 1.0, "{health_line}");
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains(r#"route="/users/me""#)
            && l.contains(r#"status="401""#)),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
    // Every sample line is `name{labels} value` or `name value`.
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().expect("value");
        assert!(value.parse::<f64>().is_ok(), "bad sample line: {line}");
    }
}

#[tokio::test]
async fn metrics_need_no_auth() {
    let app = TestApp::spawn().await;
    let response = app.get("/metrics").send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn openapi_is_3_1_and_describes_every_route() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    assert!(doc["info"]["title"].is_string());

    let routes: [(&str, &[&str]); 11] = [
        ("/auth/register", &["post"]),
        ("/auth/login", &["post"]),
        ("/auth/refresh", &["post"]),
        ("/auth/logout", &["post"]),
        ("/users/me", &["get", "patch"]),
        ("/users/me/password", &["put"]),
        ("/users", &["get", "post"]),
        ("/users/{id}", &["get", "patch", "delete"]),
        ("/health", &["get"]),
        ("/ready", &["get"]),
        ("/metrics", &["get"]),
    ];
    for (path, methods) in routes {
        let item = &doc["paths"][path];
        assert!(item.is_object(), "{path} missing from the spec");
        for method in methods {
            let operation = &item[*method];
            assert!(operation.is_object(), "{method} {path} missing");
            assert!(
                operation["responses"].is_object(),
                "{method} {path} has no responses"
            );
        }
    }
    // Every route the server answers is described: for each described operation the
    // server does not answer 404 or 405.
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        let has_params = path.contains('{');
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    uuid::Uuid::now_v7().to_string()
                } else {
                    segment.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().expect("path item").keys() {
            let Ok(method) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let response = app
                .request(method.clone(), &concrete)
                .json(&json!({}))
                .send()
                .await
                .expect("send");
            let status = response.status().as_u16();
            assert!(
                status != 405 && (status != 404 || has_params),
                "{method} {path} is described but answers {status}"
            );
        }
    }
}

/// The names of the parameters of one operation.
fn parameter_names(operation: &Value) -> Vec<String> {
    operation["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn openapi_documents_parameters_and_bodies() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let list = parameter_names(&doc["paths"]["/users"]["get"]);
    for name in ["q", "role", "is_active", "limit", "cursor"] {
        assert!(
            list.iter().any(|n| n == name),
            "GET /users lacks `{name}`: {list:?}"
        );
    }
    for method in ["get", "patch", "delete"] {
        let names = parameter_names(&doc["paths"]["/users/{id}"][method]);
        assert_eq!(names, ["id"], "{method} /users/{{id}}");
    }
    for (path, method) in [
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/users/me", "patch"),
        ("/users/me/password", "put"),
        ("/users", "post"),
        ("/users/{id}", "patch"),
    ] {
        let body = &doc["paths"][path][method]["requestBody"]["content"]["application/json"];
        assert!(
            body["schema"].is_object(),
            "{method} {path} has no JSON body schema"
        );
    }
    // Error answers are documented as problems.
    let unauthorized = &doc["paths"]["/users/me"]["get"]["responses"]["401"]["content"];
    assert!(
        unauthorized["application/problem+json"].is_object(),
        "{unauthorized}"
    );
}

#[tokio::test]
async fn openapi_declares_bearer_and_oauth2_password_security() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http", "{schemes}");
    assert_eq!(
        schemes["bearer"]["scheme"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer"),
        "{schemes}"
    );
    assert_eq!(schemes["oauth2"]["type"], "oauth2", "{schemes}");
    assert_eq!(
        schemes["oauth2"]["flows"]["password"]["tokenUrl"], "/auth/login",
        "{schemes}"
    );
    // Authenticated operations name the schemes; the public ones do not need them.
    let me = &doc["paths"]["/users/me"]["get"]["security"];
    let names: Vec<&str> = me
        .as_array()
        .expect("security of GET /users/me")
        .iter()
        .flat_map(|req| {
            req.as_object()
                .expect("requirement")
                .keys()
                .map(String::as_str)
        })
        .collect();
    assert!(
        names.contains(&"bearer") && names.contains(&"oauth2"),
        "{me}"
    );
    // The login form (for the docs page's Authorize button) is documented.
    let login_body = &doc["paths"]["/auth/login"]["post"]["requestBody"]["content"];
    assert!(login_body["application/json"].is_object(), "{login_body}");
    assert!(
        login_body["application/x-www-form-urlencoded"].is_object(),
        "{login_body}"
    );
}

#[tokio::test]
async fn openapi_has_the_shared_schemas() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let schemas = &doc["components"]["schemas"];
    for name in ["User", "TokenPair", "Problem"] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    let user_props = schemas["User"]["properties"]
        .as_object()
        .expect("User properties");
    for field in [
        "id",
        "email",
        "full_name",
        "role",
        "is_active",
        "created_at",
        "updated_at",
    ] {
        assert!(user_props.contains_key(field), "User.{field}");
    }
    assert!(!user_props.contains_key("password_hash"));
    let pair_props = schemas["TokenPair"]["properties"]
        .as_object()
        .expect("TokenPair");
    for field in [
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "user",
    ] {
        assert!(pair_props.contains_key(field), "TokenPair.{field}");
    }
    let problem_props = schemas["Problem"]["properties"]
        .as_object()
        .expect("Problem");
    for field in ["type", "title", "status", "code", "detail", "errors"] {
        assert!(problem_props.contains_key(field), "Problem.{field}");
    }
}

/// The `src`/`href` attribute values of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=", "href="] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let quote = rest.chars().next().unwrap_or(' ');
            if (quote == '"' || quote == '\'')
                && let Some(end) = rest[1..].find(quote)
            {
                found.push(rest[1..1 + end].to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn docs_page_works_offline() {
    let app = TestApp::spawn().await;
    let response = app.get("/docs").send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        content_type(&response).starts_with("text/html"),
        "{}",
        content_type(&response)
    );
    let page_url = response.url().clone();
    let html = response.text().await.expect("html");
    assert!(html.to_lowercase().contains("swagger"), "{html}");

    let refs = references(&html);
    assert!(
        refs.iter().any(|r| r.ends_with(".css")),
        "no stylesheet: {refs:?}"
    );
    assert!(
        refs.iter().any(|r| r.ends_with(".js")),
        "no script: {refs:?}"
    );
    for reference in &refs {
        let lower = reference.to_lowercase();
        assert!(
            !(lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("//")),
            "external reference {reference}"
        );
        // Every asset is served by the server itself.
        let asset = page_url.join(reference).expect("asset url");
        let response = app.client.get(asset.clone()).send().await.expect("asset");
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let bytes = response.bytes().await.expect("asset body");
        assert!(!bytes.is_empty(), "{asset} is empty");
    }

    // The page loads this server's spec, not a remote one.
    let script_refs: Vec<&String> = refs.iter().filter(|r| r.ends_with(".js")).collect();
    let mut points_at_spec = html.contains("/openapi.json");
    for reference in script_refs {
        let asset = page_url.join(reference).expect("asset url");
        let text = app
            .client
            .get(asset)
            .send()
            .await
            .expect("asset")
            .text()
            .await
            .expect("text");
        if reference.contains("initializer") || text.len() < 10_000 {
            points_at_spec |= text.contains("/openapi.json");
            assert!(
                !text.contains("petstore"),
                "{reference} points at the petstore"
            );
        }
    }
    assert!(points_at_spec, "the docs page does not load /openapi.json");
}

#[tokio::test]
async fn docs_stylesheet_is_served() {
    let app = TestApp::spawn().await;
    let response = app.get("/docs/swagger-ui.css").send().await.expect("send");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        content_type(&response).starts_with("text/css"),
        "{}",
        content_type(&response)
    );
    let css = response.text().await.expect("css");
    assert!(css.contains(".swagger-ui"), "not the Swagger UI stylesheet");
}

/// The value of the first `http_requests_total` line for `route` and `status` (0 if none).
fn request_count(metrics: &str, route: &str, status: u16) -> f64 {
    metrics
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{")
                && l.contains(&format!(r#"route="{route}""#))
                && l.contains(&format!(r#"status="{status}""#))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_keep_counting_the_same_route_and_status() {
    let app = TestApp::spawn().await;
    let scrape = || async {
        let response = app.get("/metrics").send().await.expect("send");
        response.text().await.expect("text")
    };
    // The first requests register the route's handles; later ones reuse them.
    app.get("/users/me").send().await.expect("send");
    let before = request_count(&scrape().await, "/users/me", 401);
    for _ in 0..3 {
        let response = app.get("/users/me").send().await.expect("send");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.post("/users/me").send().await.expect("send");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let after = scrape().await;
    // Other tests of this process may count too: at least our three more.
    assert!(
        request_count(&after, "/users/me", 401) >= before + 3.0,
        "{before} -> {after}"
    );
    assert!(
        after.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains(r#"method="POST""#)
            && l.contains(r#"route="/users/me""#)),
        "{after}"
    );
}

/// Instances that start together on a new, empty database each apply the migrations at
/// start: they take turns (an advisory lock on PostgreSQL), and all of them come up.
#[tokio::test]
async fn instances_started_together_on_an_empty_database_all_become_ready() {
    let db = std::sync::Arc::new(TestDatabase::create().await);
    let config = test_config(&db);
    let starts = (0..4).map(|_| TestApp::start(config.clone(), db.clone()));
    let apps = futures_util::future::join_all(starts).await;
    for app in &apps {
        let response = app.get("/ready").send().await.expect("ready");
        assert_eq!(response.status(), StatusCode::OK);
    }
    // One schema, usable from every instance.
    let user = apps[0].register().await;
    apps[3].login(&user.email, PASSWORD).await;
}

/// `FLOWTRACK_DB_POOL_SIZE` sizes the PostgreSQL read pool, or the SQLite readers; writes
/// have a pool of their own: on PostgreSQL at most 8 connections (fewer when the setting is
/// smaller), on SQLite its one writer.
#[tokio::test]
async fn the_database_pool_size_is_a_setting() {
    use sea_orm::{DatabaseConnection, DbBackend};
    fn max(db: &DatabaseConnection) -> u32 {
        match db.get_database_backend() {
            DbBackend::Postgres => db
                .get_postgres_connection_pool()
                .options()
                .get_max_connections(),
            _ => db
                .get_sqlite_connection_pool()
                .options()
                .get_max_connections(),
        }
    }
    for (setting, writers_on_postgres) in [(3, 3), (20, 8)] {
        let app = TestApp::spawn_with(|cfg| cfg.db_pool_size = Some(setting)).await;
        assert_eq!(max(&app.state.db.read), setting);
        let writers = if on_postgres() {
            writers_on_postgres
        } else {
            1
        };
        assert_eq!(max(&app.state.db.write), writers, "pool size {setting}");
    }
}

/// `flowtrack_ws_fanout_seconds` times each event from the hub taking it to the last local
/// socket write returning (the server's part of the delivery latency; `bench/` reads it).
#[tokio::test]
async fn metrics_time_each_events_fan_out_to_its_sockets() {
    let app = TestApp::spawn().await;
    app.get("/metrics").send().await.expect("send");
    let owner = app.register().await;
    let project = app.create_project(&owner, "Timed").await;
    let pid = project["id"].as_str().expect("id");
    let mut first = app.ws(&owner, "").await;
    let mut second = app.ws(&owner, "").await;
    let count = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("flowtrack_ws_fanout_seconds_count "))
            .map_or(0, |n| n.trim().parse().expect("count"))
    };
    let before = count(
        &app.get("/metrics")
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text"),
    );
    app.create_task(&owner, pid, json!({"title": "Timed"}))
        .await;
    first.events(1).await;
    second.events(1).await;
    // Both sockets wrote the frame; the delivery is recorded once, when the last one did.
    let mut after = before;
    for _ in 0..50 {
        let text = metrics_text(&app).await;
        after = count(&text);
        if after > before {
            assert!(
                text.contains("flowtrack_ws_fanout_seconds_bucket{le=\"0.1\"}"),
                "{text}"
            );
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(after > before, "no fan-out recorded");
}
