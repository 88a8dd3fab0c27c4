//! Task discussion: members (viewers included) comment; the author or the project's owner
//! edits and deletes.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::policy::{self, ProjectAction};
use crate::models::{comments, tasks};
use crate::services::changes::{ChangeRecord, ProjectTransaction};
use crate::services::event::{CommentData, EventData};
use crate::services::notifications::NotificationKind;
use crate::services::projects::visible;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::pagination::{Page, PageRequest};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Comment {
    pub id: Uuid,
    pub task_id: Uuid,
    pub author_id: Uuid,
    pub body: String,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

impl From<&comments::Model> for Comment {
    fn from(m: &comments::Model) -> Self {
        Self {
            id: m.id,
            task_id: m.task_id,
            author_id: m.author_id,
            body: m.body.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

async fn find_task(state: &Store, task_id: Uuid) -> AppResult<tasks::Model> {
    tasks::Entity::find_by_id(task_id)
        .one(&state.db.read)
        .await?
        .ok_or(AppError::NotFound)
}

/// Oldest first.
pub async fn list(
    state: &Store,
    principal: &Principal,
    task_id: Uuid,
    page: PageRequest,
) -> AppResult<Page<Comment>> {
    let task = find_task(state, task_id).await?;
    visible(state, principal, task.project_id).await?;
    let mut query = comments::Entity::find()
        .filter(comments::Column::TaskId.eq(task_id))
        .order_by_asc(comments::Column::Id);
    if let Some(after) = &page.after {
        let after = Uuid::parse_str(after)
            .map_err(|_| AppError::BadRequest("The cursor is not valid.".into()))?;
        query = query.filter(comments::Column::Id.gt(after));
    }
    let rows = query.limit(page.limit + 1).all(&state.db.read).await?;
    Ok(page.finish(rows, |c| c.id.to_string(), |c| Comment::from(&c)))
}

pub async fn create(
    state: &Store,
    actor: &Principal,
    task_id: Uuid,
    body: String,
) -> AppResult<Comment> {
    let project_id = find_task(state, task_id).await?.project_id;
    let mut change =
        ProjectTransaction::begin(state, actor, project_id, ProjectAction::Comment).await?;
    // The task may have been deleted meanwhile.
    let task = tasks::Entity::find_by_id(task_id)
        .one(&change.txn)
        .await?
        .filter(|t| t.project_id == project_id)
        .ok_or(AppError::NotFound)?;
    let row = comments::ActiveModel {
        id: Set(Uuid::now_v7()),
        task_id: Set(task_id),
        project_id: Set(project_id),
        author_id: Set(actor.id()),
        body: Set(body),
        created_at: Set(change.now),
        updated_at: Set(change.now),
    }
    .insert(&change.txn)
    .await?;
    let comment = Comment::from(&row);
    if let Some(assignee) = task.assignee_id {
        let message = format!(
            "{} commented on \u{201c}{}\u{201d}",
            actor.user.full_name, task.title
        );
        change
            .notify(
                assignee,
                NotificationKind::CommentCreated,
                Some(task_id),
                message,
            )
            .await?;
    }
    change
        .record(ChangeRecord {
            data: EventData::CommentCreated(CommentData {
                comment: comment.clone(),
            }),
            details: json!({"comment_id": comment.id}),
        })
        .await?;
    change.commit(state).await?;
    Ok(comment)
}

/// Starts a change of a comment the caller may edit (author, or owner of the project).
async fn begin_comment_change(
    state: &Store,
    actor: &Principal,
    id: Uuid,
) -> AppResult<(ProjectTransaction, comments::Model)> {
    let project_id = comments::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or(AppError::NotFound)?
        .project_id;
    let change = ProjectTransaction::begin(state, actor, project_id, ProjectAction::View).await?;
    let comment = comments::Entity::find_by_id(id)
        .one(&change.txn)
        .await?
        .ok_or(AppError::NotFound)?;
    policy::comment_access(change.role, comment.author_id == actor.id()).check()?;
    Ok((change, comment))
}

pub async fn update(
    state: &Store,
    actor: &Principal,
    id: Uuid,
    body: String,
) -> AppResult<Comment> {
    let (mut change, current) = begin_comment_change(state, actor, id).await?;
    if current.body == body {
        change.txn.rollback().await?;
        return Ok(Comment::from(&current));
    }
    let mut row: comments::ActiveModel = current.into();
    row.body = Set(body);
    row.updated_at = Set(change.now);
    let updated = row.update(&change.txn).await?;
    let comment = Comment::from(&updated);
    change
        .record(ChangeRecord {
            data: EventData::CommentUpdated(CommentData {
                comment: comment.clone(),
            }),
            details: json!({"comment_id": id}),
        })
        .await?;
    change.commit(state).await?;
    Ok(comment)
}

pub async fn delete(state: &Store, actor: &Principal, id: Uuid) -> AppResult<()> {
    let (mut change, current) = begin_comment_change(state, actor, id).await?;
    let comment = Comment::from(&current);
    comments::Entity::delete_by_id(id).exec(&change.txn).await?;
    change
        .record(ChangeRecord {
            data: EventData::CommentDeleted(CommentData { comment }),
            details: json!({"comment_id": id}),
        })
        .await?;
    change.commit(state).await
}
