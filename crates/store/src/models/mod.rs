//! SeaORM entities and the queries of each aggregate. Nothing here sees HTTP.

pub mod activity_log;
pub mod comments;
pub mod events;
pub mod notifications;
pub mod project_members;
pub mod projects;
pub mod refresh_tokens;
pub mod settings;
pub mod task_labels;
pub mod tasks;
pub mod users;
