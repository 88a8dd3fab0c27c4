//! One row per delivery attempt of a webhook; a `pending` row is a ping or a redelivery
//! waiting to be sent (its `payload` is what to send).

use sea_orm::entity::prelude::*;

api_enum! {
    /// Where an attempt stands.
    pub enum DeliveryState {
        Pending = "pending",
        Succeeded = "succeeded",
        Failed = "failed",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The `webhook-id` header: the same for every attempt of one event to one webhook.
    pub message_id: String,
    pub event_type: String,
    /// The event's seq (`None`: a ping).
    pub seq: Option<i64>,
    pub payload: Option<String>,
    pub attempt: i32,
    pub state: DeliveryState,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_at: DateTimeUtc,
    pub next_attempt_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
