//! Webhooks against real HTTP receivers on 127.0.0.1: management and its permissions,
//! Standard Webhooks signatures checked by an independent implementation (the
//! `standardwebhooks` crate), order under concurrent writers, retries until success with one
//! `webhook-id` per event, 410 and give-up disabling the webhook and notifying the owners,
//! pings and redeliveries, secret rotation, private targets, and two instances.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json body")
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

type Answer = Arc<dyn Fn(usize) -> StatusCode + Send + Sync>;

/// An HTTP server on 127.0.0.1 that records every request and answers with `answer(n)` for
/// the n-th request (from 0).
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(answer: impl Fn(usize) -> StatusCode + Send + Sync + 'static) -> Self {
        Self::start_slow(answer, Duration::ZERO).await
    }

    /// A receiver that takes `delay` before each answer.
    async fn start_slow(
        answer: impl Fn(usize) -> StatusCode + Send + Sync + 'static,
        delay: Duration,
    ) -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let answer: Answer = Arc::new(answer);
        let (seen, respond) = (got.clone(), answer.clone());
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let (seen, respond) = (seen.clone(), respond.clone());
            async move {
                let n = {
                    let mut seen = seen.lock().expect("lock");
                    seen.push(Received { headers, body });
                    seen.len() - 1
                };
                tokio::time::sleep(delay).await;
                respond(n)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// Waits until `done` holds for what was received (at most 15 s).
    async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..300 {
            let got = self.received();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{what}: got {:?}",
            self.received()
                .iter()
                .map(Received::json)
                .collect::<Vec<_>>()
        );
    }
}

/// A server that may deliver to 127.0.0.1, retrying fast.
async fn app_for_webhooks(give_up: Duration) -> TestApp {
    TestApp::spawn_with(|c| {
        c.webhooks.allow_private = true;
        c.webhooks.retry_base = Duration::from_millis(40);
        c.webhooks.timeout = Duration::from_secs(2);
        c.webhooks.give_up = give_up;
    })
    .await
}

async fn create_webhook(
    app: &TestApp,
    owner: &TestUser,
    project_id: &str,
    request: Value,
) -> (Value, String) {
    let path = format!("/projects/{project_id}/webhooks");
    let created = body(
        call(app, owner, Method::POST, &path, Some(request)).await,
        201,
    )
    .await;
    let secret = created["secret"].as_str().expect("secret").to_string();
    (created["webhook"].clone(), secret)
}

/// A webhook's delivery log, first page, as its owner sees it.
async fn delivery_log(app: &TestApp, owner: &TestUser, id: &str) -> Value {
    let path = format!("/webhooks/{id}/deliveries");
    body(call(app, owner, Method::GET, &path, None).await, 200).await
}

