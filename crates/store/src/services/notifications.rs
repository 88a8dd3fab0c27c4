//! Personal notifications: stored per user, listed newest first, marked read.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::bus::BusMessage;
use crate::models::notifications;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::pagination::{Page, PageRequest};

/// Why a user is notified (a notification's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    /// Someone else assigned the user a task.
    TaskAssigned,
    /// Someone else added the user to a project.
    MemberAdded,
    /// Someone else commented on a task assigned to the user.
    CommentCreated,
    /// The delivery worker disabled a webhook of a project the user owns.
    WebhookDisabled,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::TaskAssigned => "task.assigned",
            NotificationKind::MemberAdded => "member.added",
            NotificationKind::CommentCreated => "comment.created",
            NotificationKind::WebhookDisabled => "webhook.disabled",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: Uuid,
    /// `task.assigned`, `member.added`, `comment.created` or `webhook.disabled`.
    pub kind: String,
    pub project_id: Uuid,
    pub task_id: Option<Uuid>,
    /// Who acted; `null` for `webhook.disabled` (the server did).
    pub actor_id: Option<Uuid>,
    pub message: String,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<DateTime<Utc>>,
}

/// A notification to store.
pub struct NewNotification {
    pub user_id: Uuid,
    pub kind: NotificationKind,
    pub project_id: Uuid,
    pub task_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// Stores a notification in the caller's transaction; answers the bus message that pushes
/// it to the user's sockets once that transaction commits.
pub async fn store(
    txn: &impl sea_orm::ConnectionTrait,
    new: NewNotification,
) -> AppResult<BusMessage> {
    let row = notifications::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(new.user_id),
        kind: Set(new.kind.as_str().to_string()),
        project_id: Set(new.project_id),
        task_id: Set(new.task_id),
        actor_id: Set(new.actor_id),
        message: Set(new.message),
        created_at: Set(new.at),
        read_at: Set(None),
    }
    .insert(txn)
    .await?;
    let payload = serde_json::json!({
        "type": "notification",
        "notification": Notification::from(&row),
    })
    .to_string();
    Ok(BusMessage::Notification {
        user_id: new.user_id,
        project_id: new.project_id,
        payload: payload.into(),
    })
}

impl From<&notifications::Model> for Notification {
    fn from(m: &notifications::Model) -> Self {
        Self {
            id: m.id,
            kind: m.kind.clone(),
            project_id: m.project_id,
            task_id: m.task_id,
            actor_id: m.actor_id,
            message: m.message.clone(),
            created_at: m.created_at,
            read_at: m.read_at,
        }
    }
}

/// The caller's notifications, newest first (`unread_only`: only those not read).
pub async fn list(
    state: &Store,
    principal: &Principal,
    unread_only: bool,
    page: PageRequest,
) -> AppResult<Page<Notification>> {
    let mut query = notifications::Entity::find()
        .filter(notifications::Column::UserId.eq(principal.id()))
        .order_by_desc(notifications::Column::Id);
    if let Some(bound) = principal.bound_project() {
        query = query.filter(notifications::Column::ProjectId.eq(bound));
    }
    if unread_only {
        query = query.filter(notifications::Column::ReadAt.is_null());
    }
    if let Some(after) = &page.after {
        let after = Uuid::parse_str(after)
            .map_err(|_| AppError::BadRequest("The cursor is not valid.".into()))?;
        query = query.filter(notifications::Column::Id.lt(after));
    }
    let rows = query.limit(page.limit + 1).all(&state.db.read).await?;
    Ok(page.finish(rows, |n| n.id.to_string(), |n| Notification::from(&n)))
}

/// Marks one of the caller's notifications read (someone else's: 404).
pub async fn mark_read(state: &Store, principal: &Principal, id: Uuid) -> AppResult<()> {
    let mine = notifications::Entity::find_by_id(id)
        .filter(notifications::Column::UserId.eq(principal.id()))
        .one(&state.db.write)
        .await?
        .ok_or(AppError::NotFound)?;
    if mine.read_at.is_none() {
        notifications::Entity::update_many()
            .col_expr(
                notifications::Column::ReadAt,
                Expr::value(state.clock.now()),
            )
            .filter(notifications::Column::Id.eq(id))
            .filter(notifications::Column::ReadAt.is_null())
            .exec(&state.db.write)
            .await?;
    }
    Ok(())
}

pub async fn mark_all_read(state: &Store, principal: &Principal) -> AppResult<()> {
    notifications::Entity::update_many()
        .col_expr(
            notifications::Column::ReadAt,
            Expr::value(state.clock.now()),
        )
        .filter(notifications::Column::UserId.eq(principal.id()))
        .filter(notifications::Column::ReadAt.is_null())
        .exec(&state.db.write)
        .await?;
    Ok(())
}
