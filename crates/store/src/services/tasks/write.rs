//! Creating, updating and deleting tasks: each one change of its project (one event).

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QueryTrait,
};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Principal;

use super::{IfMatch, Task, begin_task_change};
use crate::auth::policy::ProjectAction;
use crate::models::task_labels;
use crate::models::tasks::{self, Priority, TaskStatus};
use crate::services::changes::{ChangeRecord, Lookup, ProjectTransaction, membership};
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
    if super::create_pg::applies(state, &new) {
        return super::create_pg::create(state, actor, new).await;
    }
    let lookup = Lookup {
        task: None,
        column: Some(new.status),
    };
    let (mut change, locked) =
        ProjectTransaction::begin_with(state, actor, new.project_id, ProjectAction::Edit, lookup)
            .await?;
    if let Some(assignee) = new.assignee_id {
        ensure_assignee_is_member(&change.txn, new.project_id, assignee).await?;
    }
    let now = change.now;
    let row = tasks::Model {
        id: Uuid::now_v7(),
        project_id: new.project_id,
        title: new.title,
        description: new.description,
        status: new.status,
        priority: new.priority,
        assignee_id: new.assignee_id,
        labels: json!(new.labels).to_string(),
        created_by: actor.id(),
        due_date: new.due_date,
        position: position::between(locked.last_position.as_deref(), None),
        version: 1,
        created_at: now,
        updated_at: now,
        completed_at: (new.status == TaskStatus::Done).then_some(now),
    };
    let task = Task::from(&row);
    let insert = tasks::Entity::insert(row.into_active_model()).build(change.backend());
    change
        .record_with(
            insert,
            ChangeRecord {
                details: json!({"title": task.title, "status": task.status}),
                data: EventData::TaskCreated(TaskData { task: task.clone() }),
            },
        )
        .await?;
    insert_labels(&change.txn, task.id, &new.labels).await?;
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
    let (mut change, current, _) = begin_task_change(state, actor, id, &if_match, None).await?;
    let mut edit = TaskEdit::new(&current, changes);
    let assigned = edit.new_assignee(&current);
    if let Some(assignee) = assigned {
        ensure_assignee_is_member(&change.txn, current.project_id, assignee).await?;
    }
    if edit.changed.is_empty() {
        change.txn.rollback().await?;
        return Ok(Task::from(&current));
    }
    edit.row.version = Set(current.version + 1);
    edit.row.updated_at = Set(change.now);
    edit.changed.extend(["version", "updated_at"]);
    let updated = edit.row.update(&change.txn).await?;
    if let Some(labels) = &edit.labels {
        replace_labels(&change.txn, id, labels).await?;
    }
    let task = Task::from(&updated);
    if let Some(assignee) = assigned {
        let message = assigned_message(&change, &task.title);
        change
            .notify(assignee, NotificationKind::TaskAssigned, Some(id), message)
            .await?;
    }
    change
        .record(ChangeRecord {
            details: json!({"changes": edit.changed}),
            data: EventData::TaskUpdated(TaskUpdate {
                task: task.clone(),
                changes: edit.changed.iter().map(|c| c.to_string()).collect(),
            }),
        })
        .await?;
    change.commit(state).await?;
    Ok(task)
}

/// A task row with the requested changes applied, and the fields that really change (a
/// value equal to the stored one is not a change).
struct TaskEdit {
    row: tasks::ActiveModel,
    changed: Vec<&'static str>,
    assignee: Option<Uuid>,
    /// The new labels, when they change (they also live in `task_labels`).
    labels: Option<Vec<String>>,
}

impl TaskEdit {
    fn new(current: &tasks::Model, changes: TaskChanges) -> Self {
        let mut edit = Self {
            row: current.clone().into(),
            changed: Vec::new(),
            assignee: changes.assignee_id.apply_to(current.assignee_id),
            labels: changes.labels.filter(|l| *l != current.label_list()),
        };
        if let Some(title) = changes.title.filter(|t| *t != current.title) {
            edit.row.title = Set(title);
            edit.changed.push("title");
        }
        if let Some(d) = changes.description.filter(|d| *d != current.description) {
            edit.row.description = Set(d);
            edit.changed.push("description");
        }
        if let Some(p) = changes.priority.filter(|p| *p != current.priority) {
            edit.row.priority = Set(p);
            edit.changed.push("priority");
        }
        if edit.assignee != current.assignee_id {
            edit.row.assignee_id = Set(edit.assignee);
            edit.changed.push("assignee_id");
        }
        if let Some(labels) = &edit.labels {
            edit.row.labels = Set(json!(labels).to_string());
            edit.changed.push("labels");
        }
        let due = changes.due_date.apply_to(current.due_date);
        if due != current.due_date {
            edit.row.due_date = Set(due);
            edit.changed.push("due_date");
        }
        edit
    }

    /// The assignee, when the edit assigns the task to someone new.
    fn new_assignee(&self, current: &tasks::Model) -> Option<Uuid> {
        self.assignee.filter(|a| Some(*a) != current.assignee_id)
    }
}

pub async fn delete(
    state: &Store,
    actor: &Principal,
    id: Uuid,
    if_match: IfMatch,
) -> AppResult<()> {
    let (mut change, current, _) = begin_task_change(state, actor, id, &if_match, None).await?;
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
