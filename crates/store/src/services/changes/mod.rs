//! The write path of every change clients must see (docs/architecture.md, "The write path"):
//!
//! 1. begin a transaction on the write connection, lock the project row and read what the
//!    change decides on ([`lock`]: one round trip on PostgreSQL; SQLite runs one writer at a
//!    time),
//! 2. check the caller's permission,
//! 3. apply the change and [`ProjectTransaction::record`] it: the activity row, `event_seq + 1`
//!    on the project and the `events` row with that seq — all in the same transaction (on
//!    PostgreSQL in one statement with the change's row write: [`ProjectTransaction::record_with`]),
//! 4. commit, then publish the events on the bus.
//!
//! So on PostgreSQL a typical change holds the project's lock for two round trips after it is
//! granted (the write, the commit), whatever it reads. The most frequent changes — a task
//! created without an assignee, a task moved to the end of a column — are one statement
//! instead ([`statement`], `services::tasks`): the lock is held for PostgreSQL's own work.
//!
//! So a project's `seq` is gapless and in commit order, and an event exists iff its change
//! committed.

mod lock;
mod log;
mod statement;

pub use lock::{Locked, Lookup};
pub use statement::run as run_statement;
pub use statement::{Memberships, PayloadCut};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseTransaction, EntityTrait,
    Statement, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::policy::{self, ProjectAction};
use crate::bus::{BusMessage, Event};
use crate::models::project_members::{self, ProjectRole};
use crate::models::projects;
use crate::services::event::{EventData, ProjectEvent};
use crate::services::notifications::{self, NewNotification, NotificationKind};
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use log::LogRows;

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
        let (change, _) =
            Self::begin_with(state, actor, project_id, action, Lookup::default()).await?;
        Ok(change)
    }

    /// [`Self::begin`], also reading `lookup` under the lock (in the same round trip on
    /// PostgreSQL).
    pub async fn begin_with(
        state: &Store,
        actor: &Principal,
        project_id: Uuid,
        action: ProjectAction,
        lookup: Lookup,
    ) -> AppResult<(Self, Locked)> {
        if !actor.may_see_project(project_id) {
            return Err(AppError::NotFound);
        }
        let txn = state.db.write.begin().await?;
        let locked = lock::lock(&txn, project_id, actor.id(), lookup).await?;
        let role = policy::effective_role(actor.user.role, locked.member_role);
        policy::project_access(role, action).check()?;
        let change = Self {
            txn,
            project: locked.project.clone(),
            role,
            actor: actor.clone(),
            now: state.clock.now(),
            published: Vec::new(),
        };
        Ok((change, locked))
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
        self.record_after(None, change).await
    }

    /// Writes the change's own row (`row_write`, a statement built for this backend) and
    /// records it — on PostgreSQL in one statement, one round trip under the lock.
    pub async fn record_with(
        &mut self,
        row_write: Statement,
        change: ChangeRecord,
    ) -> AppResult<i64> {
        self.record_after(Some(row_write), change).await
    }

    async fn record_after(
        &mut self,
        row_write: Option<Statement>,
        change: ChangeRecord,
    ) -> AppResult<i64> {
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
        entry.write(&self.txn, row_write).await?;
        self.published.push(BusMessage::Event(event));
        Ok(seq)
    }

    /// The backend of the change's transaction (to build statements for [`Self::record_with`]).
    pub fn backend(&self) -> sea_orm::DbBackend {
        self.txn.get_database_backend()
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
        committed(state, self.published);
        Ok(())
    }
}

/// After a change committed: drops what read caches hold of it (before answering, so the
/// caller reads its own write), then publishes its events and notifications.
pub fn committed(state: &Store, published: Vec<BusMessage>) {
    for message in &published {
        if let BusMessage::Event(event) = message {
            state.read_cache.apply(event);
        }
    }
    state.bus.publish_all(published);
}
