//! `/tasks`: create, read, update, delete, `If-Match`, and the filtered, sorted, paginated list.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------
// Create

#[tokio::test]
async fn create_returns_201_with_etag_location_and_defaults() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Defaults").await;
    let response = post_task(&app, &owner, json!({"project_id": pid, "title": "First"})).await;
    assert_eq!(header(&response, "etag").as_deref(), Some("\"1\""));
    let location = header(&response, "location").expect("Location");
    let task = body(response, 201).await;
    let id = id_of(&task);
    assert_eq!(location, format!("/tasks/{id}"));
    assert!(Uuid::parse_str(&id).is_ok());
    assert_eq!(task["project_id"], pid.as_str());
    assert_eq!(task["title"], "First");
    assert_eq!(task["description"], "");
    assert_eq!(task["status"], "todo");
    assert_eq!(task["priority"], "medium");
    assert_eq!(task["labels"], json!([]));
    assert_eq!(task["version"], 1);
    assert_eq!(task["created_by"], owner.id.to_string());
    assert!(task["position"].as_str().is_some_and(|p| !p.is_empty()));
    // Optional fields are present and null.
    for field in ["assignee_id", "due_date", "completed_at"] {
        assert!(
            task.get(field).is_some_and(Value::is_null),
            "{field}: {task}"
        );
    }
    assert_eq!(task["created_at"], task["updated_at"]);
    let keys: HashSet<&str> = task
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = [
        "id",
        "project_id",
        "title",
        "description",
        "status",
        "priority",
        "assignee_id",
        "labels",
        "created_by",
        "due_date",
        "position",
        "version",
        "created_at",
        "updated_at",
        "completed_at",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    // The Location leads to the same task.
    assert_eq!(fetch_task(&app, &owner, &id).await, task);
}

#[tokio::test]
async fn create_trims_strings_and_keeps_every_given_field() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let editor = app.register().await;
    let pid = project_id(&app, &owner, "Fields").await;
    app.add_member(&owner, &pid, &editor, "editor").await;
    let task = app
        .create_task(
            &owner,
            &pid,
            json!({
                "title": "  Write the post  ",
                "description": "  some words ",
                "status": "review",
                "priority": "urgent",
                "assignee_id": editor.id,
                "labels": [" b ", "a", "c"],
                "due_date": "2026-12-01",
            }),
        )
        .await;
    assert_eq!(task["title"], "Write the post");
    assert_eq!(task["description"], "some words");
    assert_eq!(task["status"], "review");
    assert_eq!(task["priority"], "urgent");
    assert_eq!(task["assignee_id"], editor.id.to_string());
    assert_eq!(task["labels"], json!(["b", "a", "c"]));
    assert_eq!(task["due_date"], "2026-12-01");
    assert!(task["completed_at"].is_null());
    // An editor may create too, and the title may be exactly 200 characters.
    let long = "x".repeat(200);
    let by_editor = app.create_task(&editor, &pid, json!({"title": long})).await;
    assert_eq!(by_editor["created_by"], editor.id.to_string());
    assert_eq!(by_editor["title"].as_str().map(str::len), Some(200));
}

#[tokio::test]
async fn create_in_done_sets_completed_at() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Done").await;
    let done = app
        .create_task(&owner, &pid, json!({"status": "done"}))
        .await;
    assert_eq!(done["status"], "done");
    let completed = done["completed_at"].as_str().expect("completed_at set");
    assert_eq!(completed, done["created_at"].as_str().expect("created_at"));
    for status in ["todo", "in_progress", "review"] {
        let open = app
            .create_task(&owner, &pid, json!({"status": status}))
            .await;
        assert!(open["completed_at"].is_null(), "{status}: {open}");
    }
}

#[tokio::test]
async fn create_puts_the_task_at_the_end_of_its_column() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Append").await;
    let mut todo = Vec::new();
    for i in 0..4 {
        let t = app
            .create_task(&owner, &pid, json!({"title": format!("t{i}")}))
            .await;
        todo.push(id_of(&t));
    }
    let review = id_of(
        &app.create_task(&owner, &pid, json!({"status": "review"}))
            .await,
    );
    // Move the last one to the top; a new task still goes after all the others.
    let response = app
        .move_task(
            &owner,
            &todo[3],
            json!({"status": "todo", "before_id": todo[0]}),
        )
        .await;
    body(response, 200).await;
    let newest = id_of(&app.create_task(&owner, &pid, json!({"title": "new"})).await);
    let board = app.board(&owner, &pid).await;
    assert_eq!(
        column_ids(&board, "todo"),
        vec![
            todo[3].clone(),
            todo[0].clone(),
            todo[1].clone(),
            todo[2].clone(),
            newest
        ]
    );
    assert_eq!(column_ids(&board, "review"), vec![review]);
}

#[tokio::test]
async fn create_rejects_empty_blank_and_too_long_titles() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Titles").await;
    for title in [json!(""), json!("   "), json!("y".repeat(201)), json!(5)] {
        let response = post_task(&app, &owner, json!({"project_id": pid, "title": title})).await;
        assert_invalid(response, &["title"]).await;
    }
    let response = post_task(&app, &owner, json!({"project_id": pid})).await;
    assert_invalid(response, &["title"]).await;
    let response = post_task(&app, &owner, json!({"project_id": pid, "title": null})).await;
    assert_invalid(response, &["title"]).await;
}

#[tokio::test]
async fn create_rejects_a_too_long_description() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Descriptions").await;
    let response = post_task(
        &app,
        &owner,
        json!({"project_id": pid, "title": "t", "description": "d".repeat(10_001)}),
    )
    .await;
    assert_invalid(response, &["description"]).await;
    let response = post_task(
        &app,
        &owner,
        json!({"project_id": pid, "title": "t", "description": 1}),
    )
    .await;
    assert_invalid(response, &["description"]).await;
    let task = app
        .create_task(&owner, &pid, json!({"description": "d".repeat(10_000)}))
        .await;
    assert_eq!(task["description"].as_str().map(str::len), Some(10_000));
}

