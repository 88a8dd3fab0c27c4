//! Live delivery across every path that changes who may see a project: the WebSocket is
//! opened FIRST, then the change is made, and the already-open connection must receive
//! exactly the events it is entitled to — in order, once, and nothing else.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

/// How long "nothing more arrives" is watched.
const QUIET: Duration = Duration::from_millis(300);
/// How long an expected event may take.
const WAIT: Duration = Duration::from_secs(5);

/// `(type, project_id, seq)` of an event, for comparisons with readable failures.
type Ev = (String, String, i64);

fn ev(kind: &str, pid: &str, seq: i64) -> Ev {
    (kind.to_string(), pid.to_string(), seq)
}

fn key(m: &Value) -> Ev {
    (
        m["type"].as_str().unwrap_or("?").to_string(),
        m["project_id"].as_str().unwrap_or("?").to_string(),
        m["seq"].as_i64().unwrap_or(-1),
    )
}

/// Reads project events until `expected.len()` arrived (or `WAIT` passed); personal
/// notifications are skipped, anything else fails. Then asserts silence for `QUIET`.
/// Returns the events.
async fn expect_exactly(ws: &mut WsClient, who: &str, expected: &[Ev]) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut got: Vec<Value> = Vec::new();
    while got.len() < expected.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next_json_within(left).await {
            Some(m) if m["seq"].is_i64() => got.push(m),
            Some(m) if m["type"] == "notification" => {}
            Some(m) => panic!("{who}: unexpected message {m}"),
            None => break,
        }
    }
    let keys: Vec<Ev> = got.iter().map(key).collect();
    assert_eq!(
        keys, expected,
        "{who}: the events received (left) are not the expected ones (right)"
    );
    // Nothing else: no duplicate, no event of a project it may not see.
    let deadline = tokio::time::Instant::now() + QUIET;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next_json_within(left).await {
            Some(m) if m["type"] == "notification" => {}
            Some(m) => panic!("{who}: expected nothing more, got {m}"),
            None => break,
        }
    }
    got
}

/// A request that must answer `status`; its JSON body (Null when empty).
async fn send_expecting(request: reqwest::RequestBuilder, status: u16, what: &str) -> Value {
    let response = request.send().await.expect(what);
    let actual = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "{what}: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    }
}

/// Opens `tabs` sockets of `user` on `app` and one on `sibling` when there is one.
async fn tabs(app: &TestApp, sibling: Option<&TestApp>, user: &TestUser) -> Vec<WsClient> {
    let mut out = vec![app.ws(user, "").await, app.ws(user, "").await];
    if let Some(other) = sibling {
        out.push(other.ws(user, "").await);
    }
    out
}

