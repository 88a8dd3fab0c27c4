//! The board: `PATCH /tasks/{id}/move` semantics, `GET /projects/{id}/board`, short
//! positions, and concurrent writers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::helpers::*;

/// Creates `n` tasks in `status`; their ids in board order.
async fn column(app: &TestApp, user: &TestUser, pid: &str, status: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let task = app
            .create_task(
                user,
                pid,
                json!({"title": format!("{status} {i}"), "status": status}),
            )
            .await;
        ids.push(id_of(&task));
    }
    ids
}

/// A move that must succeed: the moved task.
async fn moved(app: &TestApp, user: &TestUser, id: &str, target: Value) -> Value {
    body(app.move_task(user, id, target).await, 200).await
}

/// `PATCH /tasks/{id}/move?{query}` without a body.
async fn move_by_query(app: &TestApp, user: &TestUser, id: &str, query: &str) -> Response {
    app.patch(&format!("/tasks/{id}/move?{query}"))
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("move")
}

fn ids(list: &[&String]) -> Vec<String> {
    list.iter().map(|s| (*s).clone()).collect()
}

/// Every task of the board by id.
fn board_tasks(board: &Value) -> HashMap<String, Value> {
    board["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .flat_map(|c| c["tasks"].as_array().expect("tasks").iter())
        .map(|t| (id_of(t), t.clone()))
        .collect()
}

/// Asserts the positions of every column strictly increase (byte order) and each task sits
/// in the column of its status.
fn assert_board_order(board: &Value) {
    for column in board["columns"].as_array().expect("columns") {
        let tasks = column["tasks"].as_array().expect("tasks");
        for task in tasks {
            assert_eq!(task["status"], column["status"], "{task}");
        }
        for pair in tasks.windows(2) {
            let (a, b) = (
                pair[0]["position"].as_str().expect("position"),
                pair[1]["position"].as_str().expect("position"),
            );
            assert!(
                a.as_bytes() < b.as_bytes(),
                "positions not strictly increasing in {}: {a:?} then {b:?}",
                column["status"]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Move semantics

#[tokio::test]
async fn move_without_neighbours_goes_to_the_end_of_the_column() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "End").await;
    let todo = column(&app, &owner, &pid, "todo", 3).await;
    let review = column(&app, &owner, &pid, "review", 2).await;
    let task = moved(&app, &owner, &todo[0], json!({"status": "review"})).await;
    assert_eq!(task["status"], "review");
    let board = app.board(&owner, &pid).await;
    assert_eq!(
        column_ids(&board, "review"),
        ids(&[&review[0], &review[1], &todo[0]])
    );
    assert_eq!(column_ids(&board, "todo"), ids(&[&todo[1], &todo[2]]));
    // Within its own column: to the end too.
    moved(&app, &owner, &todo[1], json!({"status": "todo"})).await;
    // Into an empty column.
    moved(&app, &owner, &review[1], json!({"status": "in_progress"})).await;
    let board = app.board(&owner, &pid).await;
    assert_eq!(column_ids(&board, "todo"), ids(&[&todo[2], &todo[1]]));
    assert_eq!(column_ids(&board, "in_progress"), ids(&[&review[1]]));
    assert_board_order(&board);
}

#[tokio::test]
async fn move_before_id_puts_the_task_directly_before_it() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Before").await;
    let todo = column(&app, &owner, &pid, "todo", 2).await;
    let review = column(&app, &owner, &pid, "review", 3).await;
    moved(
        &app,
        &owner,
        &todo[0],
        json!({"status": "review", "before_id": review[1]}),
    )
    .await;
    let board = app.board(&owner, &pid).await;
    assert_eq!(
        column_ids(&board, "review"),
        ids(&[&review[0], &todo[0], &review[1], &review[2]])
    );
    // Before the first task: the new top.
    moved(
        &app,
        &owner,
        &todo[1],
        json!({"status": "review", "before_id": review[0]}),
    )
    .await;
    // Within the column: the last one before the second.
    moved(
        &app,
        &owner,
        &review[2],
        json!({"status": "review", "before_id": review[0]}),
    )
    .await;
    let board = app.board(&owner, &pid).await;
    assert_eq!(
        column_ids(&board, "review"),
        ids(&[&todo[1], &review[2], &review[0], &todo[0], &review[1]])
    );
    assert_board_order(&board);
}

#[tokio::test]
async fn move_after_id_puts_the_task_directly_after_it() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "After").await;
    let todo = column(&app, &owner, &pid, "todo", 2).await;
    let done = column(&app, &owner, &pid, "done", 3).await;
    moved(
        &app,
        &owner,
        &todo[0],
        json!({"status": "done", "after_id": done[1]}),
    )
    .await;
    moved(
        &app,
        &owner,
        &todo[1],
        json!({"status": "done", "after_id": done[2]}),
    )
    .await;
    // Within the column: the first one after the third.
    moved(
        &app,
        &owner,
        &done[0],
        json!({"status": "done", "after_id": done[2]}),
    )
    .await;
    let board = app.board(&owner, &pid).await;
    assert_eq!(
        column_ids(&board, "done"),
        ids(&[&done[1], &todo[0], &done[2], &done[0], &todo[1]])
    );
    assert!(column_ids(&board, "todo").is_empty());
    assert_board_order(&board);
}

