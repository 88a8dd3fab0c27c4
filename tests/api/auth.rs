//! `/auth/*`: registration, login, refresh rotation, logout, limits, token forgery.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn register_login_and_me() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    assert_eq!(user.user["role"], "member");
    let me: serde_json::Value = app
        .get("/users/me")
        .bearer_auth(&user.access)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["email"], user.email);
    let again = app.login(&user.email, PASSWORD).await;
    assert_eq!(again.id, user.id);
}

#[tokio::test]
async fn register_reports_every_bad_field() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/auth/register")
        .json(&json!({"email": "nope", "password": "short", "full_name": "", "role": "admin"}))
        .send()
        .await
        .expect("send");
    let body = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(
        error_fields(&body),
        ["email", "password", "full_name", "role"]
    );
}
