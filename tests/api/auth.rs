//! `/auth/*`: registration, login, refresh rotation, logout, limits, token forgery.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flowtrack_core::config::{AdminBootstrap, Registration};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Response;
use reqwest::header::{HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use sha2::{Sha256, Sha384, Sha512};
use uuid::Uuid;

use crate::helpers::*;

/// The signing secret of the tests that forge tokens with the server's own key.
const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes";
const OTHER_PASSWORD: &str = "another fine password";
const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

async fn spawn_with_secret() -> TestApp {
    TestApp::spawn_with(|cfg| cfg.jwt_secret = Some(SECRET.into())).await
}

async fn post_json(app: &TestApp, path: &str, body: Value) -> Response {
    app.post(path).json(&body).send().await.expect("send")
}

async fn post_raw(app: &TestApp, path: &str, content_type: Option<&str>, body: &str) -> Response {
    let mut request = app.post(path).body(body.to_string());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("send")
}

async fn logout_raw(app: &TestApp, refresh_token: &str) -> Response {
    post_json(app, "/auth/logout", json!({"refresh_token": refresh_token})).await
}

async fn register_raw(app: &TestApp, body: Value) -> Response {
    post_json(app, "/auth/register", body).await
}

/// Asserts a 200 answer and returns its JSON body.
async fn expect_ok(response: Response, what: &str) -> Value {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{what}: {body}");
    body
}

/// Asserts a problem answer and also returns its headers.
async fn problem_with_headers(response: Response, status: u16, code: &str) -> (HeaderMap, Value) {
    let headers = response.headers().clone();
    let body = assert_problem(response, status, code).await;
    (headers, body)
}

/// Asserts the 401 of the contract: `unauthorized` with `WWW-Authenticate: Bearer`.
async fn assert_unauthorized(response: Response, what: &str) -> Value {
    let status = response.status().as_u16();
    assert_eq!(status, 401, "{what}: expected 401, got {status}");
    let (headers, body) = problem_with_headers(response, 401, "unauthorized").await;
    let challenge = headers
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        challenge.starts_with("Bearer"),
        "{what}: WWW-Authenticate is {challenge:?}"
    );
    body
}

/// Asserts a 429 `rate_limited` with an integer `Retry-After` in `1..=max_secs`.
async fn assert_rate_limited(response: Response, max_secs: u64, what: &str) -> u64 {
    let status = response.status().as_u16();
    assert_eq!(status, 429, "{what}: expected 429, got {status}");
    let (headers, _) = problem_with_headers(response, 429, "rate_limited").await;
    let raw = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: 429 without Retry-After"))
        .to_string();
    let secs: u64 = raw
        .parse()
        .unwrap_or_else(|_| panic!("{what}: Retry-After {raw:?} is not integer seconds"));
    assert!(
        (1..=max_secs).contains(&secs),
        "{what}: Retry-After {secs} not in 1..={max_secs}"
    );
    secs
}

/// Checks the `TokenPair` shape of the contract and returns the user.
fn assert_token_pair(pair: &Value, expires_in: u64) -> Value {
    let keys: std::collections::BTreeSet<&str> = pair
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "refresh_token",
            "token_type",
            "user"
        ]
        .into_iter()
        .collect(),
        "{pair}"
    );
    assert_eq!(pair["token_type"], "bearer");
    assert_eq!(pair["expires_in"], expires_in);
    let access = pair["access_token"].as_str().expect("access_token");
    assert_eq!(access.split('.').count(), 3, "a JWT: {access}");
    let refresh = pair["refresh_token"].as_str().expect("refresh_token");
    // 256 random bits: at least 43 base64url characters (or 64 hex ones).
    assert!(refresh.len() >= 43, "refresh token too short: {refresh}");
    assert_ne!(access, refresh);

    let user = &pair["user"];
    let keys: std::collections::BTreeSet<&str> = user
        .as_object()
        .expect("user object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "full_name",
            "id",
            "is_active",
            "role",
            "updated_at"
        ]
        .into_iter()
        .collect(),
        "{user}"
    );
    assert!(
        user["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .is_some(),
        "{user}"
    );
    assert_eq!(user["is_active"], true);
    assert_timestamp(&user["created_at"], "created_at");
    assert_timestamp(&user["updated_at"], "updated_at");
    user.clone()
}