/// The creator's already-open sockets (two tabs, and one on another instance when there is
/// one) receive the new project's `project.created` (seq 1) and what follows.
async fn creator_receives_its_new_project(admin: bool) {
    let app = TestApp::spawn().await;
    let sibling = sibling_of(&app).await;
    let user = if admin {
        app.admin().await
    } else {
        app.register().await
    };
    let stranger = app.register().await;
    let mut sockets = tabs(&app, sibling.as_ref(), &user).await;
    let mut theirs = app.ws(&stranger, "").await;

    let project = app.create_project(&user, "Brand new").await;
    let pid = id_of(&project);
    app.create_task(&user, &pid, json!({"title": "first"}))
        .await;
    let expected = [ev("project.created", &pid, 1), ev("task.created", &pid, 2)];
    for (i, ws) in sockets.iter_mut().enumerate() {
        let got = expect_exactly(ws, &format!("creator tab {i}"), &expected).await;
        assert_eq!(got[0]["data"]["project"], project);
        assert_eq!(got[0]["actor_id"], user.id.to_string());
    }
    theirs.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_user_creating_a_project_gets_its_events_on_already_open_sockets() {
    creator_receives_its_new_project(false).await;
}

#[tokio::test]
async fn an_admin_creating_a_project_gets_its_events_on_already_open_sockets() {
    creator_receives_its_new_project(true).await;
}

/// B's socket is open before the project even exists; B is added through `writer` while
/// connected to `reader`: B gets its own `member.added`, then every later event.
async fn added_member_receives_everything_after(writer: &TestApp, reader: &TestApp) {
    let owner = writer.register().await;
    let member = writer.register().await;
    let mut on_b = reader.ws(&member, "").await;
    let project = writer.create_project(&owner, "Joining").await;
    let pid = id_of(&project);
    writer
        .create_task(&owner, &pid, json!({"title": "before B"}))
        .await; // seq 2: not for B
    let added = send_expecting(
        writer
            .post(&format!("/projects/{pid}/members"))
            .bearer_auth(&owner.access)
            .json(&json!({"user_id": member.id, "role": "editor"})),
        201,
        "add member",
    )
    .await;
    writer
        .create_task(&owner, &pid, json!({"title": "after B"}))
        .await; // seq 4
    send_expecting(
        writer
            .patch(&format!("/projects/{pid}"))
            .bearer_auth(&owner.access)
            .json(&json!({"name": "Joined"})),
        200,
        "rename",
    )
    .await; // seq 5
    // B's own write counts too.
    writer
        .create_task(&member, &pid, json!({"title": "by B"}))
        .await; // seq 6
    let got = expect_exactly(
        &mut on_b,
        "added member",
        &[
            ev("member.added", &pid, 3),
            ev("task.created", &pid, 4),
            ev("project.updated", &pid, 5),
            ev("task.created", &pid, 6),
        ],
    )
    .await;
    assert_eq!(got[0]["data"]["member"], added);
    assert_eq!(
        got[0]["data"]["member"]["user"]["id"],
        member.id.to_string()
    );
}

#[tokio::test]
async fn a_member_added_while_connected_gets_member_added_and_every_later_event() {
    let app = TestApp::spawn().await;
    added_member_receives_everything_after(&app, &app).await;
}

#[tokio::test]
async fn a_member_added_through_one_instance_gets_its_events_on_another() {
    if !on_postgres() || redis_url().is_none() {
        eprintln!("skipped: needs PostgreSQL + Redis");
        return;
    }
    let a = TestApp::spawn().await;
    let b = a.spawn_sibling().await;
    added_member_receives_everything_after(&a, &b).await;
}

/// B is removed and re-added at once: it gets its `member.removed`, nothing made while it
/// was out, then its `member.added` and what follows.
async fn removed_and_readded_member(writer: &TestApp, reader: &TestApp) {
    let owner = writer.register().await;
    let member = writer.register().await;
    let project = writer.create_project(&owner, "Revolving door").await;
    let pid = id_of(&project);
    writer.add_member(&owner, &pid, &member, "viewer").await; // seq 2
    let mut on_b = reader.ws(&member, "").await;
    let mut owner_ws = reader.ws(&owner, "").await;
    let members = format!("/projects/{pid}/members");
    send_expecting(
        writer
            .delete(&format!("{members}/{}", member.id))
            .bearer_auth(&owner.access),
        204,
        "remove",
    )
    .await; // seq 3
    writer
        .create_task(&owner, &pid, json!({"title": "while out"}))
        .await; // seq 4
    send_expecting(
        writer
            .post(&members)
            .bearer_auth(&owner.access)
            .json(&json!({"user_id": member.id, "role": "editor"})),
        201,
        "re-add",
    )
    .await; // seq 5
    writer
        .create_task(&owner, &pid, json!({"title": "back in"}))
        .await; // seq 6
    let got = expect_exactly(
        &mut on_b,
        "re-added member",
        &[
            ev("member.removed", &pid, 3),
            ev("member.added", &pid, 5),
            ev("task.created", &pid, 6),
        ],
    )
    .await;
    assert_eq!(
        got[0]["data"]["member"]["user"]["id"],
        member.id.to_string()
    );
    assert_eq!(got[1]["data"]["member"]["role"], "editor");
    assert_eq!(got[2]["data"]["task"]["title"], "back in");
    // The owner saw all of it.
    expect_exactly(
        &mut owner_ws,
        "owner",
        &(3..=6)
            .zip([
                "member.removed",
                "task.created",
                "member.added",
                "task.created",
            ])
            .map(|(s, k)| ev(k, &pid, s))
            .collect::<Vec<_>>(),
    )
    .await;
    // Removed a second time, B hears nothing more of the project.
    send_expecting(
        writer
            .delete(&format!("{members}/{}", member.id))
            .bearer_auth(&owner.access),
        204,
        "remove again",
    )
    .await; // seq 7
    writer
        .create_task(&owner, &pid, json!({"title": "gone for good"}))
        .await; // seq 8
    expect_exactly(
        &mut on_b,
        "removed member",
        &[ev("member.removed", &pid, 7)],
    )
    .await;
}

#[tokio::test]
async fn a_member_removed_then_readded_gets_nothing_in_between() {
    let app = TestApp::spawn().await;
    removed_and_readded_member(&app, &app).await;
}

#[tokio::test]
async fn a_member_removed_then_readded_through_another_instance() {
    if !on_postgres() || redis_url().is_none() {
        eprintln!("skipped: needs PostgreSQL + Redis");
        return;
    }
    let a = TestApp::spawn().await;
    let b = a.spawn_sibling().await;
    removed_and_readded_member(&a, &b).await;
}

#[tokio::test]
async fn every_member_gets_project_deleted_then_nothing_more() {
    let app = TestApp::spawn().await;
    let sibling = sibling_of(&app).await;
    let far = sibling.as_ref().unwrap_or(&app);
    let owner = app.register().await;
    let editor = app.register().await;
    let viewer = app.register().await;
    let stranger = app.register().await;
    let project = app.create_project(&owner, "Doomed").await;
    let pid = id_of(&project);
    app.add_member(&owner, &pid, &editor, "editor").await; // 2
    app.add_member(&owner, &pid, &viewer, "viewer").await; // 3
    let task = app.create_task(&editor, &pid, json!({"title": "t"})).await; // 4
    let mut sockets = vec![
        ("owner tab 1", app.ws(&owner, "").await),
        ("owner tab 2", far.ws(&owner, "").await),
        ("editor", far.ws(&editor, "").await),
        ("viewer", app.ws(&viewer, "").await),
    ];
    let mut theirs = far.ws(&stranger, "").await;
    send_expecting(
        app.delete(&format!("/projects/{pid}"))
            .bearer_auth(&owner.access),
        204,
        "delete project",
    )
    .await; // 5
    // Nothing more can happen to it.
    send_expecting(
        app.post("/tasks")
            .bearer_auth(&owner.access)
            .json(&json!({"project_id": pid, "title": "late"})),
        404,
        "task in a deleted project",
    )
    .await;
    send_expecting(
        far.patch(&format!("/tasks/{}", id_of(&task)))
            .bearer_auth(&editor.access)
            .json(&json!({"title": "late"})),
        404,
        "patch a task of a deleted project",
    )
    .await;
    for (who, ws) in &mut sockets {
        let got = expect_exactly(ws, who, &[ev("project.deleted", &pid, 5)]).await;
        assert_eq!(got[0]["data"], json!({"project_id": pid}));
    }
    theirs.expect_silence(QUIET).await;

    // The same sockets still get the events of a new project of the owner, and only those.
    let next = app.create_project(&owner, "Phoenix").await;
    let next_id = id_of(&next);
    for (who, ws) in &mut sockets {
        let expected = if who.starts_with("owner") {
            vec![ev("project.created", &next_id, 1)]
        } else {
            vec![]
        };
        expect_exactly(ws, who, &expected).await;
    }
}

#[tokio::test]
async fn a_reactivated_user_signs_in_again_and_gets_live_events() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let owner = app.register().await;
    let user = app.register().await;
    let shared = app.create_project(&owner, "Shared").await;
    let shared_id = id_of(&shared);
    app.add_member(&owner, &shared_id, &user, "editor").await; // seq 2
    let mut before = app.ws(&user, "").await;

    let path = format!("/users/{}", user.id);
    send_expecting(
        app.patch(&path)
            .bearer_auth(&admin.access)
            .json(&json!({"is_active": false})),
        200,
        "deactivate",
    )
    .await;
    assert_eq!(
        before.closed_within(Duration::from_secs(1)).await,
        Some(WsEnd::Closed(4001)),
        "deactivation closes the open socket"
    );
    send_expecting(
        app.patch(&path)
            .bearer_auth(&admin.access)
            .json(&json!({"is_active": true})),
        200,
        "reactivate",
    )
    .await;
    let user = app.login(&user.email, &user.password).await;
    let mut socket = app.ws(&user, "").await;
    let mut second = app.ws(&user, "").await;

    let project = app.create_project(&user, "Fresh start").await;
    let pid = id_of(&project);
    app.create_task(&user, &pid, json!({"title": "again"}))
        .await;
    // Its memberships survived: the owner's change of the shared project arrives too.
    app.create_task(&owner, &shared_id, json!({"title": "shared"}))
        .await; // seq 3
    let expected = [
        ev("project.created", &pid, 1),
        ev("task.created", &pid, 2),
        ev("task.created", &shared_id, 3),
    ];
    expect_exactly(&mut socket, "reactivated user", &expected).await;
    expect_exactly(&mut second, "reactivated user, tab 2", &expected).await;
}

