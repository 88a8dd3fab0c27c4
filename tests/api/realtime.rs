//! Real-time: WebSocket delivery with real clients over TCP — members only, in order,
//! exactly once, resume and resync, membership changes, notifications, auth and closes.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::*;

const QUIET: Duration = Duration::from_millis(400);

fn seqs(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect()
}

#[tokio::test]
async fn members_receive_events_in_order_and_others_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let stranger = app.register().await;
    let project = app.create_project(&owner, "Live").await;
    let pid = project["id"].as_str().expect("id");

    let mut mine = app.ws(&owner, "").await;
    let mut theirs = app.ws(&stranger, "").await;
    let task = app.create_task(&owner, pid, json!({"title": "One"})).await;
    let moved = app
        .move_task(
            &owner,
            task["id"].as_str().expect("id"),
            json!({"status": "in_progress"}),
        )
        .await;
    assert_eq!(moved.status(), 200);

    let events = mine.events(2).await;
    assert_eq!(seqs(&events), [2, 3]);
    assert_eq!(events[0]["type"], "task.created");
    assert_eq!(events[0]["project_id"], pid);
    assert_eq!(events[0]["actor_id"], owner.id.to_string());
    assert_eq!(events[0]["data"]["task"]["title"], "One");
    assert_eq!(events[1]["type"], "task.moved");
    assert_eq!(events[1]["data"]["from"], "todo");
    assert_eq!(events[1]["data"]["to"], "in_progress");
    // The stored event is byte-for-byte what was sent.
    let stored = app.stored_events(pid).await;
    assert_eq!(stored[1].1, events[0]);
    theirs.expect_silence(QUIET).await;
}

#[tokio::test]
async fn authentication_happens_before_the_upgrade() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let other = app.register().await;

    // No token → 401; garbage → 401; someone else's stream → 403 (admins too).
    for (url, status) in [
        (app.ws_url(user.id, ""), 401),
        (app.ws_url(user.id, "?token=garbage"), 401),
        (
            app.ws_url(user.id, &format!("?token={}", other.access)),
            403,
        ),
        (
            app.ws_url(user.id, &format!("?token={}", user.refresh)),
            401,
        ),
    ] {
        match app.ws_url_connect(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), status, "{url}");
            }
            other => panic!("expected HTTP {status}, got {:?}", other.map(|_| "upgrade")),
        }
    }
    let admin = app.admin().await;
    match app
        .ws_url_connect(&app.ws_url(user.id, &format!("?token={}", admin.access)))
        .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403);
        }
        _ => panic!("an admin cannot open another user's stream"),
    }
    // A non-UUID path is 404.
    match app
        .ws_url_connect(&format!(
            "ws://{}/ws/notifications/nope?token={}",
            app.addr, user.access
        ))
        .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 404);
        }
        _ => panic!("expected 404"),
    }
}

#[tokio::test]
async fn the_bearer_subprotocol_authenticates_without_echoing_the_token() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let mut request = app
        .ws_url(user.id, "")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("bearer, {}", user.access).parse().expect("header"),
    );
    let mut client = ws_connect(request).await.expect("upgrade");
    assert_eq!(client.response_protocol.as_deref(), Some("bearer"));
    client.send_json(json!({"type": "ping"})).await;
    assert_eq!(client.next_json().await, json!({"type": "pong"}));
}

#[tokio::test]
async fn resume_at_upgrade_replays_exactly_the_missed_events_before_live_ones() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Resume").await;
    let pid = project["id"].as_str().expect("id");
    for i in 0..3 {
        app.create_task(&owner, pid, json!({"title": format!("t{i}")}))
            .await;
    }
    // The client saw seq 1..=2, then was away for 3 and 4.
    let mut client = app.ws(&owner, &format!("&resume={pid}:2")).await;
    let replayed = client.events(2).await;
    assert_eq!(seqs(&replayed), [3, 4]);
    app.create_task(&owner, pid, json!({"title": "live"})).await;
    let live = client.events(1).await;
    assert_eq!(seqs(&live), [5]);
    client.expect_silence(QUIET).await;

    // Cursor 0 replays from seq 1.
    let mut fresh = app.ws(&owner, &format!("&resume={pid}:0")).await;
    assert_eq!(seqs(&fresh.events(5).await), [1, 2, 3, 4, 5]);
    fresh.expect_silence(QUIET).await;
}

