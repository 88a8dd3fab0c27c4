//! Registration, login, token rotation and logout.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::models::refresh_tokens;
use crate::models::users::{self, Role};
use crate::services::users::{self as user_service, NewUser, User};
use crate::state::Store;
use flowtrack_core::config::Registration;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::security;

/// Tokens issued by register, login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// JWT (HS256) to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Opaque; exchange it at `/auth/refresh` (single use) or revoke it at `/auth/logout`.
    pub refresh_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    #[schema(example = 900)]
    pub expires_in: u64,
    pub user: User,
}

const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
const REGISTER_WINDOW: Duration = Duration::from_secs(60 * 60);
/// One client address may fail this many times more often than one account.
const ADDRESS_FACTOR: u64 = 10;
const BAD_CREDENTIALS: &str = "Incorrect email or password.";
const BAD_REFRESH: &str = "The refresh token is invalid, expired or revoked.";

fn account_key(email: &str) -> String {
    format!("login:account:{email}")
}

fn address_key(ip: IpAddr) -> String {
    format!("login:address:{ip}")
}

fn register_key(ip: IpAddr) -> String {
    format!("register:address:{ip}")
}

/// Issues an access token and a refresh token (a new family unless one is given).
async fn issue_pair(
    state: &Store,
    user: &users::Model,
    family_id: Option<Uuid>,
) -> AppResult<TokenPair> {
    let now = state.clock.now();
    let (refresh_token, hash) = security::new_refresh_token();
    insert_refresh_token(state, &state.db.write, user.id, family_id, hash, now).await?;
    access_pair(state, user, refresh_token, now)
}

async fn insert_refresh_token(
    state: &Store,
    db: &impl sea_orm::ConnectionTrait,
    user_id: Uuid,
    family_id: Option<Uuid>,
    hash: String,
    now: DateTime<Utc>,
) -> AppResult<Uuid> {
    let id = Uuid::now_v7();
    let ttl = chrono::TimeDelta::from_std(state.config.refresh_ttl)
        .unwrap_or(chrono::TimeDelta::days(30));
    refresh_tokens::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        family_id: Set(family_id.unwrap_or(id)),
        token_hash: Set(hash),
        expires_at: Set(now + ttl),
        created_at: Set(now),
        revoked_at: Set(None),
        replaced_by: Set(None),
    }
    .insert(db)
    .await?;
    Ok(id)
}

fn access_pair(
    state: &Store,
    user: &users::Model,
    refresh_token: String,
    now: DateTime<Utc>,
) -> AppResult<TokenPair> {
    let access_token =
        state
            .jwt
            .issue_access(user.id, user.session_epoch, now, state.config.access_ttl)?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "bearer",
        expires_in: state.config.access_ttl.as_secs(),
        user: User::from(user),
    })
}

pub struct NewRegistration {
    pub email: String,
    pub password: String,
    pub full_name: String,
}

pub(crate) const INVALID_TOKEN: &str = "The access token is missing, invalid or expired.";

/// Resolves a bearer token (an access token, or an API token `ft_…`) to an active user,
/// also answering when the token expires (sockets close then; `None`: never).
pub async fn authenticate(
    state: &Store,
    token: &str,
) -> AppResult<(Principal, Option<DateTime<Utc>>)> {
    if token.starts_with(security::API_TOKEN_PREFIX) {
        return crate::services::tokens::authenticate(state, token).await;
    }
    let claims = state
        .jwt
        .verify_access(token, state.clock.now())
        .map_err(|_| AppError::Unauthorized(INVALID_TOKEN.into()))?;
    let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
    let mut user = active_user(state, claims.sub).await?;
    if claims.sv > user.session_epoch {
        // Issued after a password change this instance's cached copy predates: read the
        // user again, so the principal (and a socket opened with it) has the new epoch.
        state.user_cache.invalidate(claims.sub);
        user = active_user(state, claims.sub).await?;
    }
    // Issued before the user's password was last set: that session has ended.
    if claims.sv != user.session_epoch {
        return Err(AppError::Unauthorized(INVALID_TOKEN.into()));
    }
    Ok((Principal::session(user), Some(expires_at)))
}

/// The active user behind a verified token: from the cache (a database read only on a miss).
pub(crate) async fn active_user(state: &Store, id: Uuid) -> AppResult<Arc<users::Model>> {
    let user = match state.user_cache.get(id) {
        Some(user) => user,
        None => {
            // Boxed: a rare miss; its large future stays out of every request's.
            let user = Box::pin(users::Entity::find_by_id(id).one(&state.db.read))
                .await?
                .ok_or_else(|| AppError::Unauthorized(INVALID_TOKEN.into()))?;
            let user = Arc::new(user);
            state.user_cache.put(user.clone());
            user
        }
    };
    if !user.is_active {
        return Err(AppError::Unauthorized(INVALID_TOKEN.into()));
    }
    Ok(user)
}

