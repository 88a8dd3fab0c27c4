//! `/projects/*`: create, list, read, update, delete, progress and members.

use chrono::{Duration, NaiveDate};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------
// Local helpers

async fn post_project(app: &TestApp, user: &TestUser, json: Value) -> Response {
    call(app, user, Method::POST, "/projects", Some(json)).await
}

async fn patch_project(app: &TestApp, user: &TestUser, pid: &str, json: Value) -> Response {
    call(
        app,
        user,
        Method::PATCH,
        &format!("/projects/{pid}"),
        Some(json),
    )
    .await
}

async fn get_project(app: &TestApp, user: &TestUser, pid: &str) -> Response {
    call(app, user, Method::GET, &format!("/projects/{pid}"), None).await
}

/// `GET /projects?{query}` as `user`: the page.
async fn list(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let response = call(app, user, Method::GET, &format!("/projects?{query}"), None).await;
    body(response, 200).await
}

async fn members(app: &TestApp, user: &TestUser, pid: &str) -> Vec<Value> {
    let response = call(
        app,
        user,
        Method::GET,
        &format!("/projects/{pid}/members"),
        None,
    )
    .await;
    let value = body(response, 200).await;
    value.as_array().expect("members is a plain array").clone()
}

/// The role of `user_id` in the member list, if listed.
fn role_of(members: &[Value], user_id: Uuid) -> Option<String> {
    members
        .iter()
        .find(|m| m["user"]["id"] == user_id.to_string())
        .map(|m| m["role"].as_str().expect("role").to_string())
}

async fn add_member_body(app: &TestApp, owner: &TestUser, pid: &str, json: Value) -> Response {
    call(
        app,
        owner,
        Method::POST,
        &format!("/projects/{pid}/members"),
        Some(json),
    )
    .await
}

async fn set_role(
    app: &TestApp,
    actor: &TestUser,
    pid: &str,
    user_id: Uuid,
    role: &str,
) -> Response {
    call(
        app,
        actor,
        Method::PATCH,
        &format!("/projects/{pid}/members/{user_id}"),
        Some(json!({ "role": role })),
    )
    .await
}

async fn remove_member(app: &TestApp, actor: &TestUser, pid: &str, user_id: Uuid) -> Response {
    call(
        app,
        actor,
        Method::DELETE,
        &format!("/projects/{pid}/members/{user_id}"),
        None,
    )
    .await
}

async fn progress(app: &TestApp, user: &TestUser, pid: &str) -> Value {
    let response = call(
        app,
        user,
        Method::GET,
        &format!("/projects/{pid}/progress"),
        None,
    )
    .await;
    body(response, 200).await
}

/// Creates a project with `extra` fields; returns it.
async fn project_with(app: &TestApp, user: &TestUser, extra: Value) -> Value {
    let mut full = json!({"name": "Project"});
    if let (Some(full), Value::Object(extra)) = (full.as_object_mut(), extra) {
        full.extend(extra);
    }
    body(post_project(app, user, full).await, 201).await
}

// ---------------------------------------------------------------------------------------
// Create

#[tokio::test]
async fn create_project_answers_201_with_location_and_defaults() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let response = post_project(&app, &alice, json!({"name": "Website relaunch"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location header")
        .to_string();
    let project = body(response, 201).await;
    let pid = id_of(&project);
    assert!(pid.parse::<Uuid>().is_ok(), "{project}");
    assert_eq!(location, format!("/projects/{pid}"));
    assert_eq!(project["name"], "Website relaunch");
    assert_eq!(project["description"], "");
    assert_eq!(project["status"], "active");
    assert_eq!(project["owner_id"], alice.id.to_string());
    assert_eq!(project["start_date"], Value::Null);
    assert_eq!(project["due_date"], Value::Null);
    assert!(
        project
            .as_object()
            .expect("object")
            .contains_key("start_date")
    );
    assert!(
        project
            .as_object()
            .expect("object")
            .contains_key("due_date")
    );
    assert_eq!(
        project["progress"],
        json!({"total": 0, "done": 0, "percent": 0})
    );
    assert!(is_rfc3339_utc(&project["created_at"]), "{project}");
    assert_eq!(project["created_at"], project["updated_at"]);

    // The Location names the created project.
    let fetched = body(get_project(&app, &alice, &pid).await, 200).await;
    assert_eq!(fetched, project);

    // The creator is listed as the owner.
    let members = members(&app, &alice, &pid).await;
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0]["role"], "owner");
    assert_eq!(members[0]["user"]["id"], alice.id.to_string());
}

#[tokio::test]
async fn create_project_stores_every_given_field_trimmed() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let project = project_with(
        &app,
        &alice,
        json!({
            "name": "  Mobile app  ",
            "description": "  The Q1 launch \n",
            "status": "on_hold",
            "start_date": "2026-12-01",
            "due_date": "2027-03-31",
        }),
    )
    .await;
    assert_eq!(project["name"], "Mobile app");
    assert_eq!(project["description"], "The Q1 launch");
    assert_eq!(project["status"], "on_hold");
    assert_eq!(project["start_date"], "2026-12-01");
    assert_eq!(project["due_date"], "2027-03-31");

    // Optional fields given as null are "not given".
    let project = project_with(
        &app,
        &alice,
        json!({"description": null, "status": null, "start_date": null, "due_date": null}),
    )
    .await;
    assert_eq!(project["description"], "");
    assert_eq!(project["status"], "active");
    assert_eq!(project["start_date"], Value::Null);
}

#[tokio::test]
async fn create_project_accepts_due_date_equal_to_start_date() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let project = project_with(
        &app,
        &alice,
        json!({"start_date": "2026-05-10", "due_date": "2026-05-10"}),
    )
    .await;
    assert_eq!(project["due_date"], "2026-05-10");
    // Only one of the two dates is fine too.
    project_with(&app, &alice, json!({"due_date": "2020-01-01"})).await;
    project_with(&app, &alice, json!({"start_date": "2030-01-01"})).await;
}

