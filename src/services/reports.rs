//! Reports: project summary, cumulative flow, burndown, personal workload, admin overview.
//!
//! Status history comes from the activity log (`task.created` with its status, `task.moved`
//! with `{from, to}`, `task.deleted`), written in the same transaction as each change, so
//! reports agree exactly with the board. Days are UTC dates; a day's value is the state at
//! the end of that day (today: now).
//!
//! Project reports are cached under a key that includes the project's `event_seq` (and the
//! date), so any change makes a new key: nothing is ever served stale, nothing needs
//! invalidating.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration as Days, NaiveDate, TimeZone, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::core::error::{AppError, AppResult, FieldError};
use crate::models::projects::ProjectStatus;
use crate::models::tasks::{self, Priority, TaskStatus};
use crate::models::users::{self, Role};
use crate::models::{activity_log, project_members, projects};
use crate::services::event::EventType;
use crate::services::projects::{StatusCounts, percent, visible};
use crate::state::AppState;

/// What the summary reads of each task: id, status, priority, assignee, due date, completion.
type TaskFacts = (
    Uuid,
    TaskStatus,
    Priority,
    Option<Uuid>,
    Option<NaiveDate>,
    Option<DateTime<Utc>>,
);

/// A task's status changes in time order (`None`: deleted).
type Timeline = Vec<(DateTime<Utc>, Option<TaskStatus>)>;

