//! FlowTrack: a real-time project and task tracker backend.
//!
//! Layers: `routes` (HTTP) → `services` (rules, authorization, transactions) → `models`
//! (entities and queries); `realtime` (event bus, hub, WebSocket); `core` (configuration,
//! errors, security, database, cache, telemetry).

pub mod app;
pub mod auth;
pub mod cli;
pub mod core;
pub mod models;
pub mod realtime;
pub mod routes;
pub mod services;
pub mod state;
