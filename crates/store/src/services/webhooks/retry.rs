//! What follows a failed delivery: the backoff, the give-up deadline, and the owners told
//! when a webhook is disabled.

use chrono::{DateTime, TimeDelta, Utc};
use rand::RngExt as _;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::delivery::{After, Outcome};
use crate::models::project_members::{self, ProjectRole};
use crate::models::webhooks;
use crate::services::notifications::{self, NewNotification, NotificationKind};
use crate::state::Store;
use flowtrack_core::error::AppResult;

/// The longest wait between two attempts of one event.
const MAX_RETRY_DELAY: TimeDelta = TimeDelta::hours(6);

/// What follows a failed attempt number `attempt` (or a success).
pub(super) fn plan(
    state: &Store,
    hook: &webhooks::Model,
    outcome: &Outcome,
    attempt: i32,
    now: DateTime<Utc>,
) -> After {
    if outcome.succeeded() {
        return After::Delivered;
    }
    if outcome.status == Some(410) {
        return After::Disabled;
    }
    let config = &state.config.webhooks;
    let first = hook.first_failure_at.unwrap_or(now);
    let deadline = first + TimeDelta::from_std(config.give_up).unwrap_or(TimeDelta::days(3));
    let next = now + retry_delay(config.retry_base, attempt);
    if next > deadline {
        After::Disabled
    } else {
        After::RetryAt(next)
    }
}

/// Retry n waits base · 4^(n−1), ±20 %, at most 6 hours.
pub fn retry_delay(base: std::time::Duration, attempt: i32) -> TimeDelta {
    let exponent = u32::try_from(attempt.max(1) - 1).unwrap_or(0).min(20);
    let base_ms = base.as_millis().min(u128::from(u32::MAX)) as f64;
    let delay_ms = base_ms * 4f64.powi(exponent as i32);
    let jitter = rand::rng().random_range(0.8..=1.2);
    let ms = (delay_ms * jitter).min(MAX_RETRY_DELAY.num_milliseconds() as f64);
    TimeDelta::milliseconds(ms as i64)
}

pub(super) fn disabled_reason(outcome: &Outcome) -> String {
    match outcome.status {
        Some(410) => "The receiver answered 410 Gone.".into(),
        Some(status) => {
            format!("Deliveries kept failing (last answer: HTTP {status}); retries given up.")
        }
        None => format!(
            "Deliveries kept failing ({}); retries given up.",
            outcome.error.as_deref().unwrap_or("no answer")
        ),
    }
}

/// A `webhook.disabled` notification for every owner of the project (no actor).
pub(super) async fn notify_owners(
    txn: &sea_orm::DatabaseTransaction,
    hook: &webhooks::Model,
    now: DateTime<Utc>,
) -> AppResult<Vec<crate::bus::BusMessage>> {
    let owners: Vec<Uuid> = project_members::Entity::find()
        .select_only()
        .column(project_members::Column::UserId)
        .filter(project_members::Column::ProjectId.eq(hook.project_id))
        .filter(project_members::Column::Role.eq(ProjectRole::Owner))
        .into_tuple()
        .all(txn)
        .await?;
    let mut published = Vec::with_capacity(owners.len());
    for user_id in owners {
        let new = NewNotification {
            user_id,
            kind: NotificationKind::WebhookDisabled,
            project_id: hook.project_id,
            task_id: None,
            actor_id: None,
            message: format!("The webhook to {} was disabled.", hook.url),
            at: now,
        };
        published.push(notifications::store(txn, new).await?);
    }
    Ok(published)
}
