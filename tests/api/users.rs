//! `/users/*`: self-service and admin management.

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::Query;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// Creates a user through `POST /users` as `admin`; returns the `User`.
async fn create_user(
    app: &TestApp,
    admin: &TestUser,
    email: &str,
    name: &str,
    role: &str,
) -> Value {
    let response = app
        .post("/users")
        .bearer_auth(&admin.access)
        .json(&json!({"email": email, "password": PASSWORD, "full_name": name, "role": role}))
        .send()
        .await
        .expect("send");
    body(response, 201).await
}

/// The `id` of a JSON resource, parsed.
fn uuid_of(user: &Value) -> Uuid {
    user["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id")
}

/// `GET /users?{query}` as `admin`: the page.
async fn list(app: &TestApp, admin: &TestUser, query: &str) -> Value {
    let response = app
        .get(&format!("/users?{query}"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("send");
    body(response, 200).await
}

/// The emails of a page, in order.
fn emails(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["email"].as_str().expect("email").to_string())
        .collect()
}

/// Puts `members` into one new project (the first one owns it), straight in the database:
/// the projects API does not exist yet.
async fn share_a_project(app: &TestApp, members: &[Uuid]) -> Uuid {
    use flowtrack_store::models::project_members::{self, ProjectRole};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};

    let db = &app.state.db.write;
    let project_id = Uuid::now_v7();
    let now = chrono::Utc::now();
    let insert = Query::insert()
        .into_table("projects")
        .columns([
            "id",
            "name",
            "description",
            "status",
            "owner_id",
            "event_seq",
            "created_at",
            "updated_at",
        ])
        .values_panic([
            project_id.into(),
            "Shared project".into(),
            "".into(),
            "active".into(),
            members[0].into(),
            0i64.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    db.execute(&insert).await.expect("insert project");
    for (i, user_id) in members.iter().enumerate() {
        project_members::ActiveModel {
            project_id: Set(project_id),
            user_id: Set(*user_id),
            role: Set(if i == 0 {
                ProjectRole::Owner
            } else {
                ProjectRole::Viewer
            }),
            added_at: Set(now),
        }
        .insert(db)
        .await
        .expect("insert member");
    }
    project_id
}

// ---------------------------------------------------------------------------------------
// Own account

#[tokio::test]
async fn get_me_returns_the_callers_user() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let me = body(me_with(&app, &user.access).await, 200).await;
    assert_eq!(me["id"], user.id.to_string());
    assert_eq!(me["email"], user.email);
    assert_eq!(me["full_name"], "Test User");
    assert_eq!(me["role"], "member");
    assert_eq!(me["is_active"], true);
    assert!(
        me["created_at"]
            .as_str()
            .expect("created_at")
            .ends_with('Z')
    );
    assert!(
        me["updated_at"]
            .as_str()
            .expect("updated_at")
            .ends_with('Z')
    );
    let mut keys: Vec<&str> = me
        .as_object()
        .expect("object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "full_name",
            "id",
            "is_active",
            "role",
            "updated_at"
        ]
    );
}

#[tokio::test]
async fn update_me_trims_the_name_and_normalizes_the_email() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let new_email = format!("Ada.{}@Example.COM", Uuid::now_v7().simple());
    let response = app
        .patch("/users/me")
        .bearer_auth(&user.access)
        .json(&json!({"full_name": "  Ada King  ", "email": format!("  {new_email} ")}))
        .send()
        .await
        .expect("send");
    let updated = body(response, 200).await;
    assert_eq!(updated["full_name"], "Ada King");
    assert_eq!(updated["email"], new_email.to_lowercase());
    assert_eq!(updated["id"], user.id.to_string());
    assert_eq!(updated["role"], "member");

    let me = body(me_with(&app, &user.access).await, 200).await;
    assert_eq!(me["full_name"], "Ada King");
    assert_eq!(me["email"], new_email.to_lowercase());
    // The new address signs in (in any case); the old one no longer does.
    app.login(&new_email, PASSWORD).await;
    assert_problem(
        login_raw(&app, &user.email, PASSWORD).await,
        401,
        "unauthorized",
    )
    .await;
}

#[tokio::test]
async fn update_me_with_only_a_name_leaves_the_email() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .patch("/users/me")
        .bearer_auth(&user.access)
        .json(&json!({"full_name": "Grace"}))
        .send()
        .await
        .expect("send");
    let updated = body(response, 200).await;
    assert_eq!(updated["full_name"], "Grace");
    assert_eq!(updated["email"], user.email);
}

#[tokio::test]
async fn update_me_to_a_taken_email_is_a_conflict() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let other = app.register().await;
    for taken in [other.email.clone(), other.email.to_uppercase()] {
        let response = app
            .patch("/users/me")
            .bearer_auth(&user.access)
            .json(&json!({"email": taken}))
            .send()
            .await
            .expect("send");
        assert_problem(response, 409, "conflict").await;
    }
    let me = body(me_with(&app, &user.access).await, 200).await;
    assert_eq!(me["email"], user.email);
}