#[tokio::test]
async fn resume_message_never_repeats_what_the_socket_already_sent() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Dedup").await;
    let pid = project["id"].as_str().expect("id");
    app.create_task(&owner, pid, json!({"title": "before"}))
        .await; // seq 2
    let mut client = app.ws(&owner, "").await;
    app.create_task(&owner, pid, json!({"title": "live"})).await; // seq 3
    assert_eq!(seqs(&client.events(1).await), [3]);
    // The client last applied seq 1: it needs 2, but 3 was already sent here.
    client
        .send_json(json!({"type": "resume", "cursors": {pid: 1}}))
        .await;
    assert_eq!(seqs(&client.events(1).await), [2]);
    client.expect_silence(QUIET).await;
    app.create_task(&owner, pid, json!({"title": "after"}))
        .await; // seq 4
    assert_eq!(seqs(&client.events(1).await), [4]);
}

#[tokio::test]
async fn a_cursor_older_than_the_kept_events_gets_resync() {
    use flowtrack_store::models::events;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Old").await;
    let pid = project["id"].as_str().expect("id");
    for i in 0..3 {
        app.create_task(&owner, pid, json!({"title": format!("t{i}")}))
            .await;
    }
    // Retention removed seq 1 and 2.
    let id: uuid::Uuid = pid.parse().expect("uuid");
    events::Entity::delete_many()
        .filter(events::Column::ProjectId.eq(id))
        .filter(events::Column::Seq.lte(2))
        .exec(&app.state.db.write)
        .await
        .expect("prune");
    let mut client = app.ws(&owner, &format!("&resume={pid}:0")).await;
    assert_eq!(
        client.next_json().await,
        json!({"type": "resync", "project_id": pid})
    );
    // A cursor at or after the oldest kept event replays normally.
    client
        .send_json(json!({"type": "resume", "cursors": {pid: 2}}))
        .await;
    assert_eq!(seqs(&client.events(2).await), [3, 4]);
    // Cursors of projects the user is not a member of are ignored.
    let other = app.register().await;
    let foreign = app.create_project(&other, "Foreign").await;
    client
        .send_json(json!({"type": "resume", "cursors": {foreign["id"].as_str().expect("id"): 0}}))
        .await;
    client.expect_silence(QUIET).await;
}

#[tokio::test]
async fn membership_changes_take_effect_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let member = app.register().await;
    let project = app.create_project(&owner, "Team").await;
    let pid = project["id"].as_str().expect("id");
    let mut socket = app.ws(&member, "").await;

    app.add_member(&owner, pid, &member, "editor").await;
    // The member.added event, and a personal notification (in either order).
    let mut got = [socket.next_json().await, socket.next_json().await];
    got.sort_by_key(|m| m["type"].as_str().map(str::to_string));
    assert_eq!(got[0]["type"], "member.added");
    assert_eq!(
        got[0]["data"]["member"]["user"]["id"],
        member.id.to_string()
    );
    assert_eq!(got[1]["type"], "notification");
    assert_eq!(got[1]["notification"]["kind"], "member.added");

    app.create_task(&owner, pid, json!({"title": "now visible"}))
        .await;
    assert_eq!(socket.events(1).await[0]["type"], "task.created");

    let removed = app
        .delete(&format!("/projects/{pid}/members/{}", member.id))
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("remove");
    assert_eq!(removed.status(), 204);
    let gone = socket.events(1).await;
    assert_eq!(gone[0]["type"], "member.removed");
    app.create_task(&owner, pid, json!({"title": "hidden"}))
        .await;
    socket.expect_silence(QUIET).await;
}

