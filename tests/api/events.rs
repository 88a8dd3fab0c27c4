//! The stored events (the outbox the WebSocket replays from): one per committed change,
//! with exactly the message shape of docs/api.md, "Real-time".

use flowtrack_store::models::activity_log;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// Sorted keys of a JSON object.
fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Checks the envelope of a stored event and returns its `data`.
fn envelope(event: &(i64, Value), kind: &str, pid: &str, seq: i64, actor: &TestUser) -> Value {
    let (stored_seq, payload) = event;
    assert_eq!(*stored_seq, seq, "{payload}");
    assert_eq!(
        keys(payload),
        ["actor_id", "at", "data", "project_id", "seq", "type"],
        "{payload}"
    );
    assert_eq!(payload["type"], kind, "{payload}");
    assert_eq!(payload["project_id"], pid, "{payload}");
    assert_eq!(payload["seq"], seq, "{payload}");
    assert_eq!(payload["actor_id"], actor.id.to_string(), "{payload}");
    assert_timestamp(&payload["at"], "at");
    payload["data"].clone()
}

/// The last stored event of a project.
async fn last_event(app: &TestApp, pid: &str) -> (i64, Value) {
    app.stored_events(pid).await.pop().expect("an event")
}

/// The activity entries of a project.
async fn activity(app: &TestApp, pid: &str) -> Vec<activity_log::Model> {
    let id: Uuid = pid.parse().expect("uuid");
    activity_log::Entity::find()
        .filter(activity_log::Column::ProjectId.eq(id))
        .all(&app.state.db.read)
        .await
        .expect("activity")
}

// ---------------------------------------------------------------------------------------
// Projects and members

#[tokio::test]
async fn project_created_is_seq_1_with_the_project() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Events").await;
    let pid = id_of(&project);
    let events = app.stored_events(&pid).await;
    assert_eq!(events.len(), 1);
    let data = envelope(&events[0], "project.created", &pid, 1, &owner);
    assert_eq!(data, json!({"project": project}));
}

#[tokio::test]
async fn project_updated_carries_the_updated_project() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Before").await;
    let response = app
        .patch(&format!("/projects/{pid}"))
        .bearer_auth(&owner.access)
        .json(&json!({"name": "After", "status": "on_hold"}))
        .send()
        .await
        .expect("patch project");
    let project = body(response, 200).await;
    let event = last_event(&app, &pid).await;
    let data = envelope(&event, "project.updated", &pid, 2, &owner);
    assert_eq!(data, json!({"project": project}));
    assert_eq!(data["project"]["name"], "After");
}

#[tokio::test]
async fn project_deleted_carries_the_id_and_outlives_the_project() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Doomed").await;
    app.create_task(&owner, &pid, json!({})).await;
    let response = app
        .delete(&format!("/projects/{pid}"))
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("delete project");
    no_content(response).await;
    let events = app.stored_events(&pid).await;
    assert_eq!(
        events.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let data = envelope(&events[2], "project.deleted", &pid, 3, &owner);
    assert_eq!(data, json!({"project_id": pid}));
}

#[tokio::test]
async fn member_added_updated_and_removed_carry_the_member() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let user = app.register().await;
    let pid = project_id(&app, &owner, "Members").await;
    let response = app
        .post(&format!("/projects/{pid}/members"))
        .bearer_auth(&owner.access)
        .json(&json!({"user_id": user.id, "role": "viewer"}))
        .send()
        .await
        .expect("add");
    let added = body(response, 201).await;
    let data = envelope(
        &last_event(&app, &pid).await,
        "member.added",
        &pid,
        2,
        &owner,
    );
    assert_eq!(data, json!({"member": added}));
    assert_eq!(keys(&data["member"]), ["added_at", "role", "user"]);
    assert_eq!(data["member"]["user"]["id"], user.id.to_string());
    assert_eq!(data["member"]["role"], "viewer");
    assert_timestamp(&data["member"]["added_at"], "added_at");

    let response = app
        .patch(&format!("/projects/{pid}/members/{}", user.id))
        .bearer_auth(&owner.access)
        .json(&json!({"role": "editor"}))
        .send()
        .await
        .expect("update");
    let updated = body(response, 200).await;
    let data = envelope(
        &last_event(&app, &pid).await,
        "member.updated",
        &pid,
        3,
        &owner,
    );
    assert_eq!(data, json!({"member": updated}));
    assert_eq!(data["member"]["role"], "editor");

    // The member leaves on their own: the actor is the member.
    let response = app
        .delete(&format!("/projects/{pid}/members/{}", user.id))
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("remove");
    no_content(response).await;
    let data = envelope(
        &last_event(&app, &pid).await,
        "member.removed",
        &pid,
        4,
        &user,
    );
    assert_eq!(data, json!({"member": updated}));
}