#[tokio::test]
async fn create_rejects_bad_status_and_priority_values() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Enums").await;
    for status in [json!("doing"), json!("TODO"), json!(1)] {
        let response = post_task(
            &app,
            &owner,
            json!({"project_id": pid, "title": "t", "status": status}),
        )
        .await;
        assert_invalid(response, &["status"]).await;
    }
    for priority in [json!("critical"), json!(""), json!(["high"])] {
        let response = post_task(
            &app,
            &owner,
            json!({"project_id": pid, "title": "t", "priority": priority}),
        )
        .await;
        assert_invalid(response, &["priority"]).await;
    }
}

#[tokio::test]
async fn create_rejects_bad_due_dates() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Dates").await;
    for due in [
        json!("2026-02-30"),
        json!("2026-1-5"),
        json!("01/12/2026"),
        json!("2026-12-01T00:00:00Z"),
        json!(20261201),
    ] {
        let response = post_task(
            &app,
            &owner,
            json!({"project_id": pid, "title": "t", "due_date": due}),
        )
        .await;
        assert_invalid(response, &["due_date"]).await;
    }
}

#[tokio::test]
async fn create_rejects_bad_labels() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Labels").await;
    let too_many: Vec<String> = (0..21).map(|i| format!("l{i}")).collect();
    let twenty: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
    for labels in [
        json!(too_many),
        json!(["dup", " dup "]),
        json!(["ok", "z".repeat(51)]),
        json!([""]),
        json!(["   "]),
        json!("not-an-array"),
        json!({"a": 1}),
        json!([1, 2]),
    ] {
        let response = post_task(
            &app,
            &owner,
            json!({"project_id": pid, "title": "t", "labels": labels}),
        )
        .await;
        assert_invalid(response, &["labels"]).await;
    }
    // The limits themselves are fine.
    let task = app
        .create_task(&owner, &pid, json!({"labels": twenty}))
        .await;
    assert_eq!(task["labels"].as_array().map(Vec::len), Some(20));
    let task = app
        .create_task(&owner, &pid, json!({"labels": ["w".repeat(50)]}))
        .await;
    assert_eq!(task["labels"][0].as_str().map(str::len), Some(50));
}

#[tokio::test]
async fn create_rejects_an_assignee_who_is_not_a_member() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let stranger = app.register().await;
    let pid = project_id(&app, &owner, "Assignees").await;
    for assignee in [json!(stranger.id), json!(Uuid::now_v7()), json!("nope")] {
        let response = post_task(
            &app,
            &owner,
            json!({"project_id": pid, "title": "t", "assignee_id": assignee}),
        )
        .await;
        assert_invalid(response, &["assignee_id"]).await;
    }
    // Members of any role may be assigned.
    app.add_member(&owner, &pid, &stranger, "viewer").await;
    let task = app
        .create_task(&owner, &pid, json!({"assignee_id": stranger.id}))
        .await;
    assert_eq!(task["assignee_id"], stranger.id.to_string());
}

#[tokio::test]
async fn create_rejects_unknown_fields() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Unknown").await;
    let response = post_task(
        &app,
        &owner,
        json!({"project_id": pid, "title": "t", "version": 7, "colour": "red"}),
    )
    .await;
    assert_invalid(response, &["colour", "version"]).await;
}

#[tokio::test]
async fn create_reports_every_bad_field_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let response = post_task(
        &app,
        &owner,
        json!({
            "project_id": "not-a-uuid",
            "title": "",
            "description": 42,
            "status": "nope",
            "priority": "nope",
            "assignee_id": "nope",
            "labels": ["a", "a"],
            "due_date": "tomorrow",
            "extra": true,
        }),
    )
    .await;
    assert_invalid(
        response,
        &[
            "project_id",
            "title",
            "description",
            "status",
            "priority",
            "assignee_id",
            "labels",
            "due_date",
            "extra",
        ],
    )
    .await;
    // Missing required fields are listed too.
    let response = post_task(&app, &owner, json!({})).await;
    assert_invalid(response, &["project_id", "title"]).await;
    // A body that is not an object: field "".
    let response = post_task(&app, &owner, json!(["title"])).await;
    assert_invalid(response, &[""]).await;
}

#[tokio::test]
async fn create_with_a_non_uuid_project_id_is_422() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    for project_id in [json!("123"), json!(123), json!("")] {
        let response = post_task(
            &app,
            &owner,
            json!({"project_id": project_id, "title": "t"}),
        )
        .await;
        assert_invalid(response, &["project_id"]).await;
    }
}

#[tokio::test]
async fn create_in_a_project_you_cannot_see_is_404() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let outsider = app.register().await;
    let pid = project_id(&app, &owner, "Private").await;
    let response = post_task(&app, &outsider, json!({"project_id": pid, "title": "t"})).await;
    assert_problem(response, 404, "not_found").await;
    let response = post_task(
        &app,
        &owner,
        json!({"project_id": Uuid::now_v7(), "title": "t"}),
    )
    .await;
    assert_problem(response, 404, "not_found").await;
    // An admin acts as owner everywhere.
    let admin = app.admin().await;
    let task = app.create_task(&admin, &pid, json!({})).await;
    assert_eq!(task["created_by"], admin.id.to_string());
}

#[tokio::test]
async fn create_as_viewer_is_403() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let viewer = app.register().await;
    let pid = project_id(&app, &owner, "Viewers").await;
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let response = post_task(&app, &viewer, json!({"project_id": pid, "title": "t"})).await;
    assert_problem(response, 403, "forbidden").await;
    let board = app.board(&owner, &pid).await;
    assert!(column_ids(&board, "todo").is_empty());
}

// ---------------------------------------------------------------------------------------
// Read

