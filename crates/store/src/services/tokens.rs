//! API tokens (`/users/me/tokens`): long-lived personal tokens for scripts and integrations.
//!
//! A token acts as its owner, narrowed by its [`TokenGrant`]: `read` allows only reads, and a
//! token bound to a project sees nothing else. Only the SHA-256 of a secret is stored; the
//! secret itself is in the creation answer and nowhere else. Checks read the token from a
//! one-second cache ([`TokenCache`](crate::cache::TokenCache)), the owner from the user cache.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Principal, TokenGrant};
use crate::cache::CachedToken;
use crate::models::api_tokens::{self, TokenScope};
use crate::models::{project_members, projects, users};
use crate::services::auth::{INVALID_TOKEN, active_user};
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::security;

/// Tokens one user may hold at once.
pub const MAX_TOKENS_PER_USER: u64 = 50;
/// Characters of the secret shown in lists (`ft_` and the first seven random ones).
const PREFIX_CHARS: usize = 10;
/// `last_used_at` is written at the first use, then at most this often.
const LAST_USED_EVERY: TimeDelta = TimeDelta::seconds(60);

/// An API token as its owner sees it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    #[schema(example = "CI deploy notes")]
    pub name: String,
    pub scope: TokenScope,
    /// The one project the token sees; `null`: whatever its owner sees.
    pub project_id: Option<Uuid>,
    /// The secret's first 10 characters, to recognise it.
    #[schema(example = "ft_a1B2c3D")]
    pub prefix: String,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Set at the first use, then updated at most once a minute.
    #[serde(serialize_with = "flowtrack_core::time::rfc3339_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&api_tokens::Model> for ApiToken {
    fn from(m: &api_tokens::Model) -> Self {
        Self {
            id: m.id,
            name: m.name.clone(),
            scope: m.scope,
            project_id: m.project_id,
            prefix: m.prefix.clone(),
            created_at: m.created_at,
            expires_at: m.expires_at,
            last_used_at: m.last_used_at,
        }
    }
}

/// A new token and its secret, shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: ApiToken,
    /// `ft_` + 43 characters of `[A-Za-z0-9]`. Store it now: it is never shown again.
    #[schema(example = "ft_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V")]
    pub secret: String,
}

pub struct NewToken {
    pub name: String,
    pub scope: TokenScope,
    pub project_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Tokens are managed from a login session only: a token can never mint or delete tokens.
fn require_session(principal: &Principal) -> AppResult<()> {
    match principal.grant {
        None => Ok(()),
        Some(_) => Err(AppError::Forbidden(
            "API tokens cannot manage tokens; sign in with a password.".into(),
        )),
    }
}

/// `POST /users/me/tokens`.
pub async fn create(
    state: &Store,
    principal: &Principal,
    new: NewToken,
) -> AppResult<CreatedToken> {
    require_session(principal)?;
    let now = state.clock.now();
    if new.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::field("expires_at", "must be in the future"));
    }
    if let Some(project_id) = new.project_id {
        check_bindable(state, principal, project_id).await?;
    }
    let (secret, secret_hash) = security::new_api_token();
    let txn = state.db.write.begin().await?;
    // The owner's row is the lock that serializes two creations racing for the last slot.
    users::Entity::find_by_id(principal.id())
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound)?;
    let held = api_tokens::Entity::find()
        .filter(api_tokens::Column::UserId.eq(principal.id()))
        .count(&txn)
        .await?;
    if held >= MAX_TOKENS_PER_USER {
        return Err(AppError::Conflict(format!(
            "At most {MAX_TOKENS_PER_USER} API tokens per user; delete one first."
        )));
    }
    let row = api_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(principal.id()),
        name: Set(new.name),
        scope: Set(new.scope),
        project_id: Set(new.project_id),
        prefix: Set(secret.chars().take(PREFIX_CHARS).collect()),
        secret_hash: Set(secret_hash),
        created_at: Set(now),
        expires_at: Set(new.expires_at),
        last_used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(CreatedToken {
        token: ApiToken::from(&row),
        secret,
    })
}

/// A token may be bound to a project its owner is a member of (an admin: any project).
async fn check_bindable(state: &Store, principal: &Principal, project_id: Uuid) -> AppResult<()> {
    let db = &state.db.read;
    let bindable = if principal.is_admin() {
        projects::Entity::find_by_id(project_id).count(db).await? > 0
    } else {
        project_members::Entity::find_by_id((project_id, principal.id()))
            .count(db)
            .await?
            > 0
    };
    if bindable {
        Ok(())
    } else {
        Err(AppError::field(
            "project_id",
            "must be a project you are a member of",
        ))
    }
}