#[tokio::test]
async fn create_project_validates_name_length() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    for name in [json!(""), json!("   "), json!("x".repeat(201)), json!(42)] {
        assert_invalid(
            post_project(&app, &alice, json!({"name": name})).await,
            &["name"],
        )
        .await;
    }
    assert_invalid(post_project(&app, &alice, json!({})).await, &["name"]).await;
    assert_invalid(
        post_project(&app, &alice, json!({"name": null})).await,
        &["name"],
    )
    .await;
    // 200 characters (and 200 multi-byte characters) are fine.
    let project = project_with(&app, &alice, json!({"name": "x".repeat(200)})).await;
    assert_eq!(project["name"].as_str().expect("name").len(), 200);
    project_with(&app, &alice, json!({"name": "é".repeat(200)})).await;
    // Surrounding blanks do not count.
    project_with(
        &app,
        &alice,
        json!({"name": format!("  {}  ", "y".repeat(200))}),
    )
    .await;
}

#[tokio::test]
async fn create_project_validates_description_length() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let response = post_project(
        &app,
        &alice,
        json!({"name": "P", "description": "d".repeat(10_001)}),
    )
    .await;
    assert_invalid(response, &["description"]).await;
    let response = post_project(&app, &alice, json!({"name": "P", "description": 7})).await;
    assert_invalid(response, &["description"]).await;
    let project = project_with(&app, &alice, json!({"description": "d".repeat(10_000)})).await;
    assert_eq!(
        project["description"].as_str().expect("description").len(),
        10_000
    );
}

#[tokio::test]
async fn create_project_rejects_an_unknown_status() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    for status in [json!("paused"), json!("ACTIVE"), json!(""), json!(1)] {
        let response = post_project(&app, &alice, json!({"name": "P", "status": status})).await;
        assert_invalid(response, &["status"]).await;
    }
    for status in ["active", "on_hold", "completed", "archived"] {
        let project = project_with(&app, &alice, json!({ "status": status })).await;
        assert_eq!(project["status"], status);
    }
}

#[tokio::test]
async fn create_project_rejects_bad_dates() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    for bad in [
        json!("2026-02-30"),
        json!("2026-13-01"),
        json!("2026-1-05"),
        json!("05/01/2026"),
        json!("2026-05-01T00:00:00Z"),
        json!(""),
        json!(20260501),
    ] {
        let response = post_project(&app, &alice, json!({"name": "P", "start_date": bad})).await;
        assert_invalid(response, &["start_date"]).await;
        let response = post_project(&app, &alice, json!({"name": "P", "due_date": bad})).await;
        assert_invalid(response, &["due_date"]).await;
    }
    // A real leap day is fine.
    project_with(&app, &alice, json!({"start_date": "2028-02-29"})).await;
}

#[tokio::test]
async fn create_project_rejects_due_date_before_start_date_on_due_date() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let response = post_project(
        &app,
        &alice,
        json!({"name": "P", "start_date": "2026-05-10", "due_date": "2026-05-09"}),
    )
    .await;
    assert_invalid(response, &["due_date"]).await;
    let page = list(&app, &alice, "").await;
    assert!(item_ids(&page).is_empty(), "nothing was created: {page}");
}

#[tokio::test]
async fn create_project_rejects_unknown_fields() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let other = app.register().await;
    let response = post_project(
        &app,
        &alice,
        json!({"name": "P", "owner_id": other.id, "progress": {"total": 1}}),
    )
    .await;
    assert_invalid(response, &["owner_id", "progress"]).await;
    let page = list(&app, &other, "").await;
    assert!(item_ids(&page).is_empty(), "{page}");
}

#[tokio::test]
async fn create_project_lists_every_bad_field_at_once() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let response = post_project(
        &app,
        &alice,
        json!({
            "name": "",
            "description": "d".repeat(10_001),
            "status": "paused",
            "start_date": "2026-02-30",
            "due_date": "tomorrow",
            "color": "red",
        }),
    )
    .await;
    assert_invalid(
        response,
        &[
            "name",
            "description",
            "status",
            "start_date",
            "due_date",
            "color",
        ],
    )
    .await;

    // A date order problem is listed together with the other problems too.
    let response = post_project(
        &app,
        &alice,
        json!({"name": "", "start_date": "2026-05-10", "due_date": "2026-05-01"}),
    )
    .await;
    assert_invalid(response, &["name", "due_date"]).await;
}

#[tokio::test]
async fn create_project_body_must_be_a_json_object() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let response = post_project(&app, &alice, json!(["name", "P"])).await;
    assert_invalid(response, &[""]).await;
    let response = app
        .post("/projects")
        .bearer_auth(&alice.access)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("send");
    assert_problem(response, 400, "bad_request").await;
}

#[tokio::test]
async fn create_project_needs_authentication() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/projects")
        .json(&json!({"name": "P"}))
        .send()
        .await
        .expect("send");
    assert_problem(response, 401, "unauthorized").await;
}

// ---------------------------------------------------------------------------------------
// List

#[tokio::test]
async fn list_projects_shows_only_the_callers_projects() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let carol = app.register().await;
    let a1 = id_of(&app.create_project(&alice, "Alice 1").await);
    let a2 = id_of(&app.create_project(&alice, "Alice 2").await);
    let b1 = id_of(&app.create_project(&bob, "Bob 1").await);
    app.add_member(&bob, &b1, &alice, "viewer").await;

    let page = list(&app, &alice, "").await;
    let mut mine = item_ids(&page);
    mine.sort();
    let mut expected = vec![a1.clone(), a2.clone(), b1.clone()];
    expected.sort();
    assert_eq!(mine, expected);
    assert_eq!(page["next_cursor"], Value::Null);

    assert_eq!(item_ids(&list(&app, &bob, "").await), vec![b1.clone()]);
    assert!(item_ids(&list(&app, &carol, "").await).is_empty());

    // Each listed project is a full Project with its progress.
    let page = list(&app, &alice, "").await;
    for project in page["items"].as_array().expect("items") {
        assert!(project["progress"]["total"].is_u64(), "{project}");
        assert!(project["owner_id"].is_string(), "{project}");
    }
}