#[tokio::test]
async fn get_returns_the_task_with_its_etag() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let viewer = app.register().await;
    let outsider = app.register().await;
    let admin = app.admin().await;
    let pid = project_id(&app, &owner, "Read").await;
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let task = app
        .create_task(&owner, &pid, json!({"title": "Read me"}))
        .await;
    let id = id_of(&task);
    for user in [&owner, &viewer, &admin] {
        let response = get_task(&app, user, &id).await;
        assert_eq!(header(&response, "etag").as_deref(), Some("\"1\""));
        assert_eq!(body(response, 200).await, task);
    }
    let response = patch_task(&app, &owner, &id, json!({"title": "Read me again"}), None).await;
    body(response, 200).await;
    let response = get_task(&app, &viewer, &id).await;
    assert_eq!(header(&response, "etag").as_deref(), Some("\"2\""));
    // Not a member, unknown, or not a UUID: 404.
    assert_problem(get_task(&app, &outsider, &id).await, 404, "not_found").await;
    let unknown = Uuid::now_v7().to_string();
    assert_problem(get_task(&app, &owner, &unknown).await, 404, "not_found").await;
    assert_problem(get_task(&app, &owner, "42").await, 404, "not_found").await;
}

// ---------------------------------------------------------------------------------------
// Update

#[tokio::test]
async fn patch_updates_fields_and_bumps_the_version() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let editor = app.register().await;
    let pid = project_id(&app, &owner, "Patch").await;
    app.add_member(&owner, &pid, &editor, "editor").await;
    let task = app.create_task(&owner, &pid, json!({"title": "Old"})).await;
    let id = id_of(&task);
    let response = patch_task(
        &app,
        &editor,
        &id,
        json!({
            "title": "  New  ",
            "description": "Details",
            "priority": "high",
            "assignee_id": editor.id,
            "labels": ["x", " y"],
            "due_date": "2027-01-31",
        }),
        None,
    )
    .await;
    assert_eq!(header(&response, "etag").as_deref(), Some("\"2\""));
    let updated = body(response, 200).await;
    assert_eq!(updated["title"], "New");
    assert_eq!(updated["description"], "Details");
    assert_eq!(updated["priority"], "high");
    assert_eq!(updated["assignee_id"], editor.id.to_string());
    assert_eq!(updated["labels"], json!(["x", "y"]));
    assert_eq!(updated["due_date"], "2027-01-31");
    assert_eq!(updated["version"], 2);
    // What is not patchable stays.
    for field in [
        "id",
        "project_id",
        "status",
        "position",
        "created_by",
        "created_at",
    ] {
        assert_eq!(updated[field], task[field], "{field}");
    }
    assert_eq!(fetch_task(&app, &owner, &id).await, updated);
    // One more change, one more version.
    let response = patch_task(&app, &owner, &id, json!({"priority": "low"}), None).await;
    assert_eq!(header(&response, "etag").as_deref(), Some("\"3\""));
    let again = body(response, 200).await;
    assert_eq!(again["version"], 3);
    assert_eq!(again["priority"], "low");
    assert_eq!(again["title"], "New");
}

#[tokio::test]
async fn patch_null_clears_due_date_and_assignee() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Clear").await;
    let task = app
        .create_task(
            &owner,
            &pid,
            json!({"assignee_id": owner.id, "due_date": "2026-12-24", "labels": ["a"]}),
        )
        .await;
    let id = id_of(&task);
    let response = patch_task(
        &app,
        &owner,
        &id,
        json!({"assignee_id": null, "due_date": null}),
        None,
    )
    .await;
    let cleared = body(response, 200).await;
    assert!(cleared["assignee_id"].is_null());
    assert!(cleared["due_date"].is_null());
    assert_eq!(cleared["labels"], json!(["a"]));
    assert_eq!(cleared["version"], 2);
    // Labels are cleared with an empty list.
    let response = patch_task(&app, &owner, &id, json!({"labels": []}), None).await;
    assert_eq!(body(response, 200).await["labels"], json!([]));
}

#[tokio::test]
async fn patch_rejects_status_and_project_id() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Not patchable").await;
    let other = project_id(&app, &owner, "Other").await;
    let task = app.create_task(&owner, &pid, json!({})).await;
    let id = id_of(&task);
    let response = patch_task(&app, &owner, &id, json!({"status": "done"}), None).await;
    assert_invalid(response, &["status"]).await;
    let response = patch_task(&app, &owner, &id, json!({"project_id": other}), None).await;
    assert_invalid(response, &["project_id"]).await;
    let response = patch_task(
        &app,
        &owner,
        &id,
        json!({"title": "ok", "status": "todo", "project_id": pid}),
        None,
    )
    .await;
    assert_invalid(response, &["status", "project_id"]).await;
    assert_eq!(fetch_task(&app, &owner, &id).await, task);
}

#[tokio::test]
async fn patch_rejects_null_and_invalid_values() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let stranger = app.register().await;
    let pid = project_id(&app, &owner, "Invalid").await;
    let task = app.create_task(&owner, &pid, json!({})).await;
    let id = id_of(&task);
    let cases = [
        (json!({"title": null}), vec!["title"]),
        (json!({"title": " "}), vec!["title"]),
        (json!({"priority": null}), vec!["priority"]),
        (json!({"priority": "asap"}), vec!["priority"]),
        (json!({"labels": ["a", "a"]}), vec!["labels"]),
        (json!({"due_date": "2026-13-01"}), vec!["due_date"]),
        (json!({"assignee_id": stranger.id}), vec!["assignee_id"]),
        (json!({"version": 9}), vec!["version"]),
        (
            json!({"title": "", "priority": "x", "whatever": 1}),
            vec!["title", "priority", "whatever"],
        ),
    ];
    for (patch, fields) in cases {
        let response = patch_task(&app, &owner, &id, patch.clone(), None).await;
        assert_invalid(response, &fields).await;
    }
    assert_eq!(fetch_task(&app, &owner, &id).await, task);
}

#[tokio::test]
async fn empty_or_same_value_patch_changes_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "No-op").await;
    let task = app
        .create_task(&owner, &pid, json!({"title": "Same", "labels": ["a"]}))
        .await;
    let id = id_of(&task);
    let response = patch_task(&app, &owner, &id, json!({}), None).await;
    assert_eq!(header(&response, "etag").as_deref(), Some("\"1\""));
    assert_eq!(body(response, 200).await, task);
    let response = patch_task(
        &app,
        &owner,
        &id,
        json!({"title": " Same ", "labels": ["a"], "priority": "medium", "due_date": null}),
        None,
    )
    .await;
    assert_eq!(body(response, 200).await, task);
    assert_eq!(fetch_task(&app, &owner, &id).await, task);
}