/// Connected with `?resume=<p1>:0` while p1's replay is in flight, a new project p2 and
/// writes to both happen at once: every event of both arrives, per project in seq order,
/// gapless and once.
#[tokio::test]
async fn a_project_created_during_a_resume_replay_is_delivered_whole() {
    let app = TestApp::spawn().await;
    let sibling = sibling_of(&app).await;
    let far = sibling.as_ref().unwrap_or(&app);
    let owner = app.register().await;
    let p1 = id_of(&app.create_project(&owner, "Long history").await);
    let history = 40;
    for i in 0..history {
        app.create_task(&owner, &p1, json!({"title": format!("old {i}")}))
            .await;
    }
    let mut sockets = [
        app.ws(&owner, &format!("&resume={p1}:0")).await,
        far.ws(&owner, &format!("&resume={p1}:0")).await,
    ];

    // At once: p2 with tasks, and more tasks in p1.
    let more_p1 = 10usize;
    let p2_tasks = 10usize;
    let make_p2 = async {
        let p2 = id_of(&far.create_project(&owner, "Born during replay").await);
        for i in 0..p2_tasks {
            far.create_task(&owner, &p2, json!({"title": format!("new {i}")}))
                .await;
        }
        p2
    };
    let grow_p1 = async {
        for i in 0..more_p1 {
            app.create_task(&owner, &p1, json!({"title": format!("live {i}")}))
                .await;
        }
    };
    let (p2, ()) = tokio::join!(make_p2, grow_p1);

    let p1_total = 1 + history + more_p1 as i64;
    let p2_total = 1 + p2_tasks as i64;
    for (i, ws) in sockets.iter_mut().enumerate() {
        let mut seen: std::collections::HashMap<String, Vec<i64>> = Default::default();
        let total = (p1_total + p2_total) as usize;
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut count = 0;
        while count < total {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match ws.next_json_within(left).await {
                Some(m) if m["seq"].is_i64() => {
                    let (_, project, seq) = key(&m);
                    seen.entry(project).or_default().push(seq);
                    count += 1;
                }
                Some(m) => panic!("socket {i}: unexpected message {m}"),
                None => break,
            }
        }
        let p1_seen = seen.remove(&p1).unwrap_or_default();
        let p2_seen = seen.remove(&p2).unwrap_or_default();
        assert_eq!(
            p1_seen,
            (1..=p1_total).collect::<Vec<_>>(),
            "socket {i}: the replayed and live events of p1"
        );
        assert_eq!(
            p2_seen,
            (1..=p2_total).collect::<Vec<_>>(),
            "socket {i}: the events of p2, created while the replay was in flight"
        );
        assert!(seen.is_empty(), "socket {i}: other projects: {seen:?}");
        ws.expect_silence(QUIET).await;
    }
}

