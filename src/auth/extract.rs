//! Extractors for the caller. A missing or bad token is a 401, never "anonymous".

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::core::error::{AppError, AppResult};
use crate::models::users;
use crate::state::AppState;

/// The authenticated caller, as services see it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: Arc<users::Model>,
}

impl Principal {
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    pub fn is_admin(&self) -> bool {
        self.user.is_admin()
    }
}

/// Any active user with a valid access token.
pub struct AuthUser(pub Principal);

/// An active admin (a member gets 403).
pub struct AdminUser(pub Principal);

const INVALID_TOKEN: &str = "The access token is missing, invalid or expired.";

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Resolves an access token to an active user: signature and claims first, then the user
/// from the cache (a database read only on a miss).
pub async fn authenticate(state: &AppState, token: &str) -> AppResult<Principal> {
    authenticate_with_expiry(state, token).await.map(|(p, _)| p)
}

/// [`authenticate`], also answering when the token expires (sockets close then).
pub async fn authenticate_with_expiry(
    state: &AppState,
    token: &str,
) -> AppResult<(Principal, chrono::DateTime<chrono::Utc>)> {
    let claims = state
        .jwt
        .verify_access(token, state.clock.now())
        .map_err(|_| AppError::Unauthorized(INVALID_TOKEN.into()))?;
    let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
    let user = match state.users.get(claims.sub) {
        Some(user) => user,
        None => {
            let user = users::Entity::find_by_id(claims.sub)
                .one(&state.db.read)
                .await?
                .ok_or_else(|| AppError::Unauthorized(INVALID_TOKEN.into()))?;
            let user = Arc::new(user);
            state.users.put(user.clone());
            user
        }
    };
    if !user.is_active {
        return Err(AppError::Unauthorized(INVALID_TOKEN.into()));
    }
    Ok((Principal { user }, expires_at))
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let token = bearer_token(parts)
            .ok_or_else(|| AppError::Unauthorized("A bearer access token is required.".into()))?;
        authenticate(state, token).await.map(AuthUser)
    }
}

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let AuthUser(principal) = AuthUser::from_request_parts(parts, state).await?;
        if !principal.is_admin() {
            return Err(AppError::Forbidden(
                "This action is reserved to administrators.".into(),
            ));
        }
        Ok(AdminUser(principal))
    }
}