#[tokio::test]
async fn notifications_are_pushed_stored_and_marked_read() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let member = app.register().await;
    let project = app.create_project(&owner, "Notes").await;
    let pid = project["id"].as_str().expect("id");
    app.add_member(&owner, pid, &member, "editor").await;
    let mut socket = app.ws(&member, "").await;

    let task = app
        .create_task(
            &owner,
            pid,
            json!({"title": "Yours", "assignee_id": member.id}),
        )
        .await;
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let m = socket.next_json().await;
        kinds.push(m["type"].as_str().expect("type").to_string());
        if m["type"] == "notification" {
            assert_eq!(m["notification"]["kind"], "task.assigned");
            assert_eq!(m["notification"]["task_id"], task["id"]);
            assert_eq!(m["notification"]["actor_id"], owner.id.to_string());
            assert!(m["notification"]["read_at"].is_null());
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["notification", "task.created"]);

    // A comment by someone else on my task notifies me; my own comment does not.
    let tid = task["id"].as_str().expect("id");
    for (author, body) in [(&owner, "ping"), (&member, "pong")] {
        let r = app
            .post(&format!("/tasks/{tid}/comments"))
            .bearer_auth(&author.access)
            .json(&json!({"body": body}))
            .send()
            .await
            .expect("comment");
        assert_eq!(r.status(), 201);
    }
    let list: Value = app
        .get("/notifications?unread=true")
        .bearer_auth(&member.access)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let items = list["items"].as_array().expect("items");
    let kinds: Vec<&str> = items.iter().filter_map(|n| n["kind"].as_str()).collect();
    assert_eq!(kinds, ["comment.created", "task.assigned", "member.added"]);

    // Someone else's notification is 404; mine is marked read.
    let first = items[0]["id"].as_str().expect("id");
    let r = app
        .post(&format!("/notifications/{first}/read"))
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("read");
    assert_problem(r, 404, "not_found").await;
    let r = app
        .post(&format!("/notifications/{first}/read"))
        .bearer_auth(&member.access)
        .send()
        .await
        .expect("read");
    assert_eq!(r.status(), 204);
    let unread: Value = app
        .get("/notifications?unread=true")
        .bearer_auth(&member.access)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(unread["items"].as_array().map(Vec::len), Some(2));
    let r = app
        .post("/notifications/read-all")
        .bearer_auth(&member.access)
        .send()
        .await
        .expect("read all");
    assert_eq!(r.status(), 204);
    let unread: Value = app
        .get("/notifications?unread=true")
        .bearer_auth(&member.access)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(unread["items"], json!([]));
    // The owner, who acted, got none of these.
    let own: Value = app
        .get("/notifications")
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(own["items"], json!([]), "nothing is assigned to the owner");
}

#[tokio::test]
async fn client_ping_gets_pong_and_unknown_messages_an_error() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let mut client = app.ws(&user, "").await;
    client.send_json(json!({"type": "ping"})).await;
    assert_eq!(client.next_json().await, json!({"type": "pong"}));
    client.send_json(json!({"type": "dance"})).await;
    assert_eq!(client.next_json().await["type"], "error");
}

#[tokio::test]
async fn deactivation_closes_the_socket_with_4001_within_a_second() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let mut client = app.ws(&user, "").await;
    let r = app
        .delete(&format!("/users/{}", user.id))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("deactivate");
    assert_eq!(r.status(), 204);
    assert_eq!(
        client.closed_within(Duration::from_secs(1)).await,
        Some(WsEnd::Closed(4001))
    );
}

