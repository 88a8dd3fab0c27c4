//! My workload (the tasks assigned to me) and the admin overview.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::models::projects::ProjectStatus;
use crate::models::tasks::{self, TaskStatus};
use crate::models::users::{self, Role};
use crate::models::{project_members, projects};
use crate::services::projects::StatusCounts;
use crate::state::Store;
use flowtrack_core::error::AppResult;

use super::cached;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadProject {
    pub project_id: Uuid,
    pub name: String,
    pub by_status: StatusCounts,
    pub overdue: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadTotal {
    pub by_status: StatusCounts,
    pub overdue: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Workload {
    pub user_id: Uuid,
    pub projects: Vec<WorkloadProject>,
    pub total: WorkloadTotal,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoleCounts {
    pub admin: u64,
    pub member: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserOverview {
    pub total: u64,
    pub active: u64,
    pub by_role: RoleCounts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectStatusCounts {
    pub active: u64,
    pub on_hold: u64,
    pub completed: u64,
    pub archived: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectOverview {
    pub total: u64,
    pub by_status: ProjectStatusCounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaskOverview {
    pub total: u64,
    pub by_status: StatusCounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Overview {
    pub users: UserOverview,
    pub projects: ProjectOverview,
    pub tasks: TaskOverview,
}

/// The tasks assigned to me (done included) in the projects I am a member of.
pub async fn workload(state: &Store, principal: &Principal) -> AppResult<Workload> {
    let db = &state.db.read;
    let today = state.clock.now().date_naive();
    let member_of: Vec<Uuid> = project_members::Entity::find()
        .select_only()
        .column(project_members::Column::ProjectId)
        .filter(project_members::Column::UserId.eq(principal.id()))
        .into_tuple()
        .all(db)
        .await?;
    let mut projects: Vec<(Uuid, String, i64)> = if member_of.is_empty() {
        Vec::new()
    } else {
        projects::Entity::find()
            .select_only()
            .column(projects::Column::Id)
            .column(projects::Column::Name)
            .column(projects::Column::EventSeq)
            .filter(projects::Column::Id.is_in(member_of))
            .into_tuple()
            .all(db)
            .await?
    };
    projects.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let version: String = projects
        .iter()
        .map(|(id, _, seq)| format!("{id}:{seq}"))
        .collect::<Vec<_>>()
        .join(",");
    let key = format!("workload:{}:{today}:{version}", principal.id());
    let user_id = principal.id();
    cached(state, key, async move {
        let ids: Vec<Uuid> = projects.iter().map(|p| p.0).collect();
        let rows: Vec<(Uuid, TaskStatus, Option<NaiveDate>)> = if ids.is_empty() {
            Vec::new()
        } else {
            tasks::Entity::find()
                .select_only()
                .column(tasks::Column::ProjectId)
                .column(tasks::Column::Status)
                .column(tasks::Column::DueDate)
                .filter(tasks::Column::AssigneeId.eq(user_id))
                .filter(tasks::Column::ProjectId.is_in(ids))
                .into_tuple()
                .all(db)
                .await?
        };
        let mut per_project: HashMap<Uuid, (StatusCounts, u64)> = HashMap::new();
        let mut total = WorkloadTotal {
            by_status: StatusCounts::default(),
            overdue: 0,
        };
        for (project_id, status, due) in rows {
            let entry = per_project.entry(project_id).or_default();
            entry.0.add(status, 1);
            total.by_status.add(status, 1);
            if status != TaskStatus::Done && due.is_some_and(|d| d < today) {
                entry.1 += 1;
                total.overdue += 1;
            }
        }
        let projects = projects
            .into_iter()
            .map(|(project_id, name, _)| {
                let (by_status, overdue) = per_project.remove(&project_id).unwrap_or_default();
                WorkloadProject {
                    project_id,
                    name,
                    by_status,
                    overdue,
                }
            })
            .collect();
        Ok(Workload {
            user_id,
            projects,
            total,
        })
    })
    .await
}

/// Counts over the whole server (admin only; not cached: a few grouped counts).
pub async fn overview(state: &Store) -> AppResult<Overview> {
    let db = &state.db.read;
    let user_rows: Vec<(Role, bool, i64)> = users::Entity::find()
        .select_only()
        .column(users::Column::Role)
        .column(users::Column::IsActive)
        .column_as(Expr::col(users::Column::Id).count(), "n")
        .group_by(users::Column::Role)
        .group_by(users::Column::IsActive)
        .into_tuple()
        .all(db)
        .await?;
    let mut users = UserOverview {
        total: 0,
        active: 0,
        by_role: RoleCounts::default(),
    };
    for (role, active, n) in user_rows {
        let n = u64::try_from(n).unwrap_or(0);
        users.total += n;
        if active {
            users.active += n;
        }
        match role {
            Role::Admin => users.by_role.admin += n,
            Role::Member => users.by_role.member += n,
        }
    }
    let project_rows: Vec<(ProjectStatus, i64)> = projects::Entity::find()
        .select_only()
        .column(projects::Column::Status)
        .column_as(Expr::col(projects::Column::Id).count(), "n")
        .group_by(projects::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_status = ProjectStatusCounts::default();
    for (status, n) in project_rows {
        let n = u64::try_from(n).unwrap_or(0);
        match status {
            ProjectStatus::Active => by_status.active += n,
            ProjectStatus::OnHold => by_status.on_hold += n,
            ProjectStatus::Completed => by_status.completed += n,
            ProjectStatus::Archived => by_status.archived += n,
        }
    }
    let task_rows: Vec<(TaskStatus, i64)> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Status)
        .column_as(Expr::col(tasks::Column::Id).count(), "n")
        .group_by(tasks::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut task_status = StatusCounts::default();
    for (status, n) in task_rows {
        task_status.add(status, u64::try_from(n).unwrap_or(0));
    }
    Ok(Overview {
        users,
        projects: ProjectOverview {
            total: by_status.active + by_status.on_hold + by_status.completed + by_status.archived,
            by_status,
        },
        tasks: TaskOverview {
            total: task_status.total(),
            by_status: task_status,
        },
    })
}
