//! Accounts: self-service, admin management, visibility, the last-admin guard.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::policy::{self, UserVisibility};
use crate::bus::BusMessage;
use crate::models::users::{self, Role};
use crate::models::{project_members, refresh_tokens};
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult, is_unique_violation};
use flowtrack_core::pagination::{Page, PageRequest};

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936f0e-1c2a-7cc0-9d4e-3f5a6b7c8d9e", "email": "ada@example.com",
    "full_name": "Ada Lovelace", "role": "member", "is_active": true,
    "created_at": "2026-11-26T10:00:00.123Z", "updated_at": "2026-11-26T10:00:00.123Z"
}))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub is_active: bool,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

impl From<&users::Model> for User {
    fn from(m: &users::Model) -> Self {
        Self {
            id: m.id,
            email: m.email.clone(),
            full_name: m.full_name.clone(),
            role: m.role,
            is_active: m.is_active,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

pub struct NewUser {
    pub email: String,
    pub password: String,
    pub full_name: String,
    pub role: Role,
}

#[derive(Default)]
pub struct UserChanges {
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    /// A new password (8–128 characters, checked by the caller); setting it ends every
    /// session of the user.
    pub password: Option<String>,
}

pub struct UserFilter {
    pub q: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

const EMAIL_TAKEN: &str = "An account with this email already exists.";

fn map_email_conflict(err: sea_orm::DbErr) -> AppError {
    if is_unique_violation(&err) {
        AppError::Conflict(EMAIL_TAKEN.into())
    } else {
        err.into()
    }
}

/// Creates an account (the password is hashed before any database work).
pub async fn create(state: &Store, new: NewUser) -> AppResult<users::Model> {
    let password_hash = state.passwords.hash(&new.password).await?;
    let now = state.clock.now();
    let row = users::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(new.email),
        full_name: Set(new.full_name),
        password_hash: Set(password_hash),
        role: Set(new.role),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        session_epoch: Set(0),
    };
    row.insert(&state.db.write)
        .await
        .map_err(map_email_conflict)
}

/// Makes sure an active admin with this email exists (created if missing; an existing
/// account is promoted and reactivated, its password left unchanged).
pub async fn ensure_admin(state: &Store, email: &str, password: &str) -> AppResult<()> {
    let existing = users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(&state.db.write)
        .await?;
    match existing {
        None => {
            let created = create(
                state,
                NewUser {
                    email: email.to_string(),
                    password: password.to_string(),
                    full_name: "Administrator".into(),
                    role: Role::Admin,
                },
            )
            .await;
            match created {
                Ok(_) => {
                    tracing::info!(%email, "bootstrap admin created");
                    Ok(())
                }
                // Another instance created it at the same moment.
                Err(AppError::Conflict(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Some(user) if user.role == Role::Admin && user.is_active => Ok(()),
        Some(user) => {
            let id = user.id;
            let mut row: users::ActiveModel = user.into();
            row.role = Set(Role::Admin);
            row.is_active = Set(true);
            row.updated_at = Set(state.clock.now());
            row.update(&state.db.write).await?;
            state.user_cache.invalidate(id);
            tracing::info!(%email, "bootstrap admin promoted");
            Ok(())
        }
    }
}

pub async fn find_by_email(state: &Store, email: &str) -> AppResult<Option<users::Model>> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(&state.db.read)
        .await?)
}

/// Revokes every refresh token of a user (password change, deactivation).
pub async fn revoke_all_refresh_tokens(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> AppResult<()> {
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
        .filter(refresh_tokens::Column::UserId.eq(user_id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Stores a new password hash and ends every session of the user, inside the caller's
/// transaction: refresh tokens are revoked and the session epoch is raised, which refuses
/// the access tokens issued before (see `Claims::sv`). The epoch is raised in SQL, so two
/// concurrent changes cannot both write the same value.
async fn replace_password(
    db: &impl ConnectionTrait,
    id: Uuid,
    password_hash: String,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let updated = users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(
            users::Column::SessionEpoch,
            Expr::col(users::Column::SessionEpoch).add(1),
        )
        // Also what other instances' user watchers notice (their cached copy is dropped).
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(AppError::NotFound);
    }
    revoke_all_refresh_tokens(db, id, now).await?;
    let epoch: Option<i64> = users::Entity::find_by_id(id)
        .select_only()
        .column(users::Column::SessionEpoch)
        .into_tuple()
        .one(db)
        .await?;
    epoch.ok_or(AppError::NotFound)
}

/// After a committed change of a user: drops this instance's cached copy at once and tells
/// the other instances (their user watchers catch it within a second if the message is lost).
fn announce_change(state: &Store, id: Uuid, active: bool, session_epoch: i64) {
    state.user_cache.invalidate(id);
    state.bus.publish(BusMessage::UserChanged {
        user_id: id,
        active,
        session_epoch,
    });
}

/// Sets a user's password (already checked against the password rules) and ends all of
/// their sessions: `PUT /users/me/password` and `flowtrack user set-password`.
pub async fn set_password(state: &Store, user: &users::Model, password: &str) -> AppResult<()> {
    // Hashed before the transaction: the slow part holds no lock.
    let hash = state.passwords.hash(password).await?;
    let txn = state.db.write.begin().await?;
    let epoch = replace_password(&txn, user.id, hash, state.clock.now()).await?;
    txn.commit().await?;
    announce_change(state, user.id, user.is_active, epoch);
    Ok(())
}

/// Applies changes to an account in one transaction, refusing (409) to demote or deactivate
/// the last active admin. Deactivation also revokes the account's refresh tokens; a new
/// password ends every session.
pub async fn apply_changes(
    state: &Store,
    id: Uuid,
    changes: UserChanges,
) -> AppResult<users::Model> {
    let password_hash = match &changes.password {
        Some(password) => Some(state.passwords.hash(password).await?),
        None => None,
    };
    let now = state.clock.now();
    let txn = state.db.write.begin().await?;
    let (active_admins, current) = lock_for_change(&txn, id, &changes).await?;
    let new_role = changes.role.unwrap_or(current.role);
    let new_active = changes.is_active.unwrap_or(current.is_active);
    if policy::removes_an_admin(current.role, current.is_active, new_role, new_active)
        && active_admins.iter().all(|a| a.id == id)
    {
        return Err(AppError::Conflict(
            "The last active administrator cannot be demoted or deactivated.".into(),
        ));
    }

    let deactivating = current.is_active && !new_active;
    let mut row: users::ActiveModel = current.into();
    if let Some(full_name) = changes.full_name {
        row.full_name = Set(full_name);
    }
    if let Some(email) = changes.email {
        row.email = Set(email);
    }
    row.role = Set(new_role);
    row.is_active = Set(new_active);
    row.updated_at = Set(now);
    let mut updated = row.update(&txn).await.map_err(map_email_conflict)?;
    if let Some(hash) = password_hash {
        updated.session_epoch = replace_password(&txn, id, hash, now).await?;
    } else if deactivating {
        revoke_all_refresh_tokens(&txn, id, now).await?;
    }
    txn.commit().await?;
    announce_change(state, id, updated.is_active, updated.session_epoch);
    Ok(updated)
}

/// Locks the account to change and, when the change may remove an admin, every active admin
/// row first, in id order: two concurrent demotions can neither both pass nor deadlock (two
/// admins demoting each other at once on PostgreSQL; SQLite runs one writer at a time
/// anyway). Answers the active admins and the account.
async fn lock_for_change(
    txn: &DatabaseTransaction,
    id: Uuid,
    changes: &UserChanges,
) -> AppResult<(Vec<users::Model>, users::Model)> {
    let active_admins = if changes.role.is_some() || changes.is_active.is_some() {
        users::Entity::find()
            .filter(users::Column::Role.eq(Role::Admin))
            .filter(users::Column::IsActive.eq(true))
            .order_by_asc(users::Column::Id)
            .lock_exclusive()
            .all(txn)
            .await?
    } else {
        Vec::new()
    };
    let current = users::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((active_admins, current))
}

/// Changes one's own password after checking the current one; ends every session, the
/// caller's own included (clients sign in again).
pub async fn change_password(
    state: &Store,
    principal: &Principal,
    current_password: &str,
    new_password: &str,
) -> AppResult<()> {
    if principal.grant.is_some() {
        return Err(AppError::Forbidden(
            "API tokens cannot change a password; sign in with a password.".into(),
        ));
    }
    let ok = state
        .passwords
        .verify(current_password, Some(&principal.user.password_hash))
        .await?;
    if !ok {
        return Err(AppError::field(
            "current_password",
            "does not match the current password",
        ));
    }
    set_password(state, &principal.user, new_password).await
}

/// True when the two users are members of at least one common project.
async fn share_a_project(state: &Store, a: Uuid, b: Uuid) -> AppResult<bool> {
    let projects_of_a = Query::select()
        .column(project_members::Column::ProjectId)
        .from(project_members::Entity)
        .and_where(Expr::col(project_members::Column::UserId).eq(a))
        .to_owned();
    let count = project_members::Entity::find()
        .filter(project_members::Column::UserId.eq(b))
        .filter(project_members::Column::ProjectId.in_subquery(projects_of_a))
        .count(&state.db.read)
        .await?;
    Ok(count > 0)
}

/// `GET /users/{id}`: visible to admins, oneself, and people sharing a project; else 404.
pub async fn get_visible(state: &Store, principal: &Principal, id: Uuid) -> AppResult<User> {
    let target = users::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Some(bound) = principal.bound_project() {
        return visible_in_project(state, principal, bound, target).await;
    }
    let shares_a_project = if principal.is_admin() || principal.id() == id {
        false
    } else {
        share_a_project(state, principal.id(), id).await?
    };
    let visibility = UserVisibility {
        caller_id: principal.id(),
        caller_role: principal.user.role,
        target_id: id,
        shares_a_project,
    };
    if policy::can_see_user(&visibility) {
        Ok(User::from(&target))
    } else {
        Err(AppError::NotFound)
    }
}

/// Through a token bound to a project: oneself and the project's members only.
async fn visible_in_project(
    state: &Store,
    principal: &Principal,
    project_id: Uuid,
    target: users::Model,
) -> AppResult<User> {
    crate::services::projects::visible(state, principal, project_id).await?;
    let member = project_members::Entity::find_by_id((project_id, target.id))
        .count(&state.db.read)
        .await?
        > 0;
    if member || target.id == principal.id() {
        Ok(User::from(&target))
    } else {
        Err(AppError::NotFound)
    }
}

pub async fn get(state: &Store, id: Uuid) -> AppResult<users::Model> {
    users::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or(AppError::NotFound)
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a LIKE pattern.
pub fn like_pattern(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// `GET /users` (admin): filtered, ordered by id (creation order), cursor-paginated.
pub async fn list(state: &Store, filter: UserFilter, page: PageRequest) -> AppResult<Page<User>> {
    let mut query = users::Entity::find().order_by_asc(users::Column::Id);
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = like_pattern(q);
        let like = |col: users::Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
        };
        query = query.filter(
            Condition::any()
                .add(like(users::Column::Email))
                .add(like(users::Column::FullName)),
        );
    }
    if let Some(role) = filter.role {
        query = query.filter(users::Column::Role.eq(role));
    }
    if let Some(active) = filter.is_active {
        query = query.filter(users::Column::IsActive.eq(active));
    }
    if let Some(after) = &page.after {
        let after = Uuid::parse_str(after)
            .map_err(|_| AppError::BadRequest("The cursor is not valid.".into()))?;
        query = query.filter(users::Column::Id.gt(after));
    }
    let rows = query.limit(page.limit + 1).all(&state.db.read).await?;
    Ok(page.finish(rows, |u| u.id.to_string(), |u| User::from(&u)))
}

/// The caller's own account, fresh from the cache.
pub fn me(principal: &Principal) -> User {
    User::from(principal.user.as_ref())
}