#[tokio::test]
async fn move_between_adjacent_after_and_before() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Between").await;
    let todo = column(&app, &owner, &pid, "todo", 3).await;
    let ip = column(&app, &owner, &pid, "in_progress", 3).await;
    moved(
        &app,
        &owner,
        &todo[0],
        json!({"status": "in_progress", "after_id": ip[0], "before_id": ip[1]}),
    )
    .await;
    // Again into the same gap, now between the moved one and ip[1].
    moved(
        &app,
        &owner,
        &todo[1],
        json!({"status": "in_progress", "after_id": todo[0], "before_id": ip[1]}),
    )
    .await;
    // Within the column: the moved task itself between its neighbours is ignored.
    moved(
        &app,
        &owner,
        &ip[1],
        json!({"status": "in_progress", "after_id": todo[1], "before_id": ip[2]}),
    )
    .await;
    let board = app.board(&owner, &pid).await;
    assert_eq!(
        column_ids(&board, "in_progress"),
        ids(&[&ip[0], &todo[0], &todo[1], &ip[1], &ip[2]])
    );
    assert_board_order(&board);
}

#[tokio::test]
async fn move_with_neighbours_that_are_not_adjacent_is_422_on_before_id() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Not adjacent").await;
    let todo = column(&app, &owner, &pid, "todo", 1).await;
    let review = column(&app, &owner, &pid, "review", 3).await;
    let before = fetch_task(&app, &owner, &todo[0]).await;
    for (after, before_id) in [
        (&review[0], &review[2]), // a task in between
        (&review[1], &review[0]), // wrong order
        (&review[1], &review[1]), // the same task
    ] {
        let response = app
            .move_task(
                &owner,
                &todo[0],
                json!({"status": "review", "after_id": after, "before_id": before_id}),
            )
            .await;
        assert_invalid(response, &["before_id"]).await;
    }
    assert_eq!(fetch_task(&app, &owner, &todo[0]).await, before);
    let board = app.board(&owner, &pid).await;
    assert_eq!(column_ids(&board, "review"), review);
}

#[tokio::test]
async fn move_next_to_itself_is_422() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Itself").await;
    let todo = column(&app, &owner, &pid, "todo", 3).await;
    for field in ["before_id", "after_id"] {
        for status in ["todo", "review"] {
            let response = app
                .move_task(&owner, &todo[1], json!({"status": status, field: todo[1]}))
                .await;
            assert_invalid(response, &[field]).await;
        }
    }
    let board = app.board(&owner, &pid).await;
    assert_eq!(column_ids(&board, "todo"), todo);
    assert_eq!(fetch_task(&app, &owner, &todo[1]).await["version"], 1);
}

#[tokio::test]
async fn move_next_to_an_unknown_or_foreign_task_is_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Foreign").await;
    let other_pid = project_id(&app, &owner, "Elsewhere").await;
    let todo = column(&app, &owner, &pid, "todo", 2).await;
    let review = column(&app, &owner, &pid, "review", 1).await;
    let elsewhere = column(&app, &owner, &other_pid, "review", 1).await;
    let unknown = Uuid::now_v7().to_string();
    for field in ["before_id", "after_id"] {
        for neighbour in [&unknown, &todo[1], &elsewhere[0]] {
            // todo[1] is in `todo`, not in the target column `review`.
            let response = app
                .move_task(
                    &owner,
                    &todo[0],
                    json!({"status": "review", field: neighbour}),
                )
                .await;
            assert_invalid(response, &[field]).await;
        }
    }
    // Both bad at once: both named.
    let response = app
        .move_task(
            &owner,
            &todo[0],
            json!({"status": "review", "after_id": unknown, "before_id": elsewhere[0]}),
        )
        .await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert!(!error_fields(&problem).is_empty());
    for field in error_fields(&problem) {
        assert!(field == "before_id" || field == "after_id", "{problem}");
    }
    // A deleted task is unknown.
    let response = app
        .delete(&format!("/tasks/{}", review[0]))
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .move_task(
            &owner,
            &todo[0],
            json!({"status": "review", "before_id": review[0]}),
        )
        .await;
    assert_invalid(response, &["before_id"]).await;
    let board = app.board(&owner, &pid).await;
    assert_eq!(column_ids(&board, "todo"), todo);
    let board = app.board(&owner, &other_pid).await;
    assert_eq!(column_ids(&board, "review"), elsewhere);
}

#[tokio::test]
async fn move_with_a_non_uuid_neighbour_is_422() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Non-UUID").await;
    let todo = column(&app, &owner, &pid, "todo", 2).await;
    for field in ["before_id", "after_id"] {
        for bad in [json!("abc"), json!(7), json!(["x"])] {
            let response = app
                .move_task(&owner, &todo[0], json!({"status": "todo", field: bad}))
                .await;
            assert_invalid(response, &[field]).await;
        }
        let response =
            move_by_query(&app, &owner, &todo[0], &format!("status=todo&{field}=abc")).await;
        assert_invalid(response, &[field]).await;
    }
}

