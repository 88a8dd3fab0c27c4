//! `events.subject_id`: the user whose access to the project an event changes — the owner
//! of `project.created`, the member of `member.*`. The hub reads recent joins by this
//! column to reconcile its deliveries with the database when a bus message was lost (Redis
//! down or slow), instead of reading users out of the payload JSON.
//!
//! Existing rows are backfilled from their payload, in `UPDATE … WHERE (project_id, seq)`
//! statements grouped by subject.

use std::collections::HashMap;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, FromQueryResult};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    ProjectId,
    Seq,
    EventType,
    Payload,
    SubjectId,
}

const INDEX: &str = "idx_events_subject";

#[derive(FromQueryResult)]
struct Row {
    project_id: uuid::Uuid,
    seq: i64,
    event_type: String,
    payload: String,
}

/// The user an access-changing event is about, read from its stored payload.
fn subject(event_type: &str, payload: &str) -> Option<uuid::Uuid> {
    let payload: serde_json::Value = serde_json::from_str(payload).ok()?;
    let id = match event_type {
        "project.created" => &payload["data"]["project"]["owner_id"],
        t if t.starts_with("member.") => &payload["data"]["member"]["user"]["id"],
        _ => return None,
    };
    id.as_str()?.parse().ok()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(ColumnDef::new(Events::SubjectId).uuid().null())
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Events::Table)
                    .col(Events::SubjectId)
                    .take(),
            )
            .await?;

        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let select = Query::select()
            .columns([
                Events::ProjectId,
                Events::Seq,
                Events::EventType,
                Events::Payload,
            ])
            .from(Events::Table)
            .and_where(Expr::col(Events::EventType).is_in([
                "project.created",
                "member.added",
                "member.updated",
                "member.removed",
            ]))
            .take();
        let rows = Row::find_by_statement(backend.build(&select))
            .all(db)
            .await?;
        let mut by_subject: HashMap<uuid::Uuid, Vec<(uuid::Uuid, i64)>> = HashMap::new();
        for row in &rows {
            if let Some(user) = subject(&row.event_type, &row.payload) {
                by_subject
                    .entry(user)
                    .or_default()
                    .push((row.project_id, row.seq));
            }
        }
        for (user, events) in by_subject {
            for chunk in events.chunks(200) {
                let mut any = Condition::any();
                for (project_id, seq) in chunk {
                    any = any.add(
                        Expr::col(Events::ProjectId)
                            .eq(*project_id)
                            .and(Expr::col(Events::Seq).eq(*seq)),
                    );
                }
                let update = Query::update()
                    .table(Events::Table)
                    .value(Events::SubjectId, user)
                    .cond_where(any)
                    .take();
                db.execute(&update).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Events::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::SubjectId)
                    .take(),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::subject;

    #[test]
    fn reads_the_subject_of_access_events() {
        let owner = "0193a000-0000-7000-8000-000000000001";
        let created = format!(
            r#"{{"type":"project.created","data":{{"project":{{"owner_id":"{owner}"}}}}}}"#
        );
        assert_eq!(
            subject("project.created", &created).map(|u| u.to_string()),
            Some(owner.to_string())
        );
        let added = format!(r#"{{"data":{{"member":{{"user":{{"id":"{owner}"}}}}}}}}"#);
        assert_eq!(
            subject("member.added", &added).map(|u| u.to_string()),
            Some(owner.to_string())
        );
        assert_eq!(subject("task.created", &created), None);
        assert_eq!(subject("member.added", "not json"), None);
    }
}