#[tokio::test]
async fn list_projects_is_newest_first() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let mut created = Vec::new();
    for i in 0..4 {
        created.push(id_of(&app.create_project(&alice, &format!("P{i}")).await));
    }
    created.reverse();
    assert_eq!(item_ids(&list(&app, &alice, "").await), created);
}

#[tokio::test]
async fn admin_lists_every_project() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let admin = app.admin().await;
    let a = id_of(&app.create_project(&alice, "Alice").await);
    let b = id_of(&app.create_project(&bob, "Bob").await);
    let mut all = item_ids(&list(&app, &admin, "").await);
    all.sort();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn list_projects_filters_by_status() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let active = id_of(&project_with(&app, &alice, json!({"status": "active"})).await);
    let held = id_of(&project_with(&app, &alice, json!({"status": "on_hold"})).await);
    let archived = id_of(&project_with(&app, &alice, json!({"status": "archived"})).await);
    assert_eq!(
        item_ids(&list(&app, &alice, "status=active").await),
        vec![active]
    );
    assert_eq!(
        item_ids(&list(&app, &alice, "status=on_hold").await),
        vec![held]
    );
    assert_eq!(
        item_ids(&list(&app, &alice, "status=archived").await),
        vec![archived]
    );
    assert!(item_ids(&list(&app, &alice, "status=completed").await).is_empty());

    let response = call(&app, &alice, Method::GET, "/projects?status=paused", None).await;
    assert_invalid(response, &["status"]).await;
}

#[tokio::test]
async fn list_projects_filters_by_q_on_name_and_description() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let by_name = id_of(&project_with(&app, &alice, json!({"name": "Website Relaunch"})).await);
    let by_description = id_of(
        &project_with(
            &app,
            &alice,
            json!({"name": "Q1", "description": "the new WEBSITE"}),
        )
        .await,
    );
    project_with(&app, &alice, json!({"name": "Mobile app"})).await;
    // Bob's matching project stays invisible to Alice.
    project_with(&app, &bob, json!({"name": "Bob's website"})).await;

    let mut found = item_ids(&list(&app, &alice, "q=website").await);
    found.sort();
    let mut expected = vec![by_name.clone(), by_description];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(
        item_ids(&list(&app, &alice, "q=RELAUNCH").await),
        vec![by_name]
    );
    assert!(item_ids(&list(&app, &alice, "q=nothing-matches").await).is_empty());

    // LIKE wildcards are taken literally.
    let percent = id_of(&project_with(&app, &alice, json!({"name": "100% done"})).await);
    assert_eq!(item_ids(&list(&app, &alice, "q=%25").await), vec![percent]);
    assert!(item_ids(&list(&app, &alice, "q=_").await).is_empty());

    // Filters combine.
    project_with(
        &app,
        &alice,
        json!({"name": "Website archive", "status": "archived"}),
    )
    .await;
    assert_eq!(
        list(&app, &alice, "q=website&status=archived").await["items"]
            .as_array()
            .expect("items")
            .len(),
        1
    );
}

#[tokio::test]
async fn list_projects_paginates_over_every_project_exactly_once() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(id_of(&app.create_project(&alice, &format!("P{i}")).await));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=3&cursor={c}"),
            None => "limit=3".to_string(),
        };
        let page = list(&app, &alice, &query).await;
        let items = item_ids(&page);
        assert!(items.len() <= 3, "{page}");
        seen.extend(items);
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    created.reverse();
    assert_eq!(seen, created, "every project once, newest first");

    // A page exactly as long as what is left ends the list.
    let page = list(&app, &alice, "limit=7").await;
    assert_eq!(item_ids(&page).len(), 7);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn list_projects_cursor_is_stable_under_inserts() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let mut created = Vec::new();
    for i in 0..4 {
        created.push(id_of(&app.create_project(&alice, &format!("P{i}")).await));
    }
    let first = list(&app, &alice, "limit=2").await;
    // A project created meanwhile neither shifts nor repeats the rest.
    app.create_project(&alice, "Newer").await;
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let second = list(&app, &alice, &format!("limit=2&cursor={cursor}")).await;
    let mut seen = item_ids(&first);
    seen.extend(item_ids(&second));
    created.reverse();
    assert_eq!(seen, created);
    assert_eq!(second["next_cursor"], Value::Null);
}

#[tokio::test]
async fn list_projects_rejects_bad_limit_and_cursor() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    for limit in ["0", "201", "-1", "ten"] {
        let response = call(
            &app,
            &alice,
            Method::GET,
            &format!("/projects?limit={limit}"),
            None,
        )
        .await;
        assert_invalid(response, &["limit"]).await;
    }
    let page = list(&app, &alice, "limit=200").await;
    assert!(page["items"].is_array());
    let response = call(
        &app,
        &alice,
        Method::GET,
        "/projects?cursor=not-a-cursor",
        None,
    )
    .await;
    assert_problem(response, 400, "bad_request").await;
}

// ---------------------------------------------------------------------------------------
// Get

#[tokio::test]
async fn get_project_answers_members_and_hides_it_from_others() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let viewer = app.register().await;
    let stranger = app.register().await;
    let project = app.create_project(&alice, "Secret").await;
    let pid = id_of(&project);
    app.add_member(&alice, &pid, &viewer, "viewer").await;

    let seen = body(get_project(&app, &viewer, &pid).await, 200).await;
    assert_eq!(seen["id"], project["id"]);
    assert_eq!(seen["name"], "Secret");

    assert_problem(get_project(&app, &stranger, &pid).await, 404, "not_found").await;
    let unknown = Uuid::now_v7().to_string();
    assert_problem(get_project(&app, &alice, &unknown).await, 404, "not_found").await;
}

