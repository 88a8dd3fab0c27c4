//! Business rules, authorization and transactions. Services take the caller (`Principal`)
//! and the state; they never see HTTP types.

pub mod activity;
pub mod auth;
pub mod changes;
pub mod charts;
pub mod comments;
pub mod event;
pub mod members;
pub mod notifications;
pub mod position;
pub mod projects;
pub mod reports;
pub mod tasks;
pub mod tokens;
pub mod users;
pub mod webhooks;
