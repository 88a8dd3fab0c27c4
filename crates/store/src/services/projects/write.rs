//! Creating, updating and deleting projects.

use chrono::NaiveDate;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::policy::ProjectAction;
use crate::models::projects::{self, ProjectStatus};
use crate::services::changes::{ChangeRecord, ProjectTransaction};
use crate::services::event::{EventData, ProjectData, ProjectRef};
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::patch::Patch;
use flowtrack_core::validate;

use super::{Project, StatusCounts, view};

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

pub async fn create(state: &Store, actor: &Principal, new: NewProject) -> AppResult<Project> {
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
    let mut change = ProjectTransaction::create_project(state, actor, row).await?;
    let project = Project::new(&change.project, StatusCounts::default());
    change
        .record(ChangeRecord {
            data: EventData::ProjectCreated(ProjectData {
                project: project.clone(),
            }),
            details: json!({"name": project.name}),
        })
        .await?;
    change.commit(state).await?;
    Ok(project)
}

#[derive(Default)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<ProjectStatus>,
    pub start_date: Patch<NaiveDate>,
    pub due_date: Patch<NaiveDate>,
}

pub async fn update(
    state: &Store,
    actor: &Principal,
    id: Uuid,
    changes: ProjectChanges,
) -> AppResult<Project> {
    let mut change = ProjectTransaction::begin(state, actor, id, ProjectAction::Edit).await?;
    let current = change.project.clone();
    let start = changes.start_date.apply_to(current.start_date);
    let due = changes.due_date.apply_to(current.due_date);
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
        .record(ChangeRecord {
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
pub async fn delete(state: &Store, actor: &Principal, id: Uuid) -> AppResult<()> {
    let mut change = ProjectTransaction::begin(state, actor, id, ProjectAction::Own).await?;
    let name = change.project.name.clone();
    change
        .record(ChangeRecord {
            data: EventData::ProjectDeleted(ProjectRef { project_id: id }),
            details: json!({"name": name}),
        })
        .await?;
    projects::Entity::delete_by_id(id).exec(&change.txn).await?;
    change.commit(state).await
}
