//! The authorization matrix of the project area: every route × every kind of caller, with
//! the exact answer docs/api.md promises (a non-member gets 404, never 403; a viewer writing
//! gets 403; no token gets 401; an admin acts as owner).
//!
//! Each case runs against a fresh fixture (project, members, task, comment), so
//! destructive cases never affect another case. A denied write must leave the project's
//! event log as it was (nothing changed).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Owner,
    Editor,
    Viewer,
    /// A registered user who is not a member.
    Other,
    /// An admin who is not a member.
    Admin,
    /// No `Authorization` header.
    Anonymous,
}

/// One route of the matrix: the expected status for each caller, in the order
/// owner, editor, viewer, other, admin, anonymous.
struct Case {
    name: &'static str,
    method: Method,
    /// With `{pid}`, `{tid}`, `{cid}` (a comment by the owner) and `{target}` (a viewer
    /// member who is none of the callers).
    path: &'static str,
    body: Option<fn(&Ids) -> Value>,
    expect: [u16; 6],
}

/// The ids of one fixture.
struct Ids {
    pid: String,
    tid: String,
    cid: String,
    target: String,
    /// A registered user who is not a member (to be added).
    newcomer: String,
}

struct Users {
    owner: TestUser,
    editor: TestUser,
    viewer: TestUser,
    other: TestUser,
    admin: TestUser,
    target: TestUser,
    newcomer: TestUser,
}

impl Users {
    fn caller(&self, caller: Caller) -> Option<&TestUser> {
        match caller {
            Caller::Owner => Some(&self.owner),
            Caller::Editor => Some(&self.editor),
            Caller::Viewer => Some(&self.viewer),
            Caller::Other => Some(&self.other),
            Caller::Admin => Some(&self.admin),
            Caller::Anonymous => None,
        }
    }
}

fn column(caller: Caller) -> usize {
    match caller {
        Caller::Owner => 0,
        Caller::Editor => 1,
        Caller::Viewer => 2,
        Caller::Other => 3,
        Caller::Admin => 4,
        Caller::Anonymous => 5,
    }
}

fn cases() -> Vec<Case> {
    use Method as M;
    // owner, editor, viewer, other, admin, anonymous
    const READ: [u16; 6] = [200, 200, 200, 404, 200, 401];
    const EDIT: [u16; 6] = [200, 200, 403, 404, 200, 401];
    const OWN: [u16; 6] = [200, 403, 403, 404, 200, 401];
    const OWN_DELETE: [u16; 6] = [204, 403, 403, 404, 204, 401];
    vec![
        Case {
            name: "get project",
            method: M::GET,
            path: "/projects/{pid}",
            body: None,
            expect: READ,
        },
        Case {
            name: "patch project",
            method: M::PATCH,
            path: "/projects/{pid}",
            body: Some(|_| json!({"name": "Renamed", "due_date": "2030-01-01"})),
            expect: EDIT,
        },
        Case {
            name: "delete project",
            method: M::DELETE,
            path: "/projects/{pid}",
            body: None,
            expect: OWN_DELETE,
        },
        Case {
            name: "project progress",
            method: M::GET,
            path: "/projects/{pid}/progress",
            body: None,
            expect: READ,
        },
        Case {
            name: "project board",
            method: M::GET,
            path: "/projects/{pid}/board",
            body: None,
            expect: READ,
        },
        Case {
            name: "project activity",
            method: M::GET,
            path: "/projects/{pid}/activity",
            body: None,
            expect: READ,
        },
        Case {
            name: "list members",
            method: M::GET,
            path: "/projects/{pid}/members",
            body: None,
            expect: READ,
        },
        Case {
            name: "add member",
            method: M::POST,
            path: "/projects/{pid}/members",
            body: Some(|ids| json!({"user_id": ids.newcomer, "role": "viewer"})),
            expect: [201, 403, 403, 404, 201, 401],
        },
        Case {
            name: "change member role",
            method: M::PATCH,
            path: "/projects/{pid}/members/{target}",
            body: Some(|_| json!({"role": "editor"})),
            expect: OWN,
        },
        Case {
            name: "remove member",
            method: M::DELETE,
            path: "/projects/{pid}/members/{target}",
            body: None,
            expect: OWN_DELETE,
        },
        Case {
            name: "create task",
            method: M::POST,
            path: "/tasks",
            body: Some(|ids| json!({"project_id": ids.pid, "title": "New task"})),
            expect: [201, 201, 403, 404, 201, 401],
        },
        Case {
            name: "get task",
            method: M::GET,
            path: "/tasks/{tid}",
            body: None,
            expect: READ,
        },
        Case {
            name: "patch task",
            method: M::PATCH,
            path: "/tasks/{tid}",
            body: Some(|_| json!({"title": "Edited", "priority": "high"})),
            expect: EDIT,
        },
        Case {
            name: "delete task",
            method: M::DELETE,
            path: "/tasks/{tid}",
            body: None,
            expect: [204, 204, 403, 404, 204, 401],
        },
        Case {
            name: "move task",
            method: M::PATCH,
            path: "/tasks/{tid}/move",
            body: Some(|_| json!({"status": "in_progress"})),
            expect: EDIT,
        },
        Case {
            name: "list comments",
            method: M::GET,
            path: "/tasks/{tid}/comments",
            body: None,
            expect: READ,
        },
        Case {
            name: "create comment",
            method: M::POST,
            path: "/tasks/{tid}/comments",
            body: Some(|_| json!({"body": "A comment"})),
            expect: [201, 201, 201, 404, 201, 401],
        },
        Case {
            name: "patch comment (the owner's)",
            method: M::PATCH,
            path: "/comments/{cid}",
            body: Some(|_| json!({"body": "Edited"})),
            expect: OWN,
        },
        Case {
            name: "delete comment (the owner's)",
            method: M::DELETE,
            path: "/comments/{cid}",
            body: None,
            expect: OWN_DELETE,
        },
    ]
}