#[tokio::test]
async fn update_me_to_own_email_is_fine() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .patch("/users/me")
        .bearer_auth(&user.access)
        .json(&json!({"email": user.email.to_uppercase()}))
        .send()
        .await
        .expect("send");
    let updated = body(response, 200).await;
    assert_eq!(updated["email"], user.email);
}

#[tokio::test]
async fn update_me_rejects_role_as_mass_assignment() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .patch("/users/me")
        .bearer_auth(&user.access)
        .json(&json!({"full_name": "Sneaky", "role": "admin"}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["role"]);
    // Nothing changed, not even the valid field.
    let me = body(me_with(&app, &user.access).await, 200).await;
    assert_eq!(me["role"], "member");
    assert_eq!(me["full_name"], "Test User");
    let response = app
        .get("/users")
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("send");
    assert_problem(response, 403, "forbidden").await;
}

#[tokio::test]
async fn update_me_rejects_is_active_as_mass_assignment() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .patch("/users/me")
        .bearer_auth(&user.access)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["is_active"]);
    let me = body(me_with(&app, &user.access).await, 200).await;
    assert_eq!(me["is_active"], true);
}

#[tokio::test]
async fn update_me_rejects_a_null_full_name() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .patch("/users/me")
        .bearer_auth(&user.access)
        .json(&json!({"full_name": null}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["full_name"]);
}

#[tokio::test]
async fn update_me_rejects_blank_long_and_invalid_values() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let cases = [
        (json!({"full_name": "   "}), "full_name"),
        (json!({"full_name": "x".repeat(101)}), "full_name"),
        (json!({"email": "not-an-email"}), "email"),
        (json!({"email": null}), "email"),
        (
            json!({"email": format!("{}@example.com", "a".repeat(250))}),
            "email",
        ),
    ];
    for (request, field) in cases {
        let response = app
            .patch("/users/me")
            .bearer_auth(&user.access)
            .json(&request)
            .send()
            .await
            .expect("send");
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [field], "{request}");
    }
    // 100 characters (after trimming) is still fine.
    let response = app
        .patch("/users/me")
        .bearer_auth(&user.access)
        .json(&json!({"full_name": format!(" {} ", "é".repeat(100))}))
        .send()
        .await
        .expect("send");
    body(response, 200).await;
}

#[tokio::test]
async fn update_me_lists_every_wrongly_typed_field() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .patch("/users/me")
        .bearer_auth(&user.access)
        .json(&json!({"full_name": 42, "email": ["a@b.org"], "nickname": "x"}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["email", "full_name", "nickname"]);
    for error in problem["errors"].as_array().expect("errors") {
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{error}"
        );
    }
}

#[tokio::test]
async fn change_password_with_a_wrong_current_password_is_422_on_that_field() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .put("/users/me/password")
        .bearer_auth(&user.access)
        .json(&json!({"current_password": "wrong password", "new_password": "brand new secret"}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["current_password"]);
    // Still the old password.
    app.login(&user.email, PASSWORD).await;
}

#[tokio::test]
async fn change_password_rejects_a_short_new_password() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .put("/users/me/password")
        .bearer_auth(&user.access)
        .json(&json!({"current_password": PASSWORD, "new_password": "short"}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), ["new_password"]);
    app.login(&user.email, PASSWORD).await;
}

#[tokio::test]
async fn change_password_lists_missing_and_unknown_fields() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .put("/users/me/password")
        .bearer_auth(&user.access)
        .json(&json!({"password": "brand new secret"}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["current_password", "new_password", "password"]);
}

#[tokio::test]
async fn change_password_switches_logins_and_revokes_refresh_tokens() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let new_password = "a brand new secret";
    let response = app
        .put("/users/me/password")
        .bearer_auth(&user.access)
        .json(&json!({"current_password": PASSWORD, "new_password": new_password}))
        .send()
        .await
        .expect("send");
    no_content(response).await;

    app.login(&user.email, new_password).await;
    assert_problem(
        login_raw(&app, &user.email, PASSWORD).await,
        401,
        "unauthorized",
    )
    .await;
    assert_problem(refresh_raw(&app, &user.refresh).await, 401, "unauthorized").await;
}

// ---------------------------------------------------------------------------------------
// Who may call the admin routes

#[tokio::test]
async fn member_cannot_list_users() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .get("/users")
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("send");
    assert_problem(response, 403, "forbidden").await;
}