#[tokio::test]
async fn move_query_string_form_works_like_the_json_body() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Query").await;
    let todo = column(&app, &owner, &pid, "todo", 3).await;
    let review = column(&app, &owner, &pid, "review", 2).await;
    let response = move_by_query(
        &app,
        &owner,
        &todo[0],
        &format!("status=review&after_id={}", review[0]),
    )
    .await;
    assert_eq!(header(&response, "etag").as_deref(), Some("\"2\""));
    let task = body(response, 200).await;
    assert_eq!(task["status"], "review");
    assert_eq!(task["version"], 2);
    let response = move_by_query(
        &app,
        &owner,
        &todo[1],
        &format!("status=review&before_id={}", review[0]),
    )
    .await;
    body(response, 200).await;
    let response = move_by_query(
        &app,
        &owner,
        &todo[2],
        &format!("status=review&after_id={}&before_id={}", todo[0], review[1]),
    )
    .await;
    body(response, 200).await;
    let response = move_by_query(&app, &owner, &review[0], "status=done").await;
    assert_eq!(body(response, 200).await["status"], "done");
    let board = app.board(&owner, &pid).await;
    assert_eq!(
        column_ids(&board, "review"),
        ids(&[&todo[1], &todo[0], &todo[2], &review[1]])
    );
    assert_eq!(column_ids(&board, "done"), ids(&[&review[0]]));
    // The query form is validated like the body.
    let response = move_by_query(&app, &owner, &todo[0], "").await;
    assert_invalid(response, &["status"]).await;
    let response = move_by_query(&app, &owner, &todo[0], &format!("after_id={}", review[1])).await;
    assert_invalid(response, &["status"]).await;
    let response = move_by_query(&app, &owner, &todo[0], "status=archived").await;
    assert_invalid(response, &["status"]).await;
    let response = move_by_query(
        &app,
        &owner,
        &todo[0],
        &format!("status=review&before_id={}&after_id={}", todo[1], review[1]),
    )
    .await;
    assert_invalid(response, &["before_id"]).await;
    assert_eq!(app.board(&owner, &pid).await["columns"], board["columns"]);
}

#[tokio::test]
async fn move_body_needs_a_valid_status() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Status").await;
    let todo = column(&app, &owner, &pid, "todo", 2).await;
    let cases = [
        (json!({}), vec!["status"]),
        (json!({"before_id": todo[1]}), vec!["status"]),
        (json!({"status": null}), vec!["status"]),
        (json!({"status": "blocked"}), vec!["status"]),
        (json!({"status": "Done"}), vec!["status"]),
        (json!({"status": 3}), vec!["status"]),
        (json!({"status": "done", "position": "a"}), vec!["position"]),
        (
            json!({"status": "x", "after_id": "y"}),
            vec!["status", "after_id"],
        ),
    ];
    for (target, fields) in cases {
        let response = app.move_task(&owner, &todo[0], target).await;
        assert_invalid(response, &fields).await;
    }
    let task = fetch_task(&app, &owner, &todo[0]).await;
    assert_eq!(task["status"], "todo");
    assert_eq!(task["version"], 1);
}

#[tokio::test]
async fn moving_into_done_sets_completed_at_and_out_of_done_clears_it() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Completion").await;
    let todo = column(&app, &owner, &pid, "todo", 2).await;
    let task = moved(&app, &owner, &todo[0], json!({"status": "in_progress"})).await;
    assert!(task["completed_at"].is_null());
    let done = moved(&app, &owner, &todo[0], json!({"status": "done"})).await;
    let completed_at = done["completed_at"]
        .as_str()
        .expect("completed_at")
        .to_string();
    assert_eq!(done["completed_at"], done["updated_at"]);
    // Reordering inside `done` keeps the completion time.
    moved(&app, &owner, &todo[1], json!({"status": "done"})).await;
    let reordered = moved(
        &app,
        &owner,
        &todo[0],
        json!({"status": "done", "after_id": todo[1]}),
    )
    .await;
    assert_eq!(reordered["completed_at"], completed_at.as_str());
    let reopened = moved(&app, &owner, &todo[0], json!({"status": "review"})).await;
    assert!(reopened["completed_at"].is_null(), "{reopened}");
    assert!(fetch_task(&app, &owner, &todo[0]).await["completed_at"].is_null());
    let progress = app.board(&owner, &pid).await["project"]["progress"].clone();
    assert_eq!(progress, json!({"total": 2, "done": 1, "percent": 50}));
}

#[tokio::test]
async fn a_move_changes_only_the_moved_task() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Only one").await;
    let todo = column(&app, &owner, &pid, "todo", 4).await;
    let review = column(&app, &owner, &pid, "review", 3).await;
    let before = board_tasks(&app.board(&owner, &pid).await);
    let task = moved(
        &app,
        &owner,
        &todo[2],
        json!({"status": "review", "after_id": review[0], "before_id": review[1]}),
    )
    .await;
    assert_eq!(task["version"], 2);
    let after = board_tasks(&app.board(&owner, &pid).await);
    assert_eq!(after.len(), before.len());
    for (id, old) in &before {
        let new = &after[id];
        if *id == todo[2] {
            assert_eq!(new, &task);
            assert_eq!(new["version"], 2);
            for field in ["title", "priority", "created_at", "created_by"] {
                assert_eq!(new[field], old[field]);
            }
        } else {
            assert_eq!(new, old, "task {id} changed");
        }
    }
    // The same within one column.
    let before = after;
    let task = moved(
        &app,
        &owner,
        &todo[0],
        json!({"status": "todo", "after_id": todo[3]}),
    )
    .await;
    let after = board_tasks(&app.board(&owner, &pid).await);
    for (id, old) in &before {
        if *id == todo[0] {
            assert_eq!(after[id], task);
            assert_eq!(task["version"], 2);
        } else {
            assert_eq!(&after[id], old, "task {id} changed");
        }
    }
}

