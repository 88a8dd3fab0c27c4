//! The write path of every change clients must see (docs/architecture.md, "The write path"):
//!
//! 1. begin a transaction on the write connection and lock the project row
//!    (`SELECT … FOR UPDATE` on PostgreSQL; SQLite runs one writer at a time),
//! 2. check the caller's permission,
//! 3. apply the change and [`ProjectTransaction::record`] it: the activity row, `event_seq + 1`
//!    on the project and the `events` row with that seq — all in the same transaction,
//! 4. commit, then publish the events on the bus.
//!
//! So a project's `seq` is gapless and in commit order, and an event exists iff its change
//! committed.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, QueryFilter, QuerySelect, Statement, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::policy::{self, ProjectAction};
use crate::bus::{BusMessage, Event};
use crate::models::project_members::{self, ProjectRole};
use crate::models::tasks::TaskStatus;
use crate::models::{activity_log, events, projects};
use crate::services::event::{EventData, EventType, ProjectEvent};
use crate::services::notifications::{self, NewNotification, NotificationKind};
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::validate::ApiEnum;

/// What one change writes to the project's log: its event's data and its activity
/// entry's `details`.
pub struct ChangeRecord {
    pub data: EventData,
    /// The activity entry's `details`.
    pub details: Value,
}

/// A unit of work on one project: its transaction with the project row locked, the caller's
/// role, and the events to publish once it commits.
pub struct ProjectTransaction {
    pub txn: DatabaseTransaction,
    /// The project as locked at the start of the transaction.
    pub project: projects::Model,
    /// The caller's effective role (admins: owner).
    pub role: Option<ProjectRole>,
    pub actor: Principal,
    pub now: DateTime<Utc>,
    published: Vec<BusMessage>,
}

/// The caller's membership role in a project, if any.
pub async fn membership(
    db: &impl sea_orm::ConnectionTrait,
    project_id: Uuid,
    user_id: Uuid,
) -> AppResult<Option<ProjectRole>> {
    Ok(project_members::Entity::find_by_id((project_id, user_id))
        .one(db)
        .await?
        .map(|m| m.role))
}

