//! API tokens (`/users/me/tokens`): creation with the secret shown once, list, delete; use as
//! a bearer token narrowed by scope and project; what a token can never do; expiry, deletion
//! and owner deactivation (on every instance), the WebSocket, and `last_used_at`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Creates a token as `user` (from a login session); returns `(token JSON, secret)`.
async fn create_token(app: &TestApp, user: &TestUser, request: Value) -> (Value, String) {
    let response = call(app, user, Method::POST, "/users/me/tokens", Some(request)).await;
    let created = body(response, 201).await;
    let secret = created["secret"].as_str().expect("secret").to_string();
    (created["token"].clone(), secret)
}

/// Deletes one of `user`'s tokens (204).
async fn delete_token(app: &TestApp, user: &TestUser, id: &str) {
    let path = format!("/users/me/tokens/{id}");
    no_content(call(app, user, Method::DELETE, &path, None).await).await;
}

/// `user` acting through the API token `secret` (the helpers send `access` as the bearer).
fn with_token(user: &TestUser, secret: &str) -> TestUser {
    TestUser {
        access: secret.to_string(),
        ..user.clone()
    }
}

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn status_of(
    app: &TestApp,
    user: &TestUser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> u16 {
    call(app, user, method, path, body).await.status().as_u16()
}

#[tokio::test]
async fn a_token_is_created_listed_and_deleted_and_its_secret_is_shown_once() {
    let app = TestApp::spawn().await;
    let ada = app.register().await;
    let (token, secret) =
        create_token(&app, &ada, json!({"name": "  CI  ", "scope": "read"})).await;

    let random = secret.strip_prefix("ft_").expect("ft_ prefix");
    assert!(random.len() >= 40 && random.bytes().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(token["name"], "CI", "trimmed");
    assert_eq!(token["scope"], "read");
    assert_eq!(token["prefix"], secret[..10]);
    assert!(token["project_id"].is_null() && token["expires_at"].is_null());
    assert!(token["last_used_at"].is_null());
    assert_timestamp(&token["created_at"], "created_at");

    // The secret works, and appears in no later answer and not in the database.
    let me = body(me_with(&app, &secret).await, 200).await;
    assert_eq!(me["id"], ada.user["id"]);
    let list = call(&app, &ada, Method::GET, "/users/me/tokens", None).await;
    let text = list.text().await.expect("text");
    assert!(
        !text.contains(&secret) && !text.contains("secret"),
        "{text}"
    );
    let listed: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["id"], token["id"]);
    let stored = stored_tokens(&app).await;
    assert!(!stored.contains(&secret[3..]), "the secret is not stored");

    let id = token["id"].as_str().expect("id");
    delete_token(&app, &ada, id).await;
    assert_problem(me_with(&app, &secret).await, 401, "unauthorized").await;
    let listed = body(
        call(&app, &ada, Method::GET, "/users/me/tokens", None).await,
        200,
    )
    .await;
    assert_eq!(listed, json!([]));
    let again = call(
        &app,
        &ada,
        Method::DELETE,
        &format!("/users/me/tokens/{id}"),
        None,
    )
    .await;
    assert_problem(again, 404, "not_found").await;
}

/// Every column of every stored token, as text.
async fn stored_tokens(app: &TestApp) -> String {
    use sea_orm::EntityTrait;
    let rows = flowtrack_store::models::api_tokens::Entity::find()
        .all(&app.state.db.read)
        .await
        .expect("read tokens");
    format!("{rows:?}")
}

#[tokio::test]
async fn creation_checks_every_field_at_once() {
    let app = TestApp::spawn().await;
    let ada = app.register().await;
    let bob = app.register().await;
    let bobs = app.create_project(&bob, "Bob's").await;
    let response = call(
        &app,
        &ada,
        Method::POST,
        "/users/me/tokens",
        Some(json!({
            "name": " ",
            "scope": "admin",
            "project_id": bobs["id"],
            "expires_at": "2001-01-01T00:00:00Z",
            "role": "admin",
        })),
    )
    .await;
    // `expires_at` and `project_id` are checked once the body is well formed.
    assert_invalid(response, &["name", "scope", "role"]).await;

    let cases = [
        (
            json!({"name": "x", "scope": "read", "project_id": bobs["id"]}),
            "project_id",
        ),
        (
            json!({"name": "x", "scope": "read", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scope": "read", "expires_at": "tomorrow"}),
            "expires_at",
        ),
        (json!({"name": "x".repeat(101), "scope": "read"}), "name"),
        (json!({"scope": "read"}), "name"),
        (json!({"name": "x"}), "scope"),
    ];
    for (body, field) in cases {
        let response = call(&app, &ada, Method::POST, "/users/me/tokens", Some(body)).await;
        assert_invalid(response, &[field]).await;
    }
    // An admin may bind a token to any project.
    let admin = app.admin().await;
    create_token(
        &app,
        &admin,
        json!({"name": "x", "scope": "read", "project_id": bobs["id"]}),
    )
    .await;
}

#[tokio::test]
async fn a_user_holds_at_most_50_tokens() {
    let app = TestApp::spawn().await;
    let ada = app.register().await;
    for i in 0..50 {
        create_token(
            &app,
            &ada,
            json!({"name": format!("t{i}"), "scope": "read"}),
        )
        .await;
    }
    let response = call(
        &app,
        &ada,
        Method::POST,
        "/users/me/tokens",
        Some(json!({"name": "one too many", "scope": "read"})),
    )
    .await;
    assert_problem(response, 409, "conflict").await;
    let listed = body(
        call(&app, &ada, Method::GET, "/users/me/tokens", None).await,
        200,
    )
    .await;
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names.len(), 50);
    assert_eq!(names.first(), Some(&"t49"), "newest first");
}

#[tokio::test]
async fn a_read_token_reads_and_a_write_token_writes() {
    let app = TestApp::spawn().await;
    let ada = app.register().await;
    let project = app.create_project(&ada, "Launch").await;
    let project_id = project["id"].as_str().expect("id");
    let (_, read) = create_token(&app, &ada, json!({"name": "r", "scope": "read"})).await;
    let (_, write) = create_token(&app, &ada, json!({"name": "w", "scope": "write"})).await;
    let reader = with_token(&ada, &read);
    let writer = with_token(&ada, &write);

    assert_eq!(
        status_of(
            &app,
            &reader,
            Method::GET,
            &format!("/projects/{project_id}/board"),
            None
        )
        .await,
        200
    );
    assert_eq!(
        status_of(
            &app,
            &reader,
            Method::HEAD,
            &format!("/projects/{project_id}"),
            None
        )
        .await,
        200
    );
    let task = json!({"project_id": project_id, "title": "From a script"});
    for (method, path, body) in [
        (Method::POST, "/tasks".to_string(), Some(task.clone())),
        (
            Method::PATCH,
            format!("/projects/{project_id}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/projects/{project_id}"), None),
        (Method::POST, "/notifications/read-all".to_string(), None),
    ] {
        let response = call(&app, &reader, method.clone(), &path, body).await;
        assert_problem(response, 403, "forbidden").await;
    }
    let created = body(
        call(&app, &writer, Method::POST, "/tasks", Some(task)).await,
        201,
    )
    .await;
    assert_eq!(created["created_by"], ada.user["id"], "acts as its owner");
    assert_eq!(
        status_of(
            &app,
            &writer,
            Method::POST,
            "/projects",
            Some(json!({"name": "Other"}))
        )
        .await,
        201
    );
}

#[tokio::test]
async fn a_project_token_sees_only_its_project() {
    let app = TestApp::spawn().await;
    let ada = app.register().await;
    let bob = app.register().await;
    let carol = app.register().await;
    let a = app.create_project(&ada, "A").await;
    let b = app.create_project(&ada, "B").await;
    let (a_id, b_id) = (a["id"].as_str().expect("a"), b["id"].as_str().expect("b"));
    app.add_member(&ada, a_id, &bob, "editor").await;
    app.add_member(&ada, b_id, &carol, "editor").await;
    // Assigned by someone else: a notification for Ada in each project.
    let task_a = app
        .create_task(&bob, a_id, json!({"assignee_id": ada.id}))
        .await;
    let task_b = app
        .create_task(&carol, b_id, json!({"assignee_id": ada.id}))
        .await;
    let (_, secret) = create_token(
        &app,
        &ada,
        json!({"name": "A only", "scope": "write", "project_id": a_id}),
    )
    .await;
    let token = with_token(&ada, &secret);

    let ids = |page: &Value, key: &str| -> Vec<Value> {
        items(page).iter().map(|i| i[key].clone()).collect()
    };
    let projects = body(
        call(&app, &token, Method::GET, "/projects", None).await,
        200,
    )
    .await;
    assert_eq!(ids(&projects, "id"), [a["id"].clone()]);
    let tasks = body(call(&app, &token, Method::GET, "/tasks", None).await, 200).await;
    assert_eq!(ids(&tasks, "id"), [task_a["id"].clone()]);
    let activity = body(
        call(&app, &token, Method::GET, "/activity", None).await,
        200,
    )
    .await;
    assert!(
        items(&activity).iter().all(|e| e["project_id"] == a["id"]),
        "{activity}"
    );
    let all = body(
        call(&app, &ada, Method::GET, "/notifications", None).await,
        200,
    )
    .await;
    assert_eq!(items(&all).len(), 2, "{all}");
    let notifications = body(
        call(&app, &token, Method::GET, "/notifications", None).await,
        200,
    )
    .await;
    assert_eq!(ids(&notifications, "project_id"), [a["id"].clone()]);
    let workload = body(
        call(
            &app,
            &token,
            Method::GET,
            "/reports/users/me/workload",
            None,
        )
        .await,
        200,
    )
    .await;
    let projects_in: Vec<&Value> = workload["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|p| &p["project_id"])
        .collect();
    assert_eq!(projects_in, [&a["id"]]);

    let tb = task_b["id"].as_str().expect("id");
    for path in [
        format!("/projects/{b_id}"),
        format!("/projects/{b_id}/board"),
        format!("/projects/{b_id}/members"),
        format!("/projects/{b_id}/activity"),
        format!("/reports/projects/{b_id}/summary"),
        format!("/tasks/{tb}"),
        format!("/tasks/{tb}/comments"),
        format!("/users/{}", carol.id),
    ] {
        let response = call(&app, &token, Method::GET, &path, None).await;
        assert_problem(response, 404, "not_found").await;
    }
    let into_b = json!({"project_id": b_id, "title": "x"});
    assert_problem(
        call(&app, &token, Method::POST, "/tasks", Some(into_b)).await,
        404,
        "not_found",
    )
    .await;
    let moved = call(
        &app,
        &token,
        Method::PATCH,
        &format!("/tasks/{tb}/move"),
        Some(json!({"status": "done"})),
    )
    .await;
    assert_problem(moved, 404, "not_found").await;
    let new_project = call(
        &app,
        &token,
        Method::POST,
        "/projects",
        Some(json!({"name": "C"})),
    )
    .await;
    assert_problem(new_project, 403, "forbidden").await;

    // Its own project works as usual.
    assert_eq!(
        status_of(
            &app,
            &token,
            Method::GET,
            &format!("/users/{}", bob.id),
            None
        )
        .await,
        200
    );
    let into_a = json!({"project_id": a_id, "title": "In A"});
    assert_eq!(
        status_of(&app, &token, Method::POST, "/tasks", Some(into_a)).await,
        201
    );
    assert_eq!(
        status_of(
            &app,
            &token,
            Method::GET,
            &format!("/reports/projects/{a_id}/summary"),
            None
        )
        .await,
        200
    );
}

#[tokio::test]
async fn a_token_never_manages_tokens_changes_a_password_or_calls_admin_routes() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (token, secret) =
        create_token(&app, &admin, json!({"name": "all", "scope": "write"})).await;
    let with = with_token(&admin, &secret);
    let id = token["id"].as_str().expect("id");
    let password = json!({"current_password": admin.password, "new_password": "a new passphrase"});
    for (method, path, body) in [
        (Method::GET, "/users/me/tokens".to_string(), None),
        (
            Method::POST,
            "/users/me/tokens".to_string(),
            Some(json!({"name": "x", "scope": "read"})),
        ),
        (Method::DELETE, format!("/users/me/tokens/{id}"), None),
        (
            Method::PUT,
            "/users/me/password".to_string(),
            Some(password),
        ),
        (Method::GET, "/users".to_string(), None),
        (
            Method::POST,
            "/users".to_string(),
            Some(json!({"email": unique_email(), "password": "longenough", "full_name": "X"})),
        ),
        (Method::GET, "/reports/overview".to_string(), None),
    ] {
        let response = call(&app, &with, method.clone(), &path, body).await;
        assert_problem(response, 403, "forbidden").await;
    }
    // The admin's unbound token still sees what the admin sees.
    let someone = app.register().await;
    let theirs = app.create_project(&someone, "Theirs").await;
    let path = format!("/projects/{}", theirs["id"].as_str().expect("id"));
    assert_eq!(status_of(&app, &with, Method::GET, &path, None).await, 200);
}

#[tokio::test]
async fn expired_malformed_and_unknown_tokens_are_401() {
    let app = TestApp::spawn().await;
    let ada = app.register().await;
    let soon = (chrono::Utc::now() + chrono::TimeDelta::milliseconds(1500)).to_rfc3339();
    let (token, secret) = create_token(
        &app,
        &ada,
        json!({"name": "brief", "scope": "read", "expires_at": soon}),
    )
    .await;
    assert!(token["expires_at"].is_string());
    body(me_with(&app, &secret).await, 200).await;
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let expired = me_with(&app, &secret).await;
    assert_eq!(
        header(&expired, "www-authenticate").as_deref(),
        Some("Bearer")
    );
    assert_problem(expired, 401, "unauthorized").await;
    let unknown = format!("ft_{}", "A".repeat(43));
    for bad in [unknown.as_str(), "ft_", "ft_short", "ft_ü€", &secret[..20]] {
        assert_problem(me_with(&app, bad).await, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn deactivating_the_owner_disables_the_tokens_and_a_password_change_does_not() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ada = app.register().await;
    let (_, secret) = create_token(&app, &ada, json!({"name": "t", "scope": "read"})).await;
    let password = json!({"current_password": ada.password, "new_password": "another passphrase"});
    no_content(
        call(
            &app,
            &ada,
            Method::PUT,
            "/users/me/password",
            Some(password),
        )
        .await,
    )
    .await;
    body(me_with(&app, &secret).await, 200).await;

    let response = call(
        &app,
        &admin,
        Method::DELETE,
        &format!("/users/{}", ada.id),
        None,
    )
    .await;
    no_content(response).await;
    assert_problem(me_with(&app, &secret).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_deleted_token_stops_working_on_every_instance_within_a_second() {
    let app = TestApp::spawn().await;
    let Some(sibling) = sibling_of(&app).await else {
        return;
    };
    let ada = app.register().await;
    let (token, secret) = create_token(&app, &ada, json!({"name": "t", "scope": "read"})).await;
    body(me_with(&sibling, &secret).await, 200).await; // cached there now
    let id = token["id"].as_str().expect("id");
    delete_token(&app, &ada, id).await;
    let deleted_at = std::time::Instant::now();
    loop {
        if me_with(&sibling, &secret).await.status() == 401 {
            break;
        }
        assert!(
            deleted_at.elapsed() < Duration::from_millis(1500),
            "still accepted after 1.5 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_websocket_opened_with_a_project_token_gets_that_project_only_and_closes_on_deletion() {
    let app = TestApp::spawn().await;
    let ada = app.register().await;
    let a = app.create_project(&ada, "A").await;
    let b = app.create_project(&ada, "B").await;
    let (a_id, b_id) = (a["id"].as_str().expect("a"), b["id"].as_str().expect("b"));
    let (token, secret) = create_token(
        &app,
        &ada,
        json!({"name": "ws", "scope": "read", "project_id": a_id}),
    )
    .await;
    let mut socket = app.ws(&with_token(&ada, &secret), "").await;

    app.create_task(&ada, b_id, json!({"title": "In B"})).await;
    let in_a = app.create_task(&ada, a_id, json!({"title": "In A"})).await;
    let event = socket.next_json().await;
    assert_eq!(event["project_id"], a["id"], "{event}");
    assert_eq!(event["data"]["task"]["id"], in_a["id"], "{event}");
    // A project created meanwhile is not this token's either.
    let c = app.create_project(&ada, "C").await;
    app.create_task(&ada, c["id"].as_str().expect("c"), json!({}))
        .await;
    socket.expect_silence(Duration::from_millis(300)).await;

    let id = token["id"].as_str().expect("id");
    delete_token(&app, &ada, id).await;
    assert_eq!(
        socket.closed_within(Duration::from_secs(3)).await,
        Some(WsEnd::Closed(4001))
    );
}

#[tokio::test]
async fn last_used_at_is_set_at_the_first_use_then_at_most_once_a_minute() {
    let app = TestApp::spawn().await;
    let ada = app.register().await;
    let (_, secret) = create_token(&app, &ada, json!({"name": "t", "scope": "read"})).await;
    body(me_with(&app, &secret).await, 200).await;
    let first = wait_for_last_use(&app, &ada).await;
    body(me_with(&app, &secret).await, 200).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listed = body(
        call(&app, &ada, Method::GET, "/users/me/tokens", None).await,
        200,
    )
    .await;
    assert_eq!(
        listed[0]["last_used_at"], first,
        "not rewritten within the minute"
    );
}

async fn wait_for_last_use(app: &TestApp, user: &TestUser) -> Value {
    for _ in 0..40 {
        let listed = body(
            call(app, user, Method::GET, "/users/me/tokens", None).await,
            200,
        )
        .await;
        if listed[0]["last_used_at"].is_string() {
            assert_timestamp(&listed[0]["last_used_at"], "last_used_at");
            return listed[0]["last_used_at"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("last_used_at was never set");
}
