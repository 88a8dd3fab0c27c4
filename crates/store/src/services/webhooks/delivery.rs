//! What the webhook delivery worker reads and writes. The worker (in the HTTP crate, which
//! makes the requests) claims webhooks with work due under a lease, so exactly one instance
//! delivers a webhook at a time; it delivers the events after each webhook's cursor in `seq`
//! order, and records every attempt in the same transaction that moves the cursor, so a crash
//! can repeat a delivery (same `webhook-id`) but never lose one.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, Query, QueryStatementBuilder, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use uuid::Uuid;

use super::retry::{disabled_reason, notify_owners, plan};
use crate::models::webhook_deliveries::{self, DeliveryState};
use crate::models::{events, projects, webhooks};
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};

/// How long a claim lasts without renewal: an instance that dies (or a restart of it, under
/// a new owner id) takes its webhooks back after this.
pub const LEASE: TimeDelta = TimeDelta::seconds(10);
/// Events read after a cursor at a time.
const EVENT_BATCH: u64 = 200;
/// The receiver's answer kept in `error` on failure, at most.
pub const ERROR_BYTES: usize = 1024;

/// An event to deliver: its seq, type and payload (the WebSocket message).
#[derive(Debug, Clone)]
pub struct Due {
    pub seq: i64,
    pub event_type: String,
    pub payload: String,
}

/// What one attempt gave.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// Why it failed: the connection error, or the start of the receiver's answer.
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The webhook's message id for an event: the same for every attempt.
pub fn message_id(webhook_id: Uuid, seq: i64) -> String {
    format!("msg_{}_{seq}", webhook_id.simple())
}

/// Webhooks with work due that no other instance holds (and that are not in `busy`, the
/// ones this instance is delivering now): active ones behind their project's head and not
/// waiting for a retry, and any with a ping or redelivery queued.
async fn candidates(
    state: &Store,
    owner: Uuid,
    busy: &[Uuid],
    now: DateTime<Utc>,
) -> AppResult<Vec<Uuid>> {
    use sea_orm::sea_query::ExprTrait as _;
    let free = Condition::any()
        .add(webhooks::Column::LeaseUntil.is_null())
        .add(webhooks::Column::LeaseUntil.lt(now))
        .add(webhooks::Column::LeaseOwner.eq(owner));
    let head = Query::select()
        .column(projects::Column::EventSeq)
        .from(projects::Entity)
        .and_where(
            Expr::col((projects::Entity, projects::Column::Id))
                .equals((webhooks::Entity, webhooks::Column::ProjectId)),
        )
        .to_owned();
    let behind = Condition::all()
        .add(webhooks::Column::Active.eq(true))
        .add(
            Condition::any()
                .add(webhooks::Column::NextAttemptAt.is_null())
                .add(webhooks::Column::NextAttemptAt.lte(now)),
        )
        .add(
            Expr::col((webhooks::Entity, webhooks::Column::CursorSeq)).lt(SimpleExpr::SubQuery(
                None,
                Box::new(head.into_sub_query_statement()),
            )),
        );
    let queued = Query::select()
        .column(webhook_deliveries::Column::WebhookId)
        .from(webhook_deliveries::Entity)
        .and_where(webhook_deliveries::Column::State.eq(DeliveryState::Pending))
        .to_owned();
    let ids: Vec<Uuid> = webhooks::Entity::find()
        .select_only()
        .column(webhooks::Column::Id)
        .filter(free)
        .filter(webhooks::Column::Id.is_not_in(busy.iter().copied()))
        .filter(
            Condition::any()
                .add(behind)
                .add(webhooks::Column::Id.in_subquery(queued)),
        )
        .limit(100)
        .into_tuple()
        .all(&state.db.read)
        .await?;
    Ok(ids)
}

/// Claims the webhooks with work due for `owner` (this instance) until `now + LEASE`. The
/// claim is one conditional update per webhook: of two instances racing, one matches. The
/// ids are returned, not the rows: whoever delivers a webhook reads it with [`load`] when it
/// starts, so it never works from a cursor read while an earlier run was still moving it.
pub async fn claim(state: &Store, owner: Uuid, busy: &[Uuid]) -> AppResult<Vec<Uuid>> {
    let now = state.clock.now();
    let mut claimed = Vec::new();
    for id in candidates(state, owner, busy, now).await? {
        if renew(state, owner, id).await? {
            claimed.push(id);
        }
    }
    Ok(claimed)
}

/// A webhook as it is now (from the primary).
pub async fn load(state: &Store, id: Uuid) -> AppResult<Option<webhooks::Model>> {
    Ok(webhooks::Entity::find_by_id(id)
        .one(&state.db.write)
        .await?)
}