#[tokio::test]
async fn patch_by_viewer_is_403_and_by_outsider_404() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let viewer = app.register().await;
    let outsider = app.register().await;
    let pid = project_id(&app, &owner, "Perms").await;
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let task = app.create_task(&owner, &pid, json!({})).await;
    let id = id_of(&task);
    let response = patch_task(&app, &viewer, &id, json!({"title": "x"}), None).await;
    assert_problem(response, 403, "forbidden").await;
    let response = patch_task(&app, &outsider, &id, json!({"title": "x"}), None).await;
    assert_problem(response, 404, "not_found").await;
    let response = patch_task(&app, &owner, "not-a-uuid", json!({"title": "x"}), None).await;
    assert_problem(response, 404, "not_found").await;
    assert_eq!(fetch_task(&app, &owner, &id).await, task);
}

// ---------------------------------------------------------------------------------------
// If-Match

#[tokio::test]
async fn patch_with_a_stale_if_match_is_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Stale").await;
    let task = app.create_task(&owner, &pid, json!({"title": "v1"})).await;
    let id = id_of(&task);
    let response = patch_task(&app, &owner, &id, json!({"title": "v2"}), Some("\"1\"")).await;
    let v2 = body(response, 200).await;
    let response = patch_task(
        &app,
        &owner,
        &id,
        json!({"title": "lost update", "priority": "urgent"}),
        Some("\"1\""),
    )
    .await;
    assert_problem(response, 412, "precondition_failed").await;
    let now = fetch_task(&app, &owner, &id).await;
    assert_eq!(now, v2);
    assert_eq!(now["title"], "v2");
    assert_eq!(now["priority"], "medium");
    assert_eq!(now["version"], 2);
}

#[tokio::test]
async fn patch_if_match_star_matches_any_version() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Star").await;
    let id = id_of(&app.create_task(&owner, &pid, json!({})).await);
    for (i, title) in ["a", "b", "c"].into_iter().enumerate() {
        let response = patch_task(&app, &owner, &id, json!({"title": title}), Some("*")).await;
        assert_eq!(body(response, 200).await["version"], i + 2);
    }
}

#[tokio::test]
async fn patch_if_match_weak_tag_never_matches() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Weak").await;
    let id = id_of(&app.create_task(&owner, &pid, json!({})).await);
    let response = patch_task(&app, &owner, &id, json!({"title": "two"}), None).await;
    let v2 = body(response, 200).await;
    for tag in ["W/\"2\"", "2", "\"02\"", "\"3\""] {
        let response = patch_task(&app, &owner, &id, json!({"title": "three"}), Some(tag)).await;
        assert_problem(response, 412, "precondition_failed").await;
    }
    assert_eq!(fetch_task(&app, &owner, &id).await, v2);
}

#[tokio::test]
async fn patch_with_the_current_version_passes() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Current").await;
    let id = id_of(&app.create_task(&owner, &pid, json!({})).await);
    let response = patch_task(&app, &owner, &id, json!({"title": "two"}), Some("\"1\"")).await;
    assert_eq!(header(&response, "etag").as_deref(), Some("\"2\""));
    body(response, 200).await;
    let response = patch_task(&app, &owner, &id, json!({"title": "three"}), Some("\"2\"")).await;
    assert_eq!(body(response, 200).await["version"], 3);
    // A list of strong tags matches when one of them does.
    let response = patch_task(
        &app,
        &owner,
        &id,
        json!({"title": "four"}),
        Some("\"1\", \"3\""),
    )
    .await;
    assert_eq!(body(response, 200).await["version"], 4);
}

#[tokio::test]
async fn move_honours_if_match() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Move If-Match").await;
    let task = app.create_task(&owner, &pid, json!({})).await;
    let id = id_of(&task);
    let response = patch_task(&app, &owner, &id, json!({"title": "edited"}), None).await;
    let v2 = body(response, 200).await;
    for tag in ["\"1\"", "W/\"2\""] {
        let response = move_with(&app, &owner, &id, json!({"status": "done"}), Some(tag)).await;
        assert_problem(response, 412, "precondition_failed").await;
    }
    assert_eq!(fetch_task(&app, &owner, &id).await, v2);
    let board = app.board(&owner, &pid).await;
    assert_eq!(column_ids(&board, "todo"), vec![id.clone()]);
    let response = move_with(
        &app,
        &owner,
        &id,
        json!({"status": "review"}),
        Some("\"2\""),
    )
    .await;
    assert_eq!(header(&response, "etag").as_deref(), Some("\"3\""));
    assert_eq!(body(response, 200).await["status"], "review");
    let response = move_with(&app, &owner, &id, json!({"status": "done"}), Some("*")).await;
    assert_eq!(body(response, 200).await["version"], 4);
}

#[tokio::test]
async fn delete_honours_if_match() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Delete If-Match").await;
    let id = id_of(&app.create_task(&owner, &pid, json!({})).await);
    let response = patch_task(&app, &owner, &id, json!({"title": "edited"}), None).await;
    let v2 = body(response, 200).await;
    for tag in ["\"1\"", "W/\"2\""] {
        let response = delete_task(&app, &owner, &id, Some(tag)).await;
        assert_problem(response, 412, "precondition_failed").await;
    }
    assert_eq!(fetch_task(&app, &owner, &id).await, v2);
    no_content(delete_task(&app, &owner, &id, Some("\"2\"")).await).await;
    assert_problem(get_task(&app, &owner, &id).await, 404, "not_found").await;
    // `*` matches any version.
    let other = id_of(&app.create_task(&owner, &pid, json!({})).await);
    no_content(delete_task(&app, &owner, &other, Some("*")).await).await;
}

// ---------------------------------------------------------------------------------------
// Delete

#[tokio::test]
async fn delete_answers_204_then_404() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Delete").await;
    let id = id_of(&app.create_task(&owner, &pid, json!({})).await);
    let keep = id_of(&app.create_task(&owner, &pid, json!({})).await);
    no_content(delete_task(&app, &owner, &id, None).await).await;
    assert_problem(get_task(&app, &owner, &id).await, 404, "not_found").await;
    assert_problem(delete_task(&app, &owner, &id, None).await, 404, "not_found").await;
    let response = patch_task(&app, &owner, &id, json!({"title": "x"}), None).await;
    assert_problem(response, 404, "not_found").await;
    let response = move_with(&app, &owner, &id, json!({"status": "done"}), None).await;
    assert_problem(response, 404, "not_found").await;
    let board = app.board(&owner, &pid).await;
    assert_eq!(column_ids(&board, "todo"), vec![keep]);
}

