//! Tasks: create, read, list, update, move on the board, delete — with optimistic
//! concurrency (`version` / `If-Match`) and one event per change.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Order, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use std::sync::Arc;

use crate::auth::policy::{self, ProjectAction};
use crate::core::cache::CachedTask;
use crate::core::error::{AppError, AppResult};
use crate::core::input::Patch;
use crate::core::pagination::{Page, PageRequest};
use crate::models::project_members;
use crate::models::project_members::ProjectRole;
use crate::models::task_labels;
use crate::models::tasks::{self, Priority, TaskStatus};
use crate::services::changes::{Change, ProjectChange, membership};
use crate::services::event::{EventData, TaskData, TaskMove, TaskUpdate};
use crate::services::notifications::NotificationKind;
use crate::services::position;
use crate::services::projects::visible;
use crate::services::users::like_pattern;
use crate::state::AppState;

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
    #[serde(serialize_with = "crate::core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::core::time::rfc3339_opt")]
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

async fn ensure_assignee_is_member(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    assignee: Uuid,
) -> AppResult<()> {
    match membership(db, project_id, assignee).await? {
        Some(_) => Ok(()),
        None => Err(AppError::field(
            "assignee_id",
            "must be a member of the project",
        )),
    }
}

async fn replace_labels(
    db: &impl ConnectionTrait,
    task_id: Uuid,
    labels: &[String],
) -> AppResult<()> {
    task_labels::Entity::delete_many()
        .filter(task_labels::Column::TaskId.eq(task_id))
        .exec(db)
        .await?;
    insert_labels(db, task_id, labels).await
}

/// Indexes the labels of a task that has none indexed yet.
async fn insert_labels(
    db: &impl ConnectionTrait,
    task_id: Uuid,
    labels: &[String],
) -> AppResult<()> {
    if !labels.is_empty() {
        let rows = labels.iter().map(|label| task_labels::ActiveModel {
            task_id: Set(task_id),
            label: Set(label.clone()),
        });
        task_labels::Entity::insert_many(rows).exec(db).await?;
    }
    Ok(())
}

/// The last position of a column (excluding one task), for appending.
async fn last_position(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    status: TaskStatus,
    excluding: Option<Uuid>,
) -> AppResult<Option<String>> {
    let mut query = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Position)
        .filter(tasks::Column::ProjectId.eq(project_id))
        .filter(tasks::Column::Status.eq(status))
        .order_by_desc(tasks::Column::Position)
        .limit(1);
    if let Some(id) = excluding {
        query = query.filter(tasks::Column::Id.ne(id));
    }
    Ok(query.into_tuple::<String>().one(db).await?)
}

pub struct NewTask {
    pub project_id: Uuid,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    pub labels: Vec<String>,
    pub due_date: Option<NaiveDate>,
}

pub async fn create(state: &AppState, actor: &Principal, new: NewTask) -> AppResult<Task> {
    let mut change =
        ProjectChange::begin(state, actor, new.project_id, ProjectAction::Edit).await?;
    if let Some(assignee) = new.assignee_id {
        ensure_assignee_is_member(&change.txn, new.project_id, assignee).await?;
    }
    let last = last_position(&change.txn, new.project_id, new.status, None).await?;
    let now = change.now;
    let row = tasks::ActiveModel {
        id: Set(Uuid::now_v7()),
        project_id: Set(new.project_id),
        title: Set(new.title),
        description: Set(new.description),
        status: Set(new.status),
        priority: Set(new.priority),
        assignee_id: Set(new.assignee_id),
        labels: Set(json!(new.labels).to_string()),
        created_by: Set(actor.id()),
        due_date: Set(new.due_date),
        position: Set(position::between(last.as_deref(), None)),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        completed_at: Set((new.status == TaskStatus::Done).then_some(now)),
    }
    .insert(&change.txn)
    .await?;
    insert_labels(&change.txn, row.id, &new.labels).await?;
    let task = Task::from(&row);
    if let Some(assignee) = task.assignee_id {
        let message = assigned_message(&change, &task.title);
        change
            .notify(
                assignee,
                NotificationKind::TaskAssigned,
                Some(task.id),
                message,
            )
            .await?;
    }
    change
        .record(Change {
            details: json!({"title": task.title, "status": task.status}),
            data: EventData::TaskCreated(TaskData { task: task.clone() }),
        })
        .await?;
    change.commit(state).await?;
    Ok(task)
}

fn assigned_message(change: &ProjectChange, title: &str) -> String {
    format!(
        "{} assigned you \u{201c}{}\u{201d} in {}",
        change.actor.user.full_name, title, change.project.name
    )
}