#[tokio::test]
async fn token_expiry_closes_the_socket_with_4001() {
    let app = TestApp::spawn_with(|cfg| cfg.access_ttl = Duration::from_secs(2)).await;
    let user = app.register().await;
    let mut client = app.ws(&user, "").await;
    assert_eq!(
        client.closed_within(Duration::from_secs(7)).await,
        Some(WsEnd::Closed(4001))
    );
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let mut client = app.ws(&user, "").await;
    app.state.shutdown.cancel();
    assert_eq!(
        client.closed_within(Duration::from_secs(3)).await,
        Some(WsEnd::Closed(1001))
    );
}

#[tokio::test]
async fn concurrent_writers_reach_every_client_once_and_in_order() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let project = app.create_project(&owner, "Busy").await;
    let pid = project["id"].as_str().expect("id").to_string();
    let mut editors = Vec::new();
    for _ in 0..3 {
        let editor = app.register().await;
        app.add_member(&owner, &pid, &editor, "editor").await;
        editors.push(editor);
    }
    let mut clients = Vec::new();
    for editor in &editors {
        clients.push(app.ws(editor, "").await);
    }
    let head = app.board(&owner, &pid).await["seq"].as_i64().expect("seq");

    let writes = 30;
    let mut handles = Vec::new();
    for i in 0..writes {
        let client = app.client.clone();
        let url = app.url("/tasks");
        let token = editors[i % editors.len()].access.clone();
        let pid = pid.clone();
        handles.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"project_id": pid, "title": format!("w{i}")}))
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }));
    }
    for h in handles {
        assert_eq!(h.await.expect("join"), 201);
    }
    let expected: Vec<i64> = (head + 1..=head + writes as i64).collect();
    for client in &mut clients {
        assert_eq!(seqs(&client.events(writes).await), expected);
        client.expect_silence(QUIET).await;
    }
}

/// Two instances sharing PostgreSQL and Redis behave as one.
#[tokio::test]
async fn a_change_through_one_instance_reaches_clients_of_another() {
    if redis_url().is_none() || !on_postgres() {
        eprintln!("skipped: needs PostgreSQL + Redis");
        return;
    }
    let a = TestApp::spawn().await;
    let b = a.spawn_sibling().await;
    let owner = a.register().await;
    let project = a.create_project(&owner, "Cluster").await;
    let pid = project["id"].as_str().expect("id");
    let mut on_b = b.ws(&owner, "").await;
    let mut on_a = a.ws(&owner, "").await;
    a.create_task(&owner, pid, json!({"title": "via a"})).await;
    b.create_task(&owner, pid, json!({"title": "via b"})).await;
    assert_eq!(seqs(&on_b.events(2).await), [2, 3]);
    assert_eq!(seqs(&on_a.events(2).await), [2, 3]);

    // Deactivation through A closes the socket on B and rejects the token on B within 1 s.
    let admin = a.admin().await;
    let r = a
        .delete(&format!("/users/{}", owner.id))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("deactivate");
    assert_eq!(r.status(), 204);
    assert_eq!(
        on_b.closed_within(Duration::from_secs(1)).await,
        Some(WsEnd::Closed(4001))
    );
    let me = b
        .get("/users/me")
        .bearer_auth(&owner.access)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 401);
}

