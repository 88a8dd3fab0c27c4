//! Creating, updating and deleting tasks: each one change of its project (one event).

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Principal;

use super::board::last_position;
use super::{IfMatch, Task, begin_task_change};
use crate::auth::policy::ProjectAction;
use crate::models::task_labels;
use crate::models::tasks::{self, Priority, TaskStatus};
use crate::services::changes::{ChangeRecord, ProjectTransaction, membership};
use crate::services::event::{EventData, TaskData, TaskUpdate};
use crate::services::notifications::NotificationKind;
use crate::services::position;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::patch::Patch;

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

pub async fn create(state: &Store, actor: &Principal, new: NewTask) -> AppResult<Task> {
    let mut change =
        ProjectTransaction::begin(state, actor, new.project_id, ProjectAction::Edit).await?;
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
        .record(ChangeRecord {
            details: json!({"title": task.title, "status": task.status}),
            data: EventData::TaskCreated(TaskData { task: task.clone() }),
        })
        .await?;
    change.commit(state).await?;
    Ok(task)
}

fn assigned_message(change: &ProjectTransaction, title: &str) -> String {
    format!(
        "{} assigned you \u{201c}{}\u{201d} in {}",
        change.actor.user.full_name, title, change.project.name
    )
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
    state: &Store,
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
        .record(ChangeRecord {
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

pub async fn delete(
    state: &Store,
    actor: &Principal,
    id: Uuid,
    if_match: IfMatch,
) -> AppResult<()> {
    let (mut change, current) = begin_task_change(state, actor, id, &if_match).await?;
    let task = Task::from(&current);
    change
        .record(ChangeRecord {
            details: json!({"title": task.title}),
            data: EventData::TaskDeleted(TaskData { task }),
        })
        .await?;
    tasks::Entity::delete_by_id(id).exec(&change.txn).await?;
    change.commit(state).await
}