/// `GET /users/me/tokens`: newest first.
pub async fn list(state: &Store, principal: &Principal) -> AppResult<Vec<ApiToken>> {
    require_session(principal)?;
    let rows = api_tokens::Entity::find()
        .filter(api_tokens::Column::UserId.eq(principal.id()))
        .order_by_desc(api_tokens::Column::CreatedAt)
        .order_by_desc(api_tokens::Column::Id)
        .all(&state.db.read)
        .await?;
    Ok(rows.iter().map(ApiToken::from).collect())
}

/// `DELETE /users/me/tokens/{id}`: someone else's token is not found.
pub async fn delete(state: &Store, principal: &Principal, id: Uuid) -> AppResult<()> {
    require_session(principal)?;
    let hash: Option<String> = api_tokens::Entity::find_by_id(id)
        .select_only()
        .column(api_tokens::Column::SecretHash)
        .filter(api_tokens::Column::UserId.eq(principal.id()))
        .into_tuple()
        .one(&state.db.write)
        .await?;
    let hash = hash.ok_or(AppError::NotFound)?;
    api_tokens::Entity::delete_by_id(id)
        .exec(&state.db.write)
        .await?;
    state.token_cache.invalidate(&hash);
    Ok(())
}

/// Resolves an API token secret to its owner, narrowed by the token; answers when the token
/// expires (`None`: never). Unknown, deleted and expired tokens, and tokens of an inactive
/// owner, are all the same 401.
pub async fn authenticate(
    state: &Store,
    secret: &str,
) -> AppResult<(Principal, Option<DateTime<Utc>>)> {
    let hash = security::hash_secret(secret);
    let cached = cached_token(state, &hash).await?;
    let token = &cached.token;
    let now = state.clock.now();
    if token.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::Unauthorized(INVALID_TOKEN.into()));
    }
    let user = active_user(state, token.user_id).await?;
    note_use(state, &cached, now);
    let principal = Principal {
        user,
        grant: Some(TokenGrant {
            token_id: token.id,
            scope: token.scope,
            project_id: token.project_id,
            secret_hash: hash.into(),
        }),
    };
    Ok((principal, token.expires_at))
}

/// Whether a token still works (not deleted; its owner active): long-lived connections
/// opened with one ask every second (from the one-second cache).
pub async fn still_valid(state: &Store, grant: &TokenGrant) -> bool {
    match cached_token(state, &grant.secret_hash).await {
        Ok(cached) => active_user(state, cached.token.user_id).await.is_ok(),
        Err(_) => false,
    }
}

/// The token with this secret hash, from the cache or the database; 401 when there is none.
async fn cached_token(state: &Store, hash: &str) -> AppResult<Arc<CachedToken>> {
    Ok(match state.token_cache.get(hash) {
        Some(cached) => cached,
        None => {
            // Boxed: a rare miss; its large future stays out of every request's.
            let row = Box::pin(
                api_tokens::Entity::find()
                    .filter(api_tokens::Column::SecretHash.eq(hash))
                    .one(&state.db.read),
            )
            .await?
            .ok_or_else(|| AppError::Unauthorized(INVALID_TOKEN.into()))?;
            state.token_cache.put(row)
        }
    })
}

/// Writes `last_used_at` in the background when this instance has not written it for a
/// minute (the statement itself skips a row another instance touched within the minute), so
/// a token check never waits for a write.
fn note_use(state: &Store, cached: &Arc<CachedToken>, now: DateTime<Utc>) {
    let last = cached.last_used_written.load(Ordering::Relaxed);
    if last != 0 && now.timestamp() - last < LAST_USED_EVERY.num_seconds() {
        return;
    }
    let claimed = cached.last_used_written.compare_exchange(
        last,
        now.timestamp(),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    if claimed.is_err() {
        return;
    }
    let db = state.db.write.clone();
    let id = cached.token.id;
    tokio::spawn(async move {
        let stale = Condition::any()
            .add(api_tokens::Column::LastUsedAt.is_null())
            .add(api_tokens::Column::LastUsedAt.lt(now - LAST_USED_EVERY));
        let result = api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::LastUsedAt, Expr::value(now))
            .filter(api_tokens::Column::Id.eq(id))
            .filter(stale)
            .exec(&db)
            .await;
        if let Err(err) = result {
            tracing::warn!(%err, "recording a token's last use failed");
        }
    });
}
