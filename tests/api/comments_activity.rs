//! Task comments (`/tasks/{id}/comments`, `/comments/{id}`) and the activity log
//! (`/projects/{id}/activity`, `/activity`).

use std::collections::HashSet;

use reqwest::{Method, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------
// Local helpers

fn items(page: &Value) -> Vec<Value> {
    page["items"].as_array().expect("items").clone()
}

async fn comment(app: &TestApp, user: &TestUser, task_id: &str, text: &str) -> Value {
    body(post_comment(app, user, task_id, text).await, 201).await
}

async fn patch_comment(app: &TestApp, user: &TestUser, comment_id: &str, text: &str) -> Response {
    call(
        app,
        user,
        Method::PATCH,
        &format!("/comments/{comment_id}"),
        Some(json!({ "body": text })),
    )
    .await
}

async fn delete_comment(app: &TestApp, user: &TestUser, comment_id: &str) -> Response {
    call(
        app,
        user,
        Method::DELETE,
        &format!("/comments/{comment_id}"),
        None,
    )
    .await
}

async fn list_comments_raw(app: &TestApp, user: &TestUser, task_id: &str, query: &str) -> Response {
    call(
        app,
        user,
        Method::GET,
        &format!("/tasks/{task_id}/comments?{query}"),
        None,
    )
    .await
}

async fn list_comments(app: &TestApp, user: &TestUser, task_id: &str, query: &str) -> Value {
    body(list_comments_raw(app, user, task_id, query).await, 200).await
}

/// Follows `next_cursor` from `path` (which already has a query) until the end; returns
/// every item and the number of pages.
async fn walk(app: &TestApp, user: &TestUser, path: &str) -> (Vec<Value>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let page = body(call(app, user, Method::GET, &url, None).await, 200).await;
        all.extend(items(&page));
        pages += 1;
        assert!(pages < 100, "pagination does not end");
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return (all, pages),
        }
    }
}

/// A project with an owner, an editor, a viewer and one task, plus a registered stranger.
struct Fixture {
    app: TestApp,
    owner: TestUser,
    editor: TestUser,
    viewer: TestUser,
    stranger: TestUser,
    pid: String,
    tid: String,
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let editor = app.register().await;
    let viewer = app.register().await;
    let stranger = app.register().await;
    let pid = id_of(&app.create_project(&owner, "Discussed").await);
    app.add_member(&owner, &pid, &editor, "editor").await;
    app.add_member(&owner, &pid, &viewer, "viewer").await;
    let tid = id_of(
        &app.create_task(&owner, &pid, json!({"title": "Talk about me"}))
            .await,
    );
    Fixture {
        app,
        owner,
        editor,
        viewer,
        stranger,
        pid,
        tid,
    }
}

// ---------------------------------------------------------------------------------------
// Comments

#[tokio::test]
async fn viewer_may_comment_and_the_body_is_trimmed() {
    let f = fixture().await;
    let c = comment(&f.app, &f.viewer, &f.tid, "  Looks good to me.\n ").await;
    assert!(id_of(&c).parse::<Uuid>().is_ok(), "{c}");
    assert_eq!(c["task_id"], f.tid);
    assert_eq!(c["author_id"], f.viewer.id.to_string());
    assert_eq!(c["body"], "Looks good to me.");
    assert!(is_rfc3339_utc(&c["created_at"]), "{c}");
    assert_eq!(c["created_at"], c["updated_at"]);
    let keys: HashSet<&str> = c
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from([
            "id",
            "task_id",
            "author_id",
            "body",
            "created_at",
            "updated_at"
        ])
    );
    let page = list_comments(&f.app, &f.owner, &f.tid, "").await;
    assert_eq!(items(&page), vec![c]);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn owner_and_editor_may_comment() {
    let f = fixture().await;
    let by_owner = comment(&f.app, &f.owner, &f.tid, "from the owner").await;
    let by_editor = comment(&f.app, &f.editor, &f.tid, "from the editor").await;
    assert_eq!(by_owner["author_id"], f.owner.id.to_string());
    assert_eq!(by_editor["author_id"], f.editor.id.to_string());
}

