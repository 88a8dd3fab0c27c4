//! Projects: create, list, read, update, delete; progress and the board.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    AccessMode, ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DbBackend, EntityTrait, IsolationLevel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::policy::{self, ProjectAction};
use crate::core::error::{AppError, AppResult};
use crate::core::input::Patch;
use crate::core::pagination::{Page, PageRequest};
use crate::core::validate;
use crate::models::project_members::{self, ProjectRole};
use crate::models::projects::{self, ProjectStatus};
use crate::models::tasks::{self, TaskStatus};
use crate::services::changes::{Change, ProjectChange, membership};
use crate::services::event::{EventData, ProjectData, ProjectRef};
use crate::services::tasks::Task;
use crate::services::users::like_pattern;
use crate::state::AppState;

/// Task counts per board column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct StatusCounts {
    pub todo: u64,
    pub in_progress: u64,
    pub review: u64,
    pub done: u64,
}

impl StatusCounts {
    pub fn add(&mut self, status: TaskStatus, n: u64) {
        match status {
            TaskStatus::Todo => self.todo += n,
            TaskStatus::InProgress => self.in_progress += n,
            TaskStatus::Review => self.review += n,
            TaskStatus::Done => self.done += n,
        }
    }

    pub fn total(&self) -> u64 {
        self.todo + self.in_progress + self.review + self.done
    }
}

/// `{total, done, percent}`; percent = round(100·done/total), 0 for an empty project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub total: u64,
    pub done: u64,
    pub percent: u64,
}

pub fn percent(done: u64, total: u64) -> u64 {
    (done * 100 + total / 2).checked_div(total).unwrap_or(0)
}