#[tokio::test]
async fn delete_by_viewer_is_403_and_by_outsider_404() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let viewer = app.register().await;
    let outsider = app.register().await;
    let pid = project_id(&app, &owner, "Delete perms").await;
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let id = id_of(&app.create_task(&owner, &pid, json!({})).await);
    assert_problem(
        delete_task(&app, &viewer, &id, None).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        delete_task(&app, &outsider, &id, None).await,
        404,
        "not_found",
    )
    .await;
    fetch_task(&app, &owner, &id).await;
}

// ---------------------------------------------------------------------------------------
// List: filters

/// `GET /tasks?{query}` that must succeed: the page.
async fn list(app: &TestApp, user: &TestUser, query: &str) -> Value {
    let response = app
        .get(&format!("/tasks?{query}"))
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("list tasks");
    body(response, 200).await
}

fn set(ids: &[String]) -> HashSet<String> {
    ids.iter().cloned().collect()
}

/// Every page of `GET /tasks?{query}` with `limit`, concatenated; checks page sizes.
async fn walk(app: &TestApp, user: &TestUser, query: &str, limit: usize) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut q = format!("{query}&limit={limit}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = list(app, user, &q).await;
        let items = item_ids(&page);
        assert!(items.len() <= limit, "page too long: {page}");
        all.extend(items.clone());
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), limit, "a page before the last is full");
                cursor = Some(next.to_string());
            }
            None => return all,
        }
    }
    panic!("pagination of {query} does not end");
}

struct Fixture {
    app: TestApp,
    owner: TestUser,
    mate: TestUser,
    p1: String,
    p2: String,
    hidden: String,
    /// Every task of p1 and p2 (visible to `owner`), by title.
    tasks: Vec<Value>,
}

impl Fixture {
    fn id(&self, title: &str) -> String {
        id_of(
            self.tasks
                .iter()
                .find(|t| t["title"] == title)
                .unwrap_or_else(|| panic!("task {title}")),
        )
    }

    fn ids(&self, titles: &[&str]) -> HashSet<String> {
        titles.iter().map(|t| self.id(t)).collect()
    }

    fn all_ids(&self) -> HashSet<String> {
        self.tasks.iter().map(id_of).collect()
    }
}

/// Two projects of `owner` (with `mate` as editor of p1) and one project `owner` is not in.
async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let mate = app.register().await;
    let stranger = app.register().await;
    let p1 = project_id(&app, &owner, "P1").await;
    let p2 = project_id(&app, &owner, "P2").await;
    let hidden = project_id(&app, &stranger, "Hidden").await;
    app.add_member(&owner, &p1, &mate, "editor").await;
    let specs = [
        (
            &p1,
            json!({"title": "Alpha", "priority": "low", "labels": ["bug"], "due_date": "2026-12-01", "assignee_id": owner.id}),
        ),
        (
            &p1,
            json!({"title": "Bravo", "priority": "urgent", "status": "in_progress", "labels": ["bug", "ui"], "due_date": "2026-11-15", "assignee_id": mate.id}),
        ),
        (
            &p1,
            json!({"title": "Charlie", "priority": "high", "description": "Fix the LOGIN page", "due_date": "2026-12-02"}),
        ),
        (
            &p1,
            json!({"title": "Delta", "priority": "medium", "status": "done", "labels": ["ui"]}),
        ),
        (
            &p1,
            json!({"title": "Echo 100%", "priority": "high", "assignee_id": owner.id, "due_date": "2026-11-30"}),
        ),
        (
            &p1,
            json!({"title": "Foxtrot", "priority": "urgent", "status": "in_progress"}),
        ),
        (
            &p2,
            json!({"title": "Golf login", "priority": "low", "due_date": "2026-12-01", "assignee_id": owner.id}),
        ),
        (
            &p2,
            json!({"title": "Hotel", "priority": "medium", "labels": ["Bug"]}),
        ),
        (
            &p2,
            json!({"title": "India", "priority": "urgent", "status": "review", "due_date": "2027-03-01"}),
        ),
    ];
    let mut tasks = Vec::new();
    for (pid, spec) in specs {
        tasks.push(app.create_task(&owner, pid, spec).await);
    }
    app.create_task(
        &stranger,
        &hidden,
        json!({"title": "Secret login", "labels": ["bug"], "assignee_id": stranger.id}),
    )
    .await;
    Fixture {
        app,
        owner,
        mate,
        p1,
        p2,
        hidden,
        tasks,
    }
}

#[tokio::test]
async fn list_filters_by_project_id() {
    let f = fixture().await;
    let page = list(&f.app, &f.owner, &format!("project_id={}&limit=200", f.p2)).await;
    assert_eq!(
        set(&item_ids(&page)),
        f.ids(&["Golf login", "Hotel", "India"])
    );
    assert!(page["next_cursor"].is_null());
    // A project the caller is not a member of lists nothing.
    let page = list(&f.app, &f.owner, &format!("project_id={}", f.hidden)).await;
    assert!(item_ids(&page).is_empty(), "{page}");
}

#[tokio::test]
async fn list_filters_by_status_and_priority() {
    let f = fixture().await;
    let page = list(&f.app, &f.owner, "status=in_progress").await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Bravo", "Foxtrot"]));
    let page = list(&f.app, &f.owner, "priority=urgent").await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Bravo", "Foxtrot", "India"]));
    let page = list(&f.app, &f.owner, "priority=urgent&status=review").await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["India"]));
    let page = list(
        &f.app,
        &f.owner,
        &format!("project_id={}&priority=high", f.p1),
    )
    .await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Charlie", "Echo 100%"]));
}