/// Decodes the JSON of one base64url part of a JWT (no verification).
fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("JWT part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// The claims of a valid access token for `sub`, as of the server's clock.
fn claims_for(app: &TestApp, sub: Uuid) -> Value {
    let now = app.clock.now().timestamp();
    json!({
        "sub": sub,
        "exp": now + 900,
        "iat": now,
        "iss": "flowtrack",
        "aud": "flowtrack",
        "jti": Uuid::now_v7(),
        "typ": "access",
    })
}

/// The HMAC algorithms of JWS (RFC 7518 §3.2) that the tests sign with.
#[derive(Debug, Clone, Copy)]
enum Algorithm {
    HS256,
    HS384,
    HS512,
}

/// base64url of the HMAC of `input` under `secret`.
fn mac_b64<M: Mac + KeyInit>(secret: &str, input: &str) -> String {
    let mut mac = <M as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(input.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A compact JWS of `claims` with header `{"typ":"JWT","alg":…}`, signed with `secret`.
fn sign(algorithm: Algorithm, secret: &str, claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": format!("{algorithm:?}")});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match algorithm {
        Algorithm::HS256 => mac_b64::<Hmac<Sha256>>(secret, &input),
        Algorithm::HS384 => mac_b64::<Hmac<Sha384>>(secret, &input),
        Algorithm::HS512 => mac_b64::<Hmac<Sha512>>(secret, &input),
    };
    format!("{input}.{signature}")
}

/// `header.payload.` with the given header, unsigned.
fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// Registers a user on a server signing with [`SECRET`], and checks that a token forged with
/// that secret and `claims_for` is accepted (so a refusal in a test is due to what it changes).
async fn forge_setup() -> (TestApp, TestUser) {
    let app = spawn_with_secret().await;
    let user = app.register().await;
    let control = sign(Algorithm::HS256, SECRET, &claims_for(&app, user.id));
    expect_ok(me_with(&app, &control).await, "control token").await;
    (app, user)
}

async fn assert_token_refused(app: &TestApp, token: &str, what: &str) {
    assert_unauthorized(me_with(app, token).await, what).await;
}

async fn deactivate(app: &TestApp, admin: &TestUser, id: Uuid) {
    let response = app
        .delete(&format!("/users/{id}"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 204, "deactivate");
}

/// A valid address of exactly `len` characters (local part 64, labels of at most 63).
fn email_of_length(len: usize) -> String {
    let local = format!("u{}", Uuid::now_v7().simple());
    let local = format!("{local}{}", "a".repeat(64 - local.len()));
    // `<first>.<60>.<63>.com` after `local@`.
    let first = len - local.len() - 1 - (1 + 60 + 1 + 63 + 4);
    assert!((1..=63).contains(&first), "{len}");
    let email = format!(
        "{local}@{}.{}.{}.com",
        "d".repeat(first),
        "e".repeat(60),
        "f".repeat(63)
    );
    assert_eq!(email.chars().count(), len, "{email}");
    email
}

// ---------------------------------------------------------------------------------------
// Register
// ---------------------------------------------------------------------------------------

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
async fn register_returns_a_token_pair_of_a_new_member() {
    let app = TestApp::spawn().await;
    let local = format!("Ada.{}", Uuid::now_v7().simple());
    let response = register_raw(
        &app,
        json!({
            "email": format!("  {local}@Example.COM \t"),
            "password": PASSWORD,
            "full_name": "   Ada Lovelace  ",
        }),
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let pair: Value = response.json().await.expect("json");
    let user = assert_token_pair(&pair, 900);
    assert_eq!(
        user["email"],
        format!("{}@example.com", local.to_lowercase())
    );
    assert_eq!(user["full_name"], "Ada Lovelace");
    assert_eq!(user["role"], "member");
    assert!(!pair.to_string().contains("argon2"), "no hash: {pair}");
    assert!(
        !pair.to_string().contains("password"),
        "no password: {pair}"
    );

    // The access token works at once and names the new user.
    let me = expect_ok(
        me_with(&app, pair["access_token"].as_str().expect("access")).await,
        "me",
    )
    .await;
    assert_eq!(me, user);

    // The stored email is the normalized one: logging in with another spelling works.
    let again = app
        .login(&format!(" {}@EXAMPLE.com ", local.to_uppercase()), PASSWORD)
        .await;
    assert_eq!(again.user["id"], user["id"]);
}

#[tokio::test]
async fn register_expires_in_follows_the_configured_access_ttl() {
    let app = TestApp::spawn_with(|cfg| cfg.access_ttl = Duration::from_secs(120)).await;
    let response = register_raw(
        &app,
        json!({"email": unique_email(), "password": PASSWORD, "full_name": "T"}),
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    let pair: Value = response.json().await.expect("json");
    assert_token_pair(&pair, 120);
    let claims = jwt_part(pair["access_token"].as_str().expect("access"), 1);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        120
    );
}

#[tokio::test]
async fn access_token_is_an_hs256_jwt_with_the_documented_claims() {
    let app = spawn_with_secret().await;
    let user = app.register().await;
    let header = jwt_part(&user.access, 0);
    assert_eq!(header["alg"], "HS256", "{header}");

    // Signed with HMAC-SHA256 under the configured secret's UTF-8 bytes.
    let (input, signature) = user.access.rsplit_once('.').expect("three parts");
    assert_eq!(
        signature,
        mac_b64::<Hmac<Sha256>>(SECRET, input),
        "the access token verifies with the configured secret"
    );
    let claims = jwt_part(&user.access, 1);
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(claims["iss"], "flowtrack");
    assert_eq!(claims["aud"], "flowtrack");
    assert_eq!(claims["typ"], "access");
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "{claims}"
    );
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert_eq!(exp - iat, 900, "default lifetime 15 min");

    // Two tokens of the same user have distinct ids.
    let again = app.login(&user.email, PASSWORD).await;
    assert_ne!(jwt_part(&again.access, 1)["jti"], claims["jti"]);
    assert_ne!(again.refresh, user.refresh);
}

#[tokio::test]
async fn register_with_a_taken_email_in_another_case_is_a_conflict() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = register_raw(
        &app,
        json!({
            "email": format!("  {}  ", user.email.to_uppercase()),
            "password": PASSWORD,
            "full_name": "Someone Else",
        }),
    )
    .await;
    assert_problem(response, 409, "conflict").await;
    // The existing account is untouched.
    app.login(&user.email, PASSWORD).await;
}

#[tokio::test]
async fn register_lists_every_missing_field() {
    let app = TestApp::spawn().await;
    let response = register_raw(&app, json!({})).await;
    assert_invalid_as(
        response,
        &["email", "full_name", "password"],
        "empty object",
    )
    .await;
}

#[tokio::test]
async fn register_lists_every_field_of_the_wrong_json_type() {
    let app = TestApp::spawn().await;
    let response = register_raw(
        &app,
        json!({"email": 42, "password": true, "full_name": ["Ada"]}),
    )
    .await;
    assert_invalid_as(response, &["email", "full_name", "password"], "wrong types").await;
    let response = register_raw(
        &app,
        json!({"email": null, "password": {"x": 1}, "full_name": null}),
    )
    .await;
    assert_invalid_as(
        response,
        &["email", "full_name", "password"],
        "nulls and objects",
    )
    .await;
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

#[tokio::test]
async fn register_lists_too_short_too_long_and_unknown_fields_together() {
    let app = TestApp::spawn().await;
    let response = register_raw(
        &app,
        json!({
            "email": email_of_length(255),
            "password": "1234567",
            "full_name": "   \t ",
            "role": "admin",
            "is_active": false,
        }),
    )
    .await;
    assert_invalid_as(
        response,
        &["email", "full_name", "is_active", "password", "role"],
        "short/long/unknown",
    )
    .await;

    let response = register_raw(
        &app,
        json!({
            "email": unique_email(),
            "password": "x".repeat(129),
            "full_name": "n".repeat(101),
        }),
    )
    .await;
    assert_invalid_as(response, &["full_name", "password"], "too long").await;

    // Lengths are counted in characters, after trimming.
    let response = register_raw(
        &app,
        json!({
            "email": unique_email(),
            "password": PASSWORD,
            "full_name": "é".repeat(101),
        }),
    )
    .await;
    assert_invalid_as(response, &["full_name"], "101 characters").await;

    // Nothing was created by any of these.
    let response = login_raw(&app, &unique_email(), PASSWORD).await;
    assert_unauthorized(response, "no account").await;
}

#[tokio::test]
async fn register_rejects_invalid_email_addresses() {
    let app = TestApp::spawn().await;
    for bad in ["", "   ", "ada", "ada@", "@example.com", "a b@example.com"] {
        let response = register_raw(
            &app,
            json!({"email": bad, "password": PASSWORD, "full_name": "Ada"}),
        )
        .await;
        assert_invalid_as(response, &["email"], bad).await;
    }
}

#[tokio::test]
async fn register_accepts_values_at_the_length_limits() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            email_of_length(254),
            "12345678".to_string(),
            "N".to_string(),
        ),
        (unique_email(), "p".repeat(128), "é".repeat(100)),
        (
            unique_email(),
            "p".repeat(8),
            format!("  {}  ", "n".repeat(100)),
        ),
    ];
    for (email, password, full_name) in cases {
        let response = register_raw(
            &app,
            json!({"email": email, "password": password, "full_name": full_name}),
        )
        .await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 201, "{email} / {full_name}: {body}");
        assert_eq!(body["user"]["full_name"], full_name.trim());
        // The password is usable exactly as given.
        app.login(&email, &password).await;
    }
}

