//! `REDIS_URL=rediss://…`: TLS to a Redis of the test's own that listens on TLS only, with a
//! certificate from a throwaway CA given as `FLOWTRACK_REDIS_CA_FILE` (here: `redis_ca`).
//! Skipped only where there is no `redis-server` (CI always has Debian's, built with TLS).

use std::time::Duration;

use flowtrack_core::config::RedisCa;
use futures_util::StreamExt;
use serde_json::json;

use crate::helpers::*;

fn trusted_ca(redis: &OwnRedis) -> RedisCa {
    let path = redis.ca_file();
    RedisCa {
        pem: std::fs::read(&path).expect("read ca.pem"),
        path: path.display().to_string(),
    }
}

/// How many connections are subscribed to `channel`.
async fn subscribers(conn: &mut redis::aio::MultiplexedConnection, channel: &str) -> i64 {
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(conn)
        .await
        .expect("PUBSUB NUMSUB");
    count
}

#[tokio::test]
async fn rediss_with_a_private_ca_is_ready_and_carries_the_bus() {
    let Some(redis) = OwnRedis::start_tls().await else {
        eprintln!("skipped: no redis-server binary");
        return;
    };
    let url = redis.url();
    let ca = trusted_ca(&redis);
    let app = TestApp::spawn_with(|cfg| {
        cfg.redis_url = Some(url.clone());
        cfg.redis_ca = Some(ca.clone());
    })
    .await;

    let response = app.get("/ready").send().await.expect("send");
    let ready = body(response, 200).await;
    assert_eq!(ready["redis"], "ok", "{ready}");

    // A client of our own, built the way FlowTrack builds its own, watches the channel.
    let client = flowtrack_core::redis::client(&url, Some(&ca)).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("a TLS connection with the test CA");
    let channel = flowtrack_store::bus::channel_name(&app.state.config.redis_prefix);
    // The server's listener subscribes over TLS too (the server has no plaintext port).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while subscribers(&mut conn, &channel).await < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server's bus listener never subscribed over TLS"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub over TLS");
    pubsub.subscribe(&channel).await.expect("subscribe");

    // A change is published over TLS.
    let owner = app.register().await;
    let project = app.create_project(&owner, "Over TLS").await;
    let pid = project["id"].as_str().expect("id").to_string();
    let task = app
        .create_task(&owner, &pid, json!({"title": "encrypted"}))
        .await;
    let task_id = task["id"].as_str().expect("id").to_string();
    let mut messages = pubsub.on_message();
    let published = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(message) = messages.next().await {
            let payload: String = message.get_payload().expect("payload");
            if payload.contains(&task_id) {
                return payload;
            }
        }
        panic!("the subscription ended");
    })
    .await
    .expect("the task's event published on the rediss:// bus within 10 s");
    assert!(published.contains("task.created"), "{published}");
    drop(messages);

    // Two instances: a WebSocket on one sees a change made through the other, by way of
    // the TLS bus (instances share a database only on PostgreSQL in these tests).
    if on_postgres() {
        let other = app.spawn_sibling().await;
        let mut on_other = other.ws(&owner, "").await;
        app.create_task(&owner, &pid, json!({"title": "via the first"}))
            .await;
        let events = on_other.events(1).await;
        assert_eq!(events[0]["type"], "task.created", "{}", events[0]);
        assert_eq!(events[0]["data"]["task"]["title"], "via the first");
    } else {
        eprintln!("two-instance part skipped: needs PostgreSQL");
    }
}

/// The certificate is really verified: without the CA that signed it, Redis is not ready.
#[tokio::test]
async fn rediss_without_the_ca_is_not_ready() {
    let Some(redis) = OwnRedis::start_tls().await else {
        eprintln!("skipped: no redis-server binary");
        return;
    };
    let url = redis.url();
    let app = TestApp::spawn_with(|cfg| cfg.redis_url = Some(url.clone())).await;
    let response = app.get("/ready").send().await.expect("send");
    let problem = assert_problem(response, 503, "unavailable").await;
    assert_eq!(problem["redis"], "unavailable", "{problem}");
}