#[tokio::test]
async fn move_by_viewer_is_403_by_outsider_404() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let viewer = app.register().await;
    let outsider = app.register().await;
    let pid = project_id(&app, &owner, "Move perms").await;
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let todo = column(&app, &owner, &pid, "todo", 1).await;
    let response = app
        .move_task(&viewer, &todo[0], json!({"status": "done"}))
        .await;
    assert_problem(response, 403, "forbidden").await;
    let response = app
        .move_task(&outsider, &todo[0], json!({"status": "done"}))
        .await;
    assert_problem(response, 404, "not_found").await;
    let response = app
        .move_task(
            &owner,
            &Uuid::now_v7().to_string(),
            json!({"status": "done"}),
        )
        .await;
    assert_problem(response, 404, "not_found").await;
    let response = app
        .move_task(&owner, "not-a-uuid", json!({"status": "done"}))
        .await;
    assert_problem(response, 404, "not_found").await;
    assert_eq!(fetch_task(&app, &owner, &todo[0]).await["version"], 1);
}

// ---------------------------------------------------------------------------------------
// The board

#[tokio::test]
async fn board_has_four_columns_in_order_with_tasks_by_position() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Board").await;
    let empty = app.board(&owner, &pid).await;
    let statuses: Vec<&str> = empty["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, STATUSES);
    assert_eq!(empty["seq"], 1);
    assert_eq!(empty["project"]["id"], pid.as_str());
    for status in STATUSES {
        assert!(column_ids(&empty, status).is_empty());
    }
    // Shuffle tasks around so that creation order and board order differ.
    let todo = column(&app, &owner, &pid, "todo", 5).await;
    column(&app, &owner, &pid, "done", 2).await;
    moved(
        &app,
        &owner,
        &todo[4],
        json!({"status": "todo", "before_id": todo[0]}),
    )
    .await;
    moved(&app, &owner, &todo[0], json!({"status": "review"})).await;
    moved(
        &app,
        &owner,
        &todo[2],
        json!({"status": "todo", "after_id": todo[4]}),
    )
    .await;
    moved(&app, &owner, &todo[3], json!({"status": "in_progress"})).await;
    let board = app.board(&owner, &pid).await;
    assert_board_order(&board);
    assert_eq!(
        column_ids(&board, "todo"),
        ids(&[&todo[4], &todo[2], &todo[1]])
    );
    assert_eq!(column_ids(&board, "in_progress"), ids(&[&todo[3]]));
    assert_eq!(column_ids(&board, "review"), ids(&[&todo[0]]));
    assert_eq!(column_ids(&board, "done").len(), 2);
    // The project and its progress; the tasks are full Task objects.
    let project = body(
        app.get(&format!("/projects/{pid}"))
            .bearer_auth(&owner.access)
            .send()
            .await
            .expect("project"),
        200,
    )
    .await;
    assert_eq!(board["project"], project);
    assert_eq!(
        board["project"]["progress"],
        json!({"total": 7, "done": 2, "percent": 29})
    );
    let first = &board["columns"][0]["tasks"][0];
    assert_eq!(first, &fetch_task(&app, &owner, &todo[4]).await);
}

#[tokio::test]
async fn board_seq_is_the_latest_stored_event_seq() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let viewer = app.register().await;
    let pid = project_id(&app, &owner, "Seq").await;
    let latest = |events: &Vec<(i64, Value)>| events.last().map(|e| e.0).unwrap_or(0);
    assert_eq!(app.board(&owner, &pid).await["seq"], 1);
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let todo = column(&app, &owner, &pid, "todo", 2).await;
    moved(&app, &owner, &todo[0], json!({"status": "done"})).await;
    let response = patch_task(&app, &owner, &todo[1], json!({"title": "Renamed"}), None).await;
    body(response, 200).await;
    let response = app
        .post(&format!("/tasks/{}/comments", todo[1]))
        .bearer_auth(&viewer.access)
        .json(&json!({"body": "hi"}))
        .send()
        .await
        .expect("comment");
    body(response, 201).await;
    let events = app.stored_events(&pid).await;
    assert_eq!(latest(&events), 7);
    // Viewers see the board too, with the same seq.
    let board = app.board(&viewer, &pid).await;
    assert_eq!(board["seq"], 7);
    // Failed and no-op writes do not move it.
    let response = patch_task(&app, &owner, &todo[1], json!({}), None).await;
    body(response, 200).await;
    let response = app
        .move_task(&viewer, &todo[1], json!({"status": "done"}))
        .await;
    assert_problem(response, 403, "forbidden").await;
    assert_eq!(app.board(&owner, &pid).await["seq"], 7);
    assert_eq!(latest(&app.stored_events(&pid).await), 7);
    // Not a member: 404.
    let outsider = app.register().await;
    let response = app
        .get(&format!("/projects/{pid}/board"))
        .bearer_auth(&outsider.access)
        .send()
        .await
        .expect("board");
    assert_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn positions_stay_short_after_300_moves_directly_after_the_same_task() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Short keys").await;
    let anchor = column(&app, &owner, &pid, "todo", 1).await.remove(0);
    let tail = column(&app, &owner, &pid, "todo", 1).await.remove(0);
    let movers = column(&app, &owner, &pid, "in_progress", 300).await;
    for id in &movers {
        // Each lands between the anchor and the one moved just before.
        let task = moved(
            &app,
            &owner,
            id,
            json!({"status": "todo", "after_id": anchor}),
        )
        .await;
        let position = task["position"].as_str().expect("position");
        assert!(position.len() <= 12, "position {position:?} too long");
    }
    let board = app.board(&owner, &pid).await;
    assert_board_order(&board);
    let mut expected = vec![anchor.clone()];
    expected.extend(movers.iter().rev().cloned());
    expected.push(tail);
    assert_eq!(column_ids(&board, "todo"), expected);
    assert!(column_ids(&board, "in_progress").is_empty());
    let longest = board["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .flat_map(|c| c["tasks"].as_array().expect("tasks").iter())
        .map(|t| t["position"].as_str().expect("position").len())
        .max()
        .unwrap_or(0);
    assert!(longest <= 12, "longest position: {longest}");
}

