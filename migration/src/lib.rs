//! Database schema of FlowTrack: one migration set for SQLite and PostgreSQL.
//!
//! Migrations are written with SeaQuery's schema builder (never raw SQL) so the same
//! definition produces the right DDL for either backend — except PostgreSQL's functions
//! (`m20261205_000006_lock_project`, `m20261205_000007_task_statements`), which SeaQuery cannot
//! express.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_initial;
mod m20261205_000001_activity_status;
mod m20261205_000002_event_subject;
mod m20261205_000003_api_tokens;
mod m20261205_000004_webhooks;
mod m20261205_000005_session_epoch;
mod m20261205_000006_lock_project;
mod m20261205_000007_task_statements;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_initial::Migration),
            Box::new(m20261205_000001_activity_status::Migration),
            Box::new(m20261205_000002_event_subject::Migration),
            Box::new(m20261205_000003_api_tokens::Migration),
            Box::new(m20261205_000004_webhooks::Migration),
            Box::new(m20261205_000005_session_epoch::Migration),
            Box::new(m20261205_000006_lock_project::Migration),
            Box::new(m20261205_000007_task_statements::Migration),
        ]
    }
}
