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
//!
//! - [`summary`]: counts, cycle time, weekly completions;
//! - [`flow`]: each day's status counts (cumulative flow, burndown);
//! - [`workload`]: my assigned tasks, and the admin overview;
//! - [`export`]: each report as a CSV table or an SVG chart;
//! - here: date ranges and the report cache.

pub mod export;
mod flow;
mod summary;
mod workload;

pub use flow::{Burndown, BurndownDay, CumulativeFlow, FlowDay, burndown, cumulative_flow};
pub use summary::{AssigneeCount, PriorityCounts, Summary, WeekCount, summary};
pub use workload::{
    Overview, ProjectOverview, ProjectStatusCounts, RoleCounts, TaskOverview, UserOverview,
    Workload, WorkloadProject, WorkloadTotal, overview, workload,
};

use chrono::{DateTime, Datelike, Duration as Days, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Principal;
use crate::services::projects::visible;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult, FieldError};

/// Longest report range, in days.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Default range: the 30 days ending today.
pub const DEFAULT_RANGE_DAYS: i64 = 30;

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

/// Reads a project the caller may report on, with its event seq (the cache key part).
async fn reportable(state: &Store, principal: &Principal, id: Uuid) -> AppResult<i64> {
    let (project, _) = visible(state, principal, id).await?;
    Ok(project.event_seq)
}

/// Looks a report up in the cache, computing and storing it on a miss.
async fn cached<T, F>(state: &Store, key: String, compute: F) -> AppResult<T>
where
    T: Serialize + serde::de::DeserializeOwned,
    F: std::future::Future<Output = AppResult<T>>,
{
    if let Some(hit) = state.report_cache.get(&key).await
        && let Ok(value) = serde_json::from_str(&hit)
    {
        metrics::counter!("flowtrack_report_cache_hits_total").increment(1);
        return Ok(value);
    }
    metrics::counter!("flowtrack_report_cache_misses_total").increment(1);
    let value = compute.await?;
    if let Ok(text) = serde_json::to_string(&value) {
        state.report_cache.put(key, text).await;
    }
    Ok(value)
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
    fn iso_weeks() {
        assert_eq!(iso_week(date("2026-11-26")), "2026-W48");
        assert_eq!(iso_week(date("2027-01-01")), "2026-W53");
    }
}