// ---------------------------------------------------------------------------------------
// Tasks

#[tokio::test]
async fn task_created_carries_the_task() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Created").await;
    let task = app
        .create_task(
            &owner,
            &pid,
            json!({"title": "New", "labels": ["x"], "due_date": "2026-12-01"}),
        )
        .await;
    let data = envelope(
        &last_event(&app, &pid).await,
        "task.created",
        &pid,
        2,
        &owner,
    );
    assert_eq!(data, json!({"task": task}));
}

#[tokio::test]
async fn task_updated_carries_the_task_and_the_changed_field_names() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Updated").await;
    let task = app
        .create_task(
            &owner,
            &pid,
            json!({"description": "same", "due_date": "2026-12-01", "assignee_id": owner.id}),
        )
        .await;
    let id = id_of(&task);
    let response = patch_task(
        &app,
        &owner,
        &id,
        json!({"title": "Renamed", "priority": "high", "description": "same"}),
        None,
    )
    .await;
    let updated = body(response, 200).await;
    let data = envelope(
        &last_event(&app, &pid).await,
        "task.updated",
        &pid,
        3,
        &owner,
    );
    assert_eq!(keys(&data), ["changes", "task"]);
    assert_eq!(data["task"], updated);
    let changes = |data: &Value| -> Vec<String> {
        let mut names: Vec<String> = data["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| c.as_str().expect("name").to_string())
            .filter(|c| c != "version" && c != "updated_at")
            .collect();
        names.sort();
        names
    };
    assert_eq!(changes(&data), ["priority", "title"]);
    // Cleared fields count as changed.
    let response = patch_task(
        &app,
        &owner,
        &id,
        json!({"due_date": null, "assignee_id": null, "labels": ["a"]}),
        None,
    )
    .await;
    let updated = body(response, 200).await;
    let data = envelope(
        &last_event(&app, &pid).await,
        "task.updated",
        &pid,
        4,
        &owner,
    );
    assert_eq!(data["task"], updated);
    assert_eq!(changes(&data), ["assignee_id", "due_date", "labels"]);
}

#[tokio::test]
async fn task_moved_carries_the_task_and_both_columns() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Moved").await;
    let id = id_of(&app.create_task(&owner, &pid, json!({})).await);
    let response = move_with(&app, &owner, &id, json!({"status": "review"}), None).await;
    let task = body(response, 200).await;
    let data = envelope(&last_event(&app, &pid).await, "task.moved", &pid, 3, &owner);
    assert_eq!(data, json!({"task": task, "from": "todo", "to": "review"}));
    // A move inside a column: from and to are the same.
    let response = move_with(&app, &owner, &id, json!({"status": "review"}), None).await;
    let task = body(response, 200).await;
    let data = envelope(&last_event(&app, &pid).await, "task.moved", &pid, 4, &owner);
    assert_eq!(
        data,
        json!({"task": task, "from": "review", "to": "review"})
    );
}

#[tokio::test]
async fn task_deleted_carries_the_task_as_it_was() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Deleted").await;
    let id = id_of(
        &app.create_task(&owner, &pid, json!({"labels": ["keep"]}))
            .await,
    );
    let response = patch_task(&app, &owner, &id, json!({"title": "Last words"}), None).await;
    body(response, 200).await;
    let as_it_was = fetch_task(&app, &owner, &id).await;
    no_content(delete_task(&app, &owner, &id, None).await).await;
    let data = envelope(
        &last_event(&app, &pid).await,
        "task.deleted",
        &pid,
        4,
        &owner,
    );
    assert_eq!(data, json!({"task": as_it_was}));
}

// ---------------------------------------------------------------------------------------
// Comments

#[tokio::test]
async fn comment_created_updated_and_deleted_carry_the_comment() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let viewer = app.register().await;
    let pid = project_id(&app, &owner, "Comments").await;
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let task = id_of(&app.create_task(&owner, &pid, json!({})).await);
    let created = body(post_comment(&app, &viewer, &task, "First!").await, 201).await;
    let data = envelope(
        &last_event(&app, &pid).await,
        "comment.created",
        &pid,
        4,
        &viewer,
    );
    assert_eq!(data, json!({"comment": created}));
    assert_eq!(
        keys(&data["comment"]),
        [
            "author_id",
            "body",
            "created_at",
            "id",
            "task_id",
            "updated_at"
        ]
    );
    let cid = id_of(&created);
    let response = app
        .patch(&format!("/comments/{cid}"))
        .bearer_auth(&viewer.access)
        .json(&json!({"body": "Edited"}))
        .send()
        .await
        .expect("edit");
    let edited = body(response, 200).await;
    let data = envelope(
        &last_event(&app, &pid).await,
        "comment.updated",
        &pid,
        5,
        &viewer,
    );
    assert_eq!(data, json!({"comment": edited}));
    // The project owner may delete anyone's comment; the actor is the owner.
    let response = app
        .delete(&format!("/comments/{cid}"))
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("delete");
    no_content(response).await;
    let data = envelope(
        &last_event(&app, &pid).await,
        "comment.deleted",
        &pid,
        6,
        &owner,
    );
    assert_eq!(data, json!({"comment": edited}));
}

