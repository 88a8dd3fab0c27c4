//! Tasks (kanban cards). `labels` holds the ordered label list as JSON text; `task_labels`
//! indexes it for filtering.

use sea_orm::entity::prelude::*;

// In board order (ApiEnum::ALL).
api_enum! {
    pub enum TaskStatus {
        Todo = "todo",
        InProgress = "in_progress",
        Review = "review",
        Done = "done",
    }
}

// In rank order (ApiEnum::ALL).
api_enum! {
    pub enum Priority {
        Low = "low",
        Medium = "medium",
        High = "high",
        Urgent = "urgent",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    pub labels: String,
    pub created_by: Uuid,
    pub due_date: Option<Date>,
    pub position: String,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The label list (stored as JSON text; a corrupt value reads as no labels).
    pub fn label_list(&self) -> Vec<String> {
        serde_json::from_str(&self.labels).unwrap_or_default()
    }
}