#[tokio::test]
async fn member_gets_403_on_every_admin_route() {
    let app = TestApp::spawn().await;
    let member = app.register().await;
    let other = app.register().await;
    let target = format!("/users/{}", other.id);
    let calls = [
        (Method::GET, "/users".to_string(), None),
        (
            Method::POST,
            "/users".to_string(),
            Some(
                json!({"email": unique_email(), "password": PASSWORD, "full_name": "X", "role": "admin"}),
            ),
        ),
        (
            Method::PATCH,
            target.clone(),
            Some(json!({"role": "admin"})),
        ),
        (Method::DELETE, target.clone(), None),
        // Even on oneself.
        (
            Method::PATCH,
            format!("/users/{}", member.id),
            Some(json!({"role": "admin"})),
        ),
        (Method::DELETE, format!("/users/{}", member.id), None),
    ];
    for (method, path, request) in calls {
        let mut builder = app
            .request(method.clone(), &path)
            .bearer_auth(&member.access);
        if let Some(request) = request {
            builder = builder.json(&request);
        }
        let response = builder.send().await.expect("send");
        assert_eq!(response.status(), 403, "{method} {path}");
        assert_problem(response, 403, "forbidden").await;
    }
    // Nothing happened.
    let me = body(me_with(&app, &member.access).await, 200).await;
    assert_eq!(me["role"], "member");
    body(me_with(&app, &other.access).await, 200).await;
}

#[tokio::test]
async fn anonymous_callers_get_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let someone = app.register().await;
    let target = format!("/users/{}", someone.id);
    let calls = [
        (Method::GET, "/users/me".to_string(), None),
        (
            Method::PATCH,
            "/users/me".to_string(),
            Some(json!({"full_name": "X"})),
        ),
        (
            Method::PUT,
            "/users/me/password".to_string(),
            Some(json!({"current_password": PASSWORD, "new_password": "whatever123"})),
        ),
        (Method::GET, "/users".to_string(), None),
        (
            Method::POST,
            "/users".to_string(),
            Some(
                json!({"email": unique_email(), "password": PASSWORD, "full_name": "X", "role": "admin"}),
            ),
        ),
        (Method::GET, target.clone(), None),
        (
            Method::PATCH,
            target.clone(),
            Some(json!({"role": "admin"})),
        ),
        (Method::DELETE, target.clone(), None),
    ];
    for (method, path, request) in calls {
        for token in [None, Some("not-a-jwt"), Some(someone.refresh.as_str())] {
            let mut builder = app.request(method.clone(), &path);
            if let Some(token) = token {
                builder = builder.bearer_auth(token);
            }
            if let Some(request) = &request {
                builder = builder.json(request);
            }
            let response = builder.send().await.expect("send");
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            assert_problem(response, 401, "unauthorized").await;
            assert!(
                challenge.starts_with("Bearer"),
                "{method} {path} ({token:?}): WWW-Authenticate `{challenge}`"
            );
        }
    }
    body(me_with(&app, &someone.access).await, 200).await;
}

// ---------------------------------------------------------------------------------------
// GET /users: pagination and filters

#[tokio::test]
async fn list_users_pages_chain_over_everyone_once_in_order() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mut expected = vec![admin.id];
    for i in 0..7 {
        let user = create_user(
            &app,
            &admin,
            &unique_email(),
            &format!("User {i}"),
            "member",
        )
        .await;
        expected.push(uuid_of(&user));
    }

    let mut seen: Vec<Uuid> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=3&cursor={}", encode(c)),
            None => "limit=3".to_string(),
        };
        let page = list(&app, &admin, &query).await;
        pages += 1;
        assert!(pages <= 3, "too many pages");
        let items = page["items"].as_array().expect("items");
        assert!(!items.is_empty() && items.len() <= 3, "{page}");
        for item in items {
            assert!(item.get("password_hash").is_none());
            seen.push(uuid_of(item));
        }
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), 3, "a non-last page is full");
                cursor = Some(next.to_string());
            }
            None => {
                assert!(page["next_cursor"].is_null(), "{page}");
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected, "every user once, in creation order");
}

#[tokio::test]
async fn list_users_last_full_page_has_no_next_cursor() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for i in 0..3 {
        create_user(
            &app,
            &admin,
            &unique_email(),
            &format!("User {i}"),
            "member",
        )
        .await;
    }
    // Exactly 4 users: a page of 4 is the last one.
    let page = list(&app, &admin, "limit=4").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 4);
    assert!(page["next_cursor"].is_null(), "{page}");
    // Default limit (50) holds them all.
    let page = list(&app, &admin, "").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 4);
    assert!(page["next_cursor"].is_null());
    let page = list(&app, &admin, "limit=200").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 4);
}

