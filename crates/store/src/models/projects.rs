//! Projects. `event_seq` is the seq of the project's latest event (see `events`).

use sea_orm::entity::prelude::*;

api_enum! {
    pub enum ProjectStatus {
        Active = "active",
        OnHold = "on_hold",
        Completed = "completed",
        Archived = "archived",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub status: ProjectStatus,
    pub owner_id: Uuid,
    pub start_date: Option<Date>,
    pub due_date: Option<Date>,
    pub event_seq: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