/// How many times the racing tests below try their interleaving, and how many sockets
/// open (one after another, 300 µs apart) during each round's change.
const RACE_ROUNDS: usize = 30;
const RACE_SOCKETS: usize = 4;

/// A different small head start for the membership change in each round (0–4.5 ms), so
/// the rounds sweep across the sockets' opening.
fn jitter(round: usize) -> Duration {
    Duration::from_micros((round % 10) as u64 * 500)
}

/// `RACE_SOCKETS` sockets of `user` on `reader`, opening 300 µs apart.
async fn open_staggered(reader: &TestApp, user: &TestUser) -> Vec<WsClient> {
    futures_util::future::join_all((0..RACE_SOCKETS).map(|k| async move {
        tokio::time::sleep(Duration::from_micros(k as u64 * 300)).await;
        reader.ws(user, "").await
    }))
    .await
}

/// The instance the sockets of `round` connect to: alternately the sibling, if any.
fn reader_of<'a>(app: &'a TestApp, sibling: &'a Option<TestApp>, round: usize) -> &'a TestApp {
    match (sibling, round % 2) {
        (Some(other), 1) => other,
        _ => app,
    }
}

/// Reads project events until `until` matches one (returned with what came before it),
/// skipping notifications; fails after `WAIT` with `why`.
async fn read_until(
    ws: &mut WsClient,
    until: impl Fn(&Value) -> bool,
    why: &str,
) -> (Value, Vec<Ev>) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next_json_within(left).await {
            Some(m) if until(&m) => return (m, before),
            Some(m) if m["seq"].is_i64() => before.push(key(&m)),
            Some(_) => {}
            None => panic!("{why} (got only {before:?})"),
        }
    }
}

