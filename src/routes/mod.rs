//! HTTP handlers only: extract, call a service, pick a status code. One router per module,
//! merged in `app.rs`; the OpenAPI annotations live here.

pub mod activity;
pub mod auth;
pub mod comments;
pub mod docs;
pub mod notifications;
pub mod ops;
pub mod projects;
pub mod reports;
pub mod schema;
pub mod tasks;
pub mod tokens;
pub mod users;
pub mod webapp;
pub mod webhooks;

pub use crate::http::path::{PathId, PathIds};

use crate::http::query::{Cursor, Limit, query_params};

query_params! {
    /// The query string of a list that only pages.
    pub struct PageParams {
        /// 1–200, default 50.
        #[param(schema_with = schema::limit)]
        pub limit: Option<Limit>,
        #[param(schema_with = schema::cursor)]
        pub cursor: Option<Cursor>,
    }
}
