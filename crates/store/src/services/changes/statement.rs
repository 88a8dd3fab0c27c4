//! Changes made by one statement on PostgreSQL (a function that locks, checks, writes and
//! records, called without `BEGIN`: its own transaction), so the project's lock is never held
//! across a client round trip. What the server decides is handed to the statement:
//!
//! - [`Memberships`]: who may do the change, from the server's policy;
//! - [`PayloadCut`]: the event's text, cut where the values only the database knows at that
//!   point — the seq and a task's position — go;
//!
//! and [`run`] turns the statement's outcome into the server's answer.

use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use crate::auth::Principal;
use crate::auth::policy::{self, Access, ProjectAction};
use crate::models::project_members::ProjectRole;
use crate::services::event::ProjectEvent;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::validate::ApiEnum;

/// Runs a one-statement change on the write pool: `sql` selects from a function answering
/// an `outcome` — `done` when it made the change, else `missing` (404), `refused` (with the
/// caller's `member_role`: the policy's 404 or 403) or `stale` (412, `If-Match`) — and the
/// row of a made change.
pub async fn run(
    state: &Store,
    actor: &Principal,
    action: ProjectAction,
    sql: &'static str,
    values: impl IntoIterator<Item = Value>,
    done: &str,
) -> AppResult<QueryResult> {
    let row = state
        .db
        .write
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?
        .ok_or_else(|| AppError::internal(format!("no row from {sql}")))?;
    let outcome = row.try_get::<String>("", "outcome")?;
    match outcome.as_str() {
        made if made == done => Ok(row),
        "missing" => Err(AppError::NotFound),
        "refused" => {
            let membership = row.try_get::<Option<ProjectRole>>("", "member_role")?;
            Err(refusal(actor, membership, action))
        }
        "stale" => Err(AppError::PreconditionFailed),
        other => Err(AppError::internal(format!("{sql} answered {other:?}"))),
    }
}

/// The memberships whose holders may do an action in a project, and whether a caller who is
/// not a member may (an admin).
pub struct Memberships {
    pub roles: Vec<&'static str>,
    pub nonmember: bool,
}

impl Memberships {
    pub fn allowed(actor: &Principal, action: ProjectAction) -> Self {
        let allowed = |membership| {
            policy::project_access(policy::effective_role(actor.user.role, membership), action)
                == Access::Allowed
        };
        Self {
            roles: ProjectRole::ALL
                .iter()
                .filter(|role| allowed(Some(**role)))
                .map(|role| role.as_str())
                .collect(),
            nonmember: allowed(None),
        }
    }
}

/// The error for a caller the statement refused, given its membership (a 404 for a
/// non-member, a 403 for a role that may not).
fn refusal(actor: &Principal, membership: Option<ProjectRole>, action: ProjectAction) -> AppError {
    let role = policy::effective_role(actor.user.role, membership);
    match policy::project_access(role, action).check() {
        Err(err) => err,
        // The policy allows what the statement refused: the two disagree.
        Ok(()) => AppError::internal("a one-statement change refused an allowed caller"),
    }
}

/// An event's text cut around its seq and its task's position: `head`, the seq, `middle`,
/// the position, `tail`.
#[derive(Debug, PartialEq, Eq)]
pub struct PayloadCut {
    pub head: String,
    pub middle: String,
    pub tail: String,
}

/// Stand-ins serialized where the seq and the position go. Found by their keys with the
/// quotes around: inside a JSON string every quote is escaped, so `"seq":` and
/// `"position":"` only occur as keys.
const SEQ_MARK: i64 = i64::MIN;
const POSITION_MARK: &str = "@position@";

impl PayloadCut {
    /// Cuts `event` (whose task's position is [`Self::position_mark`]); its seq is ignored.
    pub fn of(mut event: ProjectEvent) -> Result<Self, AppError> {
        event.seq = SEQ_MARK;
        let text = event.to_json();
        let seq = format!("\"seq\":{SEQ_MARK}");
        let position = format!("\"position\":\"{POSITION_MARK}\"");
        let cut = || {
            let (seq_at, position_at) = (unique(&text, &seq)?, unique(&text, &position)?);
            if seq_at > position_at {
                return None;
            }
            let seq_value = seq_at + "\"seq\":".len();
            let position_value = position_at + "\"position\":\"".len();
            Some(Self {
                head: text[..seq_value].to_string(),
                middle: text[seq_at + seq.len()..position_value].to_string(),
                tail: text[position_value + POSITION_MARK.len()..].to_string(),
            })
        };
        cut().ok_or_else(|| AppError::internal("an event's text has no single seq and position"))
    }

    /// The position to give the event's task before cutting.
    pub fn position_mark() -> String {
        POSITION_MARK.to_string()
    }
}

fn unique(text: &str, pattern: &str) -> Option<usize> {
    let mut found = text.match_indices(pattern).map(|(at, _)| at);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::tasks::{Priority, TaskStatus};
    use crate::services::event::{EventData, TaskData};
    use crate::services::tasks::Task;
    use chrono::Utc;
    use uuid::Uuid;

    fn created(title: &str, seq: i64, position: &str) -> ProjectEvent {
        let now = Utc::now();
        ProjectEvent {
            project_id: Uuid::nil(),
            seq,
            actor_id: Uuid::max(),
            at: now,
            data: EventData::TaskCreated(TaskData {
                task: Task {
                    id: Uuid::nil(),
                    project_id: Uuid::nil(),
                    title: title.into(),
                    description: String::new(),
                    status: TaskStatus::Todo,
                    priority: Priority::Medium,
                    assignee_id: None,
                    labels: vec!["\"seq\":1".into()],
                    created_by: Uuid::max(),
                    due_date: None,
                    position: position.into(),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    completed_at: None,
                },
            }),
        }
    }

    impl PayloadCut {
        /// The text with the seq and position put in, as the database does.
        fn fill(&self, seq: i64, position: &str) -> String {
            format!("{}{seq}{}{position}{}", self.head, self.middle, self.tail)
        }
    }

    #[test]
    fn filling_the_cut_gives_the_event_as_serialized() {
        // Titles that look like the keys are escaped, so they never match them.
        for title in [
            "plain",
            "\"seq\":-9223372036854775808",
            "\"position\":\"@position@\"",
        ] {
            let mut event = created(title, 0, "");
            let cut = PayloadCut::of(created(title, 7, &PayloadCut::position_mark()))
                .expect("one seq and one position");
            for (seq, position) in [(1, "V"), (42, "V1"), (9_007_199_254_740_993, "zz01")] {
                event.seq = seq;
                if let EventData::TaskCreated(data) = &mut event.data {
                    data.task.position = position.into();
                }
                assert_eq!(cut.fill(seq, position), event.to_json(), "title {title}");
            }
        }
    }

    #[test]
    fn an_event_without_a_position_cannot_be_cut() {
        assert!(PayloadCut::of(created("t", 1, "V")).is_err());
    }
}