impl ProjectTransaction {
    /// Starts a change of an existing project, locking it. A project the caller is not a
    /// member of answers 404 (so does a missing one).
    pub async fn begin(
        state: &Store,
        actor: &Principal,
        project_id: Uuid,
        action: ProjectAction,
    ) -> AppResult<Self> {
        if !actor.may_see_project(project_id) {
            return Err(AppError::NotFound);
        }
        let txn = state.db.write.begin().await?;
        let project = projects::Entity::find_by_id(project_id)
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound)?;
        let member_role = membership(&txn, project_id, actor.id()).await?;
        let role = policy::effective_role(actor.user.role, member_role);
        policy::project_access(role, action).check()?;
        Ok(Self {
            txn,
            project,
            role,
            actor: actor.clone(),
            now: state.clock.now(),
            published: Vec::new(),
        })
    }

    /// Starts the change that creates `project` (inserted here, with the creator as owner).
    pub async fn create_project(
        state: &Store,
        actor: &Principal,
        project: projects::ActiveModel,
    ) -> AppResult<Self> {
        if actor.bound_project().is_some() {
            return Err(AppError::Forbidden(
                "A token bound to a project cannot create projects.".into(),
            ));
        }
        let txn = state.db.write.begin().await?;
        let project = project.insert(&txn).await?;
        let now = state.clock.now();
        project_members::ActiveModel {
            project_id: Set(project.id),
            user_id: Set(actor.id()),
            role: Set(ProjectRole::Owner),
            added_at: Set(now),
        }
        .insert(&txn)
        .await?;
        Ok(Self {
            txn,
            project,
            role: Some(ProjectRole::Owner),
            actor: actor.clone(),
            now,
            published: Vec::new(),
        })
    }

    /// Writes the activity entry and the next event of the project. Returns its seq.
    pub async fn record(&mut self, change: ChangeRecord) -> AppResult<i64> {
        let seq = self.project.event_seq + 1;
        self.project.event_seq = seq;
        let project_id = self.project.id;
        let event = Event::new(ProjectEvent {
            project_id,
            seq,
            actor_id: self.actor.id(),
            at: self.now,
            data: change.data,
        });
        let (from_status, to_status) = match &event.event.data {
            EventData::TaskCreated(d) => (None, Some(d.task.status)),
            EventData::TaskMoved(d) => (Some(d.from), Some(d.to)),
            _ => (None, None),
        };
        let entry = LogRows {
            activity_id: Uuid::now_v7(),
            actor_id: self.actor.id(),
            project_id,
            task_id: event.event.data.task_id(),
            subject_id: event.event.data.subject(),
            kind: event.event.event_type(),
            details: change.details.to_string(),
            from_status,
            to_status,
            seq,
            payload: &event.payload,
            at: self.now,
        };
        match self.txn.get_database_backend() {
            DbBackend::Postgres => entry.write_in_one_statement(&self.txn).await?,
            _ => entry.write(&self.txn).await?,
        }
        self.published.push(BusMessage::Event(event));
        Ok(seq)
    }

    /// Stores a personal notification for `user_id` (never for the actor's own actions);
    /// it is pushed to the user's sockets after commit.
    pub async fn notify(
        &mut self,
        user_id: Uuid,
        kind: NotificationKind,
        task_id: Option<Uuid>,
        message: String,
    ) -> AppResult<()> {
        if user_id == self.actor.id() {
            return Ok(());
        }
        let new = NewNotification {
            user_id,
            kind,
            project_id: self.project.id,
            task_id,
            actor_id: Some(self.actor.id()),
            message,
            at: self.now,
        };
        let message = notifications::store(&self.txn, new).await?;
        self.published.push(message);
        Ok(())
    }

    /// Commits, then drops what read caches hold of the change (before answering, so the
    /// caller reads its own write) and publishes the events and notifications.
    pub async fn commit(self, state: &Store) -> AppResult<()> {
        self.txn.commit().await?;
        for message in &self.published {
            if let BusMessage::Event(event) = message {
                state.read_cache.apply(event);
            }
        }
        state.bus.publish_all(self.published);
        Ok(())
    }
}

/// The three rows of one recorded change: its activity entry, the project's new
/// `event_seq` and its event.
struct LogRows<'a> {
    activity_id: Uuid,
    actor_id: Uuid,
    project_id: Uuid,
    task_id: Option<Uuid>,
    subject_id: Option<Uuid>,
    kind: EventType,
    details: String,
    /// A task's status before and after the change (task created: after only; moved: both),
    /// so reports read columns instead of the details' JSON.
    from_status: Option<TaskStatus>,
    to_status: Option<TaskStatus>,
    seq: i64,
    payload: &'a str,
    at: DateTime<Utc>,
}

/// PostgreSQL: the three writes as one statement (data-modifying CTEs), so the project's
/// row lock is held for one round trip less than two (`bench/`: every write of a project
/// queues on that lock, so its throughput is 1 / the time the lock is held).
const RECORD_SQL: &str = "WITH activity AS (\
    INSERT INTO activity_log (id, user_id, project_id, task_id, action, details, created_at, \
      from_status, to_status) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $10, $11)), \
  head AS (UPDATE projects SET event_seq = $8 WHERE id = $3) \
INSERT INTO events (project_id, seq, event_type, actor_id, payload, created_at, subject_id) \
VALUES ($3, $8, $5, $2, $9, $7, $12)";

impl LogRows<'_> {
    async fn write_in_one_statement(self, txn: &DatabaseTransaction) -> AppResult<()> {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            RECORD_SQL,
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
            ],
        ))
        .await?;
        Ok(())
    }

    /// SQLite (no data-modifying CTEs; statements are in-process calls, not round trips).
    async fn write(self, txn: &DatabaseTransaction) -> AppResult<()> {
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
