//! SeaORM entities and the queries of each aggregate. Nothing here sees HTTP.

pub mod project_members;
pub mod refresh_tokens;
pub mod settings;
pub mod users;