/// Redis dies (SIGKILL) while writes go through two instances, then comes back: REST keeps
/// answering 2xx and every client still gets every event exactly once, in order.
#[tokio::test]
async fn a_redis_outage_delays_delivery_but_loses_nothing() {
    let Some((mut redis, a, b)) = pair_with_own_redis().await else {
        return;
    };
    let owner = a.register().await;
    let project = a.create_project(&owner, "Outage").await;
    let pid = project["id"].as_str().expect("id").to_string();
    let mut on_a = a.ws(&owner, "").await;
    let mut on_b = b.ws(&owner, "").await;

    let writes = 40usize;
    let mut statuses = Vec::new();
    for i in 0..writes {
        if i == 10 {
            redis.kill().await;
        }
        if i == 30 {
            assert!(redis.spawn().await, "redis restarts");
        }
        let app = if i % 2 == 0 { &a } else { &b };
        let r = app
            .post("/tasks")
            .bearer_auth(&owner.access)
            .json(&json!({"project_id": pid, "title": format!("w{i}")}))
            .send()
            .await
            .expect("send");
        statuses.push(r.status().as_u16());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let expected: Vec<i64> = (2..=writes as i64 + 1).collect();
    for client in [&mut on_a, &mut on_b] {
        let mut got = Vec::new();
        while got.len() < writes {
            match client.next_json_within(Duration::from_secs(10)).await {
                Some(m) if m["seq"].is_i64() => got.push(m),
                Some(_) => {}
                None => break,
            }
        }
        assert_eq!(seqs(&got), expected);
        client.expect_silence(QUIET).await;
    }
    redis.kill().await;
}

/// A socket whose client reads with a 4 KiB receive buffer: the server can write only so
/// much before the socket stops taking frames.
async fn ws_with_small_buffer(app: &TestApp, user: &TestUser) -> WsClient {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = socket.connect(app.addr).await.expect("connect");
    let url = app.ws_url(user.id, &format!("?token={}", user.access));
    let request = url.into_client_request().expect("request");
    let (stream, _) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .expect("upgrade");
    WsClient {
        stream,
        response_protocol: None,
    }
}

/// Creates `count` tasks titled "`prefix` i" with a 9 000-character description (≈ 9 KiB
/// per event); returns the description.
async fn create_large_tasks(
    app: &TestApp,
    owner: &TestUser,
    project_id: &str,
    prefix: &str,
    count: usize,
) -> String {
    let description = "d".repeat(9_000);
    for i in 0..count {
        let title = format!("{prefix} {i}");
        app.create_task(
            owner,
            project_id,
            json!({"title": title, "description": description}),
        )
        .await;
    }
    description
}

async fn counter(app: &TestApp, name: &str) -> f64 {
    metrics_text(app)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A client that stops reading while megabytes of events come: the frames its socket cannot
/// take wait for it (the hub's writers hand them to its session and go on with the other
/// sockets), and once it reads again it gets every event once, whole and in order — while a
/// client that kept reading had them all already.
#[tokio::test]
async fn a_client_that_stops_reading_loses_nothing_and_holds_up_no_one() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = id_of(&app.create_project(&owner, "Large").await);
    // The metrics recorder is installed by the first scrape; the counter only grows.
    let deferred_before = counter(&app, "flowtrack_ws_frames_deferred_total").await;
    let mut stalled = ws_with_small_buffer(&app, &owner).await;
    let mut reading = app.ws(&owner, "").await;
    let head = app.board(&owner, &pid).await["seq"].as_i64().expect("seq");

    // ≈ 5.5 MB of events: more than the server's socket send buffer (4 MiB at most here)
    // and the stalled client's receive buffer together.
    let tasks = 600;
    let description = create_large_tasks(&app, &owner, &pid, "large", tasks).await;
    let expected: Vec<i64> = (head + 1..=head + tasks as i64).collect();
    assert_eq!(seqs(&reading.events(tasks).await), expected);
    let deferred = counter(&app, "flowtrack_ws_frames_deferred_total").await - deferred_before;
    assert!(
        deferred >= 1.0,
        "no frame was deferred: the test did not fill the socket"
    );

    let events = stalled.events(tasks).await;
    assert_eq!(seqs(&events), expected);
    for (i, event) in events.iter().enumerate() {
        let task = &event["data"]["task"];
        assert_eq!(task["title"], format!("large {i}"));
        assert_eq!(task["description"], description.as_str());
    }
    stalled.expect_silence(QUIET).await;
    reading.expect_silence(QUIET).await;
}

/// A fan-out to more sockets than the hub writes itself goes through its writer tasks; events
/// of a small project meanwhile are written by the hub. Every socket still gets every event
/// of each project once and in order.
#[tokio::test]
async fn large_and_small_fan_outs_together_keep_each_projects_order() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let editor = app.register().await;
    let large = id_of(&app.create_project(&owner, "Many screens").await);
    let small = id_of(&app.create_project(&editor, "Few screens").await);
    app.add_member(&owner, &large, &editor, "editor").await;
    // 600 sockets: each of the hub's writers gets more than the 256 it writes before
    // letting its worker run other tasks, so events resume mid-fan-out in order.
    let mut owner_sockets = Vec::new();
    for _ in 0..600 {
        owner_sockets.push(app.ws(&owner, "").await);
    }
    let mut editor_socket = app.ws(&editor, "").await;
    let large_head = app.board(&owner, &large).await["seq"]
        .as_i64()
        .expect("seq");
    let small_head = app.board(&editor, &small).await["seq"]
        .as_i64()
        .expect("seq");

    let writes = 20;
    let mut handles = Vec::new();
    for i in 0..writes {
        for (pid, token) in [(&large, &owner.access), (&small, &editor.access)] {
            let request = app
                .post("/tasks")
                .bearer_auth(token)
                .json(&json!({"project_id": pid, "title": format!("t{i}")}));
            handles.push(tokio::spawn(async move {
                request.send().await.expect("send").status().as_u16()
            }));
        }
    }
    for h in handles {
        assert_eq!(h.await.expect("join"), 201);
    }
    let in_order = |head: i64| (head + 1..=head + writes as i64).collect::<Vec<i64>>();
    for socket in &mut owner_sockets {
        assert_eq!(seqs(&socket.events(writes).await), in_order(large_head));
    }
    // Nothing more on any of them (a duplicate would have arrived by now).
    tokio::time::sleep(Duration::from_millis(100)).await;
    for socket in &mut owner_sockets {
        socket.expect_silence(Duration::from_millis(1)).await;
    }
    let events = editor_socket.events(2 * writes).await;
    let of = |pid: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["project_id"] == pid)
            .cloned()
            .collect()
    };
    assert_eq!(seqs(&of(&large)), in_order(large_head));
    assert_eq!(seqs(&of(&small)), in_order(small_head));
    editor_socket.expect_silence(QUIET).await;
}