#[tokio::test]
async fn register_body_that_is_not_an_object_is_422_on_the_empty_field() {
    let app = TestApp::spawn().await;
    for body in [
        "[]",
        "[{\"email\":\"a@b.org\"}]",
        "\"text\"",
        "42",
        "null",
        "true",
    ] {
        let response = post_raw(&app, "/auth/register", Some("application/json"), body).await;
        let problem = assert_problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [""], "{body}: {problem}");
    }
}

#[tokio::test]
async fn register_with_malformed_json_is_400() {
    let app = TestApp::spawn().await;
    for body in [
        "{\"email\":",
        "{email: \"a@b.org\"}",
        "{\"email\":\"a@b.org\",}",
        "",
    ] {
        let response = post_raw(&app, "/auth/register", Some("application/json"), body).await;
        assert_problem(response, 400, "bad_request").await;
    }
}

#[tokio::test]
async fn register_with_a_non_json_content_type_is_415() {
    let app = TestApp::spawn().await;
    let body = json!({"email": unique_email(), "password": PASSWORD, "full_name": "A"}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let response = post_raw(&app, "/auth/register", content_type, &body).await;
        assert_problem(response, 415, "unsupported_media_type").await;
    }
    // `application/json; charset=utf-8` is JSON.
    let response = post_raw(
        &app,
        "/auth/register",
        Some("application/json; charset=utf-8"),
        &body,
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
}

#[tokio::test]
async fn register_is_forbidden_when_registration_is_closed() {
    let app = TestApp::spawn_with(|cfg| cfg.registration = Registration::Closed).await;
    let email = unique_email();
    let response = register_raw(
        &app,
        json!({"email": email, "password": PASSWORD, "full_name": "Ada"}),
    )
    .await;
    assert_problem(response, 403, "forbidden").await;
    // No account was created…
    assert_unauthorized(login_raw(&app, &email, PASSWORD).await, "not created").await;
    // …and existing accounts still log in.
    let admin = app.admin().await;
    assert_eq!(admin.user["role"], "admin");
}

#[tokio::test]
async fn register_is_rate_limited_per_client_address() {
    let app = TestApp::spawn_with(|cfg| cfg.register_per_hour = 2).await;
    app.register().await;
    app.register().await;
    let email = unique_email();
    let response = register_raw(
        &app,
        json!({"email": email, "password": PASSWORD, "full_name": "Third"}),
    )
    .await;
    assert_rate_limited(response, 3600, "third registration").await;
    assert_unauthorized(login_raw(&app, &email, PASSWORD).await, "not created").await;

    // Once the hour has passed, registering works again.
    app.clock.advance(Duration::from_secs(3600 + 1));
    app.register().await;
}

// ---------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn login_with_json_returns_a_token_pair() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = login_raw(&app, &user.email, PASSWORD).await;
    let pair = expect_ok(response, "login").await;
    let logged_in = assert_token_pair(&pair, 900);
    assert_eq!(logged_in["id"], user.id.to_string());
    assert_eq!(logged_in["role"], "member");
    expect_ok(
        me_with(&app, pair["access_token"].as_str().expect("access")).await,
        "me",
    )
    .await;
    // Each login opens its own session.
    assert_ne!(pair["refresh_token"], user.refresh.as_str());
}

#[tokio::test]
async fn login_accepts_the_oauth2_password_form() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let forms: [&[(&str, &str)]; 3] = [
        &[("username", &user.email), ("password", PASSWORD)],
        &[
            ("grant_type", "password"),
            ("username", &user.email),
            ("password", PASSWORD),
            ("scope", ""),
        ],
        &[
            ("grant_type", "password"),
            ("username", &user.email),
            ("password", PASSWORD),
            ("scope", ""),
            ("client_id", ""),
            ("client_secret", ""),
        ],
    ];
    for form in forms {
        let response = app
            .post("/auth/login")
            .form(form)
            .send()
            .await
            .expect("send");
        let pair = expect_ok(response, "form login").await;
        let logged_in = assert_token_pair(&pair, 900);
        assert_eq!(logged_in["id"], user.id.to_string());
    }
}

#[tokio::test]
async fn login_form_with_a_wrong_password_is_401_and_missing_fields_are_422() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app
        .post("/auth/login")
        .form(&[
            ("username", user.email.as_str()),
            ("password", "wrong password"),
        ])
        .send()
        .await
        .expect("send");
    assert_unauthorized(response, "form, wrong password").await;
    let response = app
        .post("/auth/login")
        .form(&[("grant_type", "password")])
        .send()
        .await
        .expect("send");
    assert_invalid_as(response, &["password", "username"], "empty form").await;
}

#[tokio::test]
async fn login_body_errors_follow_the_error_contract() {
    let app = TestApp::spawn().await;
    assert_invalid_as(
        login_raw_value(&app, json!({})).await,
        &["email", "password"],
        "missing",
    )
    .await;
    assert_invalid_as(
        login_raw_value(&app, json!({"email": 1, "password": false})).await,
        &["email", "password"],
        "types",
    )
    .await;
    assert_invalid_as(
        login_raw_value(
            &app,
            json!({"email": unique_email(), "password": PASSWORD, "remember_me": true}),
        )
        .await,
        &["remember_me"],
        "unknown",
    )
    .await;
    let response = post_raw(&app, "/auth/login", Some("application/json"), "[]").await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), [""]);
    let response = post_raw(&app, "/auth/login", Some("application/json"), "{\"email\"").await;
    assert_problem(response, 400, "bad_request").await;
    let response = post_raw(&app, "/auth/login", Some("text/plain"), "{}").await;
    assert_problem(response, 415, "unsupported_media_type").await;
}

async fn login_raw_value(app: &TestApp, body: Value) -> Response {
    post_json(app, "/auth/login", body).await
}

