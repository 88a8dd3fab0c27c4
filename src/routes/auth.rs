//! `/auth/*`: register, login (JSON or OAuth2 form), refresh, logout.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::http::input::{FieldReader, FromFields, Json, json_object, read_body};
use crate::http::problem::{ApiError, ApiResult, Problem};
use crate::routes::schema;
use crate::state::AppState;
use flowtrack_core::error::AppError;
use flowtrack_core::validate;
use flowtrack_store::services::auth::{self as service, NewRegistration, TokenPair};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

#[derive(ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery", "full_name": "Ada Lovelace"}))]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Trimmed and lower-cased; a valid address of at most 254 characters.
    #[schema(schema_with = schema::email)]
    email: String,
    /// 8–128 characters (taken as is, not trimmed).
    #[schema(schema_with = schema::password)]
    password: String,
    /// 1–100 characters after trimming.
    #[schema(schema_with = schema::full_name)]
    full_name: String,
}

impl FromFields for RegisterRequest {
    fn from_fields(r: &mut FieldReader) -> Option<Self> {
        let email = r.required("email", validate::email);
        let password = r.required("password", validate::password);
        let full_name = r.required("full_name", validate::full_name);
        Some(Self {
            email: email?,
            password: password?,
            full_name: full_name?,
        })
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
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    let pair = service::register(
        &state,
        addr.ip(),
        NewRegistration {
            email: body.email,
            password: body.password,
            full_name: body.full_name,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(pair)))
}

/// Login credentials, as JSON (`email`) or as an OAuth2 password-flow form (`username`).
#[derive(ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery"}))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(schema_with = schema::secret)]
    email: String,
    #[schema(schema_with = schema::secret)]
    password: String,
}

impl FromFields for LoginRequest {
    fn from_fields(r: &mut FieldReader) -> Option<Self> {
        let email = r.required("email", validate::non_empty_string);
        let password = r.required("password", validate::non_empty_string);
        Some(Self {
            email: email?,
            password: password?,
        })
    }
}

/// The OAuth2 password grant form (`username`, `password`; the other OAuth2 fields are
/// tolerated), so the docs page's "Authorize" button works.
#[derive(ToSchema)]
// The OAuth2 fields are documented and accepted, never used.
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct LoginForm {
    /// The email address.
    #[schema(schema_with = schema::secret)]
    username: String,
    #[schema(schema_with = schema::secret)]
    password: String,
    /// Tolerated and ignored.
    #[schema(required = false)]
    grant_type: String,
    /// Tolerated and ignored.
    #[schema(required = false)]
    scope: String,
    /// Tolerated and ignored.
    #[schema(required = false)]
    client_id: String,
    /// Tolerated and ignored.
    #[schema(required = false)]
    client_secret: String,
}

impl FromFields for LoginForm {
    fn from_fields(r: &mut FieldReader) -> Option<Self> {
        let username = r.required("username", validate::non_empty_string);
        let password = r.required("password", validate::non_empty_string);
        for tolerated in ["grant_type", "scope", "client_id", "client_secret"] {
            r.ignore(tolerated);
        }
        Some(Self {
            username: username?,
            password: password?,
            grant_type: String::new(),
            scope: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
        })
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
            let body = LoginRequest::from_object(json_object(req).await?)?;
            return Ok(Self {
                email: body.email,
                password: body.password,
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
        let form = LoginForm::from_object(fields)?;
        Ok(Self {
            email: form.username,
            password: form.password,
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
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    credentials: Credentials,
) -> ApiResult<axum::Json<TokenPair>> {
    service::login(&state, addr.ip(), &credentials.email, &credentials.password)
        .await
        .map(axum::Json)
        .map_err(ApiError::from)
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(schema_with = schema::secret)]
    refresh_token: String,
}

impl FromFields for RefreshRequest {
    fn from_fields(r: &mut FieldReader) -> Option<Self> {
        let refresh_token = r.required("refresh_token", validate::non_empty_string);
        Some(Self {
            refresh_token: refresh_token?,
        })
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
    service::refresh(&state, &body.refresh_token)
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
    service::logout(&state, &body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