#[tokio::test]
async fn list_users_cursor_is_stable_under_inserts() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for i in 0..3 {
        create_user(
            &app,
            &admin,
            &unique_email(),
            &format!("User {i}"),
            "member",
        )
        .await;
    }
    let first = list(&app, &admin, "limit=2").await;
    let cursor = first["next_cursor"].as_str().expect("next").to_string();
    let late = create_user(&app, &admin, &unique_email(), "Late", "member").await;
    let second = list(
        &app,
        &admin,
        &format!("limit=10&cursor={}", encode(&cursor)),
    )
    .await;
    let mut all = emails(&first);
    all.extend(emails(&second));
    let unique: std::collections::HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "no repeats: {all:?}");
    assert_eq!(all.len(), 5);
    assert_eq!(all.last().map(String::as_str), late["email"].as_str());
}

#[tokio::test]
async fn list_users_rejects_out_of_range_limits() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for limit in ["0", "201", "x", "-1", "2.5"] {
        let response = app
            .get(&format!("/users?limit={limit}"))
            .bearer_auth(&admin.access)
            .send()
            .await
            .expect("send");
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), ["limit"], "limit={limit}");
    }
}

#[tokio::test]
async fn list_users_rejects_a_bad_cursor_with_400() {
    use base64::Engine as _;
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let cursors = [
        "garbage!!".to_string(),
        "bm9wZQ".to_string(),              // base64 of "nope"
        engine.encode("c1:not-a-uuid"),    // right shape, wrong key
        engine.encode([0xff, 0xfe, 0x00]), // not UTF-8
    ];
    for cursor in cursors {
        let response = app
            .get(&format!("/users?cursor={}", encode(&cursor)))
            .bearer_auth(&admin.access)
            .send()
            .await
            .expect("send");
        assert_problem(response, 400, "bad_request").await;
    }
}

#[tokio::test]
async fn list_users_reports_every_bad_query_parameter() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let response = app
        .get("/users?limit=0&role=boss&is_active=maybe")
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["is_active", "limit", "role"]);
}

#[tokio::test]
async fn list_users_rejects_a_bad_role_or_is_active() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for (query, field) in [
        ("role=boss", "role"),
        ("role=ADMIN", "role"),
        ("is_active=maybe", "is_active"),
        ("is_active=yes", "is_active"),
    ] {
        let response = app
            .get(&format!("/users?{query}"))
            .bearer_auth(&admin.access)
            .send()
            .await
            .expect("send");
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [field], "{query}");
    }
}

#[tokio::test]
async fn list_users_filters_by_q_case_insensitively_and_literally() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let ann = create_user(&app, &admin, "ann.percent@x.org", "Ann 100% Sure", "member").await;
    let bob = create_user(&app, &admin, "bob@x.org", "Bob Under_Score", "member").await;
    let carl = create_user(&app, &admin, "CARL@Example.ORG", "Carl Plain", "member").await;
    let dora = create_user(&app, &admin, "dora@x.org", "Dora Ros", "member").await;
    let email = |u: &Value| u["email"].as_str().expect("email").to_string();

    let cases: Vec<(&str, Vec<String>)> = vec![
        // `%` and `_` match themselves, not "anything".
        ("100%", vec![email(&ann)]),
        ("%", vec![email(&ann)]),
        ("_", vec![email(&bob)]),
        ("r_s", vec![email(&bob)]),
        // Case-insensitive, on the name…
        ("PLAIN", vec![email(&carl)]),
        ("under_SCORE", vec![email(&bob)]),
        // …and on the email.
        ("EXAMPLE.org", vec![email(&carl)]),
        ("ann.PERCENT", vec![email(&ann)]),
        ("ros", vec![email(&dora)]),
        ("x.org", vec![email(&ann), email(&bob), email(&dora)]),
        ("no such person", vec![]),
    ];
    for (q, expected) in cases {
        let page = list(&app, &admin, &format!("q={}", encode(q))).await;
        assert_eq!(emails(&page), expected, "q={q}");
    }
    assert_eq!(email(&carl), "carl@example.org");
}

#[tokio::test]
async fn list_users_filters_by_role_and_is_active() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let second_admin = create_user(&app, &admin, &unique_email(), "Second Admin", "admin").await;
    let member = create_user(&app, &admin, &unique_email(), "Member", "member").await;
    let gone = create_user(&app, &admin, &unique_email(), "Gone", "member").await;
    let response = app
        .delete(&format!("/users/{}", uuid_of(&gone)))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("send");
    no_content(response).await;
    let email = |u: &Value| u["email"].as_str().expect("email").to_string();

    let admins = list(&app, &admin, "role=admin").await;
    assert_eq!(emails(&admins), [admin.email.clone(), email(&second_admin)]);
    let members = list(&app, &admin, "role=member").await;
    assert_eq!(emails(&members), [email(&member), email(&gone)]);
    for query in ["is_active=false", "is_active=0"] {
        let inactive = list(&app, &admin, query).await;
        assert_eq!(emails(&inactive), [email(&gone)], "{query}");
    }
    let active = list(&app, &admin, "is_active=true").await;
    assert_eq!(
        emails(&active),
        [admin.email.clone(), email(&second_admin), email(&member)]
    );
    let active_members = list(&app, &admin, "role=member&is_active=true").await;
    assert_eq!(emails(&active_members), [email(&member)]);
    let filtered = list(&app, &admin, "role=member&is_active=false&q=GONE").await;
    assert_eq!(emails(&filtered), [email(&gone)]);
}