#[tokio::test]
async fn comment_body_must_have_1_to_10000_characters() {
    let f = fixture().await;
    for bad in ["", "   \n\t ", &"x".repeat(10_001)] {
        let response = post_comment(&f.app, &f.viewer, &f.tid, bad).await;
        assert_invalid(response, &["body"]).await;
    }
    let path = format!("/tasks/{}/comments", f.tid);
    for json in [json!({}), json!({"body": null}), json!({"body": 42})] {
        let response = call(&f.app, &f.viewer, Method::POST, &path, Some(json)).await;
        assert_invalid(response, &["body"]).await;
    }
    let response = call(
        &f.app,
        &f.viewer,
        Method::POST,
        &path,
        Some(json!({"body": "hi", "author_id": f.owner.id})),
    )
    .await;
    assert_invalid(response, &["author_id"]).await;
    assert!(items(&list_comments(&f.app, &f.owner, &f.tid, "").await).is_empty());

    // The limits themselves are fine (10 000 multi-byte characters too).
    let c = comment(&f.app, &f.viewer, &f.tid, &"x".repeat(10_000)).await;
    assert_eq!(c["body"].as_str().expect("body").len(), 10_000);
    let c = comment(&f.app, &f.viewer, &f.tid, &"é".repeat(10_000)).await;
    assert_eq!(c["body"].as_str().expect("body").chars().count(), 10_000);
    comment(&f.app, &f.viewer, &f.tid, "x").await;
}

#[tokio::test]
async fn comments_are_listed_oldest_first_with_pagination() {
    let f = fixture().await;
    let mut created = Vec::new();
    for (i, user) in [&f.owner, &f.viewer, &f.editor, &f.viewer, &f.owner]
        .into_iter()
        .enumerate()
    {
        created.push(id_of(
            &comment(&f.app, user, &f.tid, &format!("comment {i}")).await,
        ));
    }
    let all = list_comments(&f.app, &f.viewer, &f.tid, "").await;
    assert_eq!(item_ids(&all), created);
    assert_eq!(
        items(&all)
            .iter()
            .map(|c| c["body"].as_str().expect("body").to_string())
            .collect::<Vec<_>>(),
        (0..5).map(|i| format!("comment {i}")).collect::<Vec<_>>()
    );

    let (paged, pages) = walk(
        &f.app,
        &f.viewer,
        &format!("/tasks/{}/comments?limit=2", f.tid),
    )
    .await;
    assert_eq!(pages, 3);
    assert_eq!(paged.iter().map(id_of).collect::<Vec<_>>(), created);

    // A comment added after the first page shows up at the end, nothing repeats.
    let first = list_comments(&f.app, &f.viewer, &f.tid, "limit=3").await;
    let newest = id_of(&comment(&f.app, &f.editor, &f.tid, "late").await);
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let rest = list_comments(
        &f.app,
        &f.viewer,
        &f.tid,
        &format!("limit=3&cursor={cursor}"),
    )
    .await;
    let mut seen = item_ids(&first);
    seen.extend(item_ids(&rest));
    created.push(newest);
    assert_eq!(seen, created);
    assert_eq!(rest["next_cursor"], Value::Null);
}

#[tokio::test]
async fn comments_list_rejects_bad_limit_and_cursor() {
    let f = fixture().await;
    for limit in ["0", "201", "x"] {
        let response = list_comments_raw(&f.app, &f.owner, &f.tid, &format!("limit={limit}")).await;
        assert_invalid(response, &["limit"]).await;
    }
    let response = list_comments_raw(&f.app, &f.owner, &f.tid, "cursor=garbage!").await;
    assert_problem(response, 400, "bad_request").await;
}

#[tokio::test]
async fn comments_are_listed_per_task() {
    let f = fixture().await;
    let other_task = id_of(&f.app.create_task(&f.owner, &f.pid, json!({})).await);
    let on_first = id_of(&comment(&f.app, &f.owner, &f.tid, "first task").await);
    let on_other = id_of(&comment(&f.app, &f.owner, &other_task, "other task").await);
    assert_eq!(
        item_ids(&list_comments(&f.app, &f.owner, &f.tid, "").await),
        vec![on_first]
    );
    assert_eq!(
        item_ids(&list_comments(&f.app, &f.owner, &other_task, "").await),
        vec![on_other]
    );
}