/// Extends (or takes) the lease of a webhook; false when another instance holds it.
pub async fn renew(state: &Store, owner: Uuid, id: Uuid) -> AppResult<bool> {
    let now = state.clock.now();
    let result = webhooks::Entity::update_many()
        .col_expr(webhooks::Column::LeaseOwner, Expr::value(owner))
        .col_expr(webhooks::Column::LeaseUntil, Expr::value(now + LEASE))
        .filter(webhooks::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(webhooks::Column::LeaseUntil.is_null())
                .add(webhooks::Column::LeaseUntil.lt(now))
                .add(webhooks::Column::LeaseOwner.eq(owner)),
        )
        .exec(&state.db.write)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Gives a webhook back (the worker is done with it for now).
pub async fn release(state: &Store, owner: Uuid, id: Uuid) -> AppResult<()> {
    webhooks::Entity::update_many()
        .col_expr(
            webhooks::Column::LeaseOwner,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(
            webhooks::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(webhooks::Column::Id.eq(id))
        .filter(webhooks::Column::LeaseOwner.eq(owner))
        .exec(&state.db.write)
        .await?;
    Ok(())
}

/// The pings and redeliveries queued for a webhook, oldest first.
pub async fn queued(state: &Store, id: Uuid) -> AppResult<Vec<webhook_deliveries::Model>> {
    Ok(webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::WebhookId.eq(id))
        .filter(webhook_deliveries::Column::State.eq(DeliveryState::Pending))
        .order_by_asc(webhook_deliveries::Column::Id)
        .all(&state.db.read)
        .await?)
}

/// Records the attempt of a queued ping or redelivery (it is not retried).
pub async fn finish_queued(
    state: &Store,
    delivery: webhook_deliveries::Model,
    outcome: &Outcome,
) -> AppResult<()> {
    let mut row: webhook_deliveries::ActiveModel = delivery.into();
    row.state = Set(if outcome.succeeded() {
        DeliveryState::Succeeded
    } else {
        DeliveryState::Failed
    });
    row.status_code = Set(outcome.status.map(i32::from));
    row.error = Set(outcome.error.clone());
    row.duration_ms = Set(Some(outcome.duration_ms));
    row.update(&state.db.write).await?;
    Ok(())
}

/// The next events after the webhook's cursor that its filter wants, in order (up to a
/// batch), and whether more may follow at once (the batch read was full). Events it does not
/// want are passed over: when a whole batch holds none, the cursor moves past it; otherwise
/// delivering the wanted ones moves it.
pub async fn next_events(
    state: &Store,
    owner: Uuid,
    hook: &mut webhooks::Model,
) -> AppResult<(Vec<Due>, bool)> {
    let wanted = hook.event_filter();
    loop {
        let rows = events::Entity::find()
            .filter(events::Column::ProjectId.eq(hook.project_id))
            .filter(events::Column::Seq.gt(hook.cursor_seq))
            .order_by_asc(events::Column::Seq)
            .limit(EVENT_BATCH)
            .all(&state.db.read)
            .await?;
        let full = rows.len() as u64 == EVENT_BATCH;
        let Some(last) = rows.last().map(|e| e.seq) else {
            return Ok((Vec::new(), false));
        };
        let due: Vec<Due> = rows
            .into_iter()
            .filter(|e| wanted.is_empty() || wanted.contains(&e.event_type))
            .map(|e| Due {
                seq: e.seq,
                event_type: e.event_type,
                payload: e.payload,
            })
            .collect();
        if !due.is_empty() {
            return Ok((due, full));
        }
        move_cursor(state, owner, hook, last).await?;
    }
}

async fn move_cursor(
    state: &Store,
    owner: Uuid,
    hook: &mut webhooks::Model,
    seq: i64,
) -> AppResult<()> {
    webhooks::Entity::update_many()
        .col_expr(webhooks::Column::CursorSeq, Expr::value(seq))
        .filter(webhooks::Column::Id.eq(hook.id))
        .filter(webhooks::Column::LeaseOwner.eq(owner))
        .filter(webhooks::Column::CursorSeq.lt(seq))
        .exec(&state.db.write)
        .await?;
    hook.cursor_seq = seq;
    Ok(())
}

/// What became of a webhook after an attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    /// Delivered: the cursor moved past the event.
    Delivered,
    /// Failed: retried at this time.
    RetryAt(DateTime<Utc>),
    /// Failed for good (410, or retries given up): the webhook is disabled.
    Disabled,
}

/// One attempt of an event, to record.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub due: Due,
    pub outcome: Outcome,
}