#[tokio::test]
async fn login_failures_are_indistinguishable_for_unknown_email_and_wrong_password() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let wrong_password = assert_unauthorized(
        login_raw(&app, &user.email, "not the password").await,
        "wrong",
    )
    .await;
    let unknown = assert_unauthorized(
        login_raw(&app, &unique_email(), PASSWORD).await,
        "unknown email",
    )
    .await;
    assert_eq!(wrong_password, unknown);
    assert!(wrong_password.get("errors").is_none(), "{wrong_password}");
    // A password differing only by surrounding spaces is another password.
    let padded = format!(" {PASSWORD} ");
    let spaced = assert_unauthorized(login_raw(&app, &user.email, &padded).await, "padded").await;
    assert_eq!(spaced, wrong_password);
}

#[tokio::test]
async fn login_of_a_deactivated_user_with_the_right_password_is_the_same_401() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    let wrong = assert_unauthorized(
        login_raw(&app, &user.email, "not the password").await,
        "wrong",
    )
    .await;

    deactivate(&app, &admin, user.id).await;
    let inactive = assert_unauthorized(
        login_raw(&app, &user.email, PASSWORD).await,
        "inactive, right password",
    )
    .await;
    assert_eq!(inactive, wrong, "same message as a wrong password");
    // Its access token stopped working too.
    assert_token_refused(&app, &user.access, "deactivated user's access token").await;
}

#[tokio::test]
async fn login_is_locked_after_max_failures_until_the_window_passes() {
    let app = TestApp::spawn_with(|cfg| cfg.login_max_failures = 3).await;
    let user = app.register().await;
    for i in 0..3 {
        let response = login_raw(&app, &user.email, "wrong password").await;
        assert_unauthorized(response, &format!("failure {i}")).await;
    }
    // Now the right password is refused too, and so is a wrong one.
    assert_rate_limited(
        login_raw(&app, &user.email, PASSWORD).await,
        900,
        "right password",
    )
    .await;
    assert_rate_limited(
        login_raw(&app, &user.email, "wrong password").await,
        900,
        "wrong password",
    )
    .await;
    // The OAuth2 form is the same login.
    let response = app
        .post("/auth/login")
        .form(&[("username", user.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .expect("send");
    assert_rate_limited(response, 900, "form").await;
    // Other accounts are not affected.
    let other = app.register().await;
    app.login(&other.email, PASSWORD).await;

    app.clock.advance(LOGIN_WINDOW + Duration::from_secs(1));
    app.login(&user.email, PASSWORD).await;
}

#[tokio::test]
async fn login_failures_count_per_account_whatever_the_email_spelling() {
    let app = TestApp::spawn_with(|cfg| cfg.login_max_failures = 3).await;
    let user = app.register().await;
    for spelling in [
        user.email.to_uppercase(),
        format!("  {}  ", user.email),
        user.email.clone(),
    ] {
        assert_unauthorized(
            login_raw(&app, &spelling, "wrong password").await,
            &spelling,
        )
        .await;
    }
    assert_rate_limited(login_raw(&app, &user.email, PASSWORD).await, 900, "locked").await;
}

#[tokio::test]
async fn login_failures_of_unknown_accounts_are_limited_too() {
    let app = TestApp::spawn_with(|cfg| cfg.login_max_failures = 2).await;
    let email = unique_email();
    for _ in 0..2 {
        assert_unauthorized(login_raw(&app, &email, PASSWORD).await, "unknown").await;
    }
    assert_rate_limited(login_raw(&app, &email, PASSWORD).await, 900, "unknown").await;
}

#[tokio::test]
async fn rate_limited_logins_do_not_count_as_failures() {
    // One failure locks an account; ten failures lock the address.
    let app = TestApp::spawn_with(|cfg| cfg.login_max_failures = 1).await;
    let locked = app.register().await;
    let other = app.register().await;
    assert_unauthorized(
        login_raw(&app, &locked.email, "wrong password").await,
        "1st",
    )
    .await;
    // Far more attempts than the address allows failures: all 429, none counted.
    for i in 0..15 {
        let password = if i % 2 == 0 { PASSWORD } else { "wrong" };
        assert_rate_limited(
            login_raw(&app, &locked.email, password).await,
            900,
            "locked",
        )
        .await;
    }
    // So the address has one failure, and another account logs in.
    app.login(&other.email, PASSWORD).await;
    // And the locked account's window was not extended by the 429s.
    app.clock.advance(LOGIN_WINDOW + Duration::from_secs(1));
    app.login(&locked.email, PASSWORD).await;
}

#[tokio::test]
async fn login_failures_are_limited_per_client_address_across_accounts() {
    // Per account 2, so per address 20.
    let app = TestApp::spawn_with(|cfg| cfg.login_max_failures = 2).await;
    let user = app.register().await;
    for i in 0..19 {
        let response = login_raw(&app, &unique_email(), "wrong password").await;
        assert_unauthorized(response, &format!("failure {i}")).await;
    }
    // 19 failures from this address: still allowed.
    app.login(&user.email, PASSWORD).await;
    let response = login_raw(&app, &unique_email(), "wrong password").await;
    assert_unauthorized(response, "failure 20").await;
    // 20: every login from this address is refused, for any account.
    assert_rate_limited(
        login_raw(&app, &user.email, PASSWORD).await,
        900,
        "address locked",
    )
    .await;
    assert_rate_limited(
        login_raw(&app, &unique_email(), PASSWORD).await,
        900,
        "address locked, other account",
    )
    .await;
    // Registration and refresh are not login attempts.
    let registered = app.register().await;
    expect_ok(refresh_raw(&app, &registered.refresh).await, "refresh").await;

    app.clock.advance(LOGIN_WINDOW + Duration::from_secs(1));
    app.login(&user.email, PASSWORD).await;
}

#[tokio::test]
async fn login_limits_are_shared_by_instances_on_redis() {
    if redis_url().is_none() {
        // Without Redis each instance counts for itself (one instance per deployment).
        return;
    }
    let app = TestApp::spawn_with(|cfg| cfg.login_max_failures = 2).await;
    let sibling = app.spawn_sibling().await;
    let user = app.register().await;
    assert_unauthorized(login_raw(&app, &user.email, "wrong").await, "on A").await;
    assert_unauthorized(login_raw(&sibling, &user.email, "wrong").await, "on B").await;
    assert_rate_limited(login_raw(&app, &user.email, PASSWORD).await, 900, "A").await;
    assert_rate_limited(login_raw(&sibling, &user.email, PASSWORD).await, 900, "B").await;
}

// ---------------------------------------------------------------------------------------
// Refresh
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_rotates_the_pair() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let pair = expect_ok(refresh_raw(&app, &user.refresh).await, "refresh").await;
    let refreshed = assert_token_pair(&pair, 900);
    assert_eq!(refreshed["id"], user.id.to_string());
    let new_refresh = pair["refresh_token"].as_str().expect("refresh");
    let new_access = pair["access_token"].as_str().expect("access");
    assert_ne!(new_refresh, user.refresh);
    assert_ne!(new_access, user.access);
    expect_ok(me_with(&app, new_access).await, "new access token").await;

    // The new refresh token rotates in turn.
    let next = expect_ok(refresh_raw(&app, new_refresh).await, "second refresh").await;
    assert_token_pair(&next, 900);
}

#[tokio::test]
async fn a_rotated_refresh_token_stops_working() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    expect_ok(refresh_raw(&app, &user.refresh).await, "refresh").await;
    assert_unauthorized(refresh_raw(&app, &user.refresh).await, "rotated token").await;
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_its_whole_family() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    // Another session of the same user, which must survive.
    let other_session = app.login(&user.email, PASSWORD).await;

    let first = user.refresh.clone();
    let second = expect_ok(refresh_raw(&app, &first).await, "1st rotation").await["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let newest = expect_ok(refresh_raw(&app, &second).await, "2nd rotation").await["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();

    // The thief (or a stale client) presents the first token again.
    assert_unauthorized(refresh_raw(&app, &first).await, "reuse").await;
    // The newest token of that family is revoked as well.
    assert_unauthorized(refresh_raw(&app, &newest).await, "newest of family").await;
    assert_unauthorized(refresh_raw(&app, &second).await, "middle of family").await;
    // Only that family: the other session still refreshes.
    expect_ok(
        refresh_raw(&app, &other_session.refresh).await,
        "other family",
    )
    .await;
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_yield_at_most_one_pair() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let attempts = (0..8).map(|_| refresh_raw(&app, &user.refresh));
    let responses = futures_util::future::join_all(attempts).await;
    let mut successes = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => successes += 1,
            _ => {
                assert_unauthorized(response, "losing concurrent refresh").await;
            }
        }
    }
    assert!(successes <= 1, "{successes} rotations of one token");
}

