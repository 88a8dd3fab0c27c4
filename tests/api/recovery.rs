//! Account recovery: an admin sets a user's password (`PATCH /users/{id}` with `password`),
//! or a user changes their own (`PUT /users/me/password`). Either ends all of the user's
//! sessions: refresh tokens at once, access tokens issued before within a second on every
//! instance. API tokens are not sessions and keep working.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const NEW_PASSWORD: &str = "a fresh recovery secret";

/// `PATCH /users/{id}` as `caller` with `body`.
async fn patch_user(
    app: &TestApp,
    caller: &TestUser,
    id: uuid::Uuid,
    body: Value,
) -> reqwest::Response {
    app.patch(&format!("/users/{id}"))
        .bearer_auth(&caller.access)
        .json(&body)
        .send()
        .await
        .expect("send")
}

/// Waits until `token` is refused by `app`; fails past one second. Answers how long it took.
async fn refused_within_a_second(app: &TestApp, token: &str, what: &str) -> Duration {
    let started = Instant::now();
    loop {
        let status = me_with(app, token).await.status().as_u16();
        if status == 401 {
            return started.elapsed();
        }
        assert_eq!(status, 200, "{what}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{what}: still accepted after one second"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A new API token of `user`: its secret.
async fn api_token(app: &TestApp, user: &TestUser) -> String {
    let response = call(
        app,
        user,
        Method::POST,
        "/users/me/tokens",
        Some(json!({"name": "script", "scope": "write"})),
    )
    .await;
    body(response, 201).await["secret"]
        .as_str()
        .expect("secret")
        .to_string()
}

async fn assert_login_refused(app: &TestApp, email: &str, password: &str) {
    assert_problem(login_raw(app, email, password).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn an_admin_sets_a_password_and_every_session_ends() {
    let app = TestApp::spawn().await;
    // Another instance on the same database: with Redis the bus tells it at once; on SQLite
    // (no shared bus) its user watcher alone must notice within the second.
    let sibling = app.spawn_sibling().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let second_session = app.login(&user.email, PASSWORD).await;
    // The tokens are in use (and the user cached) on every instance before the reset.
    body(me_with(&app, &user.access).await, 200).await;
    body(me_with(&sibling, &user.access).await, 200).await;
    body(me_with(&sibling, &second_session.access).await, 200).await;

    let response = patch_user(&app, &admin, user.id, json!({"password": NEW_PASSWORD})).await;
    let shown = body(response, 200).await;
    assert_eq!(shown["id"], user.user["id"]);
    assert!(
        shown
            .as_object()
            .expect("object")
            .keys()
            .all(|k| !k.contains("password")),
        "{shown}"
    );
    // A sign-in right after the reset (likely within the same second) works: only tokens
    // issued before the change are refused.
    let after = app.login(&user.email, NEW_PASSWORD).await;

    // On the instance that made the change: at once.
    assert_problem(me_with(&app, &user.access).await, 401, "unauthorized").await;
    assert_problem(
        me_with(&app, &second_session.access).await,
        401,
        "unauthorized",
    )
    .await;
    for refresh in [&user.refresh, &second_session.refresh] {
        assert_problem(refresh_raw(&app, refresh).await, 401, "unauthorized").await;
    }
    body(me_with(&app, &after.access).await, 200).await;
    // On another instance: within a second.
    refused_within_a_second(&sibling, &user.access, "old token on the sibling").await;
    refused_within_a_second(&sibling, &second_session.access, "second session").await;
    body(me_with(&sibling, &after.access).await, 200).await;
    assert_login_refused(&app, &user.email, PASSWORD).await;
    // The new session goes on as usual.
    let rotated = body(refresh_raw(&app, &after.refresh).await, 200).await;
    let rotated_access = rotated["access_token"].as_str().expect("access");
    body(me_with(&app, rotated_access).await, 200).await;
}

#[tokio::test]
async fn a_password_can_come_with_other_changes() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let response = patch_user(
        &app,
        &admin,
        user.id,
        json!({"password": NEW_PASSWORD, "full_name": "Renamed"}),
    )
    .await;
    assert_eq!(body(response, 200).await["full_name"], "Renamed");
    let again = app.login(&user.email, NEW_PASSWORD).await;
    assert_eq!(again.user["full_name"], "Renamed");
    assert_problem(me_with(&app, &user.access).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_member_cannot_set_anyones_password() {
    let app = TestApp::spawn().await;
    let member = app.register().await;
    let other = app.register().await;
    for target in [other.id, member.id] {
        let response = patch_user(&app, &member, target, json!({"password": NEW_PASSWORD})).await;
        assert_problem(response, 403, "forbidden").await;
    }
    // Nothing changed: both still sign in with the old password, their tokens work.
    for user in [&member, &other] {
        app.login(&user.email, PASSWORD).await;
        body(me_with(&app, &user.access).await, 200).await;
    }
}

#[tokio::test]
async fn a_bad_password_is_422_on_that_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    for password in [
        json!("7 chars"),
        json!("x".repeat(129)),
        json!(null),
        json!(12345678),
    ] {
        let response = patch_user(&app, &admin, user.id, json!({"password": password})).await;
        assert_invalid_as(response, &["password"], &password.to_string()).await;
    }
    // 8 and 128 characters are the bounds, inclusive (multi-byte characters count once).
    for password in ["8 chars!".to_string(), "é".repeat(128)] {
        let response = patch_user(&app, &admin, user.id, json!({"password": password})).await;
        body(response, 200).await;
        app.login(&user.email, &password).await;
    }
    assert_login_refused(&app, &user.email, PASSWORD).await;
}

#[tokio::test]
async fn api_tokens_keep_working_after_a_reset() {
    let app = TestApp::spawn().await;
    // Another instance on the same database: with Redis the bus tells it at once; on SQLite
    // (no shared bus) its user watcher alone must notice within the second.
    let sibling = app.spawn_sibling().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let secret = api_token(&app, &user).await;

    let response = patch_user(&app, &admin, user.id, json!({"password": NEW_PASSWORD})).await;
    body(response, 200).await;
    assert_problem(me_with(&app, &user.access).await, 401, "unauthorized").await;
    body(me_with(&app, &secret).await, 200).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    body(me_with(&sibling, &secret).await, 200).await;
    // And after the user's own change too.
    let fresh = app.login(&user.email, NEW_PASSWORD).await;
    let response = app
        .put("/users/me/password")
        .bearer_auth(&fresh.access)
        .json(&json!({"current_password": NEW_PASSWORD, "new_password": PASSWORD}))
        .send()
        .await
        .expect("send");
    no_content(response).await;
    body(me_with(&app, &secret).await, 200).await;
}

#[tokio::test]
async fn changing_ones_own_password_ends_the_callers_access_token_too() {
    let app = TestApp::spawn().await;
    // Another instance on the same database: with Redis the bus tells it at once; on SQLite
    // (no shared bus) its user watcher alone must notice within the second.
    let sibling = app.spawn_sibling().await;
    let user = app.register().await;
    let other_session = app.login(&user.email, PASSWORD).await;
    body(me_with(&sibling, &user.access).await, 200).await;
    let response = app
        .put("/users/me/password")
        .bearer_auth(&user.access)
        .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}))
        .send()
        .await
        .expect("send");
    no_content(response).await;

    let after = app.login(&user.email, NEW_PASSWORD).await;
    for old in [&user.access, &other_session.access] {
        assert_problem(me_with(&app, old).await, 401, "unauthorized").await;
    }
    for old in [&user.refresh, &other_session.refresh] {
        assert_problem(refresh_raw(&app, old).await, 401, "unauthorized").await;
    }
    body(me_with(&app, &after.access).await, 200).await;
    refused_within_a_second(&sibling, &user.access, "caller's token on the sibling").await;
    body(me_with(&sibling, &after.access).await, 200).await;
}

/// The epoch lives in the database: a token from before a reset stays refused after the
/// instance's cache has aged (and by a new instance, which has no cache at all).
#[tokio::test]
async fn a_token_from_before_a_reset_stays_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let response = patch_user(&app, &admin, user.id, json!({"password": NEW_PASSWORD})).await;
    body(response, 200).await;
    app.state.user_cache.invalidate(user.id);
    assert_problem(me_with(&app, &user.access).await, 401, "unauthorized").await;
    let later = app.spawn_sibling().await;
    assert_problem(me_with(&later, &user.access).await, 401, "unauthorized").await;
    body(
        me_with(&later, &app.login(&user.email, NEW_PASSWORD).await.access).await,
        200,
    )
    .await;
}

/// Live sockets are sessions too: those opened with an access token from before a reset
/// are closed (4001) within a second, on this instance and another; a socket opened with
/// an API token, or with a token from after the reset, stays open.
#[tokio::test]
async fn a_reset_closes_the_sockets_of_the_ended_sessions() {
    let app = TestApp::spawn().await;
    let sibling = app.spawn_sibling().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let secret = api_token(&app, &user).await;
    let mut here = app.ws(&user, "").await;
    let mut there = sibling.ws(&user, "").await;
    let mut scripted = app
        .ws_url_connect(&app.ws_url(user.id, &format!("?token={secret}")))
        .await
        .expect("socket with an API token");

    let response = patch_user(&app, &admin, user.id, json!({"password": NEW_PASSWORD})).await;
    body(response, 200).await;
    let after = app.login(&user.email, NEW_PASSWORD).await;
    let mut fresh = sibling.ws(&after, "").await;
    for (socket, what) in [(&mut here, "this instance"), (&mut there, "the sibling")] {
        assert_eq!(
            socket.closed_within(Duration::from_secs(1)).await,
            Some(WsEnd::Closed(4001)),
            "the old session's socket on {what}"
        );
    }
    assert_eq!(
        scripted.closed_within(Duration::from_millis(1200)).await,
        None
    );
    assert_eq!(fresh.closed_within(Duration::from_millis(300)).await, None);
}
