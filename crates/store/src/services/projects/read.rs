//! Project lists, one project, progress and the board.

use std::sync::Arc;

use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    AccessMode, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, IsolationLevel,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::policy::{self, ProjectAction};
use crate::cache::CachedBoard;
use crate::models::projects::{self, ProjectStatus};
use crate::models::tasks::{self, TaskStatus};
use crate::services::tasks::Task;
use crate::services::users::like_pattern;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::pagination::{Page, PageRequest};

use super::{Progress, Project, StatusCounts, status_counts, view, visible, visible_to};

pub struct ProjectFilter {
    pub status: Option<ProjectStatus>,
    pub q: Option<String>,
}

/// Projects the caller is a member of (admins: all), newest first.
pub async fn list(
    state: &Store,
    principal: &Principal,
    filter: ProjectFilter,
    page: PageRequest,
) -> AppResult<Page<Project>> {
    let db = &state.db.read;
    let mut query = projects::Entity::find()
        .filter(visible_to(principal, projects::Column::Id))
        .order_by_desc(projects::Column::Id);
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

pub async fn get(state: &Store, principal: &Principal, id: Uuid) -> AppResult<Project> {
    let (project, _) = visible(state, principal, id).await?;
    view(&state.db.read, &project).await
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
    state: &Store,
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

/// The board as JSON text at the event seq it was read at, cached with the project's
/// `event_seq`: a cached board is used only while the project is still at that seq (and
/// only the latest board of each project is kept). The entry also keeps the board's
/// compressed forms once the HTTP layer has made them.
///
/// An unchanged board costs no database read: the caller's role and the project's seq come
/// from the read cache, which a commit updates before it answers (so a writer reads its own
/// write) and other instances through the bus; like every read-cache entry they live at most
/// 1 s, which bounds how stale a board can be on an instance that missed a bus message.
pub async fn board_json(
    state: &Store,
    principal: &Principal,
    id: Uuid,
) -> AppResult<Arc<CachedBoard>> {
    let role = crate::services::tasks::cached_role(state, principal, id).await?;
    policy::project_access(role, ProjectAction::View).check()?;
    let seq = event_seq(state, id).await?.ok_or(AppError::NotFound)?;
    if let Some(hit) = state.report_cache.board(id, seq).await {
        return Ok(hit);
    }
    let board = snapshot_board(state, id).await?;
    let text: Arc<str> = serde_json::to_string(&board)
        .map_err(|e| AppError::internal(format!("serializing a board: {e}")))?
        .into();
    let fresh = Arc::new(CachedBoard::new(board.seq, text));
    Ok(state.report_cache.put_board(id, fresh).await)
}

/// A project's `event_seq` from the read cache, else from the database (`None`: no such
/// project).
async fn event_seq(state: &Store, id: Uuid) -> AppResult<Option<i64>> {
    let cache = &state.read_cache;
    if let Some(seq) = cache.event_seq(id) {
        return Ok(seq);
    }
    let read_at = cache.generation();
    let seq = projects::Entity::find_by_id(id)
        .select_only()
        .column(projects::Column::EventSeq)
        .into_tuple::<i64>()
        .one(&state.db.read)
        .await?;
    cache.put_event_seq(read_at, id, seq);
    Ok(seq)
}

async fn snapshot_board(state: &Store, id: Uuid) -> AppResult<Board> {
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
