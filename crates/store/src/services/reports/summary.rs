//! The project summary: counts by status, priority and assignee, overdue tasks, the median
//! cycle time (first entry into `in_progress` to entry into `done`) and weekly completions.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration as Days, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{cached, iso_week, reportable};
use crate::auth::Principal;
use crate::models::activity_log;
use crate::models::tasks::{self, Priority, TaskStatus};
use crate::services::projects::{StatusCounts, percent};
use crate::state::Store;
use flowtrack_core::error::AppResult;

/// What the summary reads of each task: id, status, priority, assignee, due date, completion.
type TaskFacts = (
    Uuid,
    TaskStatus,
    Priority,
    Option<Uuid>,
    Option<NaiveDate>,
    Option<DateTime<Utc>>,
);

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

pub async fn summary(state: &Store, principal: &Principal, id: Uuid) -> AppResult<Summary> {
    let seq = reportable(state, principal, id).await?;
    let today = state.clock.now().date_naive();
    let key = format!("summary:{id}:{seq}:{today}");
    cached(state, key, compute_summary(state, id, today)).await
}

async fn compute_summary(state: &Store, id: Uuid, today: NaiveDate) -> AppResult<Summary> {
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
    let started = first_starts(state, id).await?;
    let mut tally = Tally::new(today);
    for facts in &rows {
        tally.add(facts, &started);
    }
    Ok(tally.finish(id))
}

/// Each task's first entry into `in_progress` (creation in `in_progress` counts).
async fn first_starts(state: &Store, id: Uuid) -> AppResult<HashMap<Uuid, DateTime<Utc>>> {
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
        .all(&state.db.read)
        .await?;
    Ok(entries
        .into_iter()
        .filter_map(|(task, at)| Some((task?, at)))
        .collect())
}

/// The summary's counters, fed one task at a time.
struct Tally {
    today: NaiveDate,
    /// Monday of the oldest of the 8 weeks counted.
    first_monday: NaiveDate,
    by_status: StatusCounts,
    by_priority: PriorityCounts,
    /// (total, done) per assignee.
    by_assignee: HashMap<Option<Uuid>, (u64, u64)>,
    overdue: u64,
    cycle_times: Vec<f64>,
    per_week: [u64; 8],
}

impl Tally {
    fn new(today: NaiveDate) -> Self {
        let this_monday = today - Days::days(i64::from(today.weekday().num_days_from_monday()));
        Self {
            today,
            first_monday: this_monday - Days::weeks(7),
            by_status: StatusCounts::default(),
            by_priority: PriorityCounts::default(),
            by_assignee: HashMap::new(),
            overdue: 0,
            cycle_times: Vec::new(),
            per_week: [0; 8],
        }
    }

    fn add(&mut self, facts: &TaskFacts, started: &HashMap<Uuid, DateTime<Utc>>) {
        let (task_id, status, priority, assignee, due, completed_at) = facts;
        self.by_status.add(*status, 1);
        priority_add(&mut self.by_priority, *priority);
        let done = *status == TaskStatus::Done;
        let entry = self.by_assignee.entry(*assignee).or_default();
        entry.0 += 1;
        entry.1 += u64::from(done);
        if !done && due.is_some_and(|d| d < self.today) {
            self.overdue += 1;
        }
        if done && let Some(completed) = completed_at {
            if let Some(start) = started.get(task_id).filter(|s| *s <= completed) {
                let seconds = (*completed - *start).num_milliseconds() as f64 / 1000.0;
                self.cycle_times.push(seconds);
            }
            let day = completed.date_naive();
            if day >= self.first_monday && day <= self.today {
                let index = ((day - self.first_monday).num_days() / 7) as usize;
                if let Some(slot) = self.per_week.get_mut(index) {
                    *slot += 1;
                }
            }
        }
    }

    fn finish(self, project_id: Uuid) -> Summary {
        let mut by_assignee: Vec<AssigneeCount> = self
            .by_assignee
            .into_iter()
            .map(|(assignee_id, (total, done))| AssigneeCount {
                assignee_id,
                total,
                done,
            })
            .collect();
        // Unassigned first, then by id: a stable order.
        by_assignee.sort_by_key(|a| a.assignee_id);
        let completed_per_week = self
            .per_week
            .iter()
            .enumerate()
            .map(|(i, count)| WeekCount {
                week: iso_week(self.first_monday + Days::weeks(i as i64)),
                count: *count,
            })
            .collect();
        let total = self.by_status.total();
        Summary {
            project_id,
            total,
            by_status: self.by_status,
            by_priority: self.by_priority,
            by_assignee,
            overdue: self.overdue,
            percent_complete: percent(self.by_status.done, total),
            median_cycle_time_seconds: median(self.cycle_times),
            completed_per_week,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
