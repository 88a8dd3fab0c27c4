//! Creating a task in one statement on PostgreSQL (`flowtrack_create_task`, see its
//! migration): the common creation — no assignee to check and notify — made without holding
//! the project's lock across a client round trip. Other creations, and every creation on
//! SQLite, take [`super::write::create`]'s transaction.

use sea_orm::DbBackend;
use serde_json::json;
use uuid::Uuid;

use super::Task;
use super::write::NewTask;
use crate::auth::Principal;
use crate::auth::policy::ProjectAction;
use crate::bus::{BusMessage, Event};
use crate::models::tasks::TaskStatus;
use crate::services::changes::{Memberships, PayloadCut, committed, run_statement};
use crate::services::event::{EventData, ProjectEvent, TaskData};
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::validate::ApiEnum;

/// Whether `new` is created in one statement.
pub(super) fn applies(state: &Store, new: &NewTask) -> bool {
    new.assignee_id.is_none() && state.db.write.get_database_backend() == DbBackend::Postgres
}

const CREATE_SQL: &str = "SELECT outcome, member_role, seq, task_position FROM \
    flowtrack_create_task($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
    $16, $17, $18, $19)";

pub(super) async fn create(state: &Store, actor: &Principal, new: NewTask) -> AppResult<Task> {
    if !actor.may_see_project(new.project_id) {
        return Err(AppError::NotFound);
    }
    let now = state.clock.now();
    let mut task = Task {
        id: Uuid::now_v7(),
        project_id: new.project_id,
        title: new.title,
        description: new.description,
        status: new.status,
        priority: new.priority,
        assignee_id: None,
        labels: new.labels,
        created_by: actor.id(),
        due_date: new.due_date,
        position: PayloadCut::position_mark(),
        version: 1,
        created_at: now,
        updated_at: now,
        completed_at: (new.status == TaskStatus::Done).then_some(now),
    };
    let event_of = |task: Task, seq: i64| ProjectEvent {
        project_id: task.project_id,
        seq,
        actor_id: actor.id(),
        at: now,
        data: EventData::TaskCreated(TaskData { task }),
    };
    let details = json!({"title": task.title, "status": task.status}).to_string();
    let template = event_of(task.clone(), 0);
    let action = template.event_type().as_str();
    let cut = PayloadCut::of(template)?;
    let who = Memberships::allowed(actor, ProjectAction::Edit);
    let values: [sea_orm::Value; 19] = [
        task.project_id.into(),
        actor.id().into(),
        who.roles.join(",").into(),
        who.nonmember.into(),
        task.id.into(),
        task.title.clone().into(),
        task.description.clone().into(),
        task.status.as_str().into(),
        task.priority.as_str().into(),
        json!(task.labels).to_string().into(),
        task.due_date.into(),
        now.into(),
        task.completed_at.into(),
        Uuid::now_v7().into(),
        action.into(),
        details.into(),
        cut.head.into(),
        cut.middle.into(),
        cut.tail.into(),
    ];
    let row = run_statement(
        state,
        actor,
        ProjectAction::Edit,
        CREATE_SQL,
        values,
        "created",
    )
    .await?;
    let seq = row.try_get("", "seq")?;
    task.position = row.try_get("", "task_position")?;
    let event = Event::new(event_of(task.clone(), seq));
    committed(state, vec![BusMessage::Event(event)]);
    Ok(task)
}
