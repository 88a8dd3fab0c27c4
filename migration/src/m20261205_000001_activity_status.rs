//! Typed columns for a task's status change in the activity log: `from_status` (a move's
//! origin) and `to_status` (a move's target, or the status a task was created in). Reports
//! read these columns instead of searching the `details` JSON text.
//!
//! Existing rows are backfilled from their `details` (`{"from","to"}` of `task.moved`,
//! `{"status"}` of `task.created`): the rows are grouped by their (from, to) pair, so the
//! backfill is a handful of `UPDATE … WHERE id IN (…)` statements, not one per row.

use std::collections::HashMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, FromQueryResult};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ActivityLog {
    Table,
    Id,
    Action,
    Details,
    FromStatus,
    ToStatus,
    ProjectId,
}

const STATUSES: [&str; 4] = ["todo", "in_progress", "review", "done"];
/// Ids per `UPDATE … IN (…)` (well under SQLite's bound-parameter limit).
const CHUNK: usize = 500;

#[derive(FromQueryResult)]
struct Row {
    id: uuid::Uuid,
    action: String,
    details: String,
}

/// The (from, to) statuses a logged change records, if it is a task creation or move.
fn statuses(action: &str, details: &str) -> Option<(Option<&'static str>, &'static str)> {
    let details: serde_json::Value = serde_json::from_str(details).ok()?;
    let known = |v: &serde_json::Value| STATUSES.iter().copied().find(|s| v.as_str() == Some(s));
    match action {
        "task.created" => Some((None, known(&details["status"])?)),
        "task.moved" => Some((Some(known(&details["from"])?), known(&details["to"])?)),
        _ => None,
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [ActivityLog::FromStatus, ActivityLog::ToStatus] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ActivityLog::Table)
                        .add_column(ColumnDef::new(column).text().null())
                        .take(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_activity_log_project_to_status")
                    .table(ActivityLog::Table)
                    .col(ActivityLog::ProjectId)
                    .col(ActivityLog::ToStatus)
                    .take(),
            )
            .await?;

        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let select = Query::select()
            .columns([ActivityLog::Id, ActivityLog::Action, ActivityLog::Details])
            .from(ActivityLog::Table)
            .and_where(Expr::col(ActivityLog::Action).is_in(["task.created", "task.moved"]))
            .take();
        let rows = Row::find_by_statement(backend.build(&select))
            .all(db)
            .await?;
        let mut groups: HashMap<(Option<&str>, &str), Vec<uuid::Uuid>> = HashMap::new();
        for row in &rows {
            if let Some(pair) = statuses(&row.action, &row.details) {
                groups.entry(pair).or_default().push(row.id);
            }
        }
        for ((from, to), ids) in groups {
            for chunk in ids.chunks(CHUNK) {
                let update = Query::update()
                    .table(ActivityLog::Table)
                    .value(ActivityLog::FromStatus, from)
                    .value(ActivityLog::ToStatus, to)
                    .and_where(Expr::col(ActivityLog::Id).is_in(chunk.iter().copied()))
                    .take();
                db.execute(&update).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_activity_log_project_to_status")
                    .table(ActivityLog::Table)
                    .to_owned(),
            )
            .await?;
        for column in [ActivityLog::ToStatus, ActivityLog::FromStatus] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ActivityLog::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::statuses;

    #[test]
    fn reads_the_statuses_of_creations_and_moves() {
        assert_eq!(
            statuses("task.created", r#"{"title":"x","status":"review"}"#),
            Some((None, "review"))
        );
        assert_eq!(
            statuses("task.moved", r#"{"from":"todo","to":"in_progress"}"#),
            Some((Some("todo"), "in_progress"))
        );
        assert_eq!(
            statuses("task.moved", r#"{"from":"todo","to":"nowhere"}"#),
            None
        );
        assert_eq!(statuses("task.updated", r#"{"changes":["title"]}"#), None);
        assert_eq!(statuses("task.created", "not json"), None);
    }
}
