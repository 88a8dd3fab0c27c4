//! The activity log: one row per change, written in the change's transaction.

use sea_orm::entity::prelude::*;

use crate::models::tasks::TaskStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "activity_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub project_id: Uuid,
    pub task_id: Option<Uuid>,
    pub action: String,
    /// JSON text.
    pub details: String,
    /// The task's status before the change (`task.moved`).
    pub from_status: Option<TaskStatus>,
    /// The task's status after the change (`task.created`, `task.moved`).
    pub to_status: Option<TaskStatus>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