/// Longest report range, in days.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Default range: the 30 days ending today.
pub const DEFAULT_RANGE_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PriorityCounts {
    pub low: u64,
    pub medium: u64,
    pub high: u64,
    pub urgent: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssigneeCount {
    /// `null` for unassigned tasks.
    pub assignee_id: Option<Uuid>,
    pub total: u64,
    pub done: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WeekCount {
    /// ISO week, e.g. `2026-W48`.
    pub week: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    pub project_id: Uuid,
    pub total: u64,
    pub by_status: StatusCounts,
    pub by_priority: PriorityCounts,
    pub by_assignee: Vec<AssigneeCount>,
    pub overdue: u64,
    pub percent_complete: u64,
    /// From first entry into `in_progress` to entry into `done`, over done tasks that went
    /// through `in_progress`; `null` when there are none.
    pub median_cycle_time_seconds: Option<f64>,
    /// The last 8 ISO weeks, oldest first, this week last.
    pub completed_per_week: Vec<WeekCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FlowDay {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub todo: u64,
    pub in_progress: u64,
    pub review: u64,
    pub done: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CumulativeFlow {
    pub project_id: Uuid,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub days: Vec<FlowDay>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BurndownDay {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// Tasks not done at the end of the day.
    pub open: u64,
    pub done: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Burndown {
    pub project_id: Uuid,
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub days: Vec<BurndownDay>,
}

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

/// A validated `from`/`to` range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    /// Defaults to the 30 days ending today; `from > to` or more than 366 days → 422.
    pub fn new(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        today: NaiveDate,
    ) -> AppResult<Self> {
        let to = to.unwrap_or(today);
        let from = from.unwrap_or(to - Days::days(DEFAULT_RANGE_DAYS - 1));
        if from > to {
            return Err(AppError::Validation(vec![FieldError::new(
                "from",
                "must not be after to",
            )]));
        }
        if (to - from).num_days() + 1 > MAX_RANGE_DAYS {
            return Err(AppError::Validation(vec![FieldError::new(
                "to",
                "the range must not exceed 366 days",
            )]));
        }
        Ok(Self { from, to })
    }

    fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.from.iter_days().take_while(move |d| *d <= self.to)
    }
}

/// The instant a day ends (the next midnight, UTC).
fn end_of(day: NaiveDate) -> DateTime<Utc> {
    let next = day + Days::days(1);
    Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0).unwrap_or_default())
}

pub fn iso_week(date: NaiveDate) -> String {
    let week = date.iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

fn priority_add(counts: &mut PriorityCounts, p: Priority) {
    match p {
        Priority::Low => counts.low += 1,
        Priority::Medium => counts.medium += 1,
        Priority::High => counts.high += 1,
        Priority::Urgent => counts.urgent += 1,
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Reads a project the caller may report on, with its event seq (the cache key part).
async fn reportable(state: &AppState, principal: &Principal, id: Uuid) -> AppResult<i64> {
    let (project, _) = visible(state, principal, id).await?;
    Ok(project.event_seq)
}

/// Looks a report up in the cache, computing and storing it on a miss.
async fn cached<T, F>(state: &AppState, key: String, compute: F) -> AppResult<T>
where
    T: Serialize + serde::de::DeserializeOwned,
    F: std::future::Future<Output = AppResult<T>>,
{
    if let Some(hit) = state.reports.get(&key).await
        && let Ok(value) = serde_json::from_str(&hit)
    {
        metrics::counter!("flowtrack_report_cache_hits_total").increment(1);
        return Ok(value);
    }
    metrics::counter!("flowtrack_report_cache_misses_total").increment(1);
    let value = compute.await?;
    if let Ok(text) = serde_json::to_string(&value) {
        state.reports.put(key, text).await;
    }
    Ok(value)
}

pub async fn summary(state: &AppState, principal: &Principal, id: Uuid) -> AppResult<Summary> {
    let seq = reportable(state, principal, id).await?;
    let today = state.clock.now().date_naive();
    let key = format!("summary:{id}:{seq}:{today}");
    cached(state, key, compute_summary(state, id, today)).await
}

async fn compute_summary(state: &AppState, id: Uuid, today: NaiveDate) -> AppResult<Summary> {
    let db = &state.db.read;
    let rows: Vec<TaskFacts> = tasks::Entity::find()
        .select_only()
        .column(tasks::Column::Id)
        .column(tasks::Column::Status)
        .column(tasks::Column::Priority)
        .column(tasks::Column::AssigneeId)
        .column(tasks::Column::DueDate)
        .column(tasks::Column::CompletedAt)
        .filter(tasks::Column::ProjectId.eq(id))
        .into_tuple()
        .all(db)
        .await?;

    // First entry into in_progress per task (creation in in_progress counts).
    let entries: Vec<(Option<Uuid>, DateTime<Utc>)> = activity_log::Entity::find()
        .select_only()
        .column(activity_log::Column::TaskId)
        .column_as(
            Expr::expr(Func::min(Expr::col(activity_log::Column::CreatedAt))),
            "first",
        )
        .filter(activity_log::Column::ProjectId.eq(id))
        .filter(activity_log::Column::ToStatus.eq(TaskStatus::InProgress))
        .group_by(activity_log::Column::TaskId)
        .into_tuple()
        .all(db)
        .await?;
    let started: HashMap<Uuid, DateTime<Utc>> = entries
        .into_iter()
        .filter_map(|(task, at)| Some((task?, at)))
        .collect();

    let mut by_status = StatusCounts::default();
    let mut by_priority = PriorityCounts::default();
    let mut by_assignee: HashMap<Option<Uuid>, (u64, u64)> = HashMap::new();
    let mut overdue = 0;
    let mut cycle_times = Vec::new();
    let this_monday = today - Days::days(i64::from(today.weekday().num_days_from_monday()));
    let first_monday = this_monday - Days::weeks(7);
    let mut per_week = [0u64; 8];
    for (task_id, status, priority, assignee, due, completed_at) in &rows {
        by_status.add(*status, 1);
        priority_add(&mut by_priority, *priority);
        let entry = by_assignee.entry(*assignee).or_default();
        entry.0 += 1;
        let done = *status == TaskStatus::Done;
        if done {
            entry.1 += 1;
        }
        if !done && due.is_some_and(|d| d < today) {
            overdue += 1;
        }
        if done && let Some(completed) = completed_at {
            if let Some(start) = started.get(task_id).filter(|s| *s <= completed) {
                cycle_times.push((*completed - *start).num_milliseconds() as f64 / 1000.0);
            }
            let day = completed.date_naive();
            if day >= first_monday && day <= today {
                let index = ((day - first_monday).num_days() / 7) as usize;
                if let Some(slot) = per_week.get_mut(index) {
                    *slot += 1;
                }
            }
        }
    }
    let mut by_assignee: Vec<AssigneeCount> = by_assignee
        .into_iter()
        .map(|(assignee_id, (total, done))| AssigneeCount {
            assignee_id,
            total,
            done,
        })
        .collect();
    // Unassigned first, then by id: a stable order.
    by_assignee.sort_by_key(|a| a.assignee_id);
    let completed_per_week = per_week
        .iter()
        .enumerate()
        .map(|(i, count)| WeekCount {
            week: iso_week(first_monday + Days::weeks(i as i64)),
            count: *count,
        })
        .collect();
    let total = by_status.total();
    Ok(Summary {
        project_id: id,
        total,
        by_status,
        by_priority,
        by_assignee,
        overdue,
        percent_complete: percent(by_status.done, total),
        median_cycle_time_seconds: median(cycle_times),
        completed_per_week,
    })
}

/// For every day of `range`, how many tasks were in each status at its end.
async fn daily_status_counts(
    state: &AppState,
    id: Uuid,
    range: DateRange,
    today: NaiveDate,
) -> AppResult<Vec<(NaiveDate, StatusCounts)>> {
    let horizon = end_of(Ord::max(Ord::min(range.to, today), range.from));
    let deleted = EventType::TaskDeleted.as_str();
    /// (task, action, status after, at) of each logged creation, move and deletion.
    type StatusChange = (Option<Uuid>, String, Option<TaskStatus>, DateTime<Utc>);
    let rows: Vec<StatusChange> = activity_log::Entity::find()
        .select_only()
        .column(activity_log::Column::TaskId)
        .column(activity_log::Column::Action)
        .column(activity_log::Column::ToStatus)
        .column(activity_log::Column::CreatedAt)
        .filter(activity_log::Column::ProjectId.eq(id))
        .filter(
            Condition::any()
                .add(activity_log::Column::ToStatus.is_not_null())
                .add(activity_log::Column::Action.eq(deleted)),
        )
        .filter(activity_log::Column::CreatedAt.lt(horizon))
        .order_by_asc(activity_log::Column::CreatedAt)
        .order_by_asc(activity_log::Column::Id)
        .into_tuple()
        .all(&state.db.read)
        .await?;

    // Each task's timeline: (since, status or None once deleted).
    let mut timelines: HashMap<Uuid, Timeline> = HashMap::new();
    for (task_id, action, to_status, at) in rows {
        let Some(task_id) = task_id else { continue };
        let next = if action == deleted { None } else { to_status };
        timelines.entry(task_id).or_default().push((at, next));
    }

    let days: Vec<NaiveDate> = range.days().collect();
    // The instant each day's value is read at: its end, or now for today and later.
    let ends: Vec<DateTime<Utc>> = days
        .iter()
        .map(|d| {
            if *d >= today {
                DateTime::<Utc>::MAX_UTC
            } else {
                end_of(*d)
            }
        })
        .collect();
    // Difference arrays per status: an interval [since, until) of one status counts on
    // every day whose end lies in (since, until].
    let mut diff = vec![[0i64; 4]; days.len() + 1];
    let slot = |s: TaskStatus| match s {
        TaskStatus::Todo => 0,
        TaskStatus::InProgress => 1,
        TaskStatus::Review => 2,
        TaskStatus::Done => 3,
    };
    for timeline in timelines.values() {
        for (i, (since, status)) in timeline.iter().enumerate() {
            let Some(status) = status else { continue };
            let until = timeline.get(i + 1).map(|(at, _)| *at);
            // first day whose end is after `since`
            let first = ends.partition_point(|end| end <= since);
            // days whose end is at or before `until` keep counting
            let last = match until {
                Some(until) => ends.partition_point(|end| *end <= until),
                None => days.len(),
            };
            if first < last {
                diff[first][slot(*status)] += 1;
                diff[last][slot(*status)] -= 1;
            }
        }
    }
    let mut running = [0i64; 4];
    Ok(days
        .into_iter()
        .enumerate()
        .map(|(i, date)| {
            for (r, d) in running.iter_mut().zip(diff[i]) {
                *r += d;
            }
            let n = |k: usize| u64::try_from(running[k]).unwrap_or(0);
            (
                date,
                StatusCounts {
                    todo: n(0),
                    in_progress: n(1),
                    review: n(2),
                    done: n(3),
                },
            )
        })
        .collect())
}

pub async fn cumulative_flow(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> AppResult<CumulativeFlow> {
    let today = state.clock.now().date_naive();
    let range = DateRange::new(from, to, today)?;
    let seq = reportable(state, principal, id).await?;
    let key = format!("cfd:{id}:{seq}:{today}:{}:{}", range.from, range.to);
    cached(state, key, async {
        let days = daily_status_counts(state, id, range, today)
            .await?
            .into_iter()
            .map(|(date, c)| FlowDay {
                date,
                todo: c.todo,
                in_progress: c.in_progress,
                review: c.review,
                done: c.done,
            })
            .collect();
        Ok(CumulativeFlow {
            project_id: id,
            from: range.from,
            to: range.to,
            days,
        })
    })
    .await
}

pub async fn burndown(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> AppResult<Burndown> {
    let today = state.clock.now().date_naive();
    let range = DateRange::new(from, to, today)?;
    let seq = reportable(state, principal, id).await?;
    let key = format!("burndown:{id}:{seq}:{today}:{}:{}", range.from, range.to);
    cached(state, key, async {
        let days = daily_status_counts(state, id, range, today)
            .await?
            .into_iter()
            .map(|(date, c)| BurndownDay {
                date,
                open: c.todo + c.in_progress + c.review,
                done: c.done,
            })
            .collect();
        Ok(Burndown {
            project_id: id,
            from: range.from,
            to: range.to,
            days,
        })
    })
    .await
}

/// The tasks assigned to me (done included) in the projects I am a member of.
pub async fn workload(state: &AppState, principal: &Principal) -> AppResult<Workload> {
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
pub async fn overview(state: &AppState) -> AppResult<Overview> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn ranges_default_and_are_bounded() {
        let today = date("2026-11-26");
        let r = DateRange::new(None, None, today).expect("default");
        assert_eq!((r.from, r.to), (date("2026-10-28"), today));
        assert_eq!(r.days().count(), 30);
        assert!(DateRange::new(Some(date("2026-11-27")), Some(today), today).is_err());
        assert!(DateRange::new(Some(date("2025-11-25")), Some(today), today).is_err());
        assert!(DateRange::new(Some(date("2025-11-26")), Some(today), today).is_ok());
    }

    #[test]
    fn iso_weeks_and_medians() {
        assert_eq!(iso_week(date("2026-11-26")), "2026-W48");
        assert_eq!(iso_week(date("2027-01-01")), "2026-W53");
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