#[tokio::test]
async fn an_expired_refresh_token_is_401() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let ttl = app.state.config.refresh_ttl;
    assert_eq!(ttl, Duration::from_secs(30 * 24 * 3600), "default 30 days");
    app.clock.advance(ttl + Duration::from_secs(1));
    assert_unauthorized(refresh_raw(&app, &user.refresh).await, "expired").await;
}

#[tokio::test]
async fn a_refresh_token_works_until_the_configured_lifetime() {
    let app = TestApp::spawn_with(|cfg| cfg.refresh_ttl = Duration::from_secs(600)).await;
    let user = app.register().await;
    let other = app.login(&user.email, PASSWORD).await;
    app.clock.advance(Duration::from_secs(500));
    expect_ok(refresh_raw(&app, &user.refresh).await, "within lifetime").await;
    app.clock.advance(Duration::from_secs(101));
    assert_unauthorized(refresh_raw(&app, &other.refresh).await, "past lifetime").await;
}

#[tokio::test]
async fn refresh_of_a_deactivated_user_is_401() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let user = app.register().await;
    deactivate(&app, &admin, user.id).await;
    assert_unauthorized(refresh_raw(&app, &user.refresh).await, "deactivated").await;
}

#[tokio::test]
async fn refresh_with_a_garbage_token_is_401() {
    let app = TestApp::spawn().await;
    app.register().await;
    for garbage in [
        "garbage",
        "x",
        &"A".repeat(43),
        "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
    ] {
        assert_unauthorized(refresh_raw(&app, garbage).await, garbage).await;
    }
}

#[tokio::test]
async fn refresh_body_errors_are_422() {
    let app = TestApp::spawn().await;
    assert_invalid_as(
        post_json(&app, "/auth/refresh", json!({})).await,
        &["refresh_token"],
        "missing",
    )
    .await;
    assert_invalid_as(
        post_json(&app, "/auth/refresh", json!({"refresh_token": 12})).await,
        &["refresh_token"],
        "number",
    )
    .await;
    assert_invalid_as(
        post_json(&app, "/auth/refresh", json!({"refresh_token": ""})).await,
        &["refresh_token"],
        "empty",
    )
    .await;
    assert_invalid_as(
        post_json(
            &app,
            "/auth/refresh",
            json!({"refresh_token": "x", "user_id": Uuid::now_v7()}),
        )
        .await,
        &["user_id"],
        "unknown field",
    )
    .await;
    let response = post_raw(&app, "/auth/refresh", Some("text/plain"), "{}").await;
    assert_problem(response, 415, "unsupported_media_type").await;
}

// ---------------------------------------------------------------------------------------
// Logout
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = logout_raw(&app, &user.refresh).await;
    assert_eq!(response.status().as_u16(), 204);
    assert!(response.text().await.expect("body").is_empty());
    assert_unauthorized(refresh_raw(&app, &user.refresh).await, "after logout").await;
}

#[tokio::test]
async fn logout_with_an_old_token_revokes_the_whole_family_only() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let other_session = app.login(&user.email, PASSWORD).await;
    let newest = expect_ok(refresh_raw(&app, &user.refresh).await, "rotate").await["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let response = logout_raw(&app, &user.refresh).await;
    assert_eq!(response.status().as_u16(), 204);
    assert_unauthorized(refresh_raw(&app, &newest).await, "newest of the family").await;
    expect_ok(
        refresh_raw(&app, &other_session.refresh).await,
        "other session",
    )
    .await;
}

#[tokio::test]
async fn logout_with_an_unknown_or_revoked_token_is_204() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    for token in ["never-issued", &"B".repeat(43), &user.access] {
        let response = logout_raw(&app, token).await;
        assert_eq!(response.status().as_u16(), 204, "{token}");
    }
    // Twice in a row.
    assert_eq!(logout_raw(&app, &user.refresh).await.status().as_u16(), 204);
    assert_eq!(logout_raw(&app, &user.refresh).await.status().as_u16(), 204);
}