#[tokio::test]
async fn non_uuid_path_ids_answer_404() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    let uid = alice.id;
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/projects/not-a-uuid".into(), None),
        (
            Method::PATCH,
            "/projects/123".into(),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, "/projects/123".into(), None),
        (Method::GET, "/projects/abc/progress".into(), None),
        (Method::GET, "/projects/abc/board".into(), None),
        (Method::GET, "/projects/abc/activity".into(), None),
        (Method::GET, "/projects/abc/members".into(), None),
        (
            Method::POST,
            "/projects/abc/members".into(),
            Some(json!({"user_id": uid, "role": "viewer"})),
        ),
        (
            Method::PATCH,
            format!("/projects/abc/members/{uid}"),
            Some(json!({"role": "viewer"})),
        ),
        (
            Method::PATCH,
            format!("/projects/{pid}/members/abc"),
            Some(json!({"role": "viewer"})),
        ),
        (Method::DELETE, format!("/projects/{pid}/members/abc"), None),
        (Method::DELETE, format!("/projects/abc/members/{uid}"), None),
    ];
    for (method, path, json) in cases {
        let response = call(&app, &alice, method.clone(), &path, json).await;
        let status = response.status().as_u16();
        assert_eq!(status, 404, "{method} {path}");
        assert_problem(response, 404, "not_found").await;
    }
    // Nothing happened to the real project.
    assert_eq!(members(&app, &alice, &pid).await.len(), 1);
}

// ---------------------------------------------------------------------------------------
// Update

