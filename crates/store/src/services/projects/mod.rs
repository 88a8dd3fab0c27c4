//! Projects: their views and visibility (here), create/update/delete ([`write`]), lists,
//! progress and the board ([`read`]).

mod read;
mod write;

pub use read::*;
pub use write::*;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::policy::{self, ProjectAction};
use crate::models::project_members::{self, ProjectRole};
use crate::models::projects::{self, ProjectStatus};
use crate::models::tasks::{self, TaskStatus};
use crate::services::changes::membership;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};

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
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
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

/// The projects the caller may see, as a condition on a project id column: those it is a
/// member of (admins: every project), and only the bound one for a token bound to a project.
pub fn visible_to(principal: &Principal, project_column: impl ColumnTrait) -> Condition {
    let mut visible = Condition::all();
    if !principal.is_admin() {
        let mine = project_members::project_ids_of(principal.id());
        visible = visible.add(project_column.in_subquery(mine));
    }
    if let Some(bound) = principal.bound_project() {
        visible = visible.add(project_column.eq(bound));
    }
    visible
}

/// Reads a project the caller may see, with the caller's effective role; 404 otherwise.
pub async fn visible(
    state: &Store,
    principal: &Principal,
    project_id: Uuid,
) -> AppResult<(projects::Model, ProjectRole)> {
    if !principal.may_see_project(project_id) {
        return Err(AppError::NotFound);
    }
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
