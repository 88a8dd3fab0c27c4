//! Writing what a change records: its activity entry, the project's new `event_seq` and its
//! event — on PostgreSQL in one statement together with the change's own row write.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Value, Values};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, QueryFilter, Statement,
};
use uuid::Uuid;

use crate::models::tasks::TaskStatus;
use crate::models::{activity_log, events, projects};
use crate::services::event::EventType;
use flowtrack_core::error::AppResult;
use flowtrack_core::validate::ApiEnum;

/// The three rows of one recorded change: its activity entry, the project's new
/// `event_seq` and its event.
pub(super) struct LogRows<'a> {
    pub activity_id: Uuid,
    pub actor_id: Uuid,
    pub project_id: Uuid,
    pub task_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub kind: EventType,
    pub details: String,
    /// A task's status before and after the change (task created: after only; moved: both),
    /// so reports read columns instead of the details' JSON.
    pub from_status: Option<TaskStatus>,
    pub to_status: Option<TaskStatus>,
    pub seq: i64,
    pub payload: &'a str,
    pub at: DateTime<Utc>,
}

/// PostgreSQL: the three writes as one statement (data-modifying CTEs), preceded by the
/// change's own row write when there is one (`$1…$N` are that write's; `{row}` is replaced by
/// it). One round trip instead of up to four while the project's row lock is held
/// (`bench/`: every write of a project queues on that lock, so its throughput is 1 / the time
/// the lock is held). The CTEs see one snapshot and touch different tables, so their order
/// does not matter; foreign keys are checked at the end of the statement.
const RECORD_SQL: &str = "WITH {row}activity AS (\
    INSERT INTO activity_log (id, user_id, project_id, task_id, action, details, created_at, \
      from_status, to_status) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $10, $11)), \
  head AS (UPDATE projects SET event_seq = $8 WHERE id = $3) \
INSERT INTO events (project_id, seq, event_type, actor_id, payload, created_at, subject_id) \
VALUES ($3, $8, $5, $2, $9, $7, $12)";

/// [`RECORD_SQL`] after a row write with `offset` parameters of its own: the template's
/// placeholders shifted past them, then the row write spliced in.
fn record_sql(row_sql: Option<&str>, offset: usize) -> String {
    let row = row_sql.map_or(String::new(), |row| format!("row_change AS ({row}), "));
    shift_placeholders(RECORD_SQL, offset).replacen("{row}", &row, 1)
}

/// `$n` → `$(n + offset)` in SQL that has no string literals (our own template).
fn shift_placeholders(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut number = 0usize;
        while let Some(digit) = chars.peek().and_then(|d| d.to_digit(10)) {
            number = number * 10 + digit as usize;
            chars.next();
        }
        out.push_str(&(number + offset).to_string());
    }
    out
}

impl LogRows<'_> {
    fn values(self) -> [Value; 12] {
        [
            self.activity_id.into(),
            self.actor_id.into(),
            self.project_id.into(),
            self.task_id.into(),
            self.kind.as_str().into(),
            self.details.into(),
            self.at.into(),
            self.seq.into(),
            self.payload.into(),
            self.from_status.map(|s| s.as_str()).into(),
            self.to_status.map(|s| s.as_str()).into(),
            self.subject_id.into(),
        ]
    }

    /// Writes `row_write` (a statement built for this backend, if any) and the log rows.
    pub(super) async fn write(
        self,
        txn: &DatabaseTransaction,
        row_write: Option<Statement>,
    ) -> AppResult<()> {
        match txn.get_database_backend() {
            DbBackend::Postgres => self.write_in_one_statement(txn, row_write).await,
            _ => {
                if let Some(row_write) = row_write {
                    txn.execute_raw(row_write).await?;
                }
                self.write_step_by_step(txn).await
            }
        }
    }

    async fn write_in_one_statement(
        self,
        txn: &DatabaseTransaction,
        row_write: Option<Statement>,
    ) -> AppResult<()> {
        let (sql, mut values) = match row_write {
            Some(row) => {
                let Values(values) = row.values.unwrap_or(Values(Vec::new()));
                (record_sql(Some(&row.sql), values.len()), values)
            }
            None => (record_sql(None, 0), Vec::new()),
        };
        values.extend(self.values());
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
        Ok(())
    }

    /// SQLite (no data-modifying CTEs; statements are in-process calls, not round trips).
    async fn write_step_by_step(self, txn: &DatabaseTransaction) -> AppResult<()> {
        activity_log::ActiveModel {
            id: Set(self.activity_id),
            user_id: Set(self.actor_id),
            project_id: Set(self.project_id),
            task_id: Set(self.task_id),
            action: Set(self.kind.as_str().to_string()),
            details: Set(self.details),
            from_status: Set(self.from_status),
            to_status: Set(self.to_status),
            created_at: Set(self.at),
        }
        .insert(txn)
        .await?;
        projects::Entity::update_many()
            .col_expr(projects::Column::EventSeq, Expr::value(self.seq))
            .filter(projects::Column::Id.eq(self.project_id))
            .exec(txn)
            .await?;
        events::ActiveModel {
            project_id: Set(self.project_id),
            seq: Set(self.seq),
            event_type: Set(self.kind.as_str().to_string()),
            actor_id: Set(self.actor_id),
            payload: Set(self.payload.to_string()),
            subject_id: Set(self.subject_id),
            created_at: Set(self.at),
        }
        .insert(txn)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::record_sql;

    #[test]
    fn the_record_follows_the_row_write_with_its_placeholders_shifted() {
        let sql = record_sql(Some("UPDATE \"tasks\" SET \"a\" = $1 WHERE \"id\" = $2"), 2);
        assert!(sql.starts_with(
            "WITH row_change AS (UPDATE \"tasks\" SET \"a\" = $1 WHERE \"id\" = $2), activity AS ("
        ));
        assert!(sql.contains("VALUES ($3, $4, $5, $6, $7, $8, $9, $12, $13)"));
        assert!(sql.contains("SET event_seq = $10 WHERE id = $5"));
        assert!(sql.ends_with("VALUES ($5, $10, $7, $4, $11, $9, $14)"));
        assert!(!sql.contains("$0") && !sql.contains("$15"));
    }

    #[test]
    fn without_a_row_write_the_record_is_the_template() {
        let sql = record_sql(None, 0);
        assert!(sql.starts_with("WITH activity AS ("));
        assert!(sql.ends_with("VALUES ($3, $8, $5, $2, $9, $7, $12)"));
    }
}