#[tokio::test]
async fn logout_needs_no_access_token() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    // No Authorization header at all.
    let response = app
        .post("/auth/logout")
        .json(&json!({"refresh_token": user.refresh}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 204);
    // A client whose access token has expired still signs out.
    let session = app.login(&user.email, PASSWORD).await;
    app.clock
        .advance(app.state.config.access_ttl + Duration::from_secs(120));
    assert_token_refused(&app, &session.access, "expired access token").await;
    let response = app
        .post("/auth/logout")
        .bearer_auth(&session.access)
        .json(&json!({"refresh_token": session.refresh}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 204);
    assert_unauthorized(refresh_raw(&app, &session.refresh).await, "logged out").await;
}

#[tokio::test]
async fn logout_body_errors_are_422() {
    let app = TestApp::spawn().await;
    assert_invalid_as(
        post_json(&app, "/auth/logout", json!({})).await,
        &["refresh_token"],
        "missing",
    )
    .await;
    let response = post_raw(&app, "/auth/logout", Some("application/json"), "[]").await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&problem), [""]);
}

// ---------------------------------------------------------------------------------------
// Access tokens: the one kind of token for the other, forgeries, expiry
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    assert_token_refused(&app, &user.refresh, "refresh token as bearer").await;
    // And it was not consumed by that attempt.
    expect_ok(refresh_raw(&app, &user.refresh).await, "refresh").await;
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    assert_unauthorized(
        refresh_raw(&app, &user.access).await,
        "access as refresh_token",
    )
    .await;
    // And the access token keeps working.
    expect_ok(me_with(&app, &user.access).await, "me").await;
}

#[tokio::test]
async fn a_token_forged_with_the_right_secret_and_claims_is_accepted() {
    // The control for every forgery test below: only what each one changes makes it fail.
    let (app, user) = forge_setup().await;
    let token = sign(Algorithm::HS256, SECRET, &claims_for(&app, user.id));
    let me = expect_ok(me_with(&app, &token).await, "forged control").await;
    assert_eq!(me["id"], user.id.to_string());
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    let (app, user) = forge_setup().await;
    let claims = claims_for(&app, user.id);
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "JWT"});
        assert_token_refused(&app, &unsigned(&header, &claims), alg).await;
        // With the signature of a real token appended.
        let real_signature = user.access.rsplit('.').next().expect("signature");
        let token = format!("{}{real_signature}", unsigned(&header, &claims));
        assert_token_refused(&app, &token, alg).await;
    }
}

#[tokio::test]
async fn a_token_signed_with_another_hmac_algorithm_is_refused() {
    let (app, user) = forge_setup().await;
    let claims = claims_for(&app, user.id);
    for algorithm in [Algorithm::HS512, Algorithm::HS384] {
        let token = sign(algorithm, SECRET, &claims);
        assert_token_refused(&app, &token, &format!("{algorithm:?}")).await;
    }
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let (app, user) = forge_setup().await;
    let claims = claims_for(&app, user.id);
    for key in [
        "another-secret-that-is-also-32-bytes-long",
        "",
        "a-test-secret-that-is-at-least-32-byte",
    ] {
        let token = sign(Algorithm::HS256, key, &claims);
        assert_token_refused(&app, &token, key).await;
    }
}

#[tokio::test]
async fn a_token_with_a_tampered_payload_is_refused() {
    let (app, user) = forge_setup().await;
    let admin = app.admin().await;
    // Keep header and signature of the user's real token; swap in the admin as `sub`.
    let mut claims = jwt_part(&user.access, 1);
    claims["sub"] = json!(admin.id);
    let parts: Vec<&str> = user.access.split('.').collect();
    let token = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_token_refused(&app, &token, "tampered sub").await;
    // And a flipped signature character.
    let mut signature = parts[2].to_string();
    let last = signature.pop().expect("char");
    signature.push(if last == 'A' { 'B' } else { 'A' });
    let token = format!("{}.{}.{signature}", parts[0], parts[1]);
    assert_token_refused(&app, &token, "bad signature").await;
}

#[tokio::test]
async fn a_token_expired_beyond_the_leeway_is_refused() {
    let (app, user) = forge_setup().await;
    let now = app.clock.now().timestamp();
    let mut claims = claims_for(&app, user.id);
    claims["iat"] = json!(now - 1_000);
    claims["exp"] = json!(now - 120);
    assert_token_refused(&app, &sign(Algorithm::HS256, SECRET, &claims), "expired").await;
    claims["exp"] = json!(now - 86_400);
    assert_token_refused(
        &app,
        &sign(Algorithm::HS256, SECRET, &claims),
        "long expired",
    )
    .await;
}

#[tokio::test]
async fn a_token_issued_in_the_future_beyond_the_leeway_is_refused() {
    let (app, user) = forge_setup().await;
    let now = app.clock.now().timestamp();
    let mut claims = claims_for(&app, user.id);
    claims["iat"] = json!(now + 300);
    claims["exp"] = json!(now + 1_200);
    assert_token_refused(&app, &sign(Algorithm::HS256, SECRET, &claims), "future iat").await;
}

#[tokio::test]
async fn a_token_with_a_wrong_issuer_is_refused() {
    let (app, user) = forge_setup().await;
    for iss in [
        json!("someone-else"),
        json!(""),
        json!("FlowTrack"),
        json!(1),
    ] {
        let mut claims = claims_for(&app, user.id);
        claims["iss"] = iss.clone();
        let token = sign(Algorithm::HS256, SECRET, &claims);
        assert_token_refused(&app, &token, &format!("iss {iss}")).await;
    }
}

#[tokio::test]
async fn a_token_with_a_wrong_audience_is_refused() {
    let (app, user) = forge_setup().await;
    for aud in [json!("someone-else"), json!(""), json!(["other"])] {
        let mut claims = claims_for(&app, user.id);
        claims["aud"] = aud.clone();
        let token = sign(Algorithm::HS256, SECRET, &claims);
        assert_token_refused(&app, &token, &format!("aud {aud}")).await;
    }
}

#[tokio::test]
async fn a_token_of_type_refresh_is_refused() {
    let (app, user) = forge_setup().await;
    for typ in ["refresh", "Access", ""] {
        let mut claims = claims_for(&app, user.id);
        claims["typ"] = json!(typ);
        let token = sign(Algorithm::HS256, SECRET, &claims);
        assert_token_refused(&app, &token, &format!("typ {typ:?}")).await;
    }
}

#[tokio::test]
async fn a_token_missing_any_claim_is_refused() {
    let (app, user) = forge_setup().await;
    for claim in ["sub", "exp", "iat", "iss", "aud", "jti", "typ"] {
        let mut claims = claims_for(&app, user.id);
        claims.as_object_mut().expect("object").remove(claim);
        let token = sign(Algorithm::HS256, SECRET, &claims);
        assert_token_refused(&app, &token, &format!("without {claim}")).await;
    }
}