/// Registers everyone once per app (password hashing is the slow part).
async fn users(app: &TestApp) -> Users {
    let (owner, editor, viewer, other, target, newcomer) = tokio::join!(
        app.register(),
        app.register(),
        app.register(),
        app.register(),
        app.register(),
        app.register(),
    );
    Users {
        owner,
        editor,
        viewer,
        other,
        admin: app.admin().await,
        target,
        newcomer,
    }
}

/// A fresh project: the owner, an editor, a viewer and the target viewer as members; one
/// task with one comment by the owner.
async fn fixture(app: &TestApp, users: &Users) -> Ids {
    let project = app.create_project(&users.owner, "Matrix").await;
    let pid = project["id"].as_str().expect("id").to_string();
    app.add_member(&users.owner, &pid, &users.editor, "editor")
        .await;
    app.add_member(&users.owner, &pid, &users.viewer, "viewer")
        .await;
    app.add_member(&users.owner, &pid, &users.target, "viewer")
        .await;
    let task = app
        .create_task(&users.owner, &pid, json!({"title": "Fixture task"}))
        .await;
    let tid = task["id"].as_str().expect("id").to_string();
    let response = app
        .post(&format!("/tasks/{tid}/comments"))
        .bearer_auth(&users.owner.access)
        .json(&json!({"body": "The owner's comment"}))
        .send()
        .await
        .expect("comment");
    assert_eq!(response.status().as_u16(), 201, "fixture comment");
    let comment: Value = response.json().await.expect("json");
    Ids {
        pid,
        tid,
        cid: comment["id"].as_str().expect("id").to_string(),
        target: users.target.id.to_string(),
        newcomer: users.newcomer.id.to_string(),
    }
}

fn fill(path: &str, ids: &Ids) -> String {
    path.replace("{pid}", &ids.pid)
        .replace("{tid}", &ids.tid)
        .replace("{cid}", &ids.cid)
        .replace("{target}", &ids.target)
}

