//! Moving a task to the end of a column in one statement on PostgreSQL
//! (`flowtrack_move_task`, see its migration): the usual drag to another column, made without
//! holding the project's lock across a client round trip. A move between two named
//! neighbours, and every move on SQLite, takes [`super::board::move_task`]'s transaction.

use sea_orm::{DbBackend, FromQueryResult};
use uuid::Uuid;

use super::board::Move;
use super::{IfMatch, Task, etag, project_of};
use crate::auth::Principal;
use crate::auth::policy::ProjectAction;
use crate::bus::{BusMessage, Event};
use crate::models::tasks::{self, TaskStatus};
use crate::services::changes::{Memberships, committed, run_statement};
use crate::services::event::{EventData, ProjectEvent, TaskMove};
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult};
use flowtrack_core::validate::ApiEnum;

/// Whether `target` is moved in one statement.
pub(super) fn applies(state: &Store, target: &Move) -> bool {
    target.before_id.is_none()
        && target.after_id.is_none()
        && state.db.write.get_database_backend() == DbBackend::Postgres
}

const MOVE_SQL: &str = "SELECT * FROM flowtrack_move_task($1, $2, $3, $4, $5, $6, $7, $8, $9, \
    $10, $11)";

/// The versions `If-Match` accepts, comma-separated (`None`: any). Only a strong tag that is
/// exactly a version's `ETag` names one, as [`IfMatch`] compares.
fn accepted_versions(if_match: &IfMatch) -> Option<String> {
    match if_match {
        IfMatch::Any => None,
        IfMatch::Tags(tags) => Some(
            tags.iter()
                .filter_map(|tag| {
                    let version = tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()?;
                    (etag(version) == *tag).then(|| version.to_string())
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
    }
}

pub(super) async fn move_task(
    state: &Store,
    actor: &Principal,
    id: Uuid,
    target: Move,
    if_match: IfMatch,
) -> AppResult<Task> {
    let project_id = project_of(state, id).await?;
    if !actor.may_see_project(project_id) {
        return Err(AppError::NotFound);
    }
    let now = state.clock.now();
    // The event's text up to its seq, and from the seq to the task (which the database
    // writes, as it is after the move).
    let head = format!("{{\"type\":\"task.moved\",\"project_id\":\"{project_id}\",\"seq\":");
    let middle = format!(
        ",\"actor_id\":\"{}\",\"at\":\"{}\",\"data\":{{\"task\":",
        actor.id(),
        flowtrack_core::time::format(&now)
    );
    let who = Memberships::allowed(actor, ProjectAction::Edit);
    let values: [sea_orm::Value; 11] = [
        project_id.into(),
        id.into(),
        actor.id().into(),
        who.roles.join(",").into(),
        who.nonmember.into(),
        target.status.as_str().into(),
        accepted_versions(&if_match).into(),
        now.into(),
        Uuid::now_v7().into(),
        head.into(),
        middle.into(),
    ];
    let row = run_statement(state, actor, ProjectAction::Edit, MOVE_SQL, values, "moved").await?;
    let task = Task::from(&tasks::Model::from_query_result(&row, "t_")?);
    let from: TaskStatus = row.try_get("", "from_status")?;
    let event = Event::new(ProjectEvent {
        project_id,
        seq: row.try_get("", "seq")?,
        actor_id: actor.id(),
        at: now,
        data: EventData::TaskMoved(TaskMove {
            task: task.clone(),
            from,
            to: target.status,
        }),
    });
    committed(state, vec![BusMessage::Event(event)]);
    Ok(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_strong_tags_name_versions() {
        assert_eq!(accepted_versions(&IfMatch::Any), None);
        let tags = |raw: &str| IfMatch::parse(Some(raw));
        assert_eq!(accepted_versions(&tags("\"3\"")).as_deref(), Some("3"));
        assert_eq!(
            accepted_versions(&tags("\"3\", \"12\"")).as_deref(),
            Some("3,12")
        );
        for never in ["W/\"3\"", "\"03\"", "3", "\"+3\"", "\"x\"", "\"\""] {
            assert_eq!(
                accepted_versions(&tags(never)).as_deref(),
                Some(""),
                "{never}"
            );
        }
    }
}
