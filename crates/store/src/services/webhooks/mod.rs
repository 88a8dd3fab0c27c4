//! Webhooks: a project's owners subscribe URLs to its events. Here: the views and the
//! management routes' rules (owners and admins only: other members 403, non-members 404);
//! [`delivery`]: what the delivery worker reads and writes.

pub mod delivery;
mod retry;
mod views;

pub use views::{Webhook, WebhookDelivery, WebhookWithSecret};

use chrono::TimeDelta;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::policy::{self, ProjectAction};
use crate::models::webhook_deliveries::{self, DeliveryState};
use crate::models::{events, webhooks};
use crate::services::changes::ProjectTransaction;
use crate::services::event::EventType;
use crate::services::projects::visible;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::pagination::{Page, PageRequest};
use flowtrack_core::{net, security};

/// Webhooks one project may have.
pub const MAX_WEBHOOKS_PER_PROJECT: u64 = 20;
/// How long the secret before a rotation keeps signing.
pub const ROTATION_OVERLAP: TimeDelta = TimeDelta::hours(24);

pub struct NewWebhook {
    pub url: String,
    pub events: Vec<EventType>,
    pub description: String,
    pub active: bool,
}

#[derive(Default)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub events: Option<Vec<EventType>>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

fn events_json(events: &[EventType]) -> String {
    json!(events.iter().map(|e| e.as_str()).collect::<Vec<_>>()).to_string()
}