impl From<StatusCounts> for Progress {
    fn from(c: StatusCounts) -> Self {
        let total = c.total();
        Self {
            total,
            done: c.done,
            percent: percent(c.done, total),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub status: ProjectStatus,
    pub owner_id: Uuid,
    #[schema(value_type = Option<String>, format = Date)]
    pub start_date: Option<NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub due_date: Option<NaiveDate>,
    #[serde(serialize_with = "crate::core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    pub progress: Progress,
}

impl Project {
    pub fn new(m: &projects::Model, counts: StatusCounts) -> Self {
        Self {
            id: m.id,
            name: m.name.clone(),
            description: m.description.clone(),
            status: m.status,
            owner_id: m.owner_id,
            start_date: m.start_date,
            due_date: m.due_date,
            created_at: m.created_at,
            updated_at: m.updated_at,
            progress: counts.into(),
        }
    }
}

/// Task counts per status of each of `ids`.
pub async fn status_counts(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, StatusCounts>> {
    let mut counts: HashMap<Uuid, StatusCounts> = HashMap::new();
    if ids.is_empty() {
        return Ok(counts);
    }
    let rows: Vec<(Uuid, TaskStatus, i64)> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::ProjectId)
        .column(tasks::Column::Status)
        .column_as(Expr::col(tasks::Column::Id).count(), "n")
        .filter(tasks::Column::ProjectId.is_in(ids.iter().copied()))
        .group_by(tasks::Column::ProjectId)
        .group_by(tasks::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    for (project_id, status, n) in rows {
        counts
            .entry(project_id)
            .or_default()
            .add(status, u64::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

async fn view(db: &impl ConnectionTrait, m: &projects::Model) -> AppResult<Project> {
    let counts = status_counts(db, &[m.id]).await?;
    Ok(Project::new(
        m,
        counts.get(&m.id).copied().unwrap_or_default(),
    ))
}

/// Reads a project the caller may see, with the caller's effective role; 404 otherwise.
pub async fn visible(
    state: &AppState,
    principal: &Principal,
    project_id: Uuid,
) -> AppResult<(projects::Model, ProjectRole)> {
    let db = &state.db.read;
    let project = projects::Entity::find_by_id(project_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    let role = policy::effective_role(
        principal.user.role,
        membership(db, project_id, principal.id()).await?,
    );
    policy::project_access(role, ProjectAction::View).check()?;
    Ok((project, role.unwrap_or(ProjectRole::Viewer)))
}

fn check_dates(start: Option<NaiveDate>, due: Option<NaiveDate>) -> AppResult<()> {
    validate::dates_in_order(start, due).map_err(|e| AppError::Validation(vec![e]))
}

pub struct NewProject {
    pub name: String,
    pub description: String,
    pub status: ProjectStatus,
    pub start_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
}

pub async fn create(state: &AppState, actor: &Principal, new: NewProject) -> AppResult<Project> {
    check_dates(new.start_date, new.due_date)?;
    let now = state.clock.now();
    let row = projects::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(new.name),
        description: Set(new.description),
        status: Set(new.status),
        owner_id: Set(actor.id()),
        start_date: Set(new.start_date),
        due_date: Set(new.due_date),
        event_seq: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let mut change = ProjectChange::create_project(state, actor, row).await?;
    let project = Project::new(&change.project, StatusCounts::default());
    change
        .record(Change {
            data: EventData::ProjectCreated(ProjectData {
                project: project.clone(),
            }),
            details: json!({"name": project.name}),
        })
        .await?;
    change.commit(state).await?;
    Ok(project)
}

pub struct ProjectFilter {
    pub status: Option<ProjectStatus>,
    pub q: Option<String>,
}

/// Projects the caller is a member of (admins: all), newest first.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    filter: ProjectFilter,
    page: PageRequest,
) -> AppResult<Page<Project>> {
    let db = &state.db.read;
    let mut query = projects::Entity::find().order_by_desc(projects::Column::Id);
    if !principal.is_admin() {
        let mine = project_members::project_ids_of(principal.id());
        query = query.filter(projects::Column::Id.in_subquery(mine));
    }
    if let Some(status) = filter.status {
        query = query.filter(projects::Column::Status.eq(status));
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = like_pattern(q);
        let like = |col: projects::Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        query = query.filter(
            Condition::any()
                .add(like(projects::Column::Name))
                .add(like(projects::Column::Description)),
        );
    }
    if let Some(after) = &page.after {
        let after = Uuid::parse_str(after)
            .map_err(|_| AppError::BadRequest("The cursor is not valid.".into()))?;
        query = query.filter(projects::Column::Id.lt(after));
    }
    let rows = query.limit(page.limit + 1).all(db).await?;
    let ids: Vec<Uuid> = rows.iter().map(|p| p.id).collect();
    let counts = status_counts(db, &ids).await?;
    Ok(page.finish(
        rows,
        |p| p.id.to_string(),
        |p| Project::new(&p, counts.get(&p.id).copied().unwrap_or_default()),
    ))
}

pub async fn get(state: &AppState, principal: &Principal, id: Uuid) -> AppResult<Project> {
    let (project, _) = visible(state, principal, id).await?;
    view(&state.db.read, &project).await
}

#[derive(Default)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<ProjectStatus>,
    pub start_date: Patch<NaiveDate>,
    pub due_date: Patch<NaiveDate>,
}

fn apply_patch<T: Clone>(current: Option<T>, patch: &Patch<T>) -> Option<T> {
    match patch {
        Patch::Unchanged => current,
        Patch::Clear => None,
        Patch::Set(v) => Some(v.clone()),
    }
}

pub async fn update(
    state: &AppState,
    actor: &Principal,
    id: Uuid,
    changes: ProjectChanges,
) -> AppResult<Project> {
    let mut change = ProjectChange::begin(state, actor, id, ProjectAction::Edit).await?;
    let current = change.project.clone();
    let start = apply_patch(current.start_date, &changes.start_date);
    let due = apply_patch(current.due_date, &changes.due_date);
    check_dates(start, due)?;

    let mut changed: Vec<&str> = Vec::new();
    let mut row: projects::ActiveModel = current.clone().into();
    if let Some(name) = changes.name.filter(|n| *n != current.name) {
        row.name = Set(name);
        changed.push("name");
    }
    if let Some(d) = changes.description.filter(|d| *d != current.description) {
        row.description = Set(d);
        changed.push("description");
    }
    if let Some(s) = changes.status.filter(|s| *s != current.status) {
        row.status = Set(s);
        changed.push("status");
    }
    if start != current.start_date {
        row.start_date = Set(start);
        changed.push("start_date");
    }
    if due != current.due_date {
        row.due_date = Set(due);
        changed.push("due_date");
    }
    if changed.is_empty() {
        // Nothing changes: no write, no event.
        let project = view(&change.txn, &current).await?;
        change.txn.rollback().await?;
        return Ok(project);
    }
    row.updated_at = Set(change.now);
    let updated = row.update(&change.txn).await?;
    change.project.updated_at = updated.updated_at;
    let project = view(&change.txn, &updated).await?;
    change
        .record(Change {
            data: EventData::ProjectUpdated(ProjectData {
                project: project.clone(),
            }),
            details: json!({"changes": changed}),
        })
        .await?;
    change.commit(state).await?;
    Ok(project)
}

/// Deletes the project and everything in it; its `project.deleted` event stays in the log.
pub async fn delete(state: &AppState, actor: &Principal, id: Uuid) -> AppResult<()> {
    let mut change = ProjectChange::begin(state, actor, id, ProjectAction::Own).await?;
    let name = change.project.name.clone();
    change
        .record(Change {
            data: EventData::ProjectDeleted(ProjectRef { project_id: id }),
            details: json!({"name": name}),
        })
        .await?;
    projects::Entity::delete_by_id(id).exec(&change.txn).await?;
    change.commit(state).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectProgress {
    pub total: u64,
    pub done: u64,
    pub percent: u64,
    pub by_status: StatusCounts,
    /// Tasks not done whose due date is before today (UTC).
    pub overdue: u64,
}

pub async fn overdue_count(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    today: NaiveDate,
) -> AppResult<u64> {
    let n: Option<i64> = tasks::Entity::find()
        .select_only()
        .column_as(Expr::col(tasks::Column::Id).count(), "n")
        .filter(tasks::Column::ProjectId.eq(project_id))
        .filter(tasks::Column::Status.ne(TaskStatus::Done))
        .filter(tasks::Column::DueDate.lt(today))
        .into_tuple()
        .one(db)
        .await?;
    Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}

pub async fn progress(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> AppResult<ProjectProgress> {
    let (project, _) = visible(state, principal, id).await?;
    let db = &state.db.read;
    let by_status = status_counts(db, &[project.id])
        .await?
        .get(&project.id)
        .copied()
        .unwrap_or_default();
    let overdue = overdue_count(db, project.id, state.clock.now().date_naive()).await?;
    let p = Progress::from(by_status);
    Ok(ProjectProgress {
        total: p.total,
        done: p.done,
        percent: p.percent,
        by_status,
        overdue,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Column {
    pub status: TaskStatus,
    pub tasks: Vec<Task>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Board {
    pub project: Project,
    /// The project's latest event seq, read in the same snapshot as the tasks: resume the
    /// WebSocket from here.
    pub seq: i64,
    /// `todo`, `in_progress`, `review`, `done`, each in board order.
    pub columns: Vec<Column>,
}

/// The board as JSON text, cached with the project's `event_seq`: a cached board is used
/// only while the project is still at that seq, so it is never stale (and only the latest
/// board of each project is kept).
pub async fn board_json(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
) -> AppResult<std::sync::Arc<str>> {
    let (project, _) = visible(state, principal, id).await?;
    if let Some(hit) = state.reports.board(id, project.event_seq).await {
        return Ok(hit);
    }
    let board = snapshot_board(state, id).await?;
    let text: std::sync::Arc<str> = serde_json::to_string(&board)
        .map_err(|e| AppError::internal(format!("serializing a board: {e}")))?
        .into();
    state.reports.put_board(id, board.seq, text.clone()).await;
    Ok(text)
}

async fn snapshot_board(state: &AppState, id: Uuid) -> AppResult<Board> {
    let db = &state.db.read;
    let txn = match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        // SQLite (WAL): a read transaction sees one snapshot from its first read on.
        _ => db.begin().await?,
    };
    let project = projects::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound)?;
    let rows = tasks::Entity::find()
        .filter(tasks::Column::ProjectId.eq(id))
        .order_by_asc(tasks::Column::Position)
        .order_by_asc(tasks::Column::Id)
        .all(&txn)
        .await?;
    txn.commit().await?;

    let mut counts = StatusCounts::default();
    let mut columns: Vec<Column> = [
        TaskStatus::Todo,
        TaskStatus::InProgress,
        TaskStatus::Review,
        TaskStatus::Done,
    ]
    .into_iter()
    .map(|status| Column {
        status,
        tasks: Vec::new(),
    })
    .collect();
    for row in rows {
        counts.add(row.status, 1);
        if let Some(column) = columns.iter_mut().find(|c| c.status == row.status) {
            column.tasks.push(Task::from(&row));
        }
    }
    Ok(Board {
        seq: project.event_seq,
        project: Project::new(&project, counts),
        columns,
    })
}