/// The delivery log once it holds `rows` attempts: a receiver can see a delivery a moment
/// before the attempt's record commits (up to 5 s, then the test fails).
async fn delivery_log_of(app: &TestApp, owner: &TestUser, id: &str, rows: usize) -> Value {
    for _ in 0..100 {
        let log = delivery_log(app, owner, id).await;
        if log["items"]
            .as_array()
            .is_some_and(|items| items.len() >= rows)
        {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the delivery log never held {rows} attempts");
}

/// Pauses or resumes a webhook as its owner; the webhook as answered.
async fn set_active(app: &TestApp, owner: &TestUser, id: &str, active: bool) -> Value {
    let path = format!("/webhooks/{id}");
    let request = Some(json!({ "active": active }));
    body(call(app, owner, Method::PATCH, &path, request).await, 200).await
}

/// Checks a delivery's signature with the independent `standardwebhooks` implementation.
fn verify(secret: &str, got: &Received) {
    let hook = standardwebhooks::Webhook::new(secret).expect("secret");
    hook.verify(&got.body, &got.headers)
        .unwrap_or_else(|e| panic!("signature refused: {e:?}; headers {:?}", got.headers));
}

fn seqs(got: &[Received]) -> Vec<i64> {
    got.iter()
        .filter_map(|r| r.json()["seq"].as_i64())
        .collect()
}

#[tokio::test]
async fn events_are_delivered_signed_in_order_as_the_websocket_sends_them() {
    let app = app_for_webhooks(Duration::from_secs(60)).await;
    let ada = app.register().await;
    let project = project_id(&app, &ada, "Hooks").await;
    let receiver = Receiver::start(|_| StatusCode::NO_CONTENT).await;
    let (hook, secret) = create_webhook(&app, &ada, &project, json!({"url": receiver.url})).await;
    assert!(secret.starts_with("whsec_"));
    assert_eq!(hook["active"], true);
    assert_eq!(hook["events"], json!([]));
    assert!(hook["disabled_reason"].is_null());

    let mut socket = app.ws(&ada, "").await;
    let task = app
        .create_task(&ada, &project, json!({"title": "Signed"}))
        .await;
    let task_id = task["id"].as_str().expect("id");
    app.move_task(&ada, task_id, json!({"status": "done"}))
        .await;
    let over_ws = socket.events(2).await;
    let got = receiver.until("two events", |got| got.len() >= 2).await;
    for (delivery, sent) in got.iter().zip(&over_ws) {
        verify(&secret, delivery);
        assert_eq!(
            &delivery.json(),
            sent,
            "the payload is the WebSocket message"
        );
        assert_eq!(delivery.header("content-type"), "application/json");
        assert!(delivery.header("webhook-id").starts_with("msg_"));
        let at: i64 = delivery
            .header("webhook-timestamp")
            .parse()
            .expect("timestamp");
        assert!((chrono::Utc::now().timestamp() - at).abs() < 60);
    }
    assert_eq!(got[0].json()["type"], "task.created");
    assert_eq!(got[1].json()["type"], "task.moved");
    assert_eq!(
        seqs(&got),
        [2, 3],
        "project.created (seq 1) predates the webhook"
    );

    let id = hook["id"].as_str().expect("id");
    let log = delivery_log_of(&app, &ada, id, 2).await;
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["seq"], 3, "newest first");
    assert_eq!(items[0]["state"], "succeeded");
    assert_eq!(items[0]["status_code"], 204);
    assert_eq!(items[0]["attempt"], 1);
}

#[tokio::test]
async fn only_owners_and_admins_manage_webhooks_and_secrets_are_shown_once() {
    let app = app_for_webhooks(Duration::from_secs(60)).await;
    let ada = app.register().await;
    let ed = app.register().await;
    let stranger = app.register().await;
    let admin = app.admin().await;
    let project = project_id(&app, &ada, "Owned").await;
    app.add_member(&ada, &project, &ed, "editor").await;
    let receiver = Receiver::start(|_| StatusCode::OK).await;
    let (hook, secret) = create_webhook(
        &app,
        &ada,
        &project,
        json!({"url": receiver.url, "events": ["task.moved"]}),
    )
    .await;
    let id = hook["id"].as_str().expect("id");

    let list_path = format!("/projects/{project}/webhooks");
    let text = call(&app, &ada, Method::GET, &list_path, None)
        .await
        .text()
        .await
        .expect("text");
    assert!(
        !text.contains(&secret) && !text.contains("secret"),
        "{text}"
    );
    let one = call(&app, &ada, Method::GET, &format!("/webhooks/{id}"), None)
        .await
        .text()
        .await
        .expect("text");
    assert!(!one.contains(&secret), "{one}");

    let create = json!({"url": receiver.url});
    for (user, status) in [(&ed, 403), (&stranger, 404)] {
        let code = if status == 403 {
            "forbidden"
        } else {
            "not_found"
        };
        for (method, path, body) in [
            (Method::POST, list_path.clone(), Some(create.clone())),
            (Method::GET, list_path.clone(), None),
            (Method::GET, format!("/webhooks/{id}"), None),
            (
                Method::PATCH,
                format!("/webhooks/{id}"),
                Some(json!({"active": false})),
            ),
            (Method::DELETE, format!("/webhooks/{id}"), None),
            (Method::POST, format!("/webhooks/{id}/rotate-secret"), None),
            (Method::POST, format!("/webhooks/{id}/ping"), None),
            (Method::GET, format!("/webhooks/{id}/deliveries"), None),
        ] {
            let response = call(&app, user, method.clone(), &path, body).await;
            assert_problem(response, status, code).await;
        }
    }
    let listed = body(call(&app, &admin, Method::GET, &list_path, None).await, 200).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "admins too");
    no_content(
        call(
            &app,
            &admin,
            Method::DELETE,
            &format!("/webhooks/{id}"),
            None,
        )
        .await,
    )
    .await;
}