/// `POST /auth/register`: a new member account, signed in.
pub async fn register(state: &Store, ip: IpAddr, input: NewRegistration) -> AppResult<TokenPair> {
    if state.config.registration == Registration::Closed {
        return Err(AppError::Forbidden(
            "Registration is closed on this server.".into(),
        ));
    }
    // The registration is counted before the (slow) hashing, so concurrent requests cannot
    // all pass the check; a registration that fails (e.g. a taken email) gives it back.
    let key = register_key(ip);
    let limit = u64::from(state.config.register_per_hour);
    state
        .counters
        .acquire(&key, limit, REGISTER_WINDOW)
        .await
        .map_err(|window| AppError::RateLimited {
            retry_after_secs: window.retry_after_secs,
        })?;
    let created = user_service::create(
        state,
        NewUser {
            email: input.email,
            password: input.password,
            full_name: input.full_name,
            role: Role::Member,
        },
    )
    .await;
    let user = match created {
        Ok(user) => user,
        Err(err) => {
            state.counters.release(&key).await;
            return Err(err);
        }
    };
    issue_pair(state, &user, None).await
}

/// `POST /auth/login`. The same 401 for an unknown email, a wrong password and an inactive
/// account; failures are counted per account and per client address (429 past the limit,
/// the right password included, until the window passes).
pub async fn login(state: &Store, ip: IpAddr, email: &str, password: &str) -> AppResult<TokenPair> {
    let email = email.trim().to_lowercase();
    let max = u64::from(state.config.login_max_failures);
    let limits = [
        (account_key(&email), max),
        (address_key(ip), max * ADDRESS_FACTOR),
    ];
    // Every attempt takes a failure slot *before* the password is checked (atomically, so a
    // burst of concurrent guesses cannot all pass the limit); an attempt that turns out not
    // to be a failure gives its slots back. A refused (429) attempt takes none.
    let mut taken: Vec<&str> = Vec::with_capacity(limits.len());
    for (key, limit) in &limits {
        if let Err(window) = state.counters.acquire(key, *limit, LOGIN_WINDOW).await {
            for key in taken {
                state.counters.release(key).await;
            }
            return Err(AppError::RateLimited {
                retry_after_secs: window.retry_after_secs,
            });
        }
        taken.push(key);
    }

    let outcome = check_credentials(state, &email, password).await;
    if !matches!(outcome, Ok(None)) {
        for key in taken {
            state.counters.release(key).await;
        }
    }
    match outcome? {
        Some(user) => issue_pair(state, &user, None).await,
        None => Err(AppError::Unauthorized(BAD_CREDENTIALS.into())),
    }
}

/// The active user with this email and password; `None` for a wrong email or password or an
/// inactive account (all the same failure).
async fn check_credentials(
    state: &Store,
    email: &str,
    password: &str,
) -> AppResult<Option<users::Model>> {
    let user = user_service::find_by_email(state, email).await?;
    let password_ok = state
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    Ok(user.filter(|user| password_ok && user.is_active))
}

async fn revoke_family(state: &Store, family_id: Uuid) -> AppResult<()> {
    refresh_tokens::Entity::update_many()
        .col_expr(
            refresh_tokens::Column::RevokedAt,
            Expr::value(state.clock.now()),
        )
        .filter(refresh_tokens::Column::FamilyId.eq(family_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(&state.db.write)
        .await?;
    Ok(())
}

async fn find_refresh_token(
    state: &Store,
    token: &str,
) -> AppResult<Option<refresh_tokens::Model>> {
    Ok(refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(security::hash_refresh_token(token)))
        .one(&state.db.write)
        .await?)
}

/// `POST /auth/refresh`: rotates the token. A token that was already rotated is a sign of
/// theft: its whole family is revoked.
pub async fn refresh(state: &Store, token: &str) -> AppResult<TokenPair> {
    let unauthorized = || AppError::Unauthorized(BAD_REFRESH.into());
    let row = find_refresh_token(state, token)
        .await?
        .ok_or_else(unauthorized)?;
    if row.revoked_at.is_some() {
        return Err(unauthorized());
    }
    if row.replaced_by.is_some() {
        tracing::warn!(family = %row.family_id, "refresh token reuse; revoking its family");
        revoke_family(state, row.family_id).await?;
        return Err(unauthorized());
    }
    let now = state.clock.now();
    if row.expires_at <= now {
        return Err(unauthorized());
    }
    let user = user_service::get(state, row.user_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound => unauthorized(),
            other => other,
        })?;
    if !user.is_active {
        return Err(unauthorized());
    }

    let (new_token, hash) = security::new_refresh_token();
    let txn = state.db.write.begin().await?;
    let new_id = insert_refresh_token(state, &txn, user.id, Some(row.family_id), hash, now).await?;
    // Only one rotation of a token can succeed, even when two requests race with it.
    let rotated = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::ReplacedBy, Expr::value(new_id))
        .filter(refresh_tokens::Column::Id.eq(row.id))
        .filter(refresh_tokens::Column::ReplacedBy.is_null())
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if rotated.rows_affected != 1 {
        txn.rollback().await?;
        revoke_family(state, row.family_id).await?;
        return Err(unauthorized());
    }
    txn.commit().await?;
    access_pair(state, &user, new_token, now)
}

/// `POST /auth/logout`: revokes the token's family; unknown tokens are fine.
pub async fn logout(state: &Store, token: &str) -> AppResult<()> {
    if let Some(row) = find_refresh_token(state, token).await? {
        revoke_family(state, row.family_id).await?;
    }
    Ok(())
}
