//! Cross-cutting parts: configuration, errors, input checking, security, database, cache,
//! rate limits, clock and telemetry.

pub mod body;
pub mod cache;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod fields;
pub mod input;
pub mod limits;
pub mod memory;
pub mod pagination;
pub mod redis;
pub mod security;
pub mod server;
pub mod telemetry;
pub mod time;
pub mod validate;