#[tokio::test]
async fn bad_webhooks_are_refused_with_every_field_named() {
    let app = TestApp::spawn().await; // private targets not allowed
    let ada = app.register().await;
    let project = project_id(&app, &ada, "Checks").await;
    let path = format!("/projects/{project}/webhooks");
    let response = call(
        &app,
        &ada,
        Method::POST,
        &path,
        Some(json!({"url": "ftp://example.com/x", "events": ["task.exploded"], "active": "yes", "secret": "mine"})),
    )
    .await;
    assert_invalid(response, &["url", "events", "active", "secret"]).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest/meta-data",
        "https://user:pw@example.com/",
        "http:///nohost",
    ] {
        let response = call(&app, &ada, Method::POST, &path, Some(json!({"url": url}))).await;
        assert_invalid(response, &["url"]).await;
    }
    let long = format!("https://example.com/{}", "a".repeat(2_000));
    let response = call(&app, &ada, Method::POST, &path, Some(json!({"url": long}))).await;
    assert_invalid(response, &["url"]).await;
}

#[tokio::test]
async fn a_project_holds_at_most_20_webhooks() {
    let app = app_for_webhooks(Duration::from_secs(60)).await;
    let ada = app.register().await;
    let project = project_id(&app, &ada, "Many").await;
    let receiver = Receiver::start(|_| StatusCode::OK).await;
    for _ in 0..20 {
        create_webhook(&app, &ada, &project, json!({"url": receiver.url})).await;
    }
    let path = format!("/projects/{project}/webhooks");
    let response = call(
        &app,
        &ada,
        Method::POST,
        &path,
        Some(json!({"url": receiver.url})),
    )
    .await;
    assert_problem(response, 409, "conflict").await;
}