#[tokio::test]
async fn update_project_changes_the_given_fields_only() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let project = project_with(
        &app,
        &alice,
        json!({"description": "old", "start_date": "2026-01-01"}),
    )
    .await;
    let pid = id_of(&project);
    app.clock.advance(std::time::Duration::from_secs(2));
    let updated = body(
        patch_project(
            &app,
            &alice,
            &pid,
            json!({"name": "  Renamed  ", "status": "completed", "due_date": "2026-06-30"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(updated["name"], "Renamed");
    assert_eq!(updated["status"], "completed");
    assert_eq!(updated["due_date"], "2026-06-30");
    // Untouched fields keep their values.
    assert_eq!(updated["description"], "old");
    assert_eq!(updated["start_date"], "2026-01-01");
    assert_eq!(updated["owner_id"], project["owner_id"]);
    assert_eq!(updated["created_at"], project["created_at"]);
    assert_ne!(updated["updated_at"], project["updated_at"]);
    assert!(
        updated["updated_at"].as_str() > project["updated_at"].as_str(),
        "{updated}"
    );
    // And it sticks.
    let fetched = body(get_project(&app, &alice, &pid).await, 200).await;
    assert_eq!(fetched, updated);

    // An empty PATCH changes nothing.
    let same = body(patch_project(&app, &alice, &pid, json!({})).await, 200).await;
    assert_eq!(same, updated);

    // An editor may edit the project too; description may become empty.
    let editor = app.register().await;
    app.add_member(&alice, &pid, &editor, "editor").await;
    let updated = body(
        patch_project(&app, &editor, &pid, json!({"description": "  "})).await,
        200,
    )
    .await;
    assert_eq!(updated["description"], "");
}

#[tokio::test]
async fn update_project_null_clears_dates() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let pid = id_of(
        &project_with(
            &app,
            &alice,
            json!({"start_date": "2026-01-01", "due_date": "2026-02-01"}),
        )
        .await,
    );
    let updated = body(
        patch_project(&app, &alice, &pid, json!({"start_date": null})).await,
        200,
    )
    .await;
    assert_eq!(updated["start_date"], Value::Null);
    assert_eq!(updated["due_date"], "2026-02-01");
    let updated = body(
        patch_project(&app, &alice, &pid, json!({"due_date": null})).await,
        200,
    )
    .await;
    assert_eq!(updated["due_date"], Value::Null);
    let fetched = body(get_project(&app, &alice, &pid).await, 200).await;
    assert_eq!(fetched["start_date"], Value::Null);
    assert_eq!(fetched["due_date"], Value::Null);
}

#[tokio::test]
async fn update_project_rejects_null_for_non_nullable_fields() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let pid = id_of(&app.create_project(&alice, "Keep").await);
    for field in ["name", "status", "description"] {
        let response = patch_project(&app, &alice, &pid, json!({ field: null })).await;
        assert_invalid(response, &[field]).await;
    }
    let response = patch_project(&app, &alice, &pid, json!({"name": "", "status": "x"})).await;
    assert_invalid(response, &["name", "status"]).await;
    let response = patch_project(&app, &alice, &pid, json!({"owner_id": alice.id})).await;
    assert_invalid(response, &["owner_id"]).await;
    let fetched = body(get_project(&app, &alice, &pid).await, 200).await;
    assert_eq!(fetched["name"], "Keep");
    assert_eq!(fetched["status"], "active");
}

#[tokio::test]
async fn update_project_checks_due_date_against_stored_start_date() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let pid = id_of(
        &project_with(
            &app,
            &alice,
            json!({"start_date": "2026-05-10", "due_date": "2026-06-10"}),
        )
        .await,
    );
    // A due date before the stored start date.
    let response = patch_project(&app, &alice, &pid, json!({"due_date": "2026-05-01"})).await;
    assert_invalid(response, &["due_date"]).await;
    // A start date after the stored due date.
    let response = patch_project(&app, &alice, &pid, json!({"start_date": "2026-07-01"})).await;
    assert_invalid(response, &["due_date"]).await;
    // Both in the body, out of order.
    let response = patch_project(
        &app,
        &alice,
        &pid,
        json!({"start_date": "2026-09-02", "due_date": "2026-09-01"}),
    )
    .await;
    assert_invalid(response, &["due_date"]).await;
    // Nothing changed.
    let fetched = body(get_project(&app, &alice, &pid).await, 200).await;
    assert_eq!(fetched["start_date"], "2026-05-10");
    assert_eq!(fetched["due_date"], "2026-06-10");

    // Moving both together is fine, and so is clearing the start while moving the due date.
    let updated = body(
        patch_project(
            &app,
            &alice,
            &pid,
            json!({"start_date": "2026-09-01", "due_date": "2026-09-01"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(updated["start_date"], "2026-09-01");
    let updated = body(
        patch_project(
            &app,
            &alice,
            &pid,
            json!({"start_date": null, "due_date": "2026-01-01"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(updated["start_date"], Value::Null);
    assert_eq!(updated["due_date"], "2026-01-01");
}

#[tokio::test]
async fn viewer_cannot_update_project() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let viewer = app.register().await;
    let pid = id_of(&app.create_project(&alice, "Keep").await);
    app.add_member(&alice, &pid, &viewer, "viewer").await;
    let response = patch_project(&app, &viewer, &pid, json!({"name": "Mine"})).await;
    assert_problem(response, 403, "forbidden").await;
    let fetched = body(get_project(&app, &alice, &pid).await, 200).await;
    assert_eq!(fetched["name"], "Keep");
}

// ---------------------------------------------------------------------------------------
// Delete

#[tokio::test]
async fn owner_deletes_project_and_its_tasks() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let pid = id_of(&app.create_project(&alice, "Doomed").await);
    let keep = id_of(&app.create_project(&alice, "Kept").await);
    let t1 = id_of(&app.create_task(&alice, &pid, json!({"title": "one"})).await);
    let t2 = id_of(
        &app.create_task(&alice, &pid, json!({"title": "two", "status": "done"}))
            .await,
    );
    let kept_task = id_of(&app.create_task(&alice, &keep, json!({})).await);

    no_content(
        call(
            &app,
            &alice,
            Method::DELETE,
            &format!("/projects/{pid}"),
            None,
        )
        .await,
    )
    .await;

    assert_problem(get_project(&app, &alice, &pid).await, 404, "not_found").await;
    for task in [&t1, &t2] {
        let response = call(&app, &alice, Method::GET, &format!("/tasks/{task}"), None).await;
        assert_problem(response, 404, "not_found").await;
    }
    assert_eq!(item_ids(&list(&app, &alice, "").await), vec![keep.clone()]);
    let response = call(
        &app,
        &alice,
        Method::GET,
        &format!("/tasks/{kept_task}"),
        None,
    )
    .await;
    body(response, 200).await;
    // Deleting again: it is gone.
    let response = call(
        &app,
        &alice,
        Method::DELETE,
        &format!("/projects/{pid}"),
        None,
    )
    .await;
    assert_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn editor_cannot_delete_project() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let editor = app.register().await;
    let pid = id_of(&app.create_project(&alice, "Stays").await);
    app.add_member(&alice, &pid, &editor, "editor").await;
    let response = call(
        &app,
        &editor,
        Method::DELETE,
        &format!("/projects/{pid}"),
        None,
    )
    .await;
    assert_problem(response, 403, "forbidden").await;
    body(get_project(&app, &alice, &pid).await, 200).await;
}

#[tokio::test]
async fn admin_deletes_any_project() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let admin = app.admin().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    no_content(
        call(
            &app,
            &admin,
            Method::DELETE,
            &format!("/projects/{pid}"),
            None,
        )
        .await,
    )
    .await;
    assert_problem(get_project(&app, &alice, &pid).await, 404, "not_found").await;
}

// ---------------------------------------------------------------------------------------
// Progress

#[tokio::test]
async fn progress_of_an_empty_project_is_zero() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let pid = id_of(&app.create_project(&alice, "Empty").await);
    assert_eq!(
        progress(&app, &alice, &pid).await,
        json!({
            "total": 0, "done": 0, "percent": 0,
            "by_status": {"todo": 0, "in_progress": 0, "review": 0, "done": 0},
            "overdue": 0,
        })
    );
}

#[tokio::test]
async fn progress_counts_by_status_and_rounds_percent() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    let first = id_of(
        &app.create_task(&alice, &pid, json!({"status": "done"}))
            .await,
    );
    app.create_task(&alice, &pid, json!({"status": "in_progress"}))
        .await;
    let third = id_of(
        &app.create_task(&alice, &pid, json!({"status": "review"}))
            .await,
    );

    let p = progress(&app, &alice, &pid).await;
    assert_eq!(p["total"], 3);
    assert_eq!(p["done"], 1);
    assert_eq!(p["percent"], 33, "1 of 3 → 33: {p}");
    assert_eq!(
        p["by_status"],
        json!({"todo": 0, "in_progress": 1, "review": 1, "done": 1})
    );
    let project = body(get_project(&app, &alice, &pid).await, 200).await;
    assert_eq!(
        project["progress"],
        json!({"total": 3, "done": 1, "percent": 33})
    );

    let response = app
        .move_task(&alice, &third, json!({"status": "done"}))
        .await;
    body(response, 200).await;
    let p = progress(&app, &alice, &pid).await;
    assert_eq!(p["done"], 2);
    assert_eq!(p["percent"], 67, "2 of 3 → 67: {p}");
    let project = body(get_project(&app, &alice, &pid).await, 200).await;
    assert_eq!(
        project["progress"],
        json!({"total": 3, "done": 2, "percent": 67})
    );

    // Half rounds up: 1 of 2 → 50 after a deletion; 1 of 8 = 12.5 → 13.
    let response = call(
        &app,
        &alice,
        Method::DELETE,
        &format!("/tasks/{first}"),
        None,
    )
    .await;
    no_content(response).await;
    let p = progress(&app, &alice, &pid).await;
    assert_eq!(
        (p["total"].clone(), p["percent"].clone()),
        (json!(2), json!(50))
    );
    for _ in 0..6 {
        app.create_task(&alice, &pid, json!({})).await;
    }
    let p = progress(&app, &alice, &pid).await;
    assert_eq!(p["total"], 8);
    assert_eq!(p["done"], 1);
    assert_eq!(p["percent"], 13, "{p}");
    assert_eq!(p["by_status"]["todo"], 6);
}

#[tokio::test]
async fn progress_counts_overdue_open_tasks_due_before_today() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    let today: NaiveDate = app.clock.now().date_naive();
    let day = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
    let yesterday = day(today - Duration::days(1));
    // Overdue: open and due before today.
    app.create_task(&alice, &pid, json!({"due_date": yesterday}))
        .await;
    app.create_task(
        &alice,
        &pid,
        json!({"due_date": "2001-01-01", "status": "review"}),
    )
    .await;
    // Not overdue: done, due today, due later, no due date.
    app.create_task(
        &alice,
        &pid,
        json!({"due_date": "2001-01-01", "status": "done"}),
    )
    .await;
    app.create_task(&alice, &pid, json!({"due_date": day(today)}))
        .await;
    app.create_task(
        &alice,
        &pid,
        json!({"due_date": day(today + Duration::days(30))}),
    )
    .await;
    app.create_task(&alice, &pid, json!({})).await;

    let p = progress(&app, &alice, &pid).await;
    if app.clock.now().date_naive() == today {
        assert_eq!(p["overdue"], 2, "{p}");
    }
    assert_eq!(p["total"], 6);
    assert_eq!(p["done"], 1);
}

#[tokio::test]
async fn progress_is_hidden_from_non_members() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let stranger = app.register().await;
    let viewer = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    app.add_member(&alice, &pid, &viewer, "viewer").await;
    progress(&app, &viewer, &pid).await;
    let response = call(
        &app,
        &stranger,
        Method::GET,
        &format!("/projects/{pid}/progress"),
        None,
    )
    .await;
    assert_problem(response, 404, "not_found").await;
}

// ---------------------------------------------------------------------------------------
// Members

#[tokio::test]
async fn members_list_is_a_plain_array_of_user_role_added_at() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    app.add_member(&alice, &pid, &bob, "editor").await;
    let list = members(&app, &alice, &pid).await;
    assert_eq!(list.len(), 2);
    assert_eq!(role_of(&list, alice.id).as_deref(), Some("owner"));
    assert_eq!(role_of(&list, bob.id).as_deref(), Some("editor"));
    for member in &list {
        let keys: Vec<&String> = member.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 3, "{member}");
        assert!(is_rfc3339_utc(&member["added_at"]), "{member}");
        let user = &member["user"];
        for key in [
            "id",
            "email",
            "full_name",
            "role",
            "is_active",
            "created_at",
            "updated_at",
        ] {
            assert!(user.get(key).is_some(), "user.{key} missing: {member}");
        }
        let text = member.to_string().to_lowercase();
        assert!(
            !text.contains("password") && !text.contains("argon2"),
            "{member}"
        );
    }
    let bob_entry = list
        .iter()
        .find(|m| m["user"]["id"] == bob.id.to_string())
        .expect("bob");
    assert_eq!(bob_entry["user"]["email"], bob.email);
    // Members (viewers included) see the list too.
    assert_eq!(members(&app, &bob, &pid).await.len(), 2);
}

