//! One integration-test binary: the real server on port 0, driven over HTTP (and WebSocket)
//! by real clients. SQLite by default; PostgreSQL + Redis when `FLOWTRACK_TEST_DATABASE_URL`
//! and `FLOWTRACK_TEST_REDIS_URL` are set (scripts/test does both runs).

mod helpers;

mod auth;
mod authz;
mod backup;
mod board;
mod cli;
mod comments_activity;
mod compression;
mod contract;
mod docs;
mod events;
mod http_core;
mod layers;
mod membership_live;
mod model;
mod nginx;
mod ops;
mod projects;
mod proxy;
mod realtime;
mod recovery;
mod redis_tls;
mod reports;
mod tasks;
mod tokens;
mod users;
mod webapp;
mod webhooks;