/// The URL's host must resolve to public addresses only (unless allowed): 422 on `url`.
async fn check_target(state: &Store, url: &str) -> AppResult<()> {
    let parsed = url::Url::parse(url).map_err(|_| AppError::field("url", "must be a URL"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| AppError::field("url", "must have a host"))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    net::resolve_allowed(host, port, state.config.webhooks.allow_private)
        .await
        .map(|_| ())
        .map_err(|reason| AppError::field("url", reason))
}

/// The project, when the caller owns it (or is an admin): members 403, others 404.
async fn owned(state: &Store, principal: &Principal, project_id: Uuid) -> AppResult<()> {
    let (_, role) = visible(state, principal, project_id).await?;
    policy::project_access(Some(role), ProjectAction::Own).check()
}

/// A webhook of a project the caller owns; 404 when there is none or it is not visible.
async fn find_owned(state: &Store, principal: &Principal, id: Uuid) -> AppResult<webhooks::Model> {
    let hook = webhooks::Entity::find_by_id(id)
        .one(&state.db.read)
        .await?
        .ok_or(AppError::NotFound)?;
    owned(state, principal, hook.project_id).await?;
    Ok(hook)
}

/// `POST /projects/{id}/webhooks`: delivery starts after the project's current seq.
pub async fn create(
    state: &Store,
    principal: &Principal,
    project_id: Uuid,
    new: NewWebhook,
) -> AppResult<WebhookWithSecret> {
    check_target(state, &new.url).await?;
    // The project's row lock: the seq read is exactly the last one before the webhook.
    let change =
        ProjectTransaction::begin(state, principal, project_id, ProjectAction::Own).await?;
    let held = webhooks::Entity::find()
        .filter(webhooks::Column::ProjectId.eq(project_id))
        .count(&change.txn)
        .await?;
    if held >= MAX_WEBHOOKS_PER_PROJECT {
        return Err(AppError::Conflict(format!(
            "At most {MAX_WEBHOOKS_PER_PROJECT} webhooks per project."
        )));
    }
    let secret = security::new_webhook_secret();
    let row = webhooks::ActiveModel {
        id: Set(Uuid::now_v7()),
        project_id: Set(project_id),
        url: Set(new.url),
        events: Set(events_json(&new.events)),
        description: Set(new.description),
        active: Set(new.active),
        disabled_reason: Set(None),
        secret: Set(secret.clone()),
        previous_secret: Set(None),
        previous_secret_until: Set(None),
        cursor_seq: Set(change.project.event_seq),
        attempt: Set(0),
        first_failure_at: Set(None),
        next_attempt_at: Set(None),
        lease_owner: Set(None),
        lease_until: Set(None),
        created_at: Set(change.now),
        updated_at: Set(change.now),
    }
    .insert(&change.txn)
    .await?;
    change.commit(state).await?;
    Ok(WebhookWithSecret {
        webhook: Webhook::from(&row),
        secret,
    })
}

/// `GET /projects/{id}/webhooks`, oldest first.
pub async fn list(
    state: &Store,
    principal: &Principal,
    project_id: Uuid,
) -> AppResult<Vec<Webhook>> {
    owned(state, principal, project_id).await?;
    let rows = webhooks::Entity::find()
        .filter(webhooks::Column::ProjectId.eq(project_id))
        .order_by_asc(webhooks::Column::Id)
        .all(&state.db.read)
        .await?;
    Ok(rows.iter().map(Webhook::from).collect())
}

/// `GET /webhooks/{id}`.
pub async fn get(state: &Store, principal: &Principal, id: Uuid) -> AppResult<Webhook> {
    Ok(Webhook::from(&find_owned(state, principal, id).await?))
}

/// `PATCH /webhooks/{id}`. Re-activating clears `disabled_reason` and restarts delivery
/// from the project's current seq (what happened meanwhile is never sent).
pub async fn update(
    state: &Store,
    principal: &Principal,
    id: Uuid,
    changes: WebhookChanges,
) -> AppResult<Webhook> {
    let hook = find_owned(state, principal, id).await?;
    if let Some(url) = &changes.url {
        check_target(state, url).await?;
    }
    let change =
        ProjectTransaction::begin(state, principal, hook.project_id, ProjectAction::Own).await?;
    let hook = webhooks::Entity::find_by_id(id)
        .one(&change.txn)
        .await?
        .ok_or(AppError::NotFound)?;
    let reactivating = changes.active == Some(true) && !hook.active;
    let mut row: webhooks::ActiveModel = hook.into();
    if let Some(url) = changes.url {
        row.url = Set(url);
    }
    if let Some(events) = &changes.events {
        row.events = Set(events_json(events));
    }
    if let Some(description) = changes.description {
        row.description = Set(description);
    }
    if let Some(active) = changes.active {
        row.active = Set(active);
    }
    if reactivating {
        row.disabled_reason = Set(None);
        row.cursor_seq = Set(change.project.event_seq);
        row.attempt = Set(0);
        row.first_failure_at = Set(None);
        row.next_attempt_at = Set(None);
    }
    row.updated_at = Set(change.now);
    let updated = row.update(&change.txn).await?;
    change.commit(state).await?;
    Ok(Webhook::from(&updated))
}

/// `DELETE /webhooks/{id}` (its delivery log goes with it).
pub async fn delete(state: &Store, principal: &Principal, id: Uuid) -> AppResult<()> {
    let hook = find_owned(state, principal, id).await?;
    webhooks::Entity::delete_by_id(hook.id)
        .exec(&state.db.write)
        .await?;
    Ok(())
}

/// `POST /webhooks/{id}/rotate-secret`: the old secret keeps signing for 24 hours.
pub async fn rotate_secret(
    state: &Store,
    principal: &Principal,
    id: Uuid,
) -> AppResult<WebhookWithSecret> {
    let hook = find_owned(state, principal, id).await?;
    let now = state.clock.now();
    let secret = security::new_webhook_secret();
    let mut row: webhooks::ActiveModel = hook.clone().into();
    row.previous_secret = Set(Some(hook.secret));
    row.previous_secret_until = Set(Some(now + ROTATION_OVERLAP));
    row.secret = Set(secret.clone());
    row.updated_at = Set(now);
    let updated = row.update(&state.db.write).await?;
    Ok(WebhookWithSecret {
        webhook: Webhook::from(&updated),
        secret,
    })
}

/// `POST /webhooks/{id}/ping`: queues a `webhook.ping`, outside the project's sequence and
/// whatever the webhook's filter or active flag.
pub async fn ping(state: &Store, principal: &Principal, id: Uuid) -> AppResult<()> {
    let hook = find_owned(state, principal, id).await?;
    let now = state.clock.now();
    let payload = json!({
        "type": "webhook.ping",
        "webhook_id": hook.id,
        "at": flowtrack_core::time::format(&now),
    });
    let message_id = format!("msg_{}", Uuid::now_v7().simple());
    queue(
        state,
        &hook,
        message_id,
        "webhook.ping",
        None,
        payload.to_string(),
        1,
    )
    .await
}

/// `GET /webhooks/{id}/deliveries`: one row per attempt, newest first.
pub async fn deliveries(
    state: &Store,
    principal: &Principal,
    id: Uuid,
    page: PageRequest,
) -> AppResult<Page<WebhookDelivery>> {
    let hook = find_owned(state, principal, id).await?;
    let mut query = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::WebhookId.eq(hook.id))
        .order_by_desc(webhook_deliveries::Column::Id);
    if let Some(after) = &page.after {
        let after = Uuid::parse_str(after)
            .map_err(|_| AppError::BadRequest("The cursor is not valid.".into()))?;
        query = query.filter(webhook_deliveries::Column::Id.lt(after));
    }
    let rows = query.limit(page.limit + 1).all(&state.db.read).await?;
    Ok(page.finish(rows, |d| d.id.to_string(), |d| WebhookDelivery::from(&d)))
}

