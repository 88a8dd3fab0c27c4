//! Webhooks: a project's subscriptions and their delivery state.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub url: String,
    /// The event types delivered, as a JSON array (empty: every type).
    pub events: String,
    pub description: String,
    pub active: bool,
    pub disabled_reason: Option<String>,
    /// The signing secret (`whsec_…`): it signs, so it is kept, and never shown again.
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTimeUtc>,
    /// The seq of the last event of the project that was delivered or skipped.
    pub cursor_seq: i64,
    /// Failed attempts of the event after the cursor.
    pub attempt: i32,
    pub first_failure_at: Option<DateTimeUtc>,
    pub next_attempt_at: Option<DateTimeUtc>,
    /// The instance delivering this webhook, until `lease_until`.
    pub lease_owner: Option<Uuid>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The event types this webhook wants (empty: every type).
    pub fn event_filter(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }
}