#[tokio::test]
async fn a_token_for_an_unknown_or_malformed_subject_is_refused() {
    let (app, user) = forge_setup().await;
    for sub in [json!(Uuid::now_v7()), json!("not-a-uuid"), json!(42)] {
        let mut claims = claims_for(&app, user.id);
        claims["sub"] = sub.clone();
        let token = sign(Algorithm::HS256, SECRET, &claims);
        assert_token_refused(&app, &token, &format!("sub {sub}")).await;
    }
}

#[tokio::test]
async fn garbage_bearer_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let truncated = &user.access[..user.access.len() - 5];
    for token in [
        "garbage",
        "a.b.c",
        "...",
        truncated,
        &format!("{}.", user.access),
        "eyJhbGciOiJIUzI1NiJ9.e30.",
    ] {
        assert_token_refused(&app, token, token).await;
    }
}

#[tokio::test]
async fn a_missing_or_non_bearer_authorization_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let response = app.get("/users/me").send().await.expect("send");
    assert_unauthorized(response, "no Authorization").await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{PASSWORD}", user.email))
    );
    for value in [
        basic,
        format!("Token {}", user.access),
        user.access.clone(),
        "Bearer".to_string(),
        "Bearer ".to_string(),
    ] {
        let response = app
            .get("/users/me")
            .header("authorization", &value)
            .send()
            .await
            .expect("send");
        assert_unauthorized(response, &value).await;
    }
}

#[tokio::test]
async fn an_access_token_expires_by_the_server_clock() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    expect_ok(me_with(&app, &user.access).await, "fresh").await;
    app.clock
        .advance(app.state.config.access_ttl + Duration::from_secs(61));
    assert_token_refused(&app, &user.access, "expired by the clock").await;
    // A refresh gives a working one again.
    let pair = expect_ok(refresh_raw(&app, &user.refresh).await, "refresh").await;
    expect_ok(
        me_with(&app, pair["access_token"].as_str().expect("access")).await,
        "new access token",
    )
    .await;
}

#[tokio::test]
async fn a_short_access_ttl_is_enforced() {
    let app = TestApp::spawn_with(|cfg| cfg.access_ttl = Duration::from_secs(30)).await;
    let user = app.register().await;
    app.clock.advance(Duration::from_secs(30 + 61));
    assert_token_refused(&app, &user.access, "30 s token after 91 s").await;
}

// ---------------------------------------------------------------------------------------
// Password change, shared secret, admin bootstrap
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_password_change_revokes_every_refresh_token() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let other_session = app.login(&user.email, PASSWORD).await;
    let response = app
        .put("/users/me/password")
        .bearer_auth(&user.access)
        .json(&json!({"current_password": PASSWORD, "new_password": OTHER_PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 204);
    assert_unauthorized(refresh_raw(&app, &user.refresh).await, "this session").await;
    assert_unauthorized(
        refresh_raw(&app, &other_session.refresh).await,
        "other session",
    )
    .await;
    // Only the new password logs in.
    assert_unauthorized(login_raw(&app, &user.email, PASSWORD).await, "old password").await;
    let fresh = app.login(&user.email, OTHER_PASSWORD).await;
    expect_ok(refresh_raw(&app, &fresh.refresh).await, "new session").await;
}

#[tokio::test]
async fn instances_sharing_a_database_share_the_generated_jwt_secret() {
    let app = TestApp::spawn().await;
    assert!(
        app.state.config.jwt_secret.is_none(),
        "no configured secret"
    );
    let sibling = app.spawn_sibling().await;
    let on_first = app.register().await;
    let on_second = sibling.register().await;
    let me = expect_ok(me_with(&sibling, &on_first.access).await, "A's token on B").await;
    assert_eq!(me["id"], on_first.id.to_string());
    let me = expect_ok(me_with(&app, &on_second.access).await, "B's token on A").await;
    assert_eq!(me["id"], on_second.id.to_string());
    // Refresh tokens are shared too.
    expect_ok(
        refresh_raw(&sibling, &on_first.refresh).await,
        "refresh on B",
    )
    .await;
    // A restarted instance keeps the secret.
    app.shutdown().await;
    let restarted = sibling.spawn_sibling().await;
    expect_ok(
        me_with(&restarted, &on_second.access).await,
        "after restart",
    )
    .await;
}

#[tokio::test]
async fn the_bootstrap_admin_can_log_in_as_admin() {
    let email = unique_email();
    let bootstrap = AdminBootstrap {
        email: email.clone(),
        password: "bootstrap password".into(),
    };
    let app = TestApp::spawn_with(|cfg| cfg.admin = Some(bootstrap)).await;
    let admin = app.login(&email, "bootstrap password").await;
    assert_eq!(admin.user["role"], "admin");
    assert_eq!(admin.user["is_active"], true);
    let response = app
        .get("/users")
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 200, "admin-only route");
}

#[tokio::test]
async fn restarting_with_another_bootstrap_password_keeps_the_existing_one() {
    let email = unique_email();
    let bootstrap = AdminBootstrap {
        email: email.clone(),
        password: "bootstrap password".into(),
    };
    let app = TestApp::spawn_with(|cfg| cfg.admin = Some(bootstrap)).await;
    let mut config = app.state.config.clone();
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.admin = Some(AdminBootstrap {
        email: email.clone(),
        password: "a different password".into(),
    });
    let sibling = TestApp::start(config, app.db.clone()).await;
    for server in [&app, &sibling] {
        let admin = server.login(&email, "bootstrap password").await;
        assert_eq!(admin.user["role"], "admin");
        assert_unauthorized(
            login_raw(server, &email, "a different password").await,
            "new bootstrap password",
        )
        .await;
    }
}

#[tokio::test]
async fn the_bootstrap_promotes_an_existing_member_and_keeps_its_password() {
    let app = TestApp::spawn().await;
    let member = app.register().await;
    let mut config = app.state.config.clone();
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.admin = Some(AdminBootstrap {
        email: member.email.clone(),
        password: "bootstrap password".into(),
    });
    let sibling = TestApp::start(config, app.db.clone()).await;
    let promoted = sibling.login(&member.email, PASSWORD).await;
    assert_eq!(promoted.id, member.id);
    assert_eq!(promoted.user["role"], "admin");
    assert_unauthorized(
        login_raw(&sibling, &member.email, "bootstrap password").await,
        "bootstrap password",
    )
    .await;
}