#[tokio::test]
async fn list_filters_by_assignee_id_and_me() {
    let f = fixture().await;
    let mine = f.ids(&["Alpha", "Echo 100%", "Golf login"]);
    let page = list(&f.app, &f.owner, &format!("assignee_id={}", f.owner.id)).await;
    assert_eq!(set(&item_ids(&page)), mine);
    let page = list(&f.app, &f.owner, "assignee_id=me").await;
    assert_eq!(set(&item_ids(&page)), mine);
    let page = list(&f.app, &f.mate, "assignee_id=me").await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Bravo"]));
    let page = list(&f.app, &f.owner, &format!("assignee_id={}", f.mate.id)).await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Bravo"]));
}

#[tokio::test]
async fn list_filters_by_label() {
    let f = fixture().await;
    let page = list(&f.app, &f.owner, "label=bug").await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Alpha", "Bravo"]));
    let page = list(&f.app, &f.owner, "label=ui").await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Bravo", "Delta"]));
    let page = list(&f.app, &f.owner, "label=Bug").await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Hotel"]));
    let page = list(&f.app, &f.owner, "label=none").await;
    assert!(item_ids(&page).is_empty());
    // A relabelled task follows its new labels.
    let alpha = f.id("Alpha");
    let response = patch_task(&f.app, &f.owner, &alpha, json!({"labels": ["ui"]}), None).await;
    body(response, 200).await;
    let page = list(&f.app, &f.owner, "label=bug").await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Bravo"]));
    let page = list(&f.app, &f.owner, "label=ui").await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Alpha", "Bravo", "Delta"]));
}

#[tokio::test]
async fn list_q_matches_title_or_description_case_insensitively() {
    let f = fixture().await;
    // "login": in Golf's title, in Charlie's description (upper case); Secret is hidden.
    for q in ["login", "LOGIN", "LoGiN"] {
        let page = list(&f.app, &f.owner, &format!("q={}", encode(q))).await;
        assert_eq!(
            set(&item_ids(&page)),
            f.ids(&["Charlie", "Golf login"]),
            "q={q}"
        );
    }
    let page = list(&f.app, &f.owner, &format!("q={}", encode("the login"))).await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Charlie"]));
    // LIKE wildcards are literal.
    let page = list(&f.app, &f.owner, &format!("q={}", encode("%"))).await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Echo 100%"]));
    let page = list(&f.app, &f.owner, &format!("q={}", encode("_"))).await;
    assert!(item_ids(&page).is_empty(), "{page}");
}

#[tokio::test]
async fn list_q_folds_case_beyond_ascii() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Unicode").await;
    let mut ids_by_title = Vec::new();
    for (title, description) in [
        ("Ärger im Büro", ""),
        ("Straße", "ÉCOLE d'été"),
        ("Задача", "Важно"),
        ("plain", "nothing"),
        ("ärgerlich", "klein"),
    ] {
        let task = app
            .create_task(
                &owner,
                &pid,
                json!({"title": title, "description": description}),
            )
            .await;
        ids_by_title.push(id_of(&task));
    }
    let expect = |indexes: &[usize]| -> HashSet<String> {
        indexes.iter().map(|i| ids_by_title[*i].clone()).collect()
    };
    for (q, expected) in [
        ("ärger", expect(&[0, 4])),
        ("ÄRGER", expect(&[0, 4])),
        ("büro", expect(&[0])),
        ("BÜRO", expect(&[0])),
        ("école", expect(&[1])),
        ("ÉTÉ", expect(&[1])),
        ("задача", expect(&[2])),
        ("ВАЖНО", expect(&[2])),
        ("straße", expect(&[1])),
        ("ä", expect(&[0, 4])),
        ("ö", HashSet::new()),
    ] {
        let page = list(&app, &owner, &format!("q={}&limit=200", encode(q))).await;
        assert_eq!(set(&item_ids(&page)), expected, "q={q}");
        // Paged one by one, the same tasks in the same order.
        let walked = walk(&app, &owner, &format!("q={}", encode(q)), 1).await;
        assert_eq!(walked, item_ids(&page), "q={q} by 1");
    }
}

#[tokio::test]
async fn list_unicode_q_pages_through_many_non_matching_tasks() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Many").await;
    let mut matching = Vec::new();
    for i in 0..520 {
        let title = if i % 200 == 7 {
            format!("ÄRGER {i}")
        } else {
            format!("task {i}")
        };
        let task = app.create_task(&owner, &pid, json!({"title": title})).await;
        if i % 200 == 7 {
            matching.push(id_of(&task));
        }
    }
    matching.reverse(); // newest first
    let page = list(&app, &owner, &format!("q={}&limit=200", encode("ärger"))).await;
    assert_eq!(item_ids(&page), matching);
    for limit in [1, 2] {
        let walked = walk(&app, &owner, &format!("q={}", encode("ärger")), limit).await;
        assert_eq!(walked, matching, "by {limit}");
    }
    let walked = walk(
        &app,
        &owner,
        &format!("q={}&sort=created_at", encode("ÄrGeR")),
        2,
    )
    .await;
    assert_eq!(walked, matching.iter().rev().cloned().collect::<Vec<_>>());
}

#[tokio::test]
async fn list_due_before_is_exclusive() {
    let f = fixture().await;
    let page = list(&f.app, &f.owner, "due_before=2026-12-01").await;
    assert_eq!(set(&item_ids(&page)), f.ids(&["Bravo", "Echo 100%"]));
    let page = list(&f.app, &f.owner, "due_before=2026-12-02").await;
    assert_eq!(
        set(&item_ids(&page)),
        f.ids(&["Alpha", "Bravo", "Echo 100%", "Golf login"])
    );
    let page = list(&f.app, &f.owner, "due_before=2026-11-15").await;
    assert!(item_ids(&page).is_empty());
}