// ---------------------------------------------------------------------------------------
// POST /users

#[tokio::test]
async fn admin_creates_users_with_a_role() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let raw_email = format!("  New.{}@Example.com ", Uuid::now_v7().simple());
    let response = app
        .post("/users")
        .bearer_auth(&admin.access)
        .json(&json!({"email": raw_email, "password": PASSWORD, "full_name": "  New Admin ", "role": "admin"}))
        .send()
        .await
        .expect("send");
    let created = body(response, 201).await;
    assert_eq!(created["email"], raw_email.trim().to_lowercase());
    assert_eq!(created["full_name"], "New Admin");
    assert_eq!(created["role"], "admin");
    assert_eq!(created["is_active"], true);
    assert!(created.get("password_hash").is_none());
    // The account works, with its role.
    let new_admin = app.login(raw_email.trim(), PASSWORD).await;
    assert_eq!(new_admin.user["role"], "admin");
    let page = list(&app, &new_admin, "").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 2);

    let member = create_user(&app, &admin, &unique_email(), "Plain Member", "member").await;
    assert_eq!(member["role"], "member");
    let fetched = body(
        app.get(&format!("/users/{}", uuid_of(&member)))
            .bearer_auth(&admin.access)
            .send()
            .await
            .expect("send"),
        200,
    )
    .await;
    assert_eq!(fetched, member);
}

#[tokio::test]
async fn admin_create_with_a_taken_email_is_a_conflict() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let existing = app.register().await;
    for email in [existing.email.clone(), existing.email.to_uppercase()] {
        let response = app
            .post("/users")
            .bearer_auth(&admin.access)
            .json(&json!({"email": email, "password": PASSWORD, "full_name": "Dup", "role": "member"}))
            .send()
            .await
            .expect("send");
        assert_problem(response, 409, "conflict").await;
    }
}

#[tokio::test]
async fn admin_create_validates_every_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let response = app
        .post("/users")
        .bearer_auth(&admin.access)
        .json(&json!({"email": "nope", "password": "short", "full_name": " ", "role": "boss", "is_active": true}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        ["email", "full_name", "is_active", "password", "role"]
    );

    let response = app
        .post("/users")
        .bearer_auth(&admin.access)
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["email", "full_name", "password", "role"]);

    let response = app
        .post("/users")
        .bearer_auth(&admin.access)
        .json(&json!({"email": 1, "password": true, "full_name": [], "role": null}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["email", "full_name", "password", "role"]);
    // Nobody was created.
    let page = list(&app, &admin, "").await;
    assert_eq!(emails(&page), vec![admin.email.clone()]);
}

// ---------------------------------------------------------------------------------------
// PATCH /users/{id}

#[tokio::test]
async fn admin_changes_role_name_and_email() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let new_email = format!("Renamed.{}@Example.com", Uuid::now_v7().simple());
    let response = app
        .patch(&format!("/users/{}", user.id))
        .bearer_auth(&admin.access)
        .json(&json!({"role": "admin", "full_name": " Renamed ", "email": new_email}))
        .send()
        .await
        .expect("send");
    let updated = body(response, 200).await;
    assert_eq!(updated["role"], "admin");
    assert_eq!(updated["full_name"], "Renamed");
    assert_eq!(updated["email"], new_email.to_lowercase());
    assert_eq!(updated["is_active"], true);
    // The promotion applies at once, to the token the user already holds.
    let page = list(&app, &user, "").await;
    assert_eq!(page["items"].as_array().expect("items").len(), 2);

    // And a demotion too.
    let response = app
        .patch(&format!("/users/{}", user.id))
        .bearer_auth(&admin.access)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .expect("send");
    assert_eq!(body(response, 200).await["role"], "member");
    let response = app
        .get("/users")
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("send");
    assert_problem(response, 403, "forbidden").await;
}

#[tokio::test]
async fn admin_patch_to_a_taken_email_is_a_conflict() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let response = app
        .patch(&format!("/users/{}", user.id))
        .bearer_auth(&admin.access)
        .json(&json!({"email": admin.email}))
        .send()
        .await
        .expect("send");
    assert_problem(response, 409, "conflict").await;
}