#[tokio::test]
async fn add_member_by_user_id_answers_201_member() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    let member = body(
        add_member_body(
            &app,
            &alice,
            &pid,
            json!({"user_id": bob.id, "role": "editor"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(member["user"]["id"], bob.id.to_string());
    assert_eq!(member["user"]["email"], bob.email);
    assert_eq!(member["role"], "editor");
    assert!(is_rfc3339_utc(&member["added_at"]), "{member}");
    // Bob now sees the project.
    body(get_project(&app, &bob, &pid).await, 200).await;
    assert_eq!(
        role_of(&members(&app, &alice, &pid).await, bob.id).as_deref(),
        Some("editor")
    );
}

#[tokio::test]
async fn add_member_by_email_answers_201_member() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    // Emails are matched the way they are stored: trimmed and lower-cased.
    let email = format!("  {}  ", bob.email.to_uppercase());
    let member = body(
        add_member_body(
            &app,
            &alice,
            &pid,
            json!({"email": email, "role": "viewer"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(member["user"]["id"], bob.id.to_string());
    assert_eq!(member["role"], "viewer");
    body(get_project(&app, &bob, &pid).await, 200).await;
}

#[tokio::test]
async fn add_member_with_an_unknown_user_is_422_on_that_field() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    let response = add_member_body(
        &app,
        &alice,
        &pid,
        json!({"user_id": Uuid::now_v7(), "role": "viewer"}),
    )
    .await;
    assert_invalid(response, &["user_id"]).await;
    let response = add_member_body(
        &app,
        &alice,
        &pid,
        json!({"email": unique_email(), "role": "viewer"}),
    )
    .await;
    assert_invalid(response, &["email"]).await;
    // Malformed values are 422 on their field too.
    let response = add_member_body(
        &app,
        &alice,
        &pid,
        json!({"user_id": "nope", "role": "viewer"}),
    )
    .await;
    assert_invalid(response, &["user_id"]).await;
    let response = add_member_body(
        &app,
        &alice,
        &pid,
        json!({"email": "not-an-email", "role": "viewer"}),
    )
    .await;
    assert_invalid(response, &["email"]).await;
    assert_eq!(members(&app, &alice, &pid).await.len(), 1);
}

#[tokio::test]
async fn add_member_needs_exactly_one_of_user_id_and_email() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    for json in [
        json!({"role": "viewer"}),
        json!({"user_id": bob.id, "email": bob.email, "role": "viewer"}),
    ] {
        let response = add_member_body(&app, &alice, &pid, json.clone()).await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        let fields = error_fields(&problem);
        assert!(!fields.is_empty(), "{json} → {problem}");
        assert!(
            fields.iter().all(|f| f == "user_id" || f == "email"),
            "{json} → {problem}"
        );
    }
    assert_eq!(members(&app, &alice, &pid).await.len(), 1);
}

#[tokio::test]
async fn add_member_twice_is_a_conflict() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    app.add_member(&alice, &pid, &bob, "viewer").await;
    let response = add_member_body(
        &app,
        &alice,
        &pid,
        json!({"user_id": bob.id, "role": "editor"}),
    )
    .await;
    assert_problem(response, 409, "conflict").await;
    let response = add_member_body(
        &app,
        &alice,
        &pid,
        json!({"email": bob.email, "role": "owner"}),
    )
    .await;
    assert_problem(response, 409, "conflict").await;
    // The owner is a member already too.
    let response = add_member_body(
        &app,
        &alice,
        &pid,
        json!({"user_id": alice.id, "role": "viewer"}),
    )
    .await;
    assert_problem(response, 409, "conflict").await;
    let list = members(&app, &alice, &pid).await;
    assert_eq!(list.len(), 2);
    assert_eq!(role_of(&list, bob.id).as_deref(), Some("viewer"));
}

#[tokio::test]
async fn add_member_rejects_a_bad_role() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    for role in [
        json!("admin"),
        json!("Owner"),
        json!(""),
        json!(3),
        Value::Null,
    ] {
        let response =
            add_member_body(&app, &alice, &pid, json!({"user_id": bob.id, "role": role})).await;
        assert_invalid(response, &["role"]).await;
    }
    let response = add_member_body(&app, &alice, &pid, json!({"user_id": bob.id})).await;
    assert_invalid(response, &["role"]).await;
    let response = add_member_body(
        &app,
        &alice,
        &pid,
        json!({"user_id": bob.id, "role": "viewer", "is_admin": true}),
    )
    .await;
    assert_invalid(response, &["is_admin"]).await;
    assert_eq!(members(&app, &alice, &pid).await.len(), 1);
}

#[tokio::test]
async fn add_member_of_a_deactivated_user_is_422() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    no_content(
        call(
            &app,
            &admin,
            Method::DELETE,
            &format!("/users/{}", bob.id),
            None,
        )
        .await,
    )
    .await;
    let response = add_member_body(
        &app,
        &alice,
        &pid,
        json!({"user_id": bob.id, "role": "viewer"}),
    )
    .await;
    assert_invalid(response, &["user_id"]).await;
}

#[tokio::test]
async fn only_owners_add_members() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let editor = app.register().await;
    let newcomer = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    app.add_member(&alice, &pid, &editor, "editor").await;
    let response = add_member_body(
        &app,
        &editor,
        &pid,
        json!({"user_id": newcomer.id, "role": "viewer"}),
    )
    .await;
    assert_problem(response, 403, "forbidden").await;
    let response = add_member_body(
        &app,
        &newcomer,
        &pid,
        json!({"user_id": newcomer.id, "role": "owner"}),
    )
    .await;
    assert_problem(response, 404, "not_found").await;
    assert_eq!(members(&app, &alice, &pid).await.len(), 2);
}

