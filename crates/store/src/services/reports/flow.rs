//! Each day's status counts, replayed from the activity log's status columns: the
//! cumulative flow and burndown reports.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{DateRange, cached, end_of, reportable};
use crate::auth::Principal;
use crate::models::activity_log;
use crate::models::tasks::TaskStatus;
use crate::services::event::EventType;
use crate::services::projects::StatusCounts;
use crate::state::Store;
use flowtrack_core::error::AppResult;

/// A task's status changes in time order (`None`: deleted).
type Timeline = Vec<(DateTime<Utc>, Option<TaskStatus>)>;

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

/// For every day of `range`, how many tasks were in each status at its end.
async fn daily_status_counts(
    state: &Store,
    id: Uuid,
    range: DateRange,
    today: NaiveDate,
) -> AppResult<Vec<(NaiveDate, StatusCounts)>> {
    let horizon = end_of(Ord::max(Ord::min(range.to, today), range.from));
    let timelines = timelines(state, id, horizon).await?;
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
    let diff = status_intervals(&timelines, &ends);
    let mut running = [0i64; 4];
    Ok(days
        .into_iter()
        .enumerate()
        .map(|(i, date)| {
            for (r, d) in running.iter_mut().zip(diff[i]) {
                *r += d;
            }
            let n = |k: usize| u64::try_from(running[k]).unwrap_or(0);
            let counts = StatusCounts {
                todo: n(0),
                in_progress: n(1),
                review: n(2),
                done: n(3),
            };
            (date, counts)
        })
        .collect())
}

/// Each task's status changes before `horizon`, from the activity log's `to_status`
/// column (creations and moves) and its deletions.
async fn timelines(
    state: &Store,
    id: Uuid,
    horizon: DateTime<Utc>,
) -> AppResult<HashMap<Uuid, Timeline>> {
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
    let mut timelines: HashMap<Uuid, Timeline> = HashMap::new();
    for (task_id, action, to_status, at) in rows {
        let Some(task_id) = task_id else { continue };
        let next = if action == deleted { None } else { to_status };
        timelines.entry(task_id).or_default().push((at, next));
    }
    Ok(timelines)
}

/// Difference arrays per status (todo, in_progress, review, done) over the days whose
/// value is read at `ends`: an interval [since, until) of one status counts on every day
/// whose end lies in (since, until]. Entry `i` adds to day `i` and every later day.
fn status_intervals(timelines: &HashMap<Uuid, Timeline>, ends: &[DateTime<Utc>]) -> Vec<[i64; 4]> {
    let mut diff = vec![[0i64; 4]; ends.len() + 1];
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
                None => ends.len(),
            };
            if first < last {
                diff[first][slot(*status)] += 1;
                diff[last][slot(*status)] -= 1;
            }
        }
    }
    diff
}

pub async fn cumulative_flow(
    state: &Store,
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
    state: &Store,
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