// ---------------------------------------------------------------------------------------
// Concurrency

/// A small deterministic generator (no timing, no global randomness in assertions).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n
    }
}

/// How a concurrent mover names its target place.
#[derive(Debug, Clone)]
enum Place {
    End,
    BeforeStatic(usize),
    AfterStatic(usize),
    BetweenStatics(usize),
    BeforeMover(usize),
    AfterMover(usize),
}

#[tokio::test]
async fn concurrent_moves_into_one_column_keep_a_strict_order() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Concurrent moves").await;
    let statics = column(&app, &owner, &pid, "todo", 12).await;
    let movers = column(&app, &owner, &pid, "in_progress", 40).await;
    let mut rng = Lcg(0x5eed_f10e);
    let places: Vec<Place> = (0..movers.len())
        .map(|i| {
            let other = (i + 1 + rng.below(movers.len() - 1)) % movers.len();
            match rng.below(6) {
                0 => Place::End,
                1 => Place::BeforeStatic(rng.below(statics.len())),
                2 => Place::AfterStatic(rng.below(statics.len())),
                3 => Place::BetweenStatics(rng.below(statics.len() - 1)),
                4 => Place::BeforeMover(other),
                _ => Place::AfterMover(other),
            }
        })
        .collect();
    let barrier = Arc::new(Barrier::new(movers.len()));
    let mut handles = Vec::new();
    for (i, place) in places.iter().enumerate() {
        let target = match place {
            Place::End => json!({"status": "todo"}),
            Place::BeforeStatic(j) => json!({"status": "todo", "before_id": statics[*j]}),
            Place::AfterStatic(j) => json!({"status": "todo", "after_id": statics[*j]}),
            Place::BetweenStatics(j) => {
                json!({"status": "todo", "after_id": statics[*j], "before_id": statics[j + 1]})
            }
            Place::BeforeMover(k) => json!({"status": "todo", "before_id": movers[*k]}),
            Place::AfterMover(k) => json!({"status": "todo", "after_id": movers[*k]}),
        };
        let request = app
            .patch(&format!("/tasks/{}/move", movers[i]))
            .bearer_auth(&owner.access)
            .json(&target);
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = request.send().await.expect("move");
            let status = response.status().as_u16();
            let text = response.text().await.expect("body");
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }));
    }
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.expect("join"));
    }

    let board = app.board(&owner, &pid).await;
    assert_board_order(&board);
    let todo = column_ids(&board, "todo");
    let in_progress = column_ids(&board, "in_progress");
    // Every task exactly once on the board.
    let mut all: Vec<String> = board_tasks(&board).into_keys().collect();
    all.sort();
    let mut expected_all: Vec<String> = statics.iter().chain(&movers).cloned().collect();
    expected_all.sort();
    assert_eq!(all, expected_all);
    assert_eq!(
        todo.len() + in_progress.len(),
        statics.len() + movers.len(),
        "no task lost or duplicated"
    );
    let index: HashMap<&str, usize> = todo
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    // The statics keep their order.
    let static_at: Vec<usize> = statics.iter().map(|s| index[s.as_str()]).collect();
    assert!(static_at.windows(2).all(|w| w[0] < w[1]), "{static_at:?}");
    let mut succeeded = 0;
    for (i, ((status, answer), place)) in results.iter().zip(&places).enumerate() {
        let id = movers[i].as_str();
        match status {
            200 => {
                succeeded += 1;
                assert_eq!(answer["status"], "todo");
                assert_eq!(answer["version"], 2);
                let at = *index.get(id).unwrap_or_else(|| panic!("{id} not in todo"));
                let final_task = &board_tasks(&board)[id];
                assert_eq!(&answer["position"], &final_task["position"]);
                // Tasks move once, so each place named relative to a task still holds.
                match place {
                    Place::End => assert!(at > static_at[statics.len() - 1], "{place:?}"),
                    Place::BeforeStatic(j) => {
                        assert!(at < static_at[*j], "{place:?}");
                        if *j > 0 {
                            assert!(at > static_at[j - 1], "{place:?}");
                        }
                    }
                    Place::AfterStatic(j) | Place::BetweenStatics(j) => {
                        assert!(at > static_at[*j], "{place:?}");
                        if let Some(next) = static_at.get(j + 1) {
                            assert!(at < *next, "{place:?}");
                        }
                    }
                    Place::BeforeMover(k) => {
                        assert!(at < index[movers[*k].as_str()], "{place:?}");
                    }
                    Place::AfterMover(k) => {
                        assert!(at > index[movers[*k].as_str()], "{place:?}");
                    }
                }
            }
            422 => {
                // Only when a named neighbour was not (or no longer) where it had to be.
                let field = match place {
                    Place::BetweenStatics(_) | Place::BeforeMover(_) => "before_id",
                    Place::AfterMover(_) => "after_id",
                    other => panic!("{other:?} must not fail: {answer}"),
                };
                assert_eq!(error_fields(answer), vec![field.to_string()], "{answer}");
                assert!(in_progress.contains(&movers[i]), "a failed move moved");
            }
            other => panic!("move {i} ({place:?}) answered {other}: {answer}"),
        }
    }
    assert_eq!(todo.len(), statics.len() + succeeded);
    eprintln!(
        "concurrent moves: {succeeded} of {} succeeded, the rest 422",
        movers.len()
    );
    // One event per committed change, gapless.
    let seqs: Vec<i64> = app.stored_events(&pid).await.iter().map(|e| e.0).collect();
    let n = 1 + statics.len() + movers.len() + succeeded;
    assert_eq!(seqs, (1..=n as i64).collect::<Vec<_>>());
}

