//! My workload (the tasks assigned to me) and the admin overview.

use std::collections::HashMap;

use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
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

/// The tasks assigned to me (done included) in the projects I am a member of, cached under
/// the day and every project's `event_seq`.
pub async fn workload(state: &Store, principal: &Principal) -> AppResult<Workload> {
    let db = &state.db.read;
    let today = state.clock.now().date_naive();
    let user_id = principal.id();
    let projects = my_projects(db, principal).await?;
    let version: String = projects
        .iter()
        .map(|(id, _, seq)| format!("{id}:{seq}"))
        .collect::<Vec<_>>()
        .join(",");
    let key = format!("workload:{user_id}:{today}:{version}");
    cached(state, key, async move {
        let ids: Vec<Uuid> = projects.iter().map(|p| p.0).collect();
        let rows = assigned_tasks(db, user_id, ids).await?;
        Ok(count_workload(user_id, projects, rows, today))
    })
    .await
}

/// The projects the caller is a member of (id, name, `event_seq`), by name; a token bound to
/// a project: that one only.
async fn my_projects(
    db: &impl ConnectionTrait,
    principal: &Principal,
) -> AppResult<Vec<(Uuid, String, i64)>> {
    let user_id = principal.id();
    let mut projects: Vec<(Uuid, String, i64)> = projects::Entity::find()
        .select_only()
        .column(projects::Column::Id)
        .column(projects::Column::Name)
        .column(projects::Column::EventSeq)
        .filter(projects::Column::Id.in_subquery(project_members::project_ids_of(user_id)))
        .apply_if(principal.bound_project(), |q, bound| {
            q.filter(projects::Column::Id.eq(bound))
        })
        .into_tuple()
        .all(db)
        .await?;
    projects.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    Ok(projects)
}

/// (project, status, due date) of the tasks assigned to the user in these projects.
async fn assigned_tasks(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    project_ids: Vec<Uuid>,
) -> AppResult<Vec<(Uuid, TaskStatus, Option<NaiveDate>)>> {
    if project_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(tasks::Entity::find()
        .select_only()
        .column(tasks::Column::ProjectId)
        .column(tasks::Column::Status)
        .column(tasks::Column::DueDate)
        .filter(tasks::Column::AssigneeId.eq(user_id))
        .filter(tasks::Column::ProjectId.is_in(project_ids))
        .into_tuple()
        .all(db)
        .await?)
}

fn count_workload(
    user_id: Uuid,
    projects: Vec<(Uuid, String, i64)>,
    rows: Vec<(Uuid, TaskStatus, Option<NaiveDate>)>,
    today: NaiveDate,
) -> Workload {
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
    Workload {
        user_id,
        projects,
        total,
    }
}

/// Counts over the whole server (admin only; not cached: a few grouped counts).
pub async fn overview(state: &Store) -> AppResult<Overview> {
    let db = &state.db.read;
    let projects = project_overview(db).await?;
    let task_status = task_counts(db).await?;
    Ok(Overview {
        users: user_overview(db).await?,
        projects,
        tasks: TaskOverview {
            total: task_status.total(),
            by_status: task_status,
        },
    })
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

async fn user_overview(db: &impl ConnectionTrait) -> AppResult<UserOverview> {
    let rows: Vec<(Role, bool, i64)> = users::Entity::find()
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
    for (role, active, n) in rows {
        let n = count(n);
        users.total += n;
        if active {
            users.active += n;
        }
        match role {
            Role::Admin => users.by_role.admin += n,
            Role::Member => users.by_role.member += n,
        }
    }
    Ok(users)
}

async fn project_overview(db: &impl ConnectionTrait) -> AppResult<ProjectOverview> {
    let rows: Vec<(ProjectStatus, i64)> = projects::Entity::find()
        .select_only()
        .column(projects::Column::Status)
        .column_as(Expr::col(projects::Column::Id).count(), "n")
        .group_by(projects::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_status = ProjectStatusCounts::default();
    for (status, n) in rows {
        let n = count(n);
        match status {
            ProjectStatus::Active => by_status.active += n,
            ProjectStatus::OnHold => by_status.on_hold += n,
            ProjectStatus::Completed => by_status.completed += n,
            ProjectStatus::Archived => by_status.archived += n,
        }
    }
    Ok(ProjectOverview {
        total: by_status.active + by_status.on_hold + by_status.completed + by_status.archived,
        by_status,
    })
}

async fn task_counts(db: &impl ConnectionTrait) -> AppResult<StatusCounts> {
    let rows: Vec<(TaskStatus, i64)> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Status)
        .column_as(Expr::col(tasks::Column::Id).count(), "n")
        .group_by(tasks::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_status = StatusCounts::default();
    for (status, n) in rows {
        by_status.add(status, count(n));
    }
    Ok(by_status)
}