/// Runs every case of the matrix as `caller`, each against a fresh fixture, and reports
/// every mismatch at once.
async fn check_matrix(caller: Caller) {
    let app = TestApp::spawn().await;
    let users = users(&app).await;
    let mut failures = Vec::new();
    for case in cases() {
        let ids = fixture(&app, &users).await;
        let events_before = app.stored_events(&ids.pid).await.len();
        let path = fill(case.path, &ids);
        let mut request = app.request(case.method.clone(), &path);
        if let Some(user) = users.caller(caller) {
            request = request.bearer_auth(&user.access);
        }
        if let Some(body) = case.body {
            request = request.json(&body(&ids));
        }
        let response = request.send().await.expect("send");
        let expected = case.expect[column(caller)];
        let status = response.status().as_u16();
        let www_authenticate = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.expect("body");
        let what = format!("{:?} {} ({} {path})", caller, case.name, case.method);
        if status != expected {
            failures.push(format!("{what}: expected {expected}, got {status}: {text}"));
            continue;
        }
        if status >= 400 {
            let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let code = match status {
                401 => "unauthorized",
                403 => "forbidden",
                _ => "not_found",
            };
            if problem["code"] != code {
                failures.push(format!("{what}: expected code {code}: {text}"));
            }
            if status == 401
                && !www_authenticate
                    .as_deref()
                    .is_some_and(|v| v.to_ascii_lowercase().starts_with("bearer"))
            {
                failures.push(format!("{what}: 401 without WWW-Authenticate: Bearer"));
            }
            // A denied request changes nothing.
            let events_after = app.stored_events(&ids.pid).await.len();
            if events_after != events_before {
                failures.push(format!(
                    "{what}: denied, yet the project got {} new event(s)",
                    events_after - events_before
                ));
            }
        } else if case.method != Method::GET {
            // An allowed write is one recorded change (a deleted project keeps its log).
            let events_after = app.stored_events(&ids.pid).await.len();
            if events_after != events_before + 1 {
                failures.push(format!(
                    "{what}: allowed write recorded {} event(s), expected 1",
                    events_after as i64 - events_before as i64
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatch(es):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn owner_may_do_everything() {
    check_matrix(Caller::Owner).await;
}

#[tokio::test]
async fn editor_edits_the_project_and_its_tasks_but_does_not_own() {
    check_matrix(Caller::Editor).await;
}

#[tokio::test]
async fn viewer_reads_and_comments_and_gets_403_for_writes() {
    check_matrix(Caller::Viewer).await;
}

#[tokio::test]
async fn non_member_gets_404_everywhere_never_403() {
    check_matrix(Caller::Other).await;
}

#[tokio::test]
async fn admin_acts_as_owner_without_being_a_member() {
    check_matrix(Caller::Admin).await;
}

#[tokio::test]
async fn anonymous_gets_401_everywhere() {
    check_matrix(Caller::Anonymous).await;
}

#[tokio::test]
async fn editor_may_edit_and_delete_only_their_own_comments() {
    let app = TestApp::spawn().await;
    let users = users(&app).await;
    let ids = fixture(&app, &users).await;
    let response = app
        .post(&format!("/tasks/{}/comments", ids.tid))
        .bearer_auth(&users.editor.access)
        .json(&json!({"body": "The editor's comment"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 201);
    let own: Value = response.json().await.expect("json");
    let own = own["id"].as_str().expect("id").to_string();
    // The editor may change their own comment, not the owner's.
    let response = app
        .patch(&format!("/comments/{own}"))
        .bearer_auth(&users.editor.access)
        .json(&json!({"body": "Edited"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 200);
    let response = app
        .patch(&format!("/comments/{}", ids.cid))
        .bearer_auth(&users.editor.access)
        .json(&json!({"body": "Edited"}))
        .send()
        .await
        .expect("send");
    assert_problem(response, 403, "forbidden").await;
    let response = app
        .delete(&format!("/comments/{}", ids.cid))
        .bearer_auth(&users.editor.access)
        .send()
        .await
        .expect("send");
    assert_problem(response, 403, "forbidden").await;
    let response = app
        .delete(&format!("/comments/{own}"))
        .bearer_auth(&users.editor.access)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 204);
}

#[tokio::test]
async fn members_may_leave_but_not_remove_others() {
    let app = TestApp::spawn().await;
    let users = users(&app).await;
    for (who, role) in [(&users.editor, "editor"), (&users.viewer, "viewer")] {
        let ids = fixture(&app, &users).await;
        let response = app
            .delete(&format!("/projects/{}/members/{}", ids.pid, ids.target))
            .bearer_auth(&who.access)
            .send()
            .await
            .expect("send");
        assert_problem(response, 403, "forbidden").await;
        let response = app
            .delete(&format!("/projects/{}/members/{}", ids.pid, who.id))
            .bearer_auth(&who.access)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 204, "{role} leaves");
        // Gone: the project is now hidden from them.
        let response = app
            .get(&format!("/projects/{}", ids.pid))
            .bearer_auth(&who.access)
            .send()
            .await
            .expect("send");
        assert_problem(response, 404, "not_found").await;
    }
}

#[tokio::test]
async fn a_bad_token_is_401_not_anonymous() {
    let app = TestApp::spawn().await;
    let users = users(&app).await;
    let ids = fixture(&app, &users).await;
    for path in [
        format!("/projects/{}", ids.pid),
        format!("/tasks/{}", ids.tid),
        format!("/tasks/{}/comments", ids.tid),
        "/activity".to_string(),
        "/projects".to_string(),
    ] {
        for auth in ["Bearer not-a-jwt", "Bearer ", "Basic dXNlcjpwYXNz"] {
            let response = app
                .get(&path)
                .header("authorization", auth)
                .send()
                .await
                .expect("send");
            assert_problem(response, 401, "unauthorized").await;
        }
        // A refresh token is not an access token.
        let response = app
            .get(&path)
            .bearer_auth(&users.owner.refresh)
            .send()
            .await
            .expect("send");
        assert_problem(response, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn non_member_cannot_tell_a_hidden_project_from_a_missing_one() {
    let app = TestApp::spawn().await;
    let users = users(&app).await;
    let ids = fixture(&app, &users).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let hidden = app
        .get(&format!("/projects/{}", ids.pid))
        .bearer_auth(&users.other.access)
        .send()
        .await
        .expect("send");
    let hidden = assert_problem(hidden, 404, "not_found").await;
    let absent = app
        .get(&format!("/projects/{missing}"))
        .bearer_auth(&users.other.access)
        .send()
        .await
        .expect("send");
    let absent = assert_problem(absent, 404, "not_found").await;
    assert_eq!(hidden["title"], absent["title"]);
    assert_eq!(hidden["detail"], absent["detail"]);
}