#[tokio::test]
async fn owner_changes_a_members_role() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    app.add_member(&alice, &pid, &bob, "viewer").await;
    let member = body(set_role(&app, &alice, &pid, bob.id, "editor").await, 200).await;
    assert_eq!(member["role"], "editor");
    assert_eq!(member["user"]["id"], bob.id.to_string());
    assert!(is_rfc3339_utc(&member["added_at"]));
    assert_eq!(
        role_of(&members(&app, &alice, &pid).await, bob.id).as_deref(),
        Some("editor")
    );
    // Bob may edit now.
    let response = patch_project(&app, &bob, &pid, json!({"name": "By Bob"})).await;
    body(response, 200).await;

    // A bad role is 422, an unknown field too.
    let response = set_role(&app, &alice, &pid, bob.id, "boss").await;
    assert_invalid(response, &["role"]).await;
    let response = call(
        &app,
        &alice,
        Method::PATCH,
        &format!("/projects/{pid}/members/{}", bob.id),
        Some(json!({"role": "viewer", "user_id": alice.id})),
    )
    .await;
    assert_invalid(response, &["user_id"]).await;

    // Editors do not manage members.
    let response = set_role(&app, &bob, &pid, bob.id, "owner").await;
    assert_problem(response, 403, "forbidden").await;
}

#[tokio::test]
async fn demoting_the_last_owner_is_a_conflict() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    let response = set_role(&app, &alice, &pid, alice.id, "editor").await;
    assert_problem(response, 409, "conflict").await;
    assert_eq!(
        role_of(&members(&app, &alice, &pid).await, alice.id).as_deref(),
        Some("owner")
    );
    // Setting the same role is a no-op, not a conflict.
    let member = body(set_role(&app, &alice, &pid, alice.id, "owner").await, 200).await;
    assert_eq!(member["role"], "owner");

    // With a second owner, the first may step down.
    app.add_member(&alice, &pid, &bob, "owner").await;
    let member = body(set_role(&app, &alice, &pid, alice.id, "viewer").await, 200).await;
    assert_eq!(member["role"], "viewer");
    let response = set_role(&app, &bob, &pid, bob.id, "editor").await;
    assert_problem(response, 409, "conflict").await;
}

#[tokio::test]
async fn owner_removes_a_member() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    app.add_member(&alice, &pid, &bob, "editor").await;
    no_content(remove_member(&app, &alice, &pid, bob.id).await).await;
    let list = members(&app, &alice, &pid).await;
    assert_eq!(role_of(&list, bob.id), None);
    assert_eq!(list.len(), 1);
    // Bob lost access.
    assert_problem(get_project(&app, &bob, &pid).await, 404, "not_found").await;
    assert!(item_ids(&list_as(&app, &bob).await).is_empty());
}

async fn list_as(app: &TestApp, user: &TestUser) -> Value {
    list(app, user, "").await
}

#[tokio::test]
async fn a_member_may_leave_the_project() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let viewer = app.register().await;
    let editor = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    app.add_member(&alice, &pid, &viewer, "viewer").await;
    app.add_member(&alice, &pid, &editor, "editor").await;
    no_content(remove_member(&app, &viewer, &pid, viewer.id).await).await;
    no_content(remove_member(&app, &editor, &pid, editor.id).await).await;
    let list = members(&app, &alice, &pid).await;
    assert_eq!(list.len(), 1);
    assert_problem(get_project(&app, &viewer, &pid).await, 404, "not_found").await;
}

