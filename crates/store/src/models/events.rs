//! The per-project event log (outbox): exactly one row per committed change, numbered by a
//! gapless per-project `seq`. `payload` is the exact WebSocket message (JSON text).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub event_type: String,
    pub actor_id: Uuid,
    pub payload: String,
    /// The user whose access the event changes (project.created: the owner; member.*: the
    /// member).
    pub subject_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
