//! The activity log: per project (members) and across projects (admins: all; others: the
//! projects they are members of). Newest first.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::models::activity_log;
use crate::services::projects::{self, visible};
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::pagination::{Page, PageRequest};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivityLog {
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Uuid,
    pub task_id: Option<Uuid>,
    /// e.g. `task.moved`.
    pub action: String,
    /// Depends on the action, e.g. `{"from": "todo", "to": "in_progress"}` for `task.moved`.
    #[schema(value_type = Object)]
    pub details: Value,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
}

impl From<&activity_log::Model> for ActivityLog {
    fn from(m: &activity_log::Model) -> Self {
        Self {
            id: m.id,
            user_id: m.user_id,
            project_id: m.project_id,
            task_id: m.task_id,
            action: m.action.clone(),
            details: serde_json::from_str(&m.details).unwrap_or(Value::Null),
            created_at: m.created_at,
        }
    }
}

fn cursor_key(m: &activity_log::Model) -> String {
    format!("{}|{}", m.created_at.timestamp_millis(), m.id)
}

/// Rows strictly older than the cursor row in (created_at desc, id desc) order.
fn before_cursor(raw: &str) -> AppResult<Condition> {
    let bad = || AppError::BadRequest("The cursor is not valid.".into());
    let (ms, id) = raw.split_once('|').ok_or_else(bad)?;
    let at = ms
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(Condition::any()
        .add(activity_log::Column::CreatedAt.lt(at))
        .add(
            Condition::all()
                .add(activity_log::Column::CreatedAt.eq(at))
                .add(activity_log::Column::Id.lt(id)),
        ))
}

async fn page_of(
    state: &Store,
    mut query: sea_orm::Select<activity_log::Entity>,
    page: PageRequest,
) -> AppResult<Page<ActivityLog>> {
    if let Some(after) = &page.after {
        query = query.filter(before_cursor(after)?);
    }
    let rows = query
        .order_by_desc(activity_log::Column::CreatedAt)
        .order_by_desc(activity_log::Column::Id)
        .limit(page.limit + 1)
        .all(&state.db.read)
        .await?;
    Ok(page.finish(rows, cursor_key, |m| ActivityLog::from(&m)))
}

pub async fn for_project(
    state: &Store,
    principal: &Principal,
    project_id: Uuid,
    page: PageRequest,
) -> AppResult<Page<ActivityLog>> {
    visible(state, principal, project_id).await?;
    let query = activity_log::Entity::find().filter(activity_log::Column::ProjectId.eq(project_id));
    page_of(state, query, page).await
}

pub async fn for_caller(
    state: &Store,
    principal: &Principal,
    user_id: Option<Uuid>,
    page: PageRequest,
) -> AppResult<Page<ActivityLog>> {
    let mut query = activity_log::Entity::find().filter(projects::visible_to(
        principal,
        activity_log::Column::ProjectId,
    ));
    if let Some(user_id) = user_id {
        query = query.filter(activity_log::Column::UserId.eq(user_id));
    }
    page_of(state, query, page).await
}