async fn find(db: &impl ConnectionTrait, id: Uuid) -> AppResult<tasks::Model> {
    tasks::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

pub async fn get(state: &AppState, principal: &Principal, id: Uuid) -> AppResult<Task> {
    let task = find(&state.db.read, id).await?;
    visible(state, principal, task.project_id).await?;
    Ok(Task::from(&task))
}

/// A single task as its serialized JSON body, from the read cache when possible (the hot
/// path: an authenticated single-task read costs no database round trip when cached).
pub async fn get_cached(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> AppResult<Arc<CachedTask>> {
    let cache = &state.read_cache;
    let task = match cache.task(id) {
        Some(task) => task,
        None => {
            let read_at = cache.generation();
            let row = find(&state.db.read, id).await?;
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

/// The caller's effective role in a project, from the read cache when possible.
pub async fn cached_role(
    state: &AppState,
    principal: &Principal,
    project_id: Uuid,
) -> AppResult<Option<ProjectRole>> {
    let cache = &state.read_cache;
    let membership = match cache.role(principal.id(), project_id) {
        Some(role) => role,
        None => {
            let read_at = cache.generation();
            let role = membership(&state.db.read, project_id, principal.id()).await?;
            cache.put_role(read_at, principal.id(), project_id, role);
            role
        }
    };
    Ok(policy::effective_role(principal.user.role, membership))
}

/// Locks the task's project for a change and re-reads the task inside the transaction.
async fn begin_task_change(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> AppResult<(ProjectChange, tasks::Model)> {
    let project_id = find(&state.db.read, id).await?.project_id;
    let change = ProjectChange::begin(state, actor, project_id, ProjectAction::Edit).await?;
    // The task may have been deleted or moved to another project meanwhile.
    let task = find(&change.txn, id).await?;
    if task.project_id != project_id {
        return Err(AppError::NotFound);
    }
    if_match.check(task.version)?;
    Ok((change, task))
}

#[derive(Default)]
pub struct TaskChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub assignee_id: Patch<Uuid>,
    pub labels: Option<Vec<String>>,
    pub due_date: Patch<NaiveDate>,
}

pub async fn update(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    changes: TaskChanges,
    if_match: IfMatch,
) -> AppResult<Task> {
    let (mut change, current) = begin_task_change(state, actor, id, &if_match).await?;
    let mut changed: Vec<&str> = Vec::new();
    let mut row: tasks::ActiveModel = current.clone().into();
    if let Some(title) = changes.title.filter(|t| *t != current.title) {
        row.title = Set(title);
        changed.push("title");
    }
    if let Some(d) = changes.description.filter(|d| *d != current.description) {
        row.description = Set(d);
        changed.push("description");
    }
    if let Some(p) = changes.priority.filter(|p| *p != current.priority) {
        row.priority = Set(p);
        changed.push("priority");
    }
    let assignee = match changes.assignee_id {
        Patch::Unchanged => current.assignee_id,
        Patch::Clear => None,
        Patch::Set(a) => Some(a),
    };
    if assignee != current.assignee_id {
        if let Some(a) = assignee {
            ensure_assignee_is_member(&change.txn, current.project_id, a).await?;
        }
        row.assignee_id = Set(assignee);
        changed.push("assignee_id");
    }
    let new_labels = changes.labels.filter(|l| *l != current.label_list());
    if let Some(labels) = &new_labels {
        row.labels = Set(json!(labels).to_string());
        changed.push("labels");
    }
    let due = match changes.due_date {
        Patch::Unchanged => current.due_date,
        Patch::Clear => None,
        Patch::Set(d) => Some(d),
    };
    if due != current.due_date {
        row.due_date = Set(due);
        changed.push("due_date");
    }
    if changed.is_empty() {
        change.txn.rollback().await?;
        return Ok(Task::from(&current));
    }
    row.version = Set(current.version + 1);
    row.updated_at = Set(change.now);
    changed.extend(["version", "updated_at"]);
    let updated = row.update(&change.txn).await?;
    if let Some(labels) = &new_labels {
        replace_labels(&change.txn, id, labels).await?;
    }
    let task = Task::from(&updated);
    if let Some(assignee) = assignee.filter(|a| Some(*a) != current.assignee_id) {
        let message = assigned_message(&change, &task.title);
        change
            .notify(assignee, NotificationKind::TaskAssigned, Some(id), message)
            .await?;
    }
    change
        .record(Change {
            details: json!({"changes": changed}),
            data: EventData::TaskUpdated(TaskUpdate {
                task: task.clone(),
                changes: changed.iter().map(|c| c.to_string()).collect(),
            }),
        })
        .await?;
    change.commit(state).await?;
    Ok(task)
}

pub struct Move {
    pub status: TaskStatus,
    pub before_id: Option<Uuid>,
    pub after_id: Option<Uuid>,
}

/// A neighbour named in a move: a task of the same project, in the target column, not the
/// moved task itself.
async fn neighbour(
    db: &impl ConnectionTrait,
    field: &str,
    id: Uuid,
    task: &tasks::Model,
    status: TaskStatus,
) -> AppResult<tasks::Model> {
    if id == task.id {
        return Err(AppError::field(field, "must not be the moved task itself"));
    }
    match tasks::Entity::find_by_id(id).one(db).await? {
        Some(n) if n.project_id == task.project_id && n.status == status => Ok(n),
        _ => Err(AppError::field(
            field,
            "must be a task in the target column of the same project",
        )),
    }
}

/// The nearest position of the column strictly before (`before == true`: the greatest below)
/// or after `pivot`, ignoring the moved task.
async fn adjacent_position(
    db: &impl ConnectionTrait,
    task: &tasks::Model,
    status: TaskStatus,
    pivot: &str,
    below: bool,
) -> AppResult<Option<String>> {
    let mut query = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Position)
        .filter(tasks::Column::ProjectId.eq(task.project_id))
        .filter(tasks::Column::Status.eq(status))
        .filter(tasks::Column::Id.ne(task.id))
        .limit(1);
    query = if below {
        query
            .filter(tasks::Column::Position.lt(pivot))
            .order_by_desc(tasks::Column::Position)
    } else {
        query
            .filter(tasks::Column::Position.gt(pivot))
            .order_by_asc(tasks::Column::Position)
    };
    Ok(query.into_tuple::<String>().one(db).await?)
}

pub async fn move_task(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    target: Move,
    if_match: IfMatch,
) -> AppResult<Task> {
    let (mut change, current) = begin_task_change(state, actor, id, &if_match).await?;
    let db = &change.txn;
    let status = target.status;
    let before = match target.before_id {
        Some(b) => Some(neighbour(db, "before_id", b, &current, status).await?),
        None => None,
    };
    let after = match target.after_id {
        Some(a) => Some(neighbour(db, "after_id", a, &current, status).await?),
        None => None,
    };
    let (lo, hi) = match (&after, &before) {
        (Some(after), Some(before)) => {
            let next = adjacent_position(db, &current, status, &after.position, false).await?;
            if next.as_deref() != Some(before.position.as_str()) {
                return Err(AppError::field(
                    "before_id",
                    "must be the task directly after after_id",
                ));
            }
            (Some(after.position.clone()), Some(before.position.clone()))
        }
        (None, Some(before)) => (
            adjacent_position(db, &current, status, &before.position, true).await?,
            Some(before.position.clone()),
        ),
        (Some(after), None) => (
            Some(after.position.clone()),
            adjacent_position(db, &current, status, &after.position, false).await?,
        ),
        (None, None) => (
            last_position(db, current.project_id, status, Some(current.id)).await?,
            None,
        ),
    };
    let new_position = position::between(lo.as_deref(), hi.as_deref());
    let from = current.status;
    let completed_at = match (from == TaskStatus::Done, status == TaskStatus::Done) {
        (false, true) => Some(change.now),
        (true, true) => current.completed_at,
        _ => None,
    };
    let mut row: tasks::ActiveModel = current.clone().into();
    row.status = Set(status);
    row.position = Set(new_position);
    row.completed_at = Set(completed_at);
    row.version = Set(current.version + 1);
    row.updated_at = Set(change.now);
    let moved = row.update(&change.txn).await?;
    let task = Task::from(&moved);
    change
        .record(Change {
            details: json!({"from": from, "to": status}),
            data: EventData::TaskMoved(TaskMove {
                task: task.clone(),
                from,
                to: status,
            }),
        })
        .await?;
    change.commit(state).await?;
    Ok(task)
}

pub async fn delete(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    if_match: IfMatch,
) -> AppResult<()> {
    let (mut change, current) = begin_task_change(state, actor, id, &if_match).await?;
    let task = Task::from(&current);
    change
        .record(Change {
            details: json!({"title": task.title}),
            data: EventData::TaskDeleted(TaskData { task }),
        })
        .await?;
    tasks::Entity::delete_by_id(id).exec(&change.txn).await?;
    change.commit(state).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Position,
    CreatedAt,
    DueDate,
    Priority,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, raw),
        };
        let key = match name {
            "position" => SortKey::Position,
            "created_at" => SortKey::CreatedAt,
            "due_date" => SortKey::DueDate,
            "priority" => SortKey::Priority,
            _ => {
                return Err(
                    "must be one of position, created_at, due_date, priority (- for descending)"
                        .into(),
                );
            }
        };
        Ok(Self { key, descending })
    }
}

#[derive(Default)]
pub struct TaskFilter {
    pub project_id: Option<Uuid>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Uuid>,
    pub label: Option<String>,
    pub q: Option<String>,
    pub due_before: Option<NaiveDate>,
    pub sort: Option<Sort>,
}

fn priority_rank() -> SimpleExpr {
    let col = || Expr::col(tasks::Column::Priority);
    Expr::case(col().eq("low"), 0)
        .case(col().eq("medium"), 1)
        .case(col().eq("high"), 2)
        .finally(3)
        .into()
}

fn rank_of(p: Priority) -> i32 {
    match p {
        Priority::Low => 0,
        Priority::Medium => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

/// The sort value of a row as carried in a cursor.
fn cursor_key(sort: Sort, t: &tasks::Model) -> String {
    let value = match sort.key {
        SortKey::Position => json!(t.position),
        SortKey::CreatedAt => json!(t.created_at.timestamp_millis()),
        SortKey::DueDate => json!(t.due_date.map(|d| d.to_string())),
        SortKey::Priority => json!(rank_of(t.priority)),
    };
    json!([value, t.id]).to_string()
}

fn bad_cursor() -> AppError {
    AppError::BadRequest("The cursor is not valid.".into())
}

/// The keyset condition "strictly after the cursor row" for a sort.
fn after_cursor(sort: Sort, raw: &str) -> AppResult<Condition> {
    let (value, id): (serde_json::Value, Uuid) =
        serde_json::from_str(raw).map_err(|_| bad_cursor())?;
    let id_col = || Expr::col(tasks::Column::Id);
    let beyond = |e: SimpleExpr, v: SimpleExpr| if sort.descending { e.lt(v) } else { e.gt(v) };
    let id_beyond = beyond(id_col(), Expr::value(id));
    let keyset = |e: SimpleExpr, v: SimpleExpr| {
        Condition::any()
            .add(beyond(e.clone(), v.clone()))
            .add(Condition::all().add(e.eq(v)).add(id_beyond.clone()))
    };
    Ok(match sort.key {
        SortKey::Position => {
            let v = value.as_str().ok_or_else(bad_cursor)?.to_string();
            keyset(Expr::col(tasks::Column::Position), Expr::value(v))
        }
        SortKey::CreatedAt => {
            let ms = value.as_i64().ok_or_else(bad_cursor)?;
            let at = DateTime::<Utc>::from_timestamp_millis(ms).ok_or_else(bad_cursor)?;
            keyset(Expr::col(tasks::Column::CreatedAt), Expr::value(at))
        }
        SortKey::Priority => {
            let rank = value.as_i64().ok_or_else(bad_cursor)?;
            keyset(priority_rank(), Expr::value(rank))
        }
        SortKey::DueDate => {
            // Tasks without a due date come last in both directions.
            let due = || Expr::col(tasks::Column::DueDate);
            match value {
                serde_json::Value::Null => Condition::all().add(due().is_null()).add(id_beyond),
                serde_json::Value::String(s) => {
                    let d: NaiveDate = s.parse().map_err(|_| bad_cursor())?;
                    Condition::any().add(due().is_null()).add(
                        Condition::all()
                            .add(due().is_not_null())
                            .add(keyset(due(), Expr::value(d))),
                    )
                }
                _ => return Err(bad_cursor()),
            }
        }
    })
}

/// `GET /tasks`: tasks visible to the caller, filtered, sorted and cursor-paginated.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    filter: TaskFilter,
    page: PageRequest,
) -> AppResult<Page<Task>> {
    let sort = filter
        .sort
        .unwrap_or(if filter.project_id.is_some() && filter.status.is_some() {
            Sort {
                key: SortKey::Position,
                descending: false,
            }
        } else {
            Sort {
                key: SortKey::CreatedAt,
                descending: true,
            }
        });
    let mut query = tasks::Entity::find();
    if !principal.is_admin() {
        let mine = Query::select()
            .column(project_members::Column::ProjectId)
            .from(project_members::Entity)
            .and_where(Expr::col(project_members::Column::UserId).eq(principal.id()))
            .to_owned();
        query = query.filter(tasks::Column::ProjectId.in_subquery(mine));
    }
    if let Some(p) = filter.project_id {
        query = query.filter(tasks::Column::ProjectId.eq(p));
    }
    if let Some(s) = filter.status {
        query = query.filter(tasks::Column::Status.eq(s));
    }
    if let Some(p) = filter.priority {
        query = query.filter(tasks::Column::Priority.eq(p));
    }
    if let Some(a) = filter.assignee_id {
        query = query.filter(tasks::Column::AssigneeId.eq(a));
    }
    if let Some(label) = &filter.label {
        let labelled = Query::select()
            .column(task_labels::Column::TaskId)
            .from(task_labels::Entity)
            .and_where(Expr::col(task_labels::Column::Label).eq(label.as_str()))
            .to_owned();
        query = query.filter(tasks::Column::Id.in_subquery(labelled));
    }
    // SQL `lower()` folds ASCII letters only (SQLite always, PostgreSQL under the C locale):
    // a search with other letters is narrowed in SQL by its ASCII part, then matched with
    // Unicode case folding below (`unicode_q`).
    let mut unicode_q: Option<String> = None;
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = if q.is_ascii() {
            like_pattern(q)
        } else {
            let needle = q.to_lowercase();
            let pattern = ascii_like_pattern(&needle);
            unicode_q = Some(needle);
            pattern
        };
        let like = |col: tasks::Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        query = query.filter(
            Condition::any()
                .add(like(tasks::Column::Title))
                .add(like(tasks::Column::Description)),
        );
    }
    if let Some(d) = filter.due_before {
        query = query.filter(tasks::Column::DueDate.lt(d));
    }
    let order = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    query = match sort.key {
        SortKey::Position => query.order_by(tasks::Column::Position, order.clone()),
        SortKey::CreatedAt => query.order_by(tasks::Column::CreatedAt, order.clone()),
        SortKey::Priority => query.order_by(priority_rank(), order.clone()),
        SortKey::DueDate => query
            .order_by(Expr::col(tasks::Column::DueDate).is_null(), Order::Asc)
            .order_by(tasks::Column::DueDate, order.clone()),
    };
    let query = query.order_by(tasks::Column::Id, order);
    let Some(needle) = unicode_q else {
        let mut query = query;
        if let Some(after) = &page.after {
            query = query.filter(after_cursor(sort, after)?);
        }
        let rows = query.limit(page.limit + 1).all(&state.db.read).await?;
        return Ok(page.finish(rows, |t| cursor_key(sort, t), |t| Task::from(&t)));
    };
    // A Unicode search: read on in keyset batches until the page (+1) is full.
    const BATCH: u64 = 500;
    let matches = |t: &tasks::Model| {
        t.title.to_lowercase().contains(&needle) || t.description.to_lowercase().contains(&needle)
    };
    let mut rows = Vec::new();
    let mut after = page.after.clone();
    loop {
        let mut batch = query.clone();
        if let Some(after) = &after {
            batch = batch.filter(after_cursor(sort, after)?);
        }
        let fetched = batch.limit(BATCH).all(&state.db.read).await?;
        let exhausted = (fetched.len() as u64) < BATCH;
        after = fetched.last().map(|t| cursor_key(sort, t));
        rows.extend(fetched.into_iter().filter(|t| matches(t)));
        if exhausted || rows.len() as u64 > page.limit {
            break;
        }
    }
    Ok(page.finish(rows, |t| cursor_key(sort, t), |t| Task::from(&t)))
}

/// A `LIKE` pattern (escape character `\`) that every case variant of the lower-cased
/// `needle` matches under ASCII-only `lower()`: its ASCII characters, with a `%` for each
/// run of others.
fn ascii_like_pattern(needle: &str) -> String {
    let mut pattern = String::from("%");
    let mut wildcard = true;
    for c in needle.chars() {
        if c.is_ascii() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
            wildcard = false;
        } else if !wildcard {
            pattern.push('%');
            wildcard = true;
        }
    }
    if !wildcard {
        pattern.push('%');
    }
    pattern
}

#[cfg(test)]
mod tests {
    use super::ascii_like_pattern;

    #[test]
    fn unicode_searches_are_narrowed_by_their_ascii_part() {
        assert_eq!(ascii_like_pattern("ärger"), "%rger%");
        assert_eq!(ascii_like_pattern("büro 50%"), "%b%ro 50\\%%");
        assert_eq!(ascii_like_pattern("日本語"), "%");
        assert_eq!(ascii_like_pattern("a_ä"), "%a\\_%");
    }
}