/// `POST /webhooks/{id}/deliveries/{delivery_id}/redeliver`: sends that event again, out of
/// order, with the same `webhook-id`, as a new attempt.
pub async fn redeliver(
    state: &Store,
    principal: &Principal,
    id: Uuid,
    delivery_id: Uuid,
) -> AppResult<()> {
    let hook = find_owned(state, principal, id).await?;
    let original = webhook_deliveries::Entity::find_by_id(delivery_id)
        .filter(webhook_deliveries::Column::WebhookId.eq(hook.id))
        .one(&state.db.read)
        .await?
        .ok_or(AppError::NotFound)?;
    let payload = match (&original.payload, original.seq) {
        (Some(payload), _) => payload.clone(),
        (None, Some(seq)) => events::Entity::find_by_id((hook.project_id, seq))
            .one(&state.db.read)
            .await?
            .map(|e| e.payload)
            .ok_or_else(|| {
                AppError::Conflict("The event is no longer kept (event retention).".into())
            })?,
        (None, None) => return Err(AppError::NotFound),
    };
    let attempts = webhook_deliveries::Entity::find()
        .filter(webhook_deliveries::Column::WebhookId.eq(hook.id))
        .filter(webhook_deliveries::Column::MessageId.eq(original.message_id.as_str()))
        .count(&state.db.read)
        .await?;
    let attempt = i32::try_from(attempts + 1).unwrap_or(i32::MAX);
    let event_type = original.event_type.clone();
    queue(
        state,
        &hook,
        original.message_id,
        &event_type,
        original.seq,
        payload,
        attempt,
    )
    .await
}

/// Adds a pending attempt for the worker to send.
async fn queue(
    state: &Store,
    hook: &webhooks::Model,
    message_id: String,
    event_type: &str,
    seq: Option<i64>,
    payload: String,
    attempt: i32,
) -> AppResult<()> {
    webhook_deliveries::ActiveModel {
        id: Set(Uuid::now_v7()),
        webhook_id: Set(hook.id),
        message_id: Set(message_id),
        event_type: Set(event_type.to_string()),
        seq: Set(seq),
        payload: Set(Some(payload)),
        attempt: Set(attempt),
        state: Set(DeliveryState::Pending),
        status_code: Set(None),
        error: Set(None),
        duration_ms: Set(None),
        created_at: Set(state.clock.now()),
        next_attempt_at: Set(None),
    }
    .insert(&state.db.write)
    .await?;
    state.webhook_wake.notify_one();
    Ok(())
}
