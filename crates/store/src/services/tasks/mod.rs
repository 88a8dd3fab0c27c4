//! Tasks: create, read, list, update, move on the board, delete — with optimistic
//! concurrency (`version` / `If-Match`) and one event per change.
//!
//! - [`write`]: create, update and delete (each one [`ProjectTransaction`]; on PostgreSQL a
//!   creation without an assignee is one statement: [`create_pg`]);
//! - [`board`]: moves between and within columns (fractional positions; on PostgreSQL a move
//!   to the end of a column is one statement: [`move_pg`]);
//! - [`query`]: `GET /tasks` filters, sorts and keyset pagination;
//! - here: the task as the API shows it, `If-Match`, and single-task reads.

mod board;
mod create_pg;
mod move_pg;
mod query;
mod write;

pub(crate) use board::last_position;
pub use board::{Move, move_task};
pub use query::{Sort, SortKey, TaskFilter, list};
pub use write::{NewTask, TaskChanges, create, delete, update};

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use std::sync::Arc;

use crate::auth::policy::{self, ProjectAction};
use crate::cache::CachedTask;
use crate::models::project_members::ProjectRole;
use crate::models::tasks::{self, Priority, TaskStatus};
use crate::services::changes::{Lookup, ProjectTransaction, membership};
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936f0e-2b3c-7d4e-8f90-a1b2c3d4e5f6", "project_id": "01936f0e-1c2a-7cc0-9d4e-3f5a6b7c8d9e",
    "title": "Write the launch post", "description": "", "status": "in_progress", "priority": "high",
    "assignee_id": null, "labels": ["marketing"], "created_by": "01936f0e-1c2a-7cc0-9d4e-3f5a6b7c8d9e",
    "due_date": "2026-12-01", "position": "V", "version": 3,
    "created_at": "2026-11-26T10:00:00.123Z", "updated_at": "2026-11-26T10:05:00.000Z", "completed_at": null
}))]
pub struct Task {
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    pub labels: Vec<String>,
    pub created_by: Uuid,
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<NaiveDate>,
    /// Opaque; sorting one column's tasks by `position` (byte order) gives the board order.
    pub position: String,
    /// Starts at 1, grows by 1 on every change; the `ETag` of single-task responses.
    pub version: i64,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<&tasks::Model> for Task {
    fn from(m: &tasks::Model) -> Self {
        Self {
            id: m.id,
            project_id: m.project_id,
            title: m.title.clone(),
            description: m.description.clone(),
            status: m.status,
            priority: m.priority,
            assignee_id: m.assignee_id,
            labels: m.label_list(),
            created_by: m.created_by,
            due_date: m.due_date,
            position: m.position.clone(),
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            completed_at: m.completed_at,
        }
    }
}

/// The `If-Match` precondition of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// No header: the last writer wins.
    Any,
    /// The strong entity tags given (`*` is `Any`).
    Tags(Vec<String>),
}

impl IfMatch {
    pub fn parse(header: Option<&str>) -> Self {
        match header.map(str::trim) {
            None | Some("*") => Self::Any,
            Some(raw) => Self::Tags(raw.split(',').map(|t| t.trim().to_string()).collect()),
        }
    }

    /// Strong comparison: `W/"3"` never matches.
    fn check(&self, version: i64) -> AppResult<()> {
        match self {
            Self::Any => Ok(()),
            Self::Tags(tags) if tags.iter().any(|t| *t == etag(version)) => Ok(()),
            Self::Tags(_) => Err(AppError::PreconditionFailed),
        }
    }
}

pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<tasks::Model> {
    tasks::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// A single task as its serialized JSON body, from the read cache when possible (the hot
/// path: an authenticated single-task read costs no database round trip when cached).
pub async fn get_cached(
    state: &Store,
    principal: &Principal,
    id: Uuid,
) -> AppResult<Arc<CachedTask>> {
    let cache = &state.read_cache;
    let task = match cache.task(id) {
        Some(task) => task,
        None => {
            let read_at = cache.generation();
            // Boxed: the database read's future is large and rarely needed; inline, every
            // cached read would carry (and copy) its space.
            let row = Box::pin(find(&state.db.read, id)).await?;
            let body = serde_json::to_vec(&Task::from(&row))
                .map_err(|e| AppError::internal(format!("serializing a task: {e}")))?;
            let task = Arc::new(CachedTask {
                project_id: row.project_id,
                version: row.version,
                body: body.into(),
            });
            cache.put_task(read_at, id, task.clone());
            task
        }
    };
    let role = cached_role(state, principal, task.project_id).await?;
    policy::project_access(role, ProjectAction::View).check()?;
    Ok(task)
}

/// The caller's effective role in a project, from the read cache when possible (none for a
/// project the caller's token does not see).
pub async fn cached_role(
    state: &Store,
    principal: &Principal,
    project_id: Uuid,
) -> AppResult<Option<ProjectRole>> {
    if !principal.may_see_project(project_id) {
        return Ok(None);
    }
    let cache = &state.read_cache;
    let membership = match cache.role(principal.id(), project_id) {
        Some(role) => role,
        None => {
            let read_at = cache.generation();
            // Boxed, as the task's read above.
            let role = Box::pin(membership(&state.db.read, project_id, principal.id())).await?;
            cache.put_role(read_at, principal.id(), project_id, role);
            role
        }
    };
    Ok(policy::effective_role(principal.user.role, membership))
}

/// The project of task `id`, the one its change locks: from memory when known (a task never
/// changes project; one deleted since is found missing under the lock).
async fn project_of(state: &Store, id: Uuid) -> AppResult<Uuid> {
    if let Some(project_id) = state.read_cache.task_project(id) {
        return Ok(project_id);
    }
    let project_id = find(&state.db.read, id).await?.project_id;
    state.read_cache.put_task_project(id, project_id);
    Ok(project_id)
}

/// Locks the task's project for a change and re-reads the task under the lock (with the
/// last position of `column`, excluding the task, when asked).
async fn begin_task_change(
    state: &Store,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    column: Option<TaskStatus>,
) -> AppResult<(ProjectTransaction, tasks::Model, Option<String>)> {
    let project_id = project_of(state, id).await?;
    let lookup = Lookup {
        task: Some(id),
        column,
    };
    let (change, locked) =
        ProjectTransaction::begin_with(state, actor, project_id, ProjectAction::Edit, lookup)
            .await?;
    // The task may have been deleted or moved to another project meanwhile.
    let task = match locked.task {
        Some(task) if task.project_id == project_id => task,
        _ => return Err(AppError::NotFound),
    };
    if_match.check(task.version)?;
    Ok((change, task, locked.last_position))
}
