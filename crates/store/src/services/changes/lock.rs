//! The first step of a change: lock the project's row, then read what the change decides on
//! — the caller's membership, the task it changes, the last position of the column a task
//! goes to — all after the lock, so no concurrent change of the project can slip between
//! these reads and the write.
//!
//! PostgreSQL does it in one round trip (`flowtrack_lock_project`, see its migration), since
//! every round trip after the lock is time every other write of the project waits. SQLite
//! runs one writer at a time and its statements are in-process calls: plain queries.

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, FromQueryResult, QuerySelect,
    Statement,
};
use uuid::Uuid;

use crate::models::project_members::ProjectRole;
use crate::models::projects;
use crate::models::tasks::{self, TaskStatus};
use crate::services::changes::membership;
use crate::services::tasks::last_position;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::validate::ApiEnum;

/// What a change reads under the lock besides the project and the caller's membership.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lookup {
    /// The task the change is about.
    pub task: Option<Uuid>,
    /// A column the change may append to: its last position is read (the task above
    /// excluded, as a task never goes after itself).
    pub column: Option<TaskStatus>,
}

/// What was read under the lock.
pub struct Locked {
    pub project: projects::Model,
    /// The caller's membership (not the effective role: admins are not members).
    pub member_role: Option<ProjectRole>,
    /// The [`Lookup::task`], if it exists (in any project: the caller checks).
    pub task: Option<tasks::Model>,
    /// The last position of [`Lookup::column`] (`None`: the column is empty or not asked).
    pub last_position: Option<String>,
}

/// Locks the project and reads; `NotFound` for a project that does not exist.
pub async fn lock(
    txn: &DatabaseTransaction,
    project_id: Uuid,
    user_id: Uuid,
    lookup: Lookup,
) -> AppResult<Locked> {
    match txn.get_database_backend() {
        DbBackend::Postgres => lock_in_one_round_trip(txn, project_id, user_id, lookup).await,
        _ => lock_step_by_step(txn, project_id, user_id, lookup).await,
    }
}

const LOCK_SQL: &str = "SELECT * FROM flowtrack_lock_project($1, $2, $3, $4)";

async fn lock_in_one_round_trip(
    txn: &DatabaseTransaction,
    project_id: Uuid,
    user_id: Uuid,
    lookup: Lookup,
) -> AppResult<Locked> {
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            LOCK_SQL,
            [
                project_id.into(),
                user_id.into(),
                lookup.task.into(),
                lookup.column.map(|c| c.as_str()).into(),
            ],
        ))
        .await?
        .ok_or(AppError::NotFound)?;
    let project = projects::Model::from_query_result(&row, "p_")?;
    let member_role = row.try_get::<Option<ProjectRole>>("", "member_role")?;
    // The task's columns are all NULL when it does not exist (LEFT JOIN).
    let task = match row.try_get::<Option<Uuid>>("", "t_id")? {
        Some(_) => Some(tasks::Model::from_query_result(&row, "t_")?),
        None => None,
    };
    Ok(Locked {
        project,
        member_role,
        task,
        last_position: row.try_get("", "last_position")?,
    })
}

async fn lock_step_by_step(
    txn: &DatabaseTransaction,
    project_id: Uuid,
    user_id: Uuid,
    lookup: Lookup,
) -> AppResult<Locked> {
    let project = projects::Entity::find_by_id(project_id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(AppError::NotFound)?;
    let member_role = membership(txn, project_id, user_id).await?;
    let task = match lookup.task {
        Some(id) => tasks::Entity::find_by_id(id).one(txn).await?,
        None => None,
    };
    let last_position = match lookup.column {
        Some(column) => last_position(txn, project_id, column, lookup.task).await?,
        None => None,
    };
    Ok(Locked {
        project,
        member_role,
        task,
        last_position,
    })
}