// ---------------------------------------------------------------------------------------
// Who, and when not

#[tokio::test]
async fn actor_id_is_the_caller() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let editor = app.register().await;
    let viewer = app.register().await;
    let admin = app.admin().await;
    let pid = project_id(&app, &owner, "Actors").await;
    app.add_member(&owner, &pid, &editor, "editor").await;
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let task = id_of(&app.create_task(&editor, &pid, json!({})).await);
    body(post_comment(&app, &viewer, &task, "hello").await, 201).await;
    // An admin who is not a member acts as owner.
    let response = move_with(&app, &admin, &task, json!({"status": "done"}), None).await;
    body(response, 200).await;
    let response = patch_task(&app, &owner, &task, json!({"title": "by owner"}), None).await;
    body(response, 200).await;
    let events = app.stored_events(&pid).await;
    let expected = [
        ("project.created", &owner),
        ("member.added", &owner),
        ("member.added", &owner),
        ("task.created", &editor),
        ("comment.created", &viewer),
        ("task.moved", &admin),
        ("task.updated", &owner),
    ];
    assert_eq!(events.len(), expected.len());
    for (i, (kind, actor)) in expected.into_iter().enumerate() {
        envelope(&events[i], kind, &pid, i as i64 + 1, actor);
    }
    // The activity entries name the same users, for the same actions.
    let mut logged: Vec<(String, Uuid)> = activity(&app, &pid)
        .await
        .into_iter()
        .map(|a| (a.action, a.user_id))
        .collect();
    logged.sort();
    let mut from_events: Vec<(String, Uuid)> = events
        .iter()
        .map(|(_, p)| {
            (
                p["type"].as_str().expect("type").to_string(),
                p["actor_id"]
                    .as_str()
                    .expect("actor")
                    .parse()
                    .expect("uuid"),
            )
        })
        .collect();
    from_events.sort();
    assert_eq!(logged, from_events);
}

#[tokio::test]
async fn every_change_is_one_event_and_one_activity_entry() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Story").await;
    let a = id_of(&app.create_task(&owner, &pid, json!({})).await);
    let b = id_of(&app.create_task(&owner, &pid, json!({})).await);
    body(
        move_with(&app, &owner, &a, json!({"status": "in_progress"}), None).await,
        200,
    )
    .await;
    body(
        patch_task(&app, &owner, &b, json!({"priority": "low"}), None).await,
        200,
    )
    .await;
    let c = id_of(&body(post_comment(&app, &owner, &a, "note").await, 201).await);
    no_content(
        app.delete(&format!("/comments/{c}"))
            .bearer_auth(&owner.access)
            .send()
            .await
            .expect("delete comment"),
    )
    .await;
    no_content(delete_task(&app, &owner, &b, None).await).await;
    let events = app.stored_events(&pid).await;
    let types: Vec<&str> = events
        .iter()
        .map(|(_, p)| p["type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "project.created",
            "task.created",
            "task.created",
            "task.moved",
            "task.updated",
            "comment.created",
            "comment.deleted",
            "task.deleted",
        ]
    );
    assert_eq!(
        events.iter().map(|e| e.0).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<i64>>()
    );
    let entries = activity(&app, &pid).await;
    let mut actions: Vec<String> = entries.iter().map(|e| e.action.clone()).collect();
    actions.sort();
    let mut expected: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(actions, expected);
    let moved = entries
        .iter()
        .find(|e| e.action == "task.moved")
        .expect("task.moved entry");
    let details: Value = serde_json::from_str(&moved.details).expect("details");
    assert_eq!(details["from"], "todo");
    assert_eq!(details["to"], "in_progress");
    assert_eq!(moved.task_id.map(|t| t.to_string()), Some(a));
}