#[tokio::test]
async fn author_edits_their_comment() {
    let f = fixture().await;
    let c = comment(&f.app, &f.viewer, &f.tid, "typo").await;
    let cid = id_of(&c);
    f.app.clock.advance(std::time::Duration::from_secs(2));
    let edited = body(
        patch_comment(&f.app, &f.viewer, &cid, "  fixed  ").await,
        200,
    )
    .await;
    assert_eq!(edited["id"], c["id"]);
    assert_eq!(edited["body"], "fixed");
    assert_eq!(edited["author_id"], f.viewer.id.to_string());
    assert_eq!(edited["created_at"], c["created_at"]);
    assert_ne!(edited["updated_at"], c["updated_at"]);
    assert!(
        edited["updated_at"].as_str() > c["updated_at"].as_str(),
        "{edited}"
    );
    let page = list_comments(&f.app, &f.owner, &f.tid, "").await;
    assert_eq!(items(&page), vec![edited]);
}

#[tokio::test]
async fn comment_edit_is_validated() {
    let f = fixture().await;
    let cid = id_of(&comment(&f.app, &f.editor, &f.tid, "keep").await);
    for bad in ["", "  ", &"x".repeat(10_001)] {
        let response = patch_comment(&f.app, &f.editor, &cid, bad).await;
        assert_invalid(response, &["body"]).await;
    }
    let response = call(
        &f.app,
        &f.editor,
        Method::PATCH,
        &format!("/comments/{cid}"),
        Some(json!({"body": "x", "task_id": f.tid})),
    )
    .await;
    assert_invalid(response, &["task_id"]).await;
    let page = list_comments(&f.app, &f.owner, &f.tid, "").await;
    assert_eq!(items(&page)[0]["body"], "keep");
}

#[tokio::test]
async fn project_owner_edits_someone_elses_comment() {
    let f = fixture().await;
    let cid = id_of(&comment(&f.app, &f.viewer, &f.tid, "rude words").await);
    let edited = body(
        patch_comment(&f.app, &f.owner, &cid, "[moderated]").await,
        200,
    )
    .await;
    assert_eq!(edited["body"], "[moderated]");
    // The author stays the author.
    assert_eq!(edited["author_id"], f.viewer.id.to_string());
}

#[tokio::test]
async fn other_members_cannot_edit_someone_elses_comment() {
    let f = fixture().await;
    let cid = id_of(&comment(&f.app, &f.viewer, &f.tid, "mine").await);
    let response = patch_comment(&f.app, &f.editor, &cid, "hijacked").await;
    assert_problem(response, 403, "forbidden").await;
    let by_owner = id_of(&comment(&f.app, &f.owner, &f.tid, "owner's").await);
    let response = patch_comment(&f.app, &f.viewer, &by_owner, "hijacked").await;
    assert_problem(response, 403, "forbidden").await;
    let page = list_comments(&f.app, &f.owner, &f.tid, "").await;
    let bodies: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["body"].as_str().expect("body"))
        .collect();
    assert_eq!(bodies, vec!["mine", "owner's"]);
}