#[tokio::test]
async fn list_rejects_bad_filter_values() {
    let f = fixture().await;
    let cases = [
        ("status=doing", "status"),
        ("priority=asap", "priority"),
        ("assignee_id=someone", "assignee_id"),
        ("project_id=42", "project_id"),
        ("due_before=2026-02-30", "due_before"),
        ("sort=title", "sort"),
        ("sort=-", "sort"),
        ("sort=%2Bpriority", "sort"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
    ];
    for (query, field) in cases {
        let response = f
            .app
            .get(&format!("/tasks?{query}"))
            .bearer_auth(&f.owner.access)
            .send()
            .await
            .expect("send");
        assert_invalid(response, &[field]).await;
    }
    let response = f
        .app
        .get("/tasks?status=x&priority=y&sort=z")
        .bearer_auth(&f.owner.access)
        .send()
        .await
        .expect("send");
    assert_invalid(response, &["status", "priority", "sort"]).await;
    // limit=200 is fine.
    list(&f.app, &f.owner, "limit=200").await;
}

#[tokio::test]
async fn list_with_a_bad_cursor_is_400() {
    let f = fixture().await;
    let first = list(&f.app, &f.owner, "sort=created_at&limit=2").await;
    let created_cursor = first["next_cursor"].as_str().expect("cursor").to_string();
    let forged = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("c1:[\"x\",\"not-a-uuid\"]")
    };
    for cursor in [
        "garbage!".to_string(),
        "Zm9v".to_string(),
        forged,
        // A created_at cursor carries a number; a due_date sort cannot use it.
        format!("{created_cursor}&sort=due_date"),
    ] {
        let response = f
            .app
            .get(&format!("/tasks?limit=2&cursor={cursor}"))
            .bearer_auth(&f.owner.access)
            .send()
            .await
            .expect("send");
        assert_problem(response, 400, "bad_request").await;
    }
}

#[tokio::test]
async fn list_never_shows_tasks_of_projects_i_am_not_in_and_admin_sees_all() {
    let f = fixture().await;
    let page = list(&f.app, &f.owner, "limit=200").await;
    assert_eq!(set(&item_ids(&page)), f.all_ids());
    // mate is only in p1.
    let page = list(&f.app, &f.mate, "limit=200").await;
    let p1: HashSet<String> = f
        .tasks
        .iter()
        .filter(|t| t["project_id"] == f.p1.as_str())
        .map(id_of)
        .collect();
    assert_eq!(set(&item_ids(&page)), p1);
    let page = list(&f.app, &f.mate, &format!("project_id={}", f.p2)).await;
    assert!(item_ids(&page).is_empty());
    // Someone in no project sees nothing at all.
    let loner = f.app.register().await;
    assert!(item_ids(&list(&f.app, &loner, "limit=200").await).is_empty());
    // An admin sees every task, the hidden project's too.
    let admin = f.app.admin().await;
    let page = list(&f.app, &admin, "limit=200").await;
    assert_eq!(item_ids(&page).len(), f.tasks.len() + 1);
    let page = list(&f.app, &admin, &format!("project_id={}", f.hidden)).await;
    assert_eq!(item_ids(&page).len(), 1);
    assert_eq!(page["items"][0]["title"], "Secret login");
    // Removing a member hides the project's tasks at once.
    let response = f
        .app
        .delete(&format!("/projects/{}/members/{}", f.p1, f.mate.id))
        .bearer_auth(&f.owner.access)
        .send()
        .await
        .expect("remove member");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(item_ids(&list(&f.app, &f.mate, "limit=200").await).is_empty());
}

// ---------------------------------------------------------------------------------------
// List: sorting

/// The tasks as listed with `query` (one page of up to 200).
async fn listed(f: &Fixture, query: &str) -> Vec<Value> {
    list(&f.app, &f.owner, &format!("{query}&limit=200")).await["items"]
        .as_array()
        .expect("items")
        .clone()
}

fn str_of<'a>(t: &'a Value, field: &str) -> &'a str {
    t[field].as_str().unwrap_or("")
}

fn rank(t: &Value) -> u8 {
    match t["priority"].as_str() {
        Some("low") => 0,
        Some("medium") => 1,
        Some("high") => 2,
        Some("urgent") => 3,
        other => panic!("priority {other:?}"),
    }
}

#[tokio::test]
async fn list_default_sort_is_newest_first() {
    let f = fixture().await;
    let items = listed(&f, "x=1").await;
    let mut expected = f.tasks.clone();
    expected.sort_by(|a, b| {
        (str_of(b, "created_at"), str_of(b, "id")).cmp(&(str_of(a, "created_at"), str_of(a, "id")))
    });
    let expected: Vec<String> = expected.iter().map(id_of).collect();
    assert_eq!(items.iter().map(id_of).collect::<Vec<_>>(), expected);
    // With only one of project_id/status, still newest first.
    let items = listed(&f, &format!("project_id={}", f.p2)).await;
    let titles: Vec<&str> = items.iter().map(|t| str_of(t, "title")).collect();
    assert_eq!(titles, ["India", "Hotel", "Golf login"]);
}

