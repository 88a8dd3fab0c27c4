//! FlowTrack: a real-time project and task tracker. This crate is the HTTP layer: routes,
//! extractors, the WebSocket endpoint and its hub, the embedded web app and the CLI.
//!
//! Layers, each a crate so that the direction is a build error to break:
//! `flowtrack` (this crate: HTTP, real-time, CLI; no SeaORM) → `flowtrack-store` (entities,
//! services, caches, event bus; no HTTP) → `flowtrack-core` (configuration, errors, security,
//! input rules; knows neither). See `docs/architecture.md`.

pub mod app;
pub mod auth;
pub mod cli;
pub mod http;
pub mod realtime;
pub mod routes;
pub mod state;
pub mod webhooks;