#[tokio::test]
async fn admin_patch_validates_fields() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let response = app
        .patch(&format!("/users/{}", user.id))
        .bearer_auth(&admin.access)
        .json(&json!({"role": "boss", "is_active": "no", "full_name": null, "email": "x", "password": "hunter2"}))
        .send()
        .await
        .expect("send");
    let problem = assert_problem(response, 422, "validation_failed").await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        ["email", "full_name", "is_active", "password", "role"]
    );
    let me = body(me_with(&app, &user.access).await, 200).await;
    assert_eq!(me["role"], "member");
}

#[tokio::test]
async fn deactivating_then_reactivating_restores_login() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let path = format!("/users/{}", user.id);

    let response = app
        .patch(&path)
        .bearer_auth(&admin.access)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .expect("send");
    assert_eq!(body(response, 200).await["is_active"], false);
    assert_problem(me_with(&app, &user.access).await, 401, "unauthorized").await;
    assert_problem(
        login_raw(&app, &user.email, PASSWORD).await,
        401,
        "unauthorized",
    )
    .await;

    let response = app
        .patch(&path)
        .bearer_auth(&admin.access)
        .json(&json!({"is_active": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(body(response, 200).await["is_active"], true);
    let again = app.login(&user.email, PASSWORD).await;
    assert_eq!(again.id, user.id);
    body(me_with(&app, &again.access).await, 200).await;
}

#[tokio::test]
async fn admin_patch_of_an_unknown_user_is_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let response = app
        .patch(&format!("/users/{}", Uuid::now_v7()))
        .bearer_auth(&admin.access)
        .json(&json!({"full_name": "Nobody"}))
        .send()
        .await
        .expect("send");
    assert_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn non_uuid_user_ids_are_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for path in ["/users/abc", "/users/123", "/users/not-a-uuid-at-all"] {
        let response = app
            .patch(path)
            .bearer_auth(&admin.access)
            .json(&json!({"full_name": "Nobody"}))
            .send()
            .await
            .expect("send");
        assert_problem(response, 404, "not_found").await;
        let response = app
            .get(path)
            .bearer_auth(&admin.access)
            .send()
            .await
            .expect("send");
        assert_problem(response, 404, "not_found").await;
        let response = app
            .delete(path)
            .bearer_auth(&admin.access)
            .send()
            .await
            .expect("send");
        assert_problem(response, 404, "not_found").await;
    }
}

// ---------------------------------------------------------------------------------------
// DELETE /users/{id}

#[tokio::test]
async fn delete_deactivates_and_revokes_every_token_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    // The user's access token is in use (and cached) before the deactivation.
    body(me_with(&app, &user.access).await, 200).await;

    let response = app
        .delete(&format!("/users/{}", user.id))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("send");
    no_content(response).await;

    // Right away, no waiting.
    let response = me_with(&app, &user.access).await;
    assert!(response.headers().contains_key("www-authenticate"));
    assert_problem(response, 401, "unauthorized").await;
    assert_problem(refresh_raw(&app, &user.refresh).await, 401, "unauthorized").await;
    assert_problem(
        login_raw(&app, &user.email, PASSWORD).await,
        401,
        "unauthorized",
    )
    .await;

    // History keeps the id: an admin still sees the account, inactive.
    let kept = body(
        app.get(&format!("/users/{}", user.id))
            .bearer_auth(&admin.access)
            .send()
            .await
            .expect("send"),
        200,
    )
    .await;
    assert_eq!(kept["is_active"], false);
    assert_eq!(kept["email"], user.email);
}

#[tokio::test]
async fn delete_of_an_unknown_user_is_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let response = app
        .delete(&format!("/users/{}", Uuid::now_v7()))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("send");
    assert_problem(response, 404, "not_found").await;
}

// ---------------------------------------------------------------------------------------
// The last active admin

#[tokio::test]
async fn the_only_admin_cannot_demote_or_deactivate_self() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let path = format!("/users/{}", admin.id);
    for request in [
        json!({"role": "member"}),
        json!({"is_active": false}),
        json!({"role": "member", "is_active": false}),
    ] {
        let response = app
            .patch(&path)
            .bearer_auth(&admin.access)
            .json(&request)
            .send()
            .await
            .expect("send");
        assert_problem(response, 409, "conflict").await;
    }
    let response = app
        .delete(&path)
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("send");
    assert_problem(response, 409, "conflict").await;

    // Still an active admin; harmless changes to oneself still work.
    let me = body(me_with(&app, &admin.access).await, 200).await;
    assert_eq!(me["role"], "admin");
    assert_eq!(me["is_active"], true);
    let response = app
        .patch(&path)
        .bearer_auth(&admin.access)
        .json(&json!({"role": "admin", "is_active": true, "full_name": "Still Admin"}))
        .send()
        .await
        .expect("send");
    assert_eq!(body(response, 200).await["full_name"], "Still Admin");
}