#[tokio::test]
async fn concurrent_patches_with_the_same_if_match_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let editor = app.register().await;
    let pid = project_id(&app, &owner, "Race").await;
    app.add_member(&owner, &pid, &editor, "editor").await;
    let tasks = column(&app, &owner, &pid, "todo", 6).await;
    for id in &tasks {
        let barrier = Arc::new(Barrier::new(2));
        let mut handles = Vec::new();
        for (user, title) in [(&owner, "from owner"), (&editor, "from editor")] {
            let request = app
                .patch(&format!("/tasks/{id}"))
                .bearer_auth(&user.access)
                .header("If-Match", "\"1\"")
                .json(&json!({"title": title}));
            let barrier = barrier.clone();
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                let response = request.send().await.expect("patch");
                let status = response.status().as_u16();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            }));
        }
        let mut answers = Vec::new();
        for handle in handles {
            answers.push(handle.await.expect("join"));
        }
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        statuses.sort();
        assert_eq!(statuses, [200, 412], "{answers:?}");
        let winner = &answers.iter().find(|a| a.0 == 200).expect("winner").1;
        let loser = &answers.iter().find(|a| a.0 == 412).expect("loser").1;
        assert_eq!(loser["code"], "precondition_failed");
        assert_eq!(winner["version"], 2);
        assert_eq!(&fetch_task(&app, &owner, id).await, winner);
    }
    // 1 project + 1 member + 6 creates + 6 winning updates.
    assert_eq!(app.stored_events(&pid).await.len(), 14);
}

#[tokio::test]
async fn concurrent_patch_move_and_delete_with_the_same_if_match_let_exactly_one_win() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Three-way race").await;
    let tasks = column(&app, &owner, &pid, "todo", 4).await;
    let mut deleted = 0;
    for id in &tasks {
        let barrier = Arc::new(Barrier::new(3));
        let requests = [
            app.patch(&format!("/tasks/{id}"))
                .json(&json!({"title": "patched"})),
            app.patch(&format!("/tasks/{id}/move"))
                .json(&json!({"status": "done"})),
            app.delete(&format!("/tasks/{id}")),
        ];
        let mut handles = Vec::new();
        for request in requests {
            let request = request
                .bearer_auth(&owner.access)
                .header("If-Match", "\"1\"");
            let barrier = barrier.clone();
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                request.send().await.expect("send").status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for handle in handles {
            statuses.push(handle.await.expect("join"));
        }
        let wins = statuses.iter().filter(|s| (200..300).contains(*s)).count();
        assert_eq!(wins, 1, "{statuses:?}");
        // Losers see a stale version (412) or, after the delete, no task (404).
        assert!(
            statuses.iter().all(|s| matches!(s, 200 | 204 | 412 | 404)),
            "{statuses:?}"
        );
        if statuses[2] == 204 {
            deleted += 1;
            assert_problem(get_task(&app, &owner, id).await, 404, "not_found").await;
        } else {
            assert_eq!(fetch_task(&app, &owner, id).await["version"], 2);
        }
    }
    let board = app.board(&owner, &pid).await;
    assert_eq!(board_tasks(&board).len(), tasks.len() - deleted);
    assert_eq!(app.stored_events(&pid).await.len(), 1 + 2 * tasks.len());
}

