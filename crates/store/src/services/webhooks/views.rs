//! Webhooks and their deliveries as the API shows them (never a secret, except once).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::models::webhook_deliveries::{self, DeliveryState};
use crate::models::webhooks;

/// A webhook as its project's owners see it (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub project_id: Uuid,
    #[schema(example = "https://hooks.example.com/flowtrack")]
    pub url: String,
    /// The event types delivered; empty: every type.
    #[schema(example = json!(["task.created", "task.moved"]))]
    pub events: Vec<String>,
    pub description: String,
    pub active: bool,
    /// Why delivery stopped (`410 Gone`, or retries given up); `null` when active or paused
    /// by hand.
    pub disabled_reason: Option<String>,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

impl From<&webhooks::Model> for Webhook {
    fn from(m: &webhooks::Model) -> Self {
        Self {
            id: m.id,
            project_id: m.project_id,
            url: m.url.clone(),
            events: m.event_filter(),
            description: m.description.clone(),
            active: m.active,
            disabled_reason: m.disabled_reason.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A webhook and its signing secret, shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    pub webhook: Webhook,
    /// `whsec_` + base64 of 32 random bytes: the Standard Webhooks signing key.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: Uuid,
    #[schema(example = "task.moved")]
    pub event_type: String,
    /// The event's seq; `null` for a ping.
    pub seq: Option<i64>,
    pub attempt: i32,
    pub state: DeliveryState,
    pub status_code: Option<i32>,
    /// Why it failed (the first 1 KiB of the receiver's answer, or the connection error).
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// When the event is tried again, after a failed attempt.
    #[serde(serialize_with = "flowtrack_core::time::rfc3339_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl From<&webhook_deliveries::Model> for WebhookDelivery {
    fn from(m: &webhook_deliveries::Model) -> Self {
        Self {
            id: m.id,
            event_type: m.event_type.clone(),
            seq: m.seq,
            attempt: m.attempt,
            state: m.state,
            status_code: m.status_code,
            error: m.error.clone(),
            duration_ms: m.duration_ms,
            created_at: m.created_at,
            next_attempt_at: m.next_attempt_at,
        }
    }
}