/// A client that reads nothing while more events come than its socket and its queue on the
/// server hold (1 024 events) is let go: it reads what was queued, in order, then a close
/// 1013, and resumes from its last seq without a gap.
#[tokio::test]
async fn a_client_that_cannot_keep_up_is_closed_with_1013_and_resumes_without_a_gap() {
    let app = TestApp::spawn().await;
    let owner = app.register().await;
    let pid = id_of(&app.create_project(&owner, "Flood").await);
    let mut stalled = ws_with_small_buffer(&app, &owner).await;
    let head = app.board(&owner, &pid).await["seq"].as_i64().expect("seq");
    let tasks = 1_800;
    create_large_tasks(&app, &owner, &pid, "flood", tasks).await;
    let mut last = head;
    let close = loop {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let message = tokio::time::timeout(Duration::from_secs(5), stalled.stream.next()).await;
        match message.expect("a message within 5 s") {
            Some(Ok(Message::Text(text))) => {
                let event: Value = serde_json::from_str(text.as_str()).expect("json");
                let seq = event["seq"].as_i64().expect("an event");
                assert_eq!(seq, last + 1, "in order, no gap");
                last = seq;
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            other => panic!("the socket ended without a close frame: {other:?}"),
        }
    };
    assert_eq!(close, Some(1013));
    assert!(last < head + tasks as i64, "it was let go before the end");
    let mut resumed = app.ws(&owner, &format!("&resume={pid}:{last}")).await;
    let rest = resumed.events((head + tasks as i64 - last) as usize).await;
    let expected: Vec<i64> = (last + 1..=head + tasks as i64).collect();
    assert_eq!(seqs(&rest), expected);
    resumed.expect_silence(QUIET).await;
}