#[tokio::test]
async fn with_two_admins_one_can_be_demoted_but_not_the_last() {
    let app = TestApp::spawn().await;
    let first = app.admin().await;
    let second = app.admin().await;
    let response = app
        .patch(&format!("/users/{}", second.id))
        .bearer_auth(&first.access)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .expect("send");
    assert_eq!(body(response, 200).await["role"], "member");
    // Now `first` is the last one.
    let response = app
        .patch(&format!("/users/{}", first.id))
        .bearer_auth(&first.access)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .expect("send");
    assert_problem(response, 409, "conflict").await;
}

#[tokio::test]
async fn an_admin_may_step_down_while_another_remains() {
    let app = TestApp::spawn().await;
    let first = app.admin().await;
    let _second = app.admin().await;
    let response = app
        .delete(&format!("/users/{}", first.id))
        .bearer_auth(&first.access)
        .send()
        .await
        .expect("send");
    no_content(response).await;
    assert_problem(me_with(&app, &first.access).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn an_inactive_admin_does_not_count_as_another_admin() {
    let app = TestApp::spawn().await;
    let first = app.admin().await;
    let second = app.admin().await;
    let response = app
        .delete(&format!("/users/{}", second.id))
        .bearer_auth(&first.access)
        .send()
        .await
        .expect("send");
    no_content(response).await;

    let path = format!("/users/{}", first.id);
    for request in [json!({"role": "member"}), json!({"is_active": false})] {
        let response = app
            .patch(&path)
            .bearer_auth(&first.access)
            .json(&request)
            .send()
            .await
            .expect("send");
        assert_problem(response, 409, "conflict").await;
    }
    let response = app
        .delete(&path)
        .bearer_auth(&first.access)
        .send()
        .await
        .expect("send");
    assert_problem(response, 409, "conflict").await;

    // An inactive admin may be demoted freely; reactivated, it counts again.
    let response = app
        .patch(&format!("/users/{}", second.id))
        .bearer_auth(&first.access)
        .json(&json!({"is_active": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(body(response, 200).await["role"], "admin");
    let response = app
        .patch(&path)
        .bearer_auth(&first.access)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .expect("send");
    assert_eq!(body(response, 200).await["role"], "member");
}

// ---------------------------------------------------------------------------------------
// GET /users/{id}

#[tokio::test]
async fn admin_sees_any_user() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let seen = body(
        app.get(&format!("/users/{}", user.id))
            .bearer_auth(&admin.access)
            .send()
            .await
            .expect("send"),
        200,
    )
    .await;
    assert_eq!(seen, user.user);
}

#[tokio::test]
async fn a_user_sees_self() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let seen = body(
        app.get(&format!("/users/{}", user.id))
            .bearer_auth(&user.access)
            .send()
            .await
            .expect("send"),
        200,
    )
    .await;
    assert_eq!(seen["id"], user.id.to_string());
    assert_eq!(seen["email"], user.email);
}

#[tokio::test]
async fn a_stranger_is_404_like_a_missing_user() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let stranger = app.register().await;
    let admin = app.admin().await;
    for target in [stranger.id, admin.id, Uuid::now_v7()] {
        let response = app
            .get(&format!("/users/{target}"))
            .bearer_auth(&user.access)
            .send()
            .await
            .expect("send");
        assert_problem(response, 404, "not_found").await;
    }
}

#[tokio::test]
async fn users_sharing_a_project_see_each_other() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let teammate = app.register().await;
    let outsider = app.register().await;
    let elsewhere = app.register().await;
    share_a_project(&app, &[owner.id, teammate.id]).await;
    share_a_project(&app, &[outsider.id, elsewhere.id]).await;

    for (caller, target) in [(&owner, &teammate), (&teammate, &owner)] {
        let seen = body(
            app.get(&format!("/users/{}", target.id))
                .bearer_auth(&caller.access)
                .send()
                .await
                .expect("send"),
            200,
        )
        .await;
        assert_eq!(seen["id"], target.id.to_string());
        assert_eq!(seen["email"], target.email);
    }
    // Being in *a* project is not enough: it has to be the same one.
    for (caller, target) in [(&owner, &outsider), (&outsider, &teammate)] {
        let response = app
            .get(&format!("/users/{}", target.id))
            .bearer_auth(&caller.access)
            .send()
            .await
            .expect("send");
        assert_problem(response, 404, "not_found").await;
    }
}

// ---------------------------------------------------------------------------------------
// Secrets

#[tokio::test]
async fn no_response_ever_contains_a_password_hash() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let created_email = unique_email();
    let calls: Vec<(Method, String, Option<Value>, &TestUser)> = vec![
        (Method::GET, "/users/me".into(), None, &user),
        (
            Method::PATCH,
            "/users/me".into(),
            Some(json!({"full_name": "Renamed"})),
            &user,
        ),
        (Method::GET, "/users".into(), None, &admin),
        (
            Method::POST,
            "/users".into(),
            Some(
                json!({"email": created_email, "password": PASSWORD, "full_name": "New", "role": "member"}),
            ),
            &admin,
        ),
        (Method::GET, format!("/users/{}", user.id), None, &admin),
        (
            Method::PATCH,
            format!("/users/{}", user.id),
            Some(json!({"role": "member"})),
            &admin,
        ),
    ];
    let mut texts = Vec::new();
    for (method, path, request, caller) in calls {
        let mut builder = app
            .request(method.clone(), &path)
            .bearer_auth(&caller.access);
        if let Some(request) = request {
            builder = builder.json(&request);
        }
        let response = builder.send().await.expect("send");
        assert!(
            response.status().is_success(),
            "{method} {path}: {}",
            response.status()
        );
        texts.push((
            format!("{method} {path}"),
            response.text().await.expect("text"),
        ));
    }
    let login = login_raw(&app, &user.email, PASSWORD).await;
    texts.push(("login".into(), login.text().await.expect("text")));
    let refreshed = refresh_raw(&app, &admin.refresh).await;
    texts.push(("refresh".into(), refreshed.text().await.expect("text")));
    for (what, text) in texts {
        assert!(!text.contains("password_hash"), "{what}: {text}");
        assert!(!text.contains("$argon2"), "{what}: {text}");
        assert!(!text.to_lowercase().contains("password"), "{what}: {text}");
    }
}