#[tokio::test]
async fn failed_writes_create_no_event_and_no_activity() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let viewer = app.register().await;
    let outsider = app.register().await;
    let pid = project_id(&app, &owner, "Failures").await;
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let task = id_of(&app.create_task(&owner, &pid, json!({})).await);
    let other = id_of(
        &app.create_task(&owner, &pid, json!({"status": "done"}))
            .await,
    );
    body(
        patch_task(&app, &owner, &task, json!({"title": "v2"}), None).await,
        200,
    )
    .await;
    let events_before = app.stored_events(&pid).await;
    let activity_before = activity(&app, &pid).await.len();
    assert_eq!(events_before.len(), activity_before);

    // 422: in the body, and found inside the transaction (assignee, neighbours).
    assert_invalid(
        post_task(&app, &owner, json!({"project_id": pid, "title": ""})).await,
        &["title"],
    )
    .await;
    assert_invalid(
        post_task(
            &app,
            &owner,
            json!({"project_id": pid, "title": "t", "assignee_id": outsider.id}),
        )
        .await,
        &["assignee_id"],
    )
    .await;
    assert_invalid(
        patch_task(
            &app,
            &owner,
            &task,
            json!({"assignee_id": outsider.id, "title": "v3"}),
            None,
        )
        .await,
        &["assignee_id"],
    )
    .await;
    assert_invalid(
        patch_task(&app, &owner, &task, json!({"status": "done"}), None).await,
        &["status"],
    )
    .await;
    assert_invalid(
        move_with(
            &app,
            &owner,
            &task,
            json!({"status": "review", "before_id": other}),
            None,
        )
        .await,
        &["before_id"],
    )
    .await;
    assert_invalid(
        move_with(
            &app,
            &owner,
            &task,
            json!({"status": "todo", "after_id": task}),
            None,
        )
        .await,
        &["after_id"],
    )
    .await;
    assert_invalid(post_comment(&app, &owner, &task, "   ").await, &["body"]).await;
    // 403: a viewer writing.
    assert_problem(
        post_task(&app, &viewer, json!({"project_id": pid, "title": "t"})).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        patch_task(&app, &viewer, &task, json!({"title": "x"}), None).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        move_with(&app, &viewer, &task, json!({"status": "done"}), None).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        delete_task(&app, &viewer, &task, None).await,
        403,
        "forbidden",
    )
    .await;
    // 412: stale versions.
    assert_problem(
        patch_task(&app, &owner, &task, json!({"title": "x"}), Some("\"1\"")).await,
        412,
        "precondition_failed",
    )
    .await;
    assert_problem(
        move_with(
            &app,
            &owner,
            &task,
            json!({"status": "done"}),
            Some("\"1\""),
        )
        .await,
        412,
        "precondition_failed",
    )
    .await;
    assert_problem(
        delete_task(&app, &owner, &task, Some("W/\"2\"")).await,
        412,
        "precondition_failed",
    )
    .await;
    // 404: not a member.
    assert_problem(
        patch_task(&app, &outsider, &task, json!({"title": "x"}), None).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        post_comment(&app, &outsider, &task, "hi").await,
        404,
        "not_found",
    )
    .await;
    // 409: already a member.
    let response = app
        .post(&format!("/projects/{pid}/members"))
        .bearer_auth(&owner.access)
        .json(&json!({"user_id": viewer.id, "role": "editor"}))
        .send()
        .await
        .expect("add");
    assert_problem(response, 409, "conflict").await;

    assert_eq!(app.stored_events(&pid).await, events_before);
    assert_eq!(activity(&app, &pid).await.len(), activity_before);
    assert_eq!(fetch_task(&app, &owner, &task).await["version"], 2);
}

#[tokio::test]
async fn a_no_op_patch_creates_no_event() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "No-op").await;
    let task = app
        .create_task(
            &owner,
            &pid,
            json!({"title": "Same", "priority": "high", "labels": ["a", "b"]}),
        )
        .await;
    let id = id_of(&task);
    let events_before = app.stored_events(&pid).await;
    let activity_before = activity(&app, &pid).await.len();
    for patch in [
        json!({}),
        json!({"title": "Same"}),
        json!({"title": "  Same  ", "priority": "high", "labels": ["a", " b"], "due_date": null, "assignee_id": null, "description": ""}),
    ] {
        let response = patch_task(&app, &owner, &id, patch, Some("\"1\"")).await;
        assert_eq!(body(response, 200).await, task);
    }
    assert_eq!(app.stored_events(&pid).await, events_before);
    assert_eq!(activity(&app, &pid).await.len(), activity_before);
    // A no-op comment edit neither.
    let cid = id_of(&body(post_comment(&app, &owner, &id, "same text").await, 201).await);
    let events_before = app.stored_events(&pid).await;
    let response = app
        .patch(&format!("/comments/{cid}"))
        .bearer_auth(&owner.access)
        .json(&json!({"body": "same text"}))
        .send()
        .await
        .expect("edit");
    body(response, 200).await;
    assert_eq!(app.stored_events(&pid).await, events_before);
}