#[tokio::test]
async fn a_failing_receiver_gets_every_event_once_in_order_after_retries() {
    let app = app_for_webhooks(Duration::from_secs(60)).await;
    let ada = app.register().await;
    let project = project_id(&app, &ada, "Flaky").await;
    // Fails the first 3 requests (500, 503, then a redirect: not followed), then succeeds.
    let receiver = Receiver::start(|n| match n {
        0 => StatusCode::INTERNAL_SERVER_ERROR,
        1 => StatusCode::SERVICE_UNAVAILABLE,
        2 => StatusCode::TEMPORARY_REDIRECT,
        _ => StatusCode::OK,
    })
    .await;
    let (hook, secret) = create_webhook(&app, &ada, &project, json!({"url": receiver.url})).await;
    // Concurrent writers: 3 × 5 tasks.
    let mut writers = Vec::new();
    for w in 0..3 {
        let (app_client, base, ada) = (app.client.clone(), app.base.clone(), ada.clone());
        let project = project.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..5 {
                let response = app_client
                    .post(format!("{base}/tasks"))
                    .bearer_auth(&ada.access)
                    .json(&json!({"project_id": project, "title": format!("w{w} t{i}")}))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(response.status(), 201);
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let got = receiver
        .until("all 15 events acknowledged", |got| got.len() >= 18)
        .await;
    let mut acknowledged: Vec<i64> = Vec::new();
    let mut first_ids = std::collections::HashMap::new();
    for delivery in &got {
        verify(&secret, delivery);
        let seq = delivery.json()["seq"].as_i64().expect("seq");
        let id = delivery.header("webhook-id");
        assert_eq!(
            first_ids.entry(seq).or_insert_with(|| id.clone()),
            &id,
            "one webhook-id per event"
        );
        if !acknowledged.contains(&seq) {
            acknowledged.push(seq);
        }
    }
    assert_eq!(
        acknowledged,
        (2..=16).collect::<Vec<_>>(),
        "every event, in seq order"
    );
    assert_eq!(
        seqs(&got[..4]),
        [2, 2, 2, 2],
        "a later event waits while an earlier one is retried"
    );
    let id = hook["id"].as_str().expect("id");
    // 3 failures and 15 successes; the last successes are recorded a moment after the
    // receiver answered them.
    let log = delivery_log_of(&app, &ada, id, 18).await;
    let attempts: Vec<(i64, i64, String)> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|d| d["seq"] == 2)
        .map(|d| {
            (
                d["attempt"].as_i64().unwrap_or(0),
                d["status_code"].as_i64().unwrap_or(0),
                d["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (4, 200, "succeeded".into()),
            (3, 307, "failed".into()),
            (2, 503, "failed".into()),
            (1, 500, "failed".into())
        ]
    );
}

#[tokio::test]
async fn gone_disables_the_webhook_and_notifies_the_owners() {
    let app = app_for_webhooks(Duration::from_secs(60)).await;
    let ada = app.register().await;
    let project = project_id(&app, &ada, "Gone").await;
    let receiver = Receiver::start(|_| StatusCode::GONE).await;
    let (hook, _) = create_webhook(&app, &ada, &project, json!({"url": receiver.url})).await;
    app.create_task(&ada, &project, json!({})).await;
    receiver
        .until("the first attempt", |got| !got.is_empty())
        .await;
    let id = hook["id"].as_str().expect("id");
    let disabled = wait_for_disabled(&app, &ada, id).await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap_or("")
            .contains("410"),
        "{disabled}"
    );

    let notifications = body(
        call(&app, &ada, Method::GET, "/notifications", None).await,
        200,
    )
    .await;
    let first = &notifications["items"][0];
    assert_eq!(first["kind"], "webhook.disabled", "{notifications}");
    assert!(first["actor_id"].is_null() && first["task_id"].is_null());
    assert_eq!(first["project_id"], project.as_str());

    // Nothing more is sent; re-activating starts from the current seq.
    app.create_task(&ada, &project, json!({"title": "while disabled"}))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn retries_give_up_after_the_deadline_and_disable_the_webhook() {
    let app = app_for_webhooks(Duration::from_millis(300)).await;
    let ada = app.register().await;
    let project = project_id(&app, &ada, "Down").await;
    let receiver = Receiver::start(|_| StatusCode::BAD_GATEWAY).await;
    let (hook, _) = create_webhook(&app, &ada, &project, json!({"url": receiver.url})).await;
    app.create_task(&ada, &project, json!({})).await;
    let id = hook["id"].as_str().expect("id");
    let disabled = wait_for_disabled(&app, &ada, id).await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap_or("")
            .contains("502"),
        "{disabled}"
    );
    let attempts = receiver.received().len();
    assert!(
        (2..=6).contains(&attempts),
        "retried with backoff until the deadline: {attempts}"
    );
}

async fn wait_for_disabled(app: &TestApp, owner: &TestUser, id: &str) -> Value {
    for _ in 0..200 {
        let hook = body(
            call(app, owner, Method::GET, &format!("/webhooks/{id}"), None).await,
            200,
        )
        .await;
        if hook["active"] == false {
            return hook;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the webhook was never disabled");
}

#[tokio::test]
async fn pings_redeliveries_filters_pauses_and_rotations() {
    let app = app_for_webhooks(Duration::from_secs(60)).await;
    let ada = app.register().await;
    let project = project_id(&app, &ada, "Tools").await;
    let receiver = Receiver::start(|_| StatusCode::OK).await;
    let (hook, old_secret) = create_webhook(
        &app,
        &ada,
        &project,
        json!({"url": receiver.url, "events": ["task.moved"], "description": "moves only"}),
    )
    .await;
    let id = hook["id"].as_str().expect("id");

    // Ping: outside the sequence, whatever the filter.
    let response = call(
        &app,
        &ada,
        Method::POST,
        &format!("/webhooks/{id}/ping"),
        None,
    )
    .await;
    assert_eq!(response.status(), 202);
    let got = receiver.until("the ping", |got| !got.is_empty()).await;
    assert_eq!(got[0].json()["type"], "webhook.ping");
    assert_eq!(got[0].json()["webhook_id"], id);
    verify(&old_secret, &got[0]);

    // Filter: only task.moved.
    let task = app.create_task(&ada, &project, json!({})).await;
    app.move_task(
        &ada,
        task["id"].as_str().expect("id"),
        json!({"status": "review"}),
    )
    .await;
    let got = receiver.until("the move", |got| got.len() >= 2).await;
    assert_eq!(got[1].json()["type"], "task.moved");

    // Rotation: both secrets sign for 24 hours.
    let rotated = body(
        call(
            &app,
            &ada,
            Method::POST,
            &format!("/webhooks/{id}/rotate-secret"),
            None,
        )
        .await,
        200,
    )
    .await;
    let new_secret = rotated["secret"].as_str().expect("secret").to_string();
    assert_ne!(new_secret, old_secret);
    app.move_task(
        &ada,
        task["id"].as_str().expect("id"),
        json!({"status": "done"}),
    )
    .await;
    let got = receiver.until("after rotation", |got| got.len() >= 3).await;
    assert_eq!(got[2].header("webhook-signature").split(' ').count(), 2);
    verify(&new_secret, &got[2]);
    verify(&old_secret, &got[2]);

    // Redeliver the first move: same webhook-id, a new attempt in the log.
    let log = delivery_log(&app, &ada, id).await;
    let first_move = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .rev()
        .find(|d| d["event_type"] == "task.moved")
        .and_then(|d| d["id"].as_str())
        .expect("a move delivery")
        .to_string();
    let path = format!("/webhooks/{id}/deliveries/{first_move}/redeliver");
    assert_eq!(
        call(&app, &ada, Method::POST, &path, None).await.status(),
        202
    );
    let got = receiver.until("the redelivery", |got| got.len() >= 4).await;
    assert_eq!(got[3].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(got[3].body, got[1].body);

    // Pause, change things meanwhile, resume: nothing of the pause is sent.
    let paused = set_active(&app, &ada, id, false).await;
    assert_eq!(paused["active"], false);
    assert!(paused["disabled_reason"].is_null());
    app.move_task(
        &ada,
        task["id"].as_str().expect("id"),
        json!({"status": "todo"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    set_active(&app, &ada, id, true).await;
    app.move_task(
        &ada,
        task["id"].as_str().expect("id"),
        json!({"status": "review"}),
    )
    .await;
    let got = receiver.until("after resuming", |got| got.len() >= 5).await;
    assert_eq!(
        got[4].json()["data"]["to"],
        "review",
        "the move made while paused was skipped"
    );
}

#[tokio::test]
async fn a_slow_receiver_never_delays_a_write() {
    let app = app_for_webhooks(Duration::from_secs(60)).await;
    let ada = app.register().await;
    let project = project_id(&app, &ada, "Slow").await;
    let slow = Receiver::start_slow(|_| StatusCode::OK, Duration::from_millis(1500)).await;
    create_webhook(&app, &ada, &project, json!({"url": slow.url})).await;
    let started = std::time::Instant::now();
    for _ in 0..5 {
        app.create_task(&ada, &project, json!({})).await;
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "five writes took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn two_instances_deliver_each_event_once() {
    let app = app_for_webhooks(Duration::from_secs(60)).await;
    let Some(sibling) = sibling_of(&app).await else {
        return;
    };
    let ada = app.register().await;
    let project = project_id(&app, &ada, "Shared").await;
    let receiver = Receiver::start(|_| StatusCode::OK).await;
    create_webhook(&app, &ada, &project, json!({"url": receiver.url})).await;
    for i in 0..20 {
        let target = if i % 2 == 0 { &app } else { &sibling };
        target
            .create_task(&ada, &project, json!({"title": format!("t{i}")}))
            .await;
    }
    let got = receiver.until("20 events", |got| got.len() >= 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_again = receiver.received();
    assert_eq!(got_again.len(), got.len(), "no duplicates arrive later");
    assert_eq!(seqs(&got_again), (2..=21).collect::<Vec<_>>());
}

/// A run of a webhook records its attempts only if the cursor is where the run read it:
/// a copy of the webhook read before an earlier run moved the cursor cannot record (and so
/// cannot send an old event again after newer ones), even holding the lease.
#[tokio::test]
async fn a_stale_copy_of_a_webhook_cannot_move_its_cursor() {
    use flowtrack_store::services::webhooks::delivery::{self, Attempt, Due, Outcome};

    let app = app_for_webhooks(Duration::from_secs(60)).await;
    let ada = app.register().await;
    let project = project_id(&app, &ada, "Stale").await;
    let receiver = Receiver::start(|_| StatusCode::NO_CONTENT).await;
    let (hook, _) = create_webhook(&app, &ada, &project, json!({"url": receiver.url})).await;
    let id = hook["id"].as_str().expect("id");
    for title in ["one", "two"] {
        app.create_task(&ada, &project, json!({ "title": title }))
            .await;
    }
    receiver.until("two events", |got| got.len() >= 2).await;
    delivery_log_of(&app, &ada, id, 2).await;

    let id: uuid::Uuid = id.parse().expect("uuid");
    let current = delivery::load(&app.state, id)
        .await
        .expect("load")
        .expect("the webhook");
    assert_eq!(current.cursor_seq, 3);
    let mut stale = current.clone();
    stale.cursor_seq = 2;
    let other_run = uuid::Uuid::now_v7();
    let mut held = false;
    for _ in 0..100 {
        // The server's worker gives the lease back when its run ends.
        held = delivery::renew(&app.state, other_run, id)
            .await
            .expect("renew");
        if held {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(held, "the lease came free");
    let again = Attempt {
        due: Due {
            seq: 3,
            event_type: "task.created".into(),
            payload: "{}".into(),
        },
        outcome: Outcome {
            status: Some(204),
            error: None,
            duration_ms: 1,
        },
    };
    let refused = delivery::record(
        &app.state,
        other_run,
        &mut stale,
        std::slice::from_ref(&again),
    )
    .await;
    assert!(refused.is_err(), "a stale cursor records nothing");
    let log = delivery_log(&app, &ada, &id.to_string()).await;
    assert_eq!(
        log["items"].as_array().map(Vec::len),
        Some(2),
        "no row added"
    );
    let mut fresh = delivery::load(&app.state, id)
        .await
        .expect("load")
        .expect("the webhook");
    assert_eq!(fresh.cursor_seq, 3);
    // The same attempt from the current row is recorded (the guard is the cursor, not the
    // lease holder).
    let mut next = again;
    next.due.seq = 4;
    fresh.cursor_seq = 3;
    delivery::record(&app.state, other_run, &mut fresh, &[next])
        .await
        .expect("recorded");
    delivery::release(&app.state, other_run, id)
        .await
        .expect("release");
}
