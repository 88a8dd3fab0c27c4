//! Moving a task on the board: to the end of a column, or between two neighbours, writing
//! only the moved task's fractional `position` (on PostgreSQL a move to the end of a column
//! is one statement: [`super::move_pg`]).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Principal;

use super::{IfMatch, Task, begin_task_change};
use crate::models::tasks::{self, TaskStatus};
use crate::services::changes::ChangeRecord;
use crate::services::event::{EventData, TaskMove};
use crate::services::position;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};

/// The last position of a column (excluding one task), for appending.
pub(crate) async fn last_position(
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
    state: &Store,
    actor: &Principal,
    id: Uuid,
    target: Move,
    if_match: IfMatch,
) -> AppResult<Task> {
    if super::move_pg::applies(state, &target) {
        return super::move_pg::move_task(state, actor, id, target, if_match).await;
    }
    // Appending (the usual move) needs the column's last position: read it under the lock.
    let column = (target.before_id.is_none() && target.after_id.is_none()).then_some(target.status);
    let (mut change, current, last) =
        begin_task_change(state, actor, id, &if_match, column).await?;
    let status = target.status;
    let (lo, hi) = gap_for(&change.txn, &current, &target, last).await?;
    let from = current.status;
    let completed_at = match (from == TaskStatus::Done, status == TaskStatus::Done) {
        (false, true) => Some(change.now),
        (true, true) => current.completed_at,
        _ => None,
    };
    let moved = tasks::Model {
        status,
        position: position::between(lo.as_deref(), hi.as_deref()),
        completed_at,
        version: current.version + 1,
        updated_at: change.now,
        ..current
    };
    let mut row = moved.clone().into_active_model();
    for column in [
        tasks::Column::Status,
        tasks::Column::Position,
        tasks::Column::CompletedAt,
        tasks::Column::Version,
        tasks::Column::UpdatedAt,
    ] {
        row.reset(column);
    }
    let update = tasks::Entity::update(row)
        .validate()?
        .build(change.backend());
    let task = Task::from(&moved);
    change
        .record_with(
            update,
            ChangeRecord {
                details: json!({"from": from, "to": status}),
                data: EventData::TaskMoved(TaskMove {
                    task: task.clone(),
                    from,
                    to: status,
                }),
            },
        )
        .await?;
    change.commit(state).await?;
    Ok(task)
}

/// The positions the moved task goes between in the target column (`None`: an end of the
/// column): after `after_id` and/or before `before_id` (both: they must be adjacent), else
/// at the end — after `last`, the column's last position as read under the lock.
async fn gap_for(
    db: &DatabaseTransaction,
    current: &tasks::Model,
    target: &Move,
    last: Option<String>,
) -> AppResult<(Option<String>, Option<String>)> {
    let status = target.status;
    let before = match target.before_id {
        Some(b) => Some(neighbour(db, "before_id", b, current, status).await?),
        None => None,
    };
    let after = match target.after_id {
        Some(a) => Some(neighbour(db, "after_id", a, current, status).await?),
        None => None,
    };
    Ok(match (&after, &before) {
        (Some(after), Some(before)) => {
            let next = adjacent_position(db, current, status, &after.position, false).await?;
            if next.as_deref() != Some(before.position.as_str()) {
                return Err(AppError::field(
                    "before_id",
                    "must be the task directly after after_id",
                ));
            }
            (Some(after.position.clone()), Some(before.position.clone()))
        }
        (None, Some(before)) => (
            adjacent_position(db, current, status, &before.position, true).await?,
            Some(before.position.clone()),
        ),
        (Some(after), None) => (
            Some(after.position.clone()),
            adjacent_position(db, current, status, &after.position, false).await?,
        ),
        (None, None) => (last, None),
    })
}