#[tokio::test]
async fn concurrent_writers_get_gapless_event_seqs() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let editor = app.register().await;
    let viewer = app.register().await;
    let pid = project_id(&app, &owner, "Fifty writers").await;
    app.add_member(&owner, &pid, &editor, "editor").await;
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let tasks = column(&app, &owner, &pid, "todo", 5).await;
    let setup_writes = 1 + 2 + tasks.len();
    let writers = 50;
    let barrier = Arc::new(Barrier::new(writers));
    let mut handles = Vec::new();
    for i in 0..writers {
        let task = &tasks[i % tasks.len()];
        let user = [&owner, &editor][i % 2];
        let request = match i % 4 {
            0 => app.post("/tasks").bearer_auth(&user.access).json(
                &json!({"project_id": pid, "title": format!("new {i}"), "status": STATUSES[i % 4]}),
            ),
            1 => app
                .patch(&format!("/tasks/{task}"))
                .bearer_auth(&user.access)
                .json(&json!({"title": format!("writer {i}")})),
            2 => app
                .patch(&format!("/tasks/{task}/move"))
                .bearer_auth(&user.access)
                .json(&json!({"status": STATUSES[(i / 4) % 4]})),
            _ => app
                .post(&format!("/tasks/{task}/comments"))
                .bearer_auth(&[&owner, &editor, &viewer][i % 3].access)
                .json(&json!({"body": format!("comment {i}")})),
        };
        let barrier = barrier.clone();
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }));
    }
    let mut ok = 0;
    for handle in handles {
        let (status, text) = handle.await.expect("join");
        assert!(
            (200..300).contains(&status),
            "a concurrent write failed with {status}: {text}"
        );
        ok += 1;
    }
    let events = app.stored_events(&pid).await;
    let seqs: Vec<i64> = events.iter().map(|e| e.0).collect();
    let n = setup_writes + ok;
    assert_eq!(seqs, (1..=n as i64).collect::<Vec<_>>());
    for (seq, payload) in &events {
        assert_eq!(payload["seq"], *seq);
        assert_eq!(payload["project_id"], pid.as_str());
    }
    // Commit order: each task's versions grow with the seq of its events.
    let mut last_version: HashMap<String, i64> = HashMap::new();
    for (seq, payload) in &events {
        if let Some(task) = payload["data"]["task"].as_object() {
            let id = task["id"].as_str().expect("id").to_string();
            let version = task["version"].as_i64().expect("version");
            let previous = last_version.insert(id.clone(), version).unwrap_or(0);
            assert_eq!(version, previous + 1, "task {id} at seq {seq}");
        }
    }
    // The board agrees with the log.
    let board = app.board(&owner, &pid).await;
    assert_eq!(board["seq"], n as i64);
    assert_board_order(&board);
    let on_board: HashSet<String> = board_tasks(&board).into_keys().collect();
    let created: HashSet<String> = last_version.keys().cloned().collect();
    assert_eq!(on_board, created);
    assert_eq!(on_board.len(), tasks.len() + writers.div_ceil(4));
}

#[tokio::test]
async fn board_snapshots_match_their_seq_while_tasks_are_created() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = project_id(&app, &owner, "Snapshots").await;
    let creates = 30;
    let reads = 15;
    let barrier = Arc::new(Barrier::new(creates + reads));
    let mut writers = Vec::new();
    for i in 0..creates {
        let request = app
            .post("/tasks")
            .bearer_auth(&owner.access)
            .json(&json!({"project_id": pid, "title": format!("t{i}"), "status": STATUSES[i % 4]}));
        let barrier = barrier.clone();
        writers.push(tokio::spawn(async move {
            barrier.wait().await;
            request.send().await.expect("create").status().as_u16()
        }));
    }
    let mut readers = Vec::new();
    for _ in 0..reads {
        let request = app
            .get(&format!("/projects/{pid}/board"))
            .bearer_auth(&owner.access);
        let barrier = barrier.clone();
        readers.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = request.send().await.expect("board");
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.expect("json")
        }));
    }
    for writer in writers {
        assert_eq!(writer.await.expect("join"), 201);
    }
    // Which seq created which task.
    let created_at_seq: HashMap<String, i64> = app
        .stored_events(&pid)
        .await
        .into_iter()
        .filter(|(_, p)| p["type"] == "task.created")
        .map(|(seq, p)| (id_of(&p["data"]["task"]), seq))
        .collect();
    assert_eq!(created_at_seq.len(), creates);
    for reader in readers {
        let board = reader.await.expect("join");
        let seq = board["seq"].as_i64().expect("seq");
        let shown: HashSet<String> = board_tasks(&board).into_keys().collect();
        let expected: HashSet<String> = created_at_seq
            .iter()
            .filter(|(_, s)| **s <= seq)
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(shown, expected, "board at seq {seq}");
        assert_eq!(
            board["project"]["progress"]["total"],
            shown.len(),
            "progress at seq {seq}"
        );
        assert_board_order(&board);
    }
}