#[tokio::test]
async fn list_default_sort_is_board_order_with_project_and_status() {
    let f = fixture().await;
    let mut column = Vec::new();
    for i in 0..4 {
        column.push(id_of(
            &f.app
                .create_task(&f.owner, &f.p2, json!({"title": format!("col {i}")}))
                .await,
        ));
    }
    // Reorder: col 3 to the top, col 0 after col 1.
    let hotel = f.id("Hotel");
    let golf = f.id("Golf login");
    let response = f
        .app
        .move_task(
            &f.owner,
            &column[3],
            json!({"status": "todo", "before_id": golf}),
        )
        .await;
    body(response, 200).await;
    let response = f
        .app
        .move_task(
            &f.owner,
            &column[0],
            json!({"status": "todo", "after_id": column[1]}),
        )
        .await;
    body(response, 200).await;
    let expected = vec![
        column[3].clone(),
        golf,
        hotel,
        column[1].clone(),
        column[0].clone(),
        column[2].clone(),
    ];
    let items = listed(&f, &format!("project_id={}&status=todo", f.p2)).await;
    assert_eq!(items.iter().map(id_of).collect::<Vec<_>>(), expected);
    let board = f.app.board(&f.owner, &f.p2).await;
    assert_eq!(column_ids(&board, "todo"), expected);
    let explicit = listed(
        &f,
        &format!("project_id={}&status=todo&sort=position", f.p2),
    )
    .await;
    assert_eq!(explicit.iter().map(id_of).collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn list_sorts_by_created_at_both_ways() {
    let f = fixture().await;
    let asc = listed(&f, "sort=created_at").await;
    let mut expected = f.tasks.clone();
    expected.sort_by(|a, b| {
        (str_of(a, "created_at"), str_of(a, "id")).cmp(&(str_of(b, "created_at"), str_of(b, "id")))
    });
    let expected: Vec<String> = expected.iter().map(id_of).collect();
    let asc: Vec<String> = asc.iter().map(id_of).collect();
    assert_eq!(asc, expected);
    let desc: Vec<String> = listed(&f, "sort=-created_at")
        .await
        .iter()
        .map(id_of)
        .collect();
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(desc, reversed);
}

#[tokio::test]
async fn list_sorts_by_due_date_with_undated_tasks_last_both_ways() {
    let f = fixture().await;
    let undated: HashSet<String> = f
        .tasks
        .iter()
        .filter(|t| t["due_date"].is_null())
        .map(id_of)
        .collect();
    let dated = f.tasks.len() - undated.len();
    for (sort, descending) in [("due_date", false), ("-due_date", true)] {
        let items = listed(&f, &format!("sort={sort}")).await;
        assert_eq!(items.len(), f.tasks.len());
        let (head, tail) = items.split_at(dated);
        assert_eq!(
            tail.iter().map(id_of).collect::<HashSet<_>>(),
            undated,
            "{sort}: undated last"
        );
        // Dates in order; equal dates by id (the same direction).
        for pair in head.windows(2) {
            let a = (str_of(&pair[0], "due_date"), str_of(&pair[0], "id"));
            let b = (str_of(&pair[1], "due_date"), str_of(&pair[1], "id"));
            assert!(!a.0.is_empty() && !b.0.is_empty(), "{sort}: dated first");
            if descending {
                assert!(a > b, "{sort}: {a:?} before {b:?}");
            } else {
                assert!(a < b, "{sort}: {a:?} before {b:?}");
            }
        }
    }
    let titles: Vec<String> = listed(&f, "sort=due_date")
        .await
        .iter()
        .map(|t| str_of(t, "title").to_string())
        .collect();
    assert_eq!(titles[..2], ["Bravo", "Echo 100%"]);
    assert_eq!(titles[dated - 1], "India");
}

#[tokio::test]
async fn list_sorts_by_priority_rank_with_ties_by_id() {
    let f = fixture().await;
    let asc = listed(&f, "sort=priority").await;
    assert_eq!(asc.len(), f.tasks.len());
    for pair in asc.windows(2) {
        let a = (rank(&pair[0]), str_of(&pair[0], "id"));
        let b = (rank(&pair[1]), str_of(&pair[1], "id"));
        assert!(a < b, "priority: {a:?} before {b:?}");
    }
    // Rank, not alphabetical order (which would put high before low before medium).
    let first_of_each: Vec<&str> = asc.iter().map(|t| str_of(t, "priority")).collect();
    let mut dedup = first_of_each.clone();
    dedup.dedup();
    assert_eq!(dedup, ["low", "medium", "high", "urgent"]);
    let desc: Vec<String> = listed(&f, "sort=-priority")
        .await
        .iter()
        .map(id_of)
        .collect();
    let mut reversed: Vec<String> = asc.iter().map(id_of).collect();
    reversed.reverse();
    assert_eq!(desc, reversed);
}

// ---------------------------------------------------------------------------------------
// List: pagination

#[tokio::test]
async fn pagination_walks_every_task_exactly_once_in_every_sort() {
    let f = fixture().await;
    // More tasks, with ties in every sort key.
    for i in 0..9 {
        let priority = ["low", "medium", "high", "urgent"][i % 4];
        let due = if i % 3 == 0 {
            Value::Null
        } else {
            json!(format!("2026-12-0{}", 1 + i % 2))
        };
        f.app
            .create_task(
                &f.owner,
                &f.p1,
                json!({"title": format!("extra {i}"), "priority": priority, "due_date": due}),
            )
            .await;
    }
    let total = f.tasks.len() + 9;
    let sorts = [
        format!("project_id={}&status=todo", f.p1),
        format!("project_id={}&status=todo&sort=-created_at", f.p1),
        "x=1".to_string(),
        "sort=created_at".to_string(),
        "sort=-created_at".to_string(),
        "sort=due_date".to_string(),
        "sort=-due_date".to_string(),
        "sort=priority".to_string(),
        "sort=-priority".to_string(),
        "sort=priority&label=bug".to_string(),
        format!("sort=due_date&project_id={}", f.p1),
    ];
    for query in sorts {
        let whole: Vec<String> =
            item_ids(&list(&f.app, &f.owner, &format!("{query}&limit=200")).await);
        for limit in [1, 2, 5] {
            let walked = walk(&f.app, &f.owner, &query, limit).await;
            assert_eq!(walked, whole, "{query} by {limit}");
        }
        assert_eq!(set(&whole).len(), whole.len(), "{query}: no duplicates");
    }
    let everything = walk(&f.app, &f.owner, "sort=priority", 2).await;
    assert_eq!(everything.len(), total);
}

#[tokio::test]
async fn pagination_is_stable_under_inserts() {
    let f = fixture().await;
    let whole = item_ids(&list(&f.app, &f.owner, "sort=created_at&limit=200").await);
    let first = list(&f.app, &f.owner, "sort=created_at&limit=3").await;
    let mut seen = item_ids(&first);
    let mut cursor = first["next_cursor"].as_str().map(str::to_string);
    // New tasks arrive while the client pages: nothing is repeated or skipped, and the new
    // ones (newest, so last) show up at the end.
    let mut added = Vec::new();
    while let Some(c) = cursor {
        added.push(id_of(
            &f.app
                .create_task(&f.owner, &f.p2, json!({"title": "late"}))
                .await,
        ));
        let page = list(
            &f.app,
            &f.owner,
            &format!("sort=created_at&limit=3&cursor={c}"),
        )
        .await;
        seen.extend(item_ids(&page));
        cursor = page["next_cursor"].as_str().map(str::to_string);
    }
    assert_eq!(seen[..whole.len()], whole[..]);
    assert_eq!(set(&seen).len(), seen.len(), "no duplicates");
    assert_eq!(set(&seen[whole.len()..]), set(&added));
}