#[tokio::test]
async fn author_deletes_their_comment() {
    let f = fixture().await;
    let cid = id_of(&comment(&f.app, &f.viewer, &f.tid, "oops").await);
    let keep = id_of(&comment(&f.app, &f.editor, &f.tid, "keep").await);
    no_content(delete_comment(&f.app, &f.viewer, &cid).await).await;
    assert_eq!(
        item_ids(&list_comments(&f.app, &f.owner, &f.tid, "").await),
        vec![keep]
    );
    assert_problem(
        delete_comment(&f.app, &f.viewer, &cid).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        patch_comment(&f.app, &f.viewer, &cid, "back").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn project_owner_deletes_someone_elses_comment_but_an_editor_cannot() {
    let f = fixture().await;
    let cid = id_of(&comment(&f.app, &f.viewer, &f.tid, "spam").await);
    let response = delete_comment(&f.app, &f.editor, &cid).await;
    assert_problem(response, 403, "forbidden").await;
    assert_eq!(
        items(&list_comments(&f.app, &f.owner, &f.tid, "").await).len(),
        1
    );
    no_content(delete_comment(&f.app, &f.owner, &cid).await).await;
    assert!(items(&list_comments(&f.app, &f.owner, &f.tid, "").await).is_empty());
}

#[tokio::test]
async fn admin_acts_as_owner_on_comments() {
    let f = fixture().await;
    let admin = f.app.admin().await;
    let cid = id_of(&comment(&f.app, &f.viewer, &f.tid, "hello").await);
    body(list_comments_raw(&f.app, &admin, &f.tid, "").await, 200).await;
    let edited = body(
        patch_comment(&f.app, &admin, &cid, "edited by admin").await,
        200,
    )
    .await;
    assert_eq!(edited["body"], "edited by admin");
    no_content(delete_comment(&f.app, &admin, &cid).await).await;
    let c = comment(&f.app, &admin, &f.tid, "admin was here").await;
    assert_eq!(c["author_id"], admin.id.to_string());
}

#[tokio::test]
async fn non_members_get_404_on_every_comment_route() {
    let f = fixture().await;
    let cid = id_of(&comment(&f.app, &f.owner, &f.tid, "private").await);
    let s = &f.stranger;
    assert_problem(
        list_comments_raw(&f.app, s, &f.tid, "").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        post_comment(&f.app, s, &f.tid, "let me in").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        patch_comment(&f.app, s, &cid, "defaced").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(delete_comment(&f.app, s, &cid).await, 404, "not_found").await;
    // The comment is untouched.
    let page = list_comments(&f.app, &f.owner, &f.tid, "").await;
    assert_eq!(item_ids(&page), vec![cid]);
    assert_eq!(items(&page)[0]["body"], "private");
}

#[tokio::test]
async fn commenting_on_a_task_of_a_project_you_cannot_see_is_404() {
    let f = fixture().await;
    // The stranger has a project of their own, with a task.
    let own = id_of(&f.app.create_project(&f.stranger, "Mine").await);
    let own_task = id_of(&f.app.create_task(&f.stranger, &own, json!({})).await);
    comment(&f.app, &f.stranger, &own_task, "fine here").await;
    // But the other project's task stays invisible.
    assert_problem(
        post_comment(&f.app, &f.stranger, &f.tid, "sneaky").await,
        404,
        "not_found",
    )
    .await;
    // And the owner of the first project cannot see the stranger's task either.
    assert_problem(
        post_comment(&f.app, &f.owner, &own_task, "sneaky").await,
        404,
        "not_found",
    )
    .await;
    assert!(items(&list_comments(&f.app, &f.owner, &f.tid, "").await).is_empty());
}

#[tokio::test]
async fn comment_routes_answer_404_for_unknown_or_malformed_ids() {
    let f = fixture().await;
    let unknown = Uuid::now_v7().to_string();
    assert_problem(
        post_comment(&f.app, &f.owner, &unknown, "x").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        list_comments_raw(&f.app, &f.owner, &unknown, "").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        patch_comment(&f.app, &f.owner, &unknown, "x").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        delete_comment(&f.app, &f.owner, &unknown).await,
        404,
        "not_found",
    )
    .await;
    for bad in ["abc", "123"] {
        assert_problem(
            post_comment(&f.app, &f.owner, bad, "x").await,
            404,
            "not_found",
        )
        .await;
        assert_problem(
            list_comments_raw(&f.app, &f.owner, bad, "").await,
            404,
            "not_found",
        )
        .await;
        assert_problem(
            patch_comment(&f.app, &f.owner, bad, "x").await,
            404,
            "not_found",
        )
        .await;
        assert_problem(
            delete_comment(&f.app, &f.owner, bad).await,
            404,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn comments_go_with_their_task() {
    let f = fixture().await;
    let cid = id_of(&comment(&f.app, &f.viewer, &f.tid, "about to vanish").await);
    no_content(
        call(
            &f.app,
            &f.owner,
            Method::DELETE,
            &format!("/tasks/{}", f.tid),
            None,
        )
        .await,
    )
    .await;
    assert_problem(
        patch_comment(&f.app, &f.viewer, &cid, "still here?").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        list_comments_raw(&f.app, &f.viewer, &f.tid, "").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_removed_member_loses_access_to_their_own_comments() {
    let f = fixture().await;
    let cid = id_of(&comment(&f.app, &f.viewer, &f.tid, "bye").await);
    no_content(
        call(
            &f.app,
            &f.owner,
            Method::DELETE,
            &format!("/projects/{}/members/{}", f.pid, f.viewer.id),
            None,
        )
        .await,
    )
    .await;
    assert_problem(
        patch_comment(&f.app, &f.viewer, &cid, "edit").await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        delete_comment(&f.app, &f.viewer, &cid).await,
        404,
        "not_found",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Activity

async fn project_activity(app: &TestApp, user: &TestUser, pid: &str, query: &str) -> Response {
    call(
        app,
        user,
        Method::GET,
        &format!("/projects/{pid}/activity?{query}"),
        None,
    )
    .await
}

async fn activity(app: &TestApp, user: &TestUser, query: &str) -> Response {
    call(app, user, Method::GET, &format!("/activity?{query}"), None).await
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_string())
        .collect()
}

fn project_ids(entries: &[Value]) -> HashSet<String> {
    entries
        .iter()
        .map(|e| e["project_id"].as_str().expect("project_id").to_string())
        .collect()
}

/// Asserts entries are ordered newest first (by `created_at`; ids break ties).
fn assert_newest_first(entries: &[Value]) {
    for pair in entries.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (at_a, at_b) = (
            a["created_at"].as_str().expect("at"),
            b["created_at"].as_str().expect("at"),
        );
        assert!(
            at_a > at_b || (at_a == at_b && id_of(a) > id_of(b)),
            "not newest first: {a} then {b}"
        );
    }
}

#[tokio::test]
async fn project_activity_records_every_kind_of_change_newest_first() {
    let app = TestApp::spawn().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pid = id_of(&app.create_project(&alice, "Logged").await);
    app.add_member(&alice, &pid, &bob, "editor").await;
    let tid = id_of(
        &app.create_task(&bob, &pid, json!({"title": "Write docs"}))
            .await,
    );
    let response = call(
        &app,
        &alice,
        Method::PATCH,
        &format!("/tasks/{tid}"),
        Some(json!({"title": "Write the docs"})),
    )
    .await;
    body(response, 200).await;
    body(
        app.move_task(&bob, &tid, json!({"status": "in_progress"}))
            .await,
        200,
    )
    .await;
    let cid = id_of(&comment(&app, &bob, &tid, "on it").await);
    no_content(call(&app, &alice, Method::DELETE, &format!("/tasks/{tid}"), None).await).await;

    let page = body(project_activity(&app, &bob, &pid, "").await, 200).await;
    let entries = items(&page);
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(
        actions(&entries),
        vec![
            "task.deleted",
            "comment.created",
            "task.moved",
            "task.updated",
            "task.created",
            "member.added",
            "project.created",
        ]
    );
    assert_newest_first(&entries);
    let actor = |action: &str| -> String {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .map(|e| e["user_id"].as_str().expect("user_id").to_string())
            .expect("entry")
    };
    assert_eq!(actor("project.created"), alice.id.to_string());
    assert_eq!(actor("member.added"), alice.id.to_string());
    assert_eq!(actor("task.created"), bob.id.to_string());
    assert_eq!(actor("task.updated"), alice.id.to_string());
    assert_eq!(actor("task.moved"), bob.id.to_string());
    assert_eq!(actor("comment.created"), bob.id.to_string());
    assert_eq!(actor("task.deleted"), alice.id.to_string());
    for entry in &entries {
        let keys: HashSet<&str> = entry
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            HashSet::from([
                "id",
                "user_id",
                "project_id",
                "task_id",
                "action",
                "details",
                "created_at"
            ]),
            "{entry}"
        );
        assert_eq!(entry["project_id"], pid);
        assert!(is_rfc3339_utc(&entry["created_at"]), "{entry}");
        assert!(entry["details"].is_object(), "{entry}");
        let action = entry["action"].as_str().expect("action");
        if action.starts_with("task.") || action.starts_with("comment.") {
            assert_eq!(entry["task_id"], tid, "{entry}");
        } else {
            assert_eq!(entry["task_id"], Value::Null, "{entry}");
        }
    }
    let moved = entries
        .iter()
        .find(|e| e["action"] == "task.moved")
        .expect("moved");
    assert_eq!(moved["details"]["from"], "todo");
    assert_eq!(moved["details"]["to"], "in_progress");
    let added = entries
        .iter()
        .find(|e| e["action"] == "member.added")
        .expect("added");
    assert_eq!(added["details"]["user_id"], bob.id.to_string());
    let commented = entries
        .iter()
        .find(|e| e["action"] == "comment.created")
        .expect("comment");
    assert_eq!(commented["details"]["comment_id"], cid);
}

#[tokio::test]
async fn project_activity_is_for_members_only() {
    let f = fixture().await;
    let admin = f.app.admin().await;
    for user in [&f.owner, &f.editor, &f.viewer, &admin] {
        let page = body(project_activity(&f.app, user, &f.pid, "").await, 200).await;
        assert!(!items(&page).is_empty());
    }
    assert_problem(
        project_activity(&f.app, &f.stranger, &f.pid, "").await,
        404,
        "not_found",
    )
    .await;
    let unknown = Uuid::now_v7().to_string();
    assert_problem(
        project_activity(&f.app, &f.owner, &unknown, "").await,
        404,
        "not_found",
    )
    .await;
    let response = f
        .app
        .get(&format!("/projects/{}/activity", f.pid))
        .send()
        .await
        .expect("send");
    assert_problem(response, 401, "unauthorized").await;
}

#[tokio::test]
async fn project_activity_paginates_without_gaps_or_duplicates() {
    let f = fixture().await;
    for i in 0..6 {
        comment(&f.app, &f.viewer, &f.tid, &format!("c{i}")).await;
    }
    // project.created, 2 × member.added, task.created, 6 × comment.created
    let full = items(
        &body(
            project_activity(&f.app, &f.owner, &f.pid, "limit=200").await,
            200,
        )
        .await,
    );
    assert_eq!(full.len(), 10);
    let (paged, pages) = walk(
        &f.app,
        &f.owner,
        &format!("/projects/{}/activity?limit=3", f.pid),
    )
    .await;
    assert_eq!(pages, 4);
    assert_eq!(paged, full);
}

#[tokio::test]
async fn global_activity_admin_sees_every_project_members_only_theirs() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let carol = app.register().await;
    let pa = id_of(&app.create_project(&alice, "Alice's").await);
    let pb = id_of(&app.create_project(&bob, "Bob's").await);
    app.create_task(&alice, &pa, json!({})).await;
    app.create_task(&bob, &pb, json!({})).await;

    let all = items(&body(activity(&app, &admin, "").await, 200).await);
    assert_eq!(project_ids(&all), HashSet::from([pa.clone(), pb.clone()]));
    assert_eq!(all.len(), 4);
    assert_newest_first(&all);

    let mine = items(&body(activity(&app, &alice, "").await, 200).await);
    assert_eq!(project_ids(&mine), HashSet::from([pa.clone()]));
    assert_eq!(
        actions(&mine),
        vec!["task.created".to_string(), "project.created".to_string()]
    );
    let mine = items(&body(activity(&app, &bob, "").await, 200).await);
    assert_eq!(project_ids(&mine), HashSet::from([pb.clone()]));
    assert!(items(&body(activity(&app, &carol, "").await, 200).await).is_empty());

    // Joining a project shows its whole history; leaving hides it again.
    app.add_member(&alice, &pa, &carol, "viewer").await;
    let joined = items(&body(activity(&app, &carol, "").await, 200).await);
    assert_eq!(project_ids(&joined), HashSet::from([pa.clone()]));
    assert_eq!(joined.len(), 3, "{joined:?}");
    no_content(
        call(
            &app,
            &carol,
            Method::DELETE,
            &format!("/projects/{pa}/members/{}", carol.id),
            None,
        )
        .await,
    )
    .await;
    assert!(items(&body(activity(&app, &carol, "").await, 200).await).is_empty());
}

#[tokio::test]
async fn global_activity_filters_by_user_id() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let shared = id_of(&app.create_project(&alice, "Shared").await);
    app.add_member(&alice, &shared, &bob, "editor").await;
    app.create_task(&bob, &shared, json!({})).await;
    app.create_task(&bob, &shared, json!({})).await;
    // Bob's own project, invisible to Alice.
    let hidden = id_of(&app.create_project(&bob, "Hidden").await);

    let bobs = items(
        &body(
            activity(&app, &alice, &format!("user_id={}", bob.id)).await,
            200,
        )
        .await,
    );
    assert_eq!(
        actions(&bobs),
        vec!["task.created".to_string(), "task.created".to_string()]
    );
    assert!(bobs.iter().all(|e| e["user_id"] == bob.id.to_string()));
    assert_eq!(project_ids(&bobs), HashSet::from([shared.clone()]));

    let alices = items(
        &body(
            activity(&app, &alice, &format!("user_id={}", alice.id)).await,
            200,
        )
        .await,
    );
    assert_eq!(
        actions(&alices),
        vec!["member.added".to_string(), "project.created".to_string()]
    );

    // The admin sees Bob's entries in every project.
    let bobs = items(
        &body(
            activity(&app, &admin, &format!("user_id={}", bob.id)).await,
            200,
        )
        .await,
    );
    assert_eq!(bobs.len(), 3);
    assert_eq!(project_ids(&bobs), HashSet::from([shared, hidden]));

    let nobody = Uuid::now_v7();
    let none = items(
        &body(
            activity(&app, &admin, &format!("user_id={nobody}")).await,
            200,
        )
        .await,
    );
    assert!(none.is_empty());
}

#[tokio::test]
async fn global_activity_paginates_without_gaps_or_duplicates() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let alice = app.register().await;
    let bob = app.register().await;
    let pa = id_of(&app.create_project(&alice, "A").await);
    let pb = id_of(&app.create_project(&bob, "B").await);
    for i in 0..5 {
        app.create_task(&alice, &pa, json!({ "title": format!("a{i}") }))
            .await;
        app.create_task(&bob, &pb, json!({ "title": format!("b{i}") }))
            .await;
    }
    let full = items(&body(activity(&app, &admin, "limit=200").await, 200).await);
    assert_eq!(full.len(), 12);
    assert_newest_first(&full);
    let (paged, pages) = walk(&app, &admin, "/activity?limit=5").await;
    assert_eq!(pages, 3);
    assert_eq!(paged, full);
    let ids: HashSet<String> = paged.iter().map(id_of).collect();
    assert_eq!(ids.len(), 12, "no duplicates");

    // A member's pages cover exactly their own project's entries.
    let (paged, _) = walk(&app, &alice, "/activity?limit=2").await;
    assert_eq!(paged.len(), 6);
    assert_eq!(project_ids(&paged), HashSet::from([pa]));

    // New entries do not disturb a walk already under way.
    let first = body(activity(&app, &admin, "limit=4").await, 200).await;
    app.create_task(&bob, &pb, json!({})).await;
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let rest = body(
        activity(&app, &admin, &format!("limit=200&cursor={cursor}")).await,
        200,
    )
    .await;
    let mut seen = items(&first);
    seen.extend(items(&rest));
    assert_eq!(seen, full);
}

#[tokio::test]
async fn activity_rejects_bad_cursor_user_id_and_limit() {
    let f = fixture().await;
    for cursor in ["garbage!", "Zm9v", "YzE6bm9waXBl"] {
        assert_problem(
            activity(&f.app, &f.owner, &format!("cursor={cursor}")).await,
            400,
            "bad_request",
        )
        .await;
        assert_problem(
            project_activity(&f.app, &f.owner, &f.pid, &format!("cursor={cursor}")).await,
            400,
            "bad_request",
        )
        .await;
    }
    assert_invalid(
        activity(&f.app, &f.owner, "user_id=bob").await,
        &["user_id"],
    )
    .await;
    for limit in ["0", "201", "many"] {
        assert_invalid(
            activity(&f.app, &f.owner, &format!("limit={limit}")).await,
            &["limit"],
        )
        .await;
        assert_invalid(
            project_activity(&f.app, &f.owner, &f.pid, &format!("limit={limit}")).await,
            &["limit"],
        )
        .await;
    }
    assert_invalid(
        activity(&f.app, &f.owner, "limit=0&user_id=x").await,
        &["limit", "user_id"],
    )
    .await;
    let response = f.app.get("/activity").send().await.expect("send");
    assert_problem(response, 401, "unauthorized").await;
}