#[tokio::test]
async fn two_admins_removing_each_other_at_once_leave_one_admin() {
    // Demotion, deactivation and stepping down, each raced a few times.
    let kinds = ["demote", "delete", "step_down"];
    for round in 0..9 {
        let kind = kinds[round % kinds.len()];
        let app = TestApp::spawn().await;
        let first = app.admin().await;
        let second = app.admin().await;
        let remove = |caller: &TestUser, other: &TestUser| {
            let target = if kind == "step_down" {
                caller.id
            } else {
                other.id
            };
            let path = format!("/users/{target}");
            let request = if kind == "delete" {
                app.delete(&path)
            } else {
                app.patch(&path).json(&json!({"role": "member"}))
            };
            request.bearer_auth(&caller.access).send()
        };
        let (a, b) = tokio::join!(remove(&first, &second), remove(&second, &first));
        let mut statuses = [
            a.expect("send").status().as_u16(),
            b.expect("send").status().as_u16(),
        ];
        statuses.sort();
        // One wins; the other is refused as the last admin (409), or no longer passes as an
        // admin at all (401 deactivated, 403 demoted).
        assert!(
            statuses[0] < 300 && [401, 403, 409].contains(&statuses[1]),
            "{kind}: statuses {statuses:?}"
        );
        assert_eq!(active_admins(&app).await, 1, "{kind}");
    }
}

/// How many active admins the database holds.
async fn active_admins(app: &TestApp) -> u64 {
    use flowtrack_store::models::users::{Column, Entity, Role};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    Entity::find()
        .filter(Column::Role.eq(Role::Admin))
        .filter(Column::IsActive.eq(true))
        .count(&app.state.db.read)
        .await
        .expect("count admins")
}

#[tokio::test]
async fn a_deactivation_reaches_every_instance() {
    let first = TestApp::spawn().await;
    let second = first.spawn_sibling().await;
    let admin = first.admin().await;
    let user = first.register().await;
    // The second instance has the user cached.
    body(me_with(&second, &user.access).await, 200).await;
    let response = first
        .delete(&format!("/users/{}", user.id))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("send");
    no_content(response).await;
    // docs/api.md: within 1 s on every instance. The bound here is lenient on purpose (the
    // cache's own lifetime is 30 s): this checks that the change is pushed, not how fast.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let response = me_with(&second, &user.access).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            assert_problem(response, 401, "unauthorized").await;
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the deactivated user's token still works on the other instance"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_demotion_reaches_every_instance() {
    let first = TestApp::spawn().await;
    let second = first.spawn_sibling().await;
    let admin = first.admin().await;
    let other_admin = first.admin().await;
    // The second instance has the other admin cached, as an admin.
    list(&second, &other_admin, "").await;
    let response = first
        .patch(&format!("/users/{}", other_admin.id))
        .bearer_auth(&admin.access)
        .json(&json!({"role": "member"}))
        .send()
        .await
        .expect("send");
    assert_eq!(body(response, 200).await["role"], "member");
    // Lenient bound, as above: the change must be pushed, not merely expire.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let response = second
            .get("/users")
            .bearer_auth(&other_admin.access)
            .send()
            .await
            .expect("send");
        if response.status() == StatusCode::FORBIDDEN {
            assert_problem(response, 403, "forbidden").await;
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the demoted admin is still an admin on the other instance"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
