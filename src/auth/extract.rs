//! Extractors for the caller. A missing or bad token is a 401, never "anonymous".

use axum::extract::FromRequestParts;
use axum::http::{Method, header, request::Parts};

use crate::http::problem::{ApiError, ApiResult};
use crate::state::AppState;
use flowtrack_core::error::AppError;
use flowtrack_store::auth::Principal;
use flowtrack_store::models::api_tokens::TokenScope;
use flowtrack_store::services::auth as auth_service;

/// Any active user with a valid access token.
pub struct AuthUser(pub Principal);

/// An active admin (a member gets 403).
pub struct AdminUser(pub Principal);

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Resolves an access token to an active user (see `services::auth::authenticate`).
pub async fn authenticate(state: &AppState, token: &str) -> ApiResult<Principal> {
    Ok(auth_service::authenticate(state, token).await?.0)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let token = bearer_token(parts)
            .ok_or_else(|| AppError::Unauthorized("A bearer access token is required.".into()))?;
        let principal = authenticate(state, token).await?;
        if let Some(grant) = &principal.grant {
            let reads_only = matches!(parts.method, Method::GET | Method::HEAD);
            if grant.scope == TokenScope::Read && !reads_only {
                return Err(AppError::Forbidden(
                    "This API token has the read scope: only GET and HEAD requests.".into(),
                )
                .into());
            }
        }
        Ok(AuthUser(principal))
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let AuthUser(principal) = AuthUser::from_request_parts(parts, state).await?;
        if principal.grant.is_some() {
            return Err(AppError::Forbidden(
                "API tokens cannot call administrator routes; sign in with a password.".into(),
            )
            .into());
        }
        if !principal.is_admin() {
            return Err(
                AppError::Forbidden("This action is reserved to administrators.".into()).into(),
            );
        }
        Ok(AdminUser(principal))
    }
}