/// The board's `ETag` changes with the project's event seq: `If-None-Match` with the current
/// one answers 304 without a body; after a change the board comes again with a new tag; and
/// a caller who may not see the project gets 404 whatever tag it sends.
#[tokio::test]
async fn an_unchanged_board_answers_304_to_its_etag() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let stranger = app.register().await;
    let pid = project_id(&app, &owner, "Tagged").await;
    let task = app.create_task(&owner, &pid, json!({"title": "t"})).await;
    let path = format!("/projects/{pid}/board");
    let board = |user: &TestUser, tag: Option<String>| {
        let mut request = app.get(&path).bearer_auth(&user.access);
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        request.send()
    };

    let first = board(&owner, None).await.expect("board");
    assert_eq!(first.status(), StatusCode::OK);
    let tag = first.headers()["etag"].to_str().expect("etag").to_string();
    let unchanged = board(&owner, Some(tag.clone())).await.expect("board");
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.headers()["etag"], tag.as_str());
    assert!(unchanged.bytes().await.expect("body").is_empty());
    let weak = board(&owner, Some(format!("\"other\", W/{tag}")))
        .await
        .expect("board");
    assert_eq!(weak.status(), StatusCode::NOT_MODIFIED);

    let moved = app
        .move_task(
            &owner,
            task["id"].as_str().expect("id"),
            json!({"status": "done"}),
        )
        .await;
    assert_eq!(moved.status(), StatusCode::OK);
    let changed = board(&owner, Some(tag.clone())).await.expect("board");
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"], tag.as_str());
    let body: Value = changed.json().await.expect("json");
    assert_eq!(body["columns"][3]["tasks"][0]["id"], task["id"]);

    let hidden = board(&stranger, Some(tag)).await.expect("board");
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
}

/// PostgreSQL's `flowtrack_position_after` (the append position of a one-statement task
/// creation) gives exactly the server's `position::between(Some(last), None)`: for every key
/// of one digit, every two-digit key of the edge digits, long runs of the largest digit,
/// malformed keys, and 5 000 pseudo-random keys.
#[tokio::test]
async fn the_databases_append_position_is_the_servers() {
    use flowtrack_store::services::position;
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    if !on_postgres() {
        return; // SQLite computes every position in the server.
    }
    let app = TestApp::spawn().await;
    const DIGITS: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let edges = ["0", "1", "9", "A", "V", "Z", "a", "y", "z"];
    let mut keys: Vec<String> = DIGITS.chars().map(String::from).collect();
    for a in edges {
        for b in edges {
            keys.push(format!("{a}{b}"));
        }
    }
    for n in 1..=8 {
        keys.push("z".repeat(n));
        keys.push(format!("a{}", "z".repeat(n)));
        keys.push(format!("{}y", "z".repeat(n)));
    }
    keys.extend(["", "a0", "V-", "Vé", " V", "zz0", "0"].map(String::from));
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) as usize
    };
    for _ in 0..5_000 {
        let len = 1 + next() % 7;
        // Mostly the largest digits, so carries are common.
        let key: String = (0..len)
            .map(|_| match next() % 3 {
                0 => 'z',
                _ => DIGITS.as_bytes()[next() % 62] as char,
            })
            .collect();
        keys.push(key);
    }
    let db = &app.state.db.write;
    for key in &keys {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT flowtrack_position_after($1) AS after",
                [key.as_str().into()],
            ))
            .await
            .expect("query")
            .expect("a row");
        let in_sql: String = row.try_get("", "after").expect("text");
        assert_eq!(in_sql, position::between(Some(key), None), "after {key:?}");
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT flowtrack_position_after(NULL) AS after",
        ))
        .await
        .expect("query")
        .expect("a row");
    let in_sql: String = row.try_get("", "after").expect("text");
    assert_eq!(in_sql, position::between(None, None));
}

/// Every stored event's text is exactly what the server's serializer writes — on PostgreSQL
/// including the creations and moves whose text the database assembles (the cut payloads,
/// `flowtrack_task_json`): strings with quotes, backslashes, control characters and
/// non-ASCII, labels, a due date, moves into, within and out of `done`. Seqs are gapless.
#[tokio::test]
async fn stored_events_are_the_servers_serialization_byte_for_byte() {
    use flowtrack_store::models::events;
    use flowtrack_store::services::event::ProjectEvent;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = id_of(&app.create_project(&owner, "Bytes").await);
    let title = "Quote \" backslash \\ tab \t bell \u{7} del \u{7f} \u{2028} é 漢 🚀 </script>";
    let task = app
        .create_task(
            &owner,
            &pid,
            json!({"title": title, "description": "line\r\nnext \u{1f} \"q\"",
                   "labels": ["ops", "ü \"x\""], "due_date": "2026-12-31", "priority": "high"}),
        )
        .await;
    let done = app
        .create_task(
            &owner,
            &pid,
            json!({"title": "born done", "status": "done"}),
        )
        .await;
    let tid = id_of(&task);
    for status in ["in_progress", "done", "done", "todo", "review"] {
        moved(&app, &owner, &tid, json!({"status": status})).await;
    }
    moved(&app, &owner, &id_of(&done), json!({"status": "todo"})).await;
    let stored = events::Entity::find()
        .filter(events::Column::ProjectId.eq(Uuid::parse_str(&pid).expect("uuid")))
        .order_by_asc(events::Column::Seq)
        .all(&app.state.db.read)
        .await
        .expect("events");
    assert_eq!(
        stored.len(),
        1 + 2 + 6,
        "project created, 2 creations, 6 moves"
    );
    for (i, event) in stored.iter().enumerate() {
        assert_eq!(event.seq, i as i64 + 1, "gapless seqs");
        let parsed = ProjectEvent::from_json(&event.payload).expect("a valid event");
        assert_eq!(parsed.to_json(), event.payload, "seq {}", event.seq);
    }
    let created = ProjectEvent::from_json(&stored[1].payload).expect("event");
    let as_json: Value = serde_json::from_str(&created.to_json()).expect("json");
    assert_eq!(as_json["data"]["task"]["title"], title);
}