/// Sockets that open while their user is being added: whichever comes first, once both are
/// done every later event of the project must reach them (the user is a member and the
/// sockets are open), and nothing from before the user joined.
#[tokio::test]
async fn a_member_added_while_its_sockets_open_gets_every_later_event() {
    let app = TestApp::spawn().await;
    let sibling = sibling_of(&app).await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Race to join").await;
    let pid = id_of(&project);
    for round in 0..RACE_ROUNDS {
        let member = app.register().await;
        let reader = reader_of(&app, &sibling, round);
        let (mut sockets, ()) = tokio::join!(open_staggered(reader, &member), async {
            tokio::time::sleep(jitter(round)).await;
            app.add_member(&owner, &pid, &member, "viewer").await;
        });
        let added = app.board(&owner, &pid).await["seq"].as_i64().expect("seq");
        let task = app
            .create_task(&owner, &pid, json!({"title": format!("round {round}")}))
            .await;
        for (k, socket) in sockets.iter_mut().enumerate() {
            let why = format!(
                "round {round}: socket {k} of a member added (seq {added}) while it opened never \
                 got the task created after both were done"
            );
            let (m, before) = read_until(socket, |m| m["type"] == "task.created", &why).await;
            assert_eq!(m["data"]["task"]["id"], task["id"], "round {round}");
            // Its own member.added may come (it may be older than the socket), nothing older.
            assert!(
                before.is_empty() || before == [ev("member.added", &pid, added)],
                "round {round}: socket {k} of a member added at seq {added} got {before:?}"
            );
        }
    }
}

/// Sockets that open while their user is being removed: once both are done, no later event
/// of the project may reach them, nor the user's socket that was open all along.
#[tokio::test]
async fn a_member_removed_while_its_sockets_open_gets_nothing_later() {
    let app = TestApp::spawn().await;
    let sibling = sibling_of(&app).await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Race to leave").await;
    let pid = id_of(&project);
    for round in 0..RACE_ROUNDS {
        let member = app.register().await;
        let reader = reader_of(&app, &sibling, round);
        app.add_member(&owner, &pid, &member, "editor").await;
        let added = app.board(&owner, &pid).await["seq"].as_i64().expect("seq");
        let mut first = reader.ws(&member, "").await;
        let (opening, ()) = tokio::join!(open_staggered(reader, &member), async {
            tokio::time::sleep(jitter(round)).await;
            send_expecting(
                app.delete(&format!("/projects/{pid}/members/{}", member.id))
                    .bearer_auth(&owner.access),
                204,
                "remove",
            )
            .await;
        });
        let removed = app.board(&owner, &pid).await["seq"].as_i64().expect("seq");
        app.create_task(&owner, &pid, json!({"title": format!("secret {round}")}))
            .await;
        tokio::time::sleep(QUIET).await;
        let mut all = vec![("open all along".to_string(), &mut first)];
        let mut opening = opening;
        for (k, socket) in opening.iter_mut().enumerate() {
            all.push((format!("opening {k}"), socket));
        }
        for (which, socket) in all {
            let mut got = Vec::new();
            while let Some(m) = socket.next_json_within(Duration::from_millis(20)).await {
                if m["type"] == "notification" {
                    continue;
                }
                // Events of its membership (seq `added` to `removed`) may come, late.
                let during = m["project_id"] == pid.as_str()
                    && m["seq"]
                        .as_i64()
                        .is_some_and(|s| (added..=removed).contains(&s));
                assert!(
                    during,
                    "round {round}: the {which} socket of a member removed at seq {removed} \
                     (added at {added}) got {m}"
                );
                got.push(key(&m));
            }
            if which == "open all along" {
                assert!(
                    got.contains(&ev("member.removed", &pid, removed)),
                    "round {round}: the open socket got {got:?}, not its member.removed"
                );
            }
        }
    }
}