#[tokio::test]
async fn viewer_or_editor_cannot_remove_someone_else() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let viewer = app.register().await;
    let editor = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    app.add_member(&alice, &pid, &viewer, "viewer").await;
    app.add_member(&alice, &pid, &editor, "editor").await;
    let response = remove_member(&app, &viewer, &pid, editor.id).await;
    assert_problem(response, 403, "forbidden").await;
    let response = remove_member(&app, &editor, &pid, viewer.id).await;
    assert_problem(response, 403, "forbidden").await;
    let response = remove_member(&app, &viewer, &pid, alice.id).await;
    assert_problem(response, 403, "forbidden").await;
    assert_eq!(members(&app, &alice, &pid).await.len(), 3);
}

#[tokio::test]
async fn removing_the_last_owner_is_a_conflict() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let admin = app.admin().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    let response = remove_member(&app, &alice, &pid, alice.id).await;
    assert_problem(response, 409, "conflict").await;
    let response = remove_member(&app, &admin, &pid, alice.id).await;
    assert_problem(response, 409, "conflict").await;
    assert_eq!(
        role_of(&members(&app, &alice, &pid).await, alice.id).as_deref(),
        Some("owner")
    );
}

#[tokio::test]
async fn member_routes_for_a_non_member_user_answer_404() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let outsider = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    let response = set_role(&app, &alice, &pid, outsider.id, "editor").await;
    assert_problem(response, 404, "not_found").await;
    let response = remove_member(&app, &alice, &pid, outsider.id).await;
    assert_problem(response, 404, "not_found").await;
    let response = remove_member(&app, &alice, &pid, Uuid::now_v7()).await;
    assert_problem(response, 404, "not_found").await;
    // The outsider cannot see the project's member list either, nor "leave" it.
    let response = call(
        &app,
        &outsider,
        Method::GET,
        &format!("/projects/{pid}/members"),
        None,
    )
    .await;
    assert_problem(response, 404, "not_found").await;
    let response = remove_member(&app, &outsider, &pid, outsider.id).await;
    assert_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn owner_id_moves_to_the_remaining_owner_when_the_creator_leaves() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    app.add_member(&alice, &pid, &bob, "owner").await;
    let project = body(get_project(&app, &bob, &pid).await, 200).await;
    assert_eq!(project["owner_id"], alice.id.to_string());

    no_content(remove_member(&app, &bob, &pid, alice.id).await).await;
    let project = body(get_project(&app, &bob, &pid).await, 200).await;
    assert_eq!(project["owner_id"], bob.id.to_string());
    let list = list_as(&app, &bob).await;
    assert_eq!(list["items"][0]["owner_id"], bob.id.to_string());
    // Now Bob is the last owner.
    let response = remove_member(&app, &bob, &pid, bob.id).await;
    assert_problem(response, 409, "conflict").await;
}

#[tokio::test]
async fn owner_id_moves_to_the_remaining_owner_when_the_creator_is_demoted() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    app.add_member(&alice, &pid, &bob, "owner").await;
    body(set_role(&app, &alice, &pid, alice.id, "editor").await, 200).await;
    let project = body(get_project(&app, &alice, &pid).await, 200).await;
    assert_eq!(project["owner_id"], bob.id.to_string());
    // Alice, an editor now, may no longer manage members.
    let response = remove_member(&app, &alice, &pid, bob.id).await;
    assert_problem(response, 403, "forbidden").await;
}

#[tokio::test]
async fn admin_manages_members_of_any_project() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let admin = app.admin().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    let member = body(
        add_member_body(
            &app,
            &admin,
            &pid,
            json!({"user_id": bob.id, "role": "viewer"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(member["role"], "viewer");
    body(set_role(&app, &admin, &pid, bob.id, "editor").await, 200).await;
    no_content(remove_member(&app, &admin, &pid, bob.id).await).await;
    // The admin is not listed as a member by acting on the project.
    let list = members(&app, &admin, &pid).await;
    assert_eq!(list.len(), 1);
    assert_eq!(role_of(&list, admin.id), None);
}

#[tokio::test]
async fn concurrent_self_demotions_of_the_last_two_owners_keep_one_owner() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    for _ in 0..3 {
        let pid = id_of(&app.create_project(&alice, "P").await);
        app.add_member(&alice, &pid, &bob, "owner").await;
        let (a, b) = tokio::join!(
            set_role(&app, &alice, &pid, alice.id, "editor"),
            set_role(&app, &bob, &pid, bob.id, "editor"),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409]);
        let list = members(&app, &alice, &pid).await;
        let owners: Vec<&Value> = list.iter().filter(|m| m["role"] == "owner").collect();
        assert_eq!(owners.len(), 1, "{list:?}");
        let project = body(get_project(&app, &alice, &pid).await, 200).await;
        assert_eq!(project["owner_id"], owners[0]["user"]["id"]);
    }
}

#[tokio::test]
async fn concurrent_removals_of_each_other_keep_one_owner() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let admin = app.admin().await;
    for _ in 0..3 {
        let pid = id_of(&app.create_project(&alice, "P").await);
        app.add_member(&alice, &pid, &bob, "owner").await;
        let (a, b) = tokio::join!(
            remove_member(&app, &alice, &pid, bob.id),
            remove_member(&app, &bob, &pid, alice.id),
        );
        // The first removal wins; the loser is no longer a member (404).
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [204, 404]);
        let list = members(&app, &admin, &pid).await;
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0]["role"], "owner");
        let project = body(get_project(&app, &admin, &pid).await, 200).await;
        assert_eq!(project["owner_id"], list[0]["user"]["id"]);
    }
}

#[tokio::test]
async fn concurrent_adds_of_the_same_user_make_one_member() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "P").await);
    let (a, b) = tokio::join!(
        add_member_body(
            &app,
            &alice,
            &pid,
            json!({"user_id": bob.id, "role": "viewer"})
        ),
        add_member_body(
            &app,
            &alice,
            &pid,
            json!({"email": bob.email, "role": "editor"})
        ),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    let list = members(&app, &alice, &pid).await;
    assert_eq!(list.len(), 2);
}
