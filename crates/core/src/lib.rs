//! FlowTrack's foundation: configuration, the error type, security (tokens and passwords),
//! rate-limit counters, the clock, pagination cursors and the value rules of input fields.
//!
//! This crate sits at the bottom of the workspace: it cannot reach the storage layer
//! (`flowtrack-store`) or the HTTP layer (`flowtrack`), and it has no HTTP dependency.

pub mod client_addr;
pub mod clock;
pub mod config;
pub mod error;
pub mod limits;
pub mod memory;
pub mod net;
pub mod pagination;
pub mod patch;
pub mod priority;
pub mod redis;
pub mod security;
pub mod thread_cache;
pub mod time;
pub mod validate;