/// Sockets that open while their user creates a project: once both are done, every later
/// event of the new project must reach them.
#[tokio::test]
async fn a_project_created_while_its_creators_sockets_open_reaches_them() {
    let app = TestApp::spawn().await;
    let sibling = sibling_of(&app).await;
    for round in 0..RACE_ROUNDS {
        let user = app.register().await;
        let reader = reader_of(&app, &sibling, round);
        let (mut sockets, project) = tokio::join!(open_staggered(reader, &user), async {
            tokio::time::sleep(jitter(round)).await;
            app.create_project(&user, "Race to create").await
        });
        let pid = id_of(&project);
        app.create_task(&user, &pid, json!({"title": "after both"}))
            .await;
        for (k, socket) in sockets.iter_mut().enumerate() {
            let why = format!(
                "round {round}: socket {k}, opened while its user created a project, never got \
                 the task created after both were done"
            );
            let (m, before) = read_until(socket, |m| m["type"] == "task.created", &why).await;
            assert_eq!(key(&m), ev("task.created", &pid, 2), "round {round}");
            assert!(
                before.is_empty() || before == [ev("project.created", &pid, 1)],
                "round {round}: socket {k}: {before:?}"
            );
        }
    }
}

/// Reads until the project's events `1..=last` all came (or 10 s passed); returns their seqs.
async fn seqs_of(ws: &mut WsClient, pid: &str, last: i64) -> Vec<i64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seqs = Vec::new();
    while seqs.last() != Some(&last) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next_json_within(left).await {
            Some(m) if m["project_id"] == pid && m["seq"].is_i64() => {
                seqs.push(m["seq"].as_i64().expect("seq"));
            }
            Some(_) => {}
            None => break,
        }
    }
    seqs
}

/// Redis is down (SIGKILL) while a user creates a project through instance A and another
/// user is added to it; both are connected to instance B. The outage may delay their
/// events, not lose them: once Redis is back, B's sockets get the project from seq 1.
#[tokio::test]
async fn joins_made_during_a_redis_outage_reach_sockets_on_another_instance() {
    let Some((mut redis, a, b)) = pair_with_own_redis().await else {
        return;
    };
    let owner = a.register().await;
    let member = a.register().await;
    let mut owner_on_b = b.ws(&owner, "").await;
    let mut member_on_b = b.ws(&member, "").await;
    redis.kill().await;
    let project = a.create_project(&owner, "Made in the dark").await; // 1
    let pid = id_of(&project);
    a.create_task(&owner, &pid, json!({"title": "dark"})).await; // 2
    a.add_member(&owner, &pid, &member, "editor").await; // 3
    assert!(redis.spawn().await, "redis restarts");
    // Let both instances reconnect to Redis, then one more change.
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.create_task(&owner, &pid, json!({"title": "light"})).await; // 4
    assert_eq!(
        seqs_of(&mut owner_on_b, &pid, 4).await,
        [1, 2, 3, 4],
        "the creator's socket on the other instance"
    );
    assert_eq!(
        seqs_of(&mut member_on_b, &pid, 4).await,
        [3, 4],
        "the added member's socket on the other instance"
    );
    redis.kill().await;
}

/// Redis is slow (paused) while a user creates a project through instance A and adds a
/// second user, whose socket then opens on instance B and follows the project from the
/// database. B's hub must not take the held-up events for delivered ones: the creator's
/// socket on B still gets the project from seq 1.
#[tokio::test]
async fn a_socket_following_ahead_of_a_slow_redis_does_not_swallow_a_join() {
    let Some((mut redis, a, b)) = pair_with_own_redis().await else {
        return;
    };
    let owner = a.register().await;
    let member = a.register().await;
    let mut owner_on_b = b.ws(&owner, "").await;
    redis.signal("-STOP").await;
    let project = a.create_project(&owner, "Slow news").await; // 1
    let pid = id_of(&project);
    a.add_member(&owner, &pid, &member, "viewer").await; // 2
    // B reads the membership (seq 2) from the database before Redis tells it about 1 and 2.
    let mut member_on_b = b.ws(&member, "").await;
    redis.signal("-CONT").await;
    a.create_task(&owner, &pid, json!({"title": "news"})).await; // 3
    assert_eq!(
        seqs_of(&mut member_on_b, &pid, 3).await.last(),
        Some(&3),
        "the member's socket on B"
    );
    assert_eq!(
        seqs_of(&mut owner_on_b, &pid, 3).await,
        [1, 2, 3],
        "the creator's socket on B, open all along"
    );
    redis.kill().await;
}
