//! FlowTrack's data and rules: SeaORM entities (`models`), the services that apply the
//! rules (authorization, validation of references, transactions, events), the caches, the
//! event bus and the background duties of an instance.
//!
//! Layers inside: `services` → `models`; `auth` holds the caller and the pure policy rules.
//! This crate has no HTTP dependency; the HTTP layer (`flowtrack`) calls the services with a
//! [`Store`](state::Store), and the real-time layer reads the log through [`feed`].

pub mod auth;
pub mod backup;
pub mod bus;
pub mod cache;
pub mod db;
pub mod feed;
pub mod maintenance;
pub mod models;
pub mod services;
pub mod state;