#[tokio::test]
async fn concurrent_wrong_passwords_cannot_exceed_the_account_limit() {
    let app = TestApp::spawn_with(|cfg| cfg.login_max_failures = 3).await;
    let user = app.register().await;
    let attempts = (0..12).map(|_| login_raw(&app, &user.email, "wrong password"));
    let responses = futures_util::future::join_all(attempts).await;
    let mut failures = 0;
    for response in responses {
        match response.status().as_u16() {
            401 => failures += 1,
            _ => {
                assert_rate_limited(response, 900, "concurrent guess").await;
            }
        }
    }
    assert!(failures <= 3, "{failures} password guesses were checked");
}

#[tokio::test]
async fn concurrent_registrations_cannot_exceed_the_limit() {
    let app = TestApp::spawn_with(|cfg| cfg.register_per_hour = 2).await;
    let attempts = (0..8).map(|_| {
        register_raw(
            &app,
            json!({"email": unique_email(), "password": PASSWORD, "full_name": "Racer"}),
        )
    });
    let responses = futures_util::future::join_all(attempts).await;
    let mut created = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            _ => {
                assert_rate_limited(response, 3600, "concurrent registration").await;
            }
        }
    }
    assert!(created <= 2, "{created} registrations");
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_create_one_account() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let attempts = (0..6).map(|i| {
        register_raw(
            &app,
            json!({"email": email, "password": PASSWORD, "full_name": format!("Racer {i}")}),
        )
    });
    let responses = futures_util::future::join_all(attempts).await;
    let mut created = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => created += 1,
            _ => {
                assert_problem(response, 409, "conflict").await;
            }
        }
    }
    assert_eq!(created, 1);
    app.login(&email, PASSWORD).await;
}

#[tokio::test]
async fn forwarded_headers_do_not_escape_the_address_limits() {
    // Per account 1, so per address 10.
    let app = TestApp::spawn_with(|cfg| {
        cfg.login_max_failures = 1;
        cfg.register_per_hour = 1;
    })
    .await;
    let user = app.register().await;
    for i in 0..10 {
        let response = app
            .post("/auth/login")
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .header("x-real-ip", format!("198.51.100.{i}"))
            .header("forwarded", format!("for=192.0.2.{i}"))
            .json(&json!({"email": unique_email(), "password": "wrong password"}))
            .send()
            .await
            .expect("send");
        assert_unauthorized(response, &format!("failure {i}")).await;
    }
    let response = app
        .post("/auth/login")
        .header("x-forwarded-for", "203.0.113.200")
        .json(&json!({"email": user.email, "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_rate_limited(response, 900, "login from a 'new' address").await;

    let response = app
        .post("/auth/register")
        .header("x-forwarded-for", "203.0.113.201")
        .json(&json!({"email": unique_email(), "password": PASSWORD, "full_name": "X"}))
        .send()
        .await
        .expect("send");
    assert_rate_limited(response, 3600, "register from a 'new' address").await;
}

#[tokio::test]
async fn retry_after_counts_down_with_the_window() {
    let app = TestApp::spawn_with(|cfg| cfg.login_max_failures = 1).await;
    let user = app.register().await;
    assert_unauthorized(login_raw(&app, &user.email, "wrong").await, "failure").await;
    let first = assert_rate_limited(login_raw(&app, &user.email, PASSWORD).await, 900, "1").await;
    app.clock.advance(Duration::from_secs(600));
    let later = assert_rate_limited(login_raw(&app, &user.email, PASSWORD).await, 300, "2").await;
    assert!(later < first, "{later} < {first}");
    app.clock.advance(Duration::from_secs(301));
    app.login(&user.email, PASSWORD).await;
}

#[tokio::test]
async fn auth_routes_answer_405_to_other_methods() {
    let app = TestApp::spawn().await;
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
    ] {
        let response = app.get(path).send().await.expect("send");
        let allow = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert_problem(response, 405, "method_not_allowed").await;
        assert!(allow.contains("POST"), "{path}: Allow {allow:?}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = app
            .get("/users/me")
            .header("authorization", format!("{scheme} {}", user.access))
            .send()
            .await
            .expect("send");
        expect_ok(response, scheme).await;
    }
}

#[tokio::test]
async fn login_form_with_a_charset_parameter_is_accepted() {
    let app = TestApp::spawn().await;
    let user = app.register().await;
    let body = format!(
        "grant_type=password&username={}&password={}",
        user.email.replace('@', "%40"),
        PASSWORD.replace(' ', "+")
    );
    let response = post_raw(
        &app,
        "/auth/login",
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        &body,
    )
    .await;
    let pair = expect_ok(response, "form with charset").await;
    assert_eq!(pair["user"]["id"], user.id.to_string());
}

#[tokio::test]
async fn a_signed_token_with_extreme_timestamps_gets_an_answer() {
    let (app, user) = forge_setup().await;
    // `Some(false)`: must be refused; `None`: either answer is fine, as long as it is one.
    let cases = [
        ("exp", json!(i64::MAX), None),
        ("iat", json!(i64::MIN), None),
        ("exp", json!(i64::MIN), Some(false)),
        ("iat", json!(i64::MAX), Some(false)),
        ("exp", json!(1.5e300), Some(false)),
        ("exp", json!("tomorrow"), Some(false)),
    ];
    for (claim, value, accepted) in cases {
        let mut claims = claims_for(&app, user.id);
        claims[claim] = value.clone();
        let token = sign(Algorithm::HS256, SECRET, &claims);
        let response = me_with(&app, &token).await;
        let what = format!("{claim} = {value}");
        match accepted {
            Some(false) => {
                assert_unauthorized(response, &what).await;
            }
            _ if response.status().as_u16() == 200 => {}
            _ => {
                assert_unauthorized(response, &what).await;
            }
        }
    }
    // The server is still fine.
    expect_ok(me_with(&app, &user.access).await, "afterwards").await;
}

#[tokio::test]
async fn the_bootstrap_reactivates_a_deactivated_admin() {
    let email = unique_email();
    let bootstrap = AdminBootstrap {
        email: email.clone(),
        password: "bootstrap password".into(),
    };
    let app = TestApp::spawn_with(|cfg| cfg.admin = Some(bootstrap)).await;
    let bootstrapped = app.login(&email, "bootstrap password").await;
    let other_admin = app.admin().await;
    deactivate(&app, &other_admin, bootstrapped.id).await;
    assert_unauthorized(
        login_raw(&app, &email, "bootstrap password").await,
        "deactivated",
    )
    .await;

    let sibling = app.spawn_sibling().await;
    let again = sibling.login(&email, "bootstrap password").await;
    assert_eq!(again.id, bootstrapped.id);
    assert_eq!(again.user["role"], "admin");
    assert_eq!(again.user["is_active"], true);
}