/// Records attempts of the events after the cursor, in order, and moves the webhook on, in
/// one transaction (a run of successes costs one commit, not one each). Every attempt but
/// the last must have succeeded. A success moves the cursor; a failure schedules the retry,
/// or disables the webhook (410, or the next retry would start after the give-up deadline)
/// and notifies the project's owners. Nothing is recorded when this instance no longer
/// holds the webhook's lease or its cursor moved meanwhile (a conflict): those events are
/// delivered again, with the same `webhook-id`, by whoever holds it.
pub async fn record(
    state: &Store,
    owner: Uuid,
    hook: &mut webhooks::Model,
    attempts: &[Attempt],
) -> AppResult<After> {
    let now = state.clock.now();
    let cursor_before = hook.cursor_seq;
    let mut rows = Vec::with_capacity(attempts.len());
    let mut after = After::Delivered;
    for Attempt { due, outcome } in attempts {
        let attempt = hook.attempt + 1;
        after = plan(state, hook, outcome, attempt, now);
        rows.push(attempt_row(hook, due, outcome, attempt, &after, now));
        match &after {
            After::Delivered => {
                hook.cursor_seq = due.seq;
                clear_retry(hook);
            }
            After::RetryAt(at) => {
                hook.attempt = attempt;
                hook.first_failure_at = hook.first_failure_at.or(Some(now));
                hook.next_attempt_at = Some(*at);
                break;
            }
            After::Disabled => {
                hook.active = false;
                clear_retry(hook);
                hook.disabled_reason = Some(disabled_reason(outcome));
                break;
            }
        }
    }
    let txn = state.db.write.begin().await?;
    if !rows.is_empty() {
        webhook_deliveries::Entity::insert_many(rows)
            .exec(&txn)
            .await?;
    }
    let mut update = webhooks::Entity::update_many()
        .filter(webhooks::Column::Id.eq(hook.id))
        .filter(webhooks::Column::LeaseOwner.eq(owner))
        .filter(webhooks::Column::CursorSeq.eq(cursor_before));
    let mut published = Vec::new();
    if after == After::Disabled {
        update = update
            .col_expr(webhooks::Column::Active, Expr::value(false))
            .col_expr(
                webhooks::Column::DisabledReason,
                Expr::value(hook.disabled_reason.clone()),
            );
        published = notify_owners(&txn, hook, now).await?;
    }
    let moved = update
        .col_expr(webhooks::Column::CursorSeq, Expr::value(hook.cursor_seq))
        .col_expr(webhooks::Column::Attempt, Expr::value(hook.attempt))
        .col_expr(
            webhooks::Column::FirstFailureAt,
            Expr::value(hook.first_failure_at),
        )
        .col_expr(
            webhooks::Column::NextAttemptAt,
            Expr::value(hook.next_attempt_at),
        )
        .exec(&txn)
        .await?;
    if moved.rows_affected == 0 {
        // Another instance holds the webhook now (this one was too slow to renew), or its
        // cursor moved under this run: leave it to the holder rather than deliver beside
        // it, out of order.
        txn.rollback().await?;
        return Err(AppError::Conflict(
            "the webhook's lease or cursor changed".into(),
        ));
    }
    txn.commit().await?;
    state.bus.publish_all(published);
    Ok(after)
}

fn clear_retry(hook: &mut webhooks::Model) {
    hook.attempt = 0;
    hook.first_failure_at = None;
    hook.next_attempt_at = None;
}

/// The delivery log's row of an attempt of an event.
fn attempt_row(
    hook: &webhooks::Model,
    due: &Due,
    outcome: &Outcome,
    attempt: i32,
    after: &After,
    now: DateTime<Utc>,
) -> webhook_deliveries::ActiveModel {
    webhook_deliveries::ActiveModel {
        id: Set(Uuid::now_v7()),
        webhook_id: Set(hook.id),
        message_id: Set(message_id(hook.id, due.seq)),
        event_type: Set(due.event_type.clone()),
        seq: Set(Some(due.seq)),
        payload: Set(None),
        attempt: Set(attempt),
        state: Set(if outcome.succeeded() {
            DeliveryState::Succeeded
        } else {
            DeliveryState::Failed
        }),
        status_code: Set(outcome.status.map(i32::from)),
        error: Set(outcome.error.clone()),
        duration_ms: Set(Some(outcome.duration_ms)),
        created_at: Set(now),
        next_attempt_at: Set(match after {
            After::RetryAt(at) => Some(*at),
            _ => None,
        }),
    }
}

/// The secrets a delivery is signed with now: the current one, and the one before a
/// rotation during its 24-hour overlap.
pub fn signing_secrets(hook: &webhooks::Model, now: DateTime<Utc>) -> Vec<&str> {
    let mut secrets = vec![hook.secret.as_str()];
    if let (Some(previous), Some(until)) = (&hook.previous_secret, hook.previous_secret_until)
        && until > now
    {
        secrets.push(previous);
    }
    secrets
}
