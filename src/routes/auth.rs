//! `/auth/*`: register, login (JSON or OAuth2 form), refresh, logout.

use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::http::access::ClientIp;
use crate::http::body::request_body;
use crate::http::fields::{Email, FullName, Ignored, NewPassword, Secret};
use crate::http::input::{Json, json_object, read_body};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;
use flowtrack_core::error::AppError;
use flowtrack_store::services::auth::{self as service, NewRegistration, TokenPair};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

request_body! {
    #[derive(ToSchema)]
    #[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery", "full_name": "Ada Lovelace"}))]
    pub struct RegisterRequest {
        /// Trimmed and lower-cased; a valid address of at most 254 characters.
        #[schema(schema_with = Email::schema)]
        pub email: Email,
        /// 8–128 characters (taken as is, not trimmed).
        #[schema(schema_with = NewPassword::schema)]
        pub password: NewPassword,
        /// 1–100 characters after trimming.
        #[schema(schema_with = FullName::schema)]
        pub full_name: FullName,
    }
}

/// Create an account (role `member`) and sign in.
#[utoipa::path(
    post, path = "/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = TokenPair),
        (status = 403, description = "Registration is closed", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many registrations from this address", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn register(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    let pair = service::register(
        &state,
        client,
        NewRegistration {
            email: body.email.0,
            password: body.password.0,
            full_name: body.full_name.0,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(pair)))
}

request_body! {
    /// Login credentials, as JSON (`email`) or as an OAuth2 password-flow form (`username`).
    #[derive(ToSchema)]
    #[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery"}))]
    pub struct LoginRequest {
        #[schema(schema_with = Secret::schema)]
        pub email: Secret,
        #[schema(schema_with = Secret::schema)]
        pub password: Secret,
    }
}

request_body! {
    /// The OAuth2 password grant form (`username`, `password`; the other OAuth2 fields are
    /// tolerated), so the docs page's "Authorize" button works.
    #[derive(ToSchema)]
    pub struct LoginForm {
        /// The email address.
        #[schema(schema_with = Secret::schema)]
        pub username: Secret,
        #[schema(schema_with = Secret::schema)]
        pub password: Secret,
        /// Tolerated and ignored.
        #[schema(value_type = Option<String>, nullable = false)]
        pub grant_type: Option<Ignored>,
        /// Tolerated and ignored.
        #[schema(value_type = Option<String>, nullable = false)]
        pub scope: Option<Ignored>,
        /// Tolerated and ignored.
        #[schema(value_type = Option<String>, nullable = false)]
        pub client_id: Option<Ignored>,
        /// Tolerated and ignored.
        #[schema(value_type = Option<String>, nullable = false)]
        pub client_secret: Option<Ignored>,
    }
}

/// Either body form of the login route.
struct Credentials {
    email: String,
    password: String,
}

impl<S: Send + Sync> FromRequest<S> for Credentials {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> ApiResult<Self> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').next().is_some_and(|m| {
                    m.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        if !is_form {
            let body = LoginRequest::try_from(json_object(req).await?)?;
            return Ok(Self {
                email: body.email.0,
                password: body.password.0,
            });
        }
        let (parts, body) = req.into_parts();
        let bytes = read_body(&parts.headers, body).await?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| AppError::BadRequest("Malformed form body.".into()))?;
        let fields: Map<String, Value> = pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let form = LoginForm::try_from(fields)?;
        Ok(Self {
            email: form.username.0,
            password: form.password.0,
        })
    }
}

/// Sign in with email and password.
///
/// Accepts JSON `{email, password}` or the OAuth2 password form `username=…&password=…`.
/// After `FLOWTRACK_LOGIN_MAX_FAILURES` failures for one account within 15 minutes every
/// login for it answers 429 until the window passes.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth",
    request_body(content(
        (LoginRequest = "application/json"),
        (LoginForm = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Wrong email or password, or inactive account", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    credentials: Credentials,
) -> ApiResult<axum::Json<TokenPair>> {
    service::login(&state, client, &credentials.email, &credentials.password)
        .await
        .map(axum::Json)
        .map_err(ApiError::from)
}

request_body! {
    #[derive(ToSchema)]
    pub struct RefreshRequest {
        #[schema(schema_with = Secret::schema)]
        pub refresh_token: Secret,
    }
}

/// Exchange a refresh token for a new pair (the old one stops working).
///
/// Presenting an already-rotated refresh token revokes its whole family.
#[utoipa::path(
    post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenPair),
        (status = 401, description = "Invalid, expired, rotated or revoked refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<axum::Json<TokenPair>> {
    service::refresh(&state, &body.refresh_token.0)
        .await
        .map(axum::Json)
        .map_err(ApiError::from)
}

/// Revoke a refresh token's family. Needs no access token; unknown tokens answer 204 too.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    service::logout(&state, &body.refresh_token.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
