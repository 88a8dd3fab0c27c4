//! The event log as the real-time layer reads it: event ranges, the heads of projects, a
//! user's memberships with their seqs, and recent joins and removals. The hub and the
//! WebSocket sessions get their data only through these functions.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use flowtrack_core::error::AppResult;

use crate::bus::Event;
use crate::db::Db;
use crate::models::{events, project_members, projects};
use crate::services::event::EventType;

/// A join or removal read back from the log: project, seq, event type, the user it is
/// about and when it was written.
pub type AccessRow = (Uuid, i64, String, Uuid, DateTime<Utc>);

/// Reads up to `limit` events of a project with `from <= seq <= to`, in order. A stored
/// event this build cannot read is logged and left out (readers skip its seq).
pub async fn events_between(
    db: &Db,
    project_id: Uuid,
    from: i64,
    to: i64,
    limit: u64,
) -> AppResult<Vec<Event>> {
    let rows = events::Entity::find()
        .filter(events::Column::ProjectId.eq(project_id))
        .filter(events::Column::Seq.gte(from))
        .filter(events::Column::Seq.lte(to))
        .order_by_asc(events::Column::Seq)
        .limit(limit)
        .all(&db.read)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match Event::from_payload(&row.payload) {
            Ok(event) => Some(event),
            Err(err) => {
                tracing::error!(%err, %project_id, seq = row.seq, "unreadable stored event; skipped");
                None
            }
        })
        .collect())
}

/// The oldest and newest kept seq of a project (`None` when its log is empty).
pub async fn kept_bounds(db: &Db, project_id: Uuid) -> AppResult<(Option<i64>, Option<i64>)> {
    let bounds: Option<(Option<i64>, Option<i64>)> = events::Entity::find()
        .select_only()
        .expr(Func::min(Expr::col(events::Column::Seq)))
        .expr(Func::max(Expr::col(events::Column::Seq)))
        .filter(events::Column::ProjectId.eq(project_id))
        .into_tuple()
        .one(&db.read)
        .await?;
    Ok(bounds.unwrap_or((None, None)))
}

/// The current `event_seq` of each of these projects (deleted ones are left out).
pub async fn heads(db: &Db, ids: &[Uuid]) -> AppResult<Vec<(Uuid, i64)>> {
    let mut heads = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(Uuid, i64)> = projects::Entity::find()
            .select_only()
            .column(projects::Column::Id)
            .column(projects::Column::EventSeq)
            .filter(projects::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(&db.read)
            .await?;
        heads.extend(rows);
    }
    Ok(heads)
}

/// The user's projects with their current `event_seq`, in one statement: one snapshot,
/// so a membership and the seq read with it agree (a removal commits both at once), which
/// the hub relies on to tell a stale membership from a current one.
pub async fn memberships(db: &Db, user_id: Uuid) -> AppResult<Vec<(Uuid, i64)>> {
    let member_of = project_members::project_ids_of(user_id);
    Ok(projects::Entity::find()
        .select_only()
        .column(projects::Column::Id)
        .column(projects::Column::EventSeq)
        .filter(projects::Column::Id.in_subquery(member_of))
        .into_tuple()
        .all(&db.read)
        .await?)
}

/// Which of these projects the user is a member of now.
pub async fn member_of_among(
    db: &Db,
    user_id: Uuid,
    project_ids: impl IntoIterator<Item = Uuid>,
) -> AppResult<Vec<Uuid>> {
    Ok(project_members::Entity::find()
        .select_only()
        .column(project_members::Column::ProjectId)
        .filter(project_members::Column::UserId.eq(user_id))
        .filter(project_members::Column::ProjectId.is_in(project_ids))
        .into_tuple()
        .all(&db.read)
        .await?)
}

/// The seq of the user's latest join of the project up to `to` (its creation by them, or
/// their `member.added`), if the log still holds it.
pub async fn latest_join(
    db: &Db,
    project_id: Uuid,
    user_id: Uuid,
    to: i64,
) -> AppResult<Option<i64>> {
    let joins = [EventType::ProjectCreated, EventType::MemberAdded].map(EventType::as_str);
    let seq: Option<Option<i64>> = events::Entity::find()
        .select_only()
        .expr(Func::max(Expr::col(events::Column::Seq)))
        .filter(events::Column::ProjectId.eq(project_id))
        .filter(events::Column::SubjectId.eq(user_id))
        .filter(events::Column::EventType.is_in(joins))
        .filter(events::Column::Seq.lte(to))
        .into_tuple()
        .one(&db.read)
        .await?;
    Ok(seq.flatten())
}

/// The joins and removals written since `since`, of projects that still exist, in seq order.
pub async fn recent_access(db: &Db, since: DateTime<Utc>) -> AppResult<Vec<AccessRow>> {
    let kinds = [
        EventType::ProjectCreated,
        EventType::MemberAdded,
        EventType::MemberRemoved,
    ]
    .map(EventType::as_str);
    let existing = Query::select()
        .column(projects::Column::Id)
        .from(projects::Entity)
        .to_owned();
    Ok(events::Entity::find()
        .select_only()
        .column(events::Column::ProjectId)
        .column(events::Column::Seq)
        .column(events::Column::EventType)
        .column(events::Column::SubjectId)
        .column(events::Column::CreatedAt)
        .filter(events::Column::CreatedAt.gte(since))
        .filter(events::Column::SubjectId.is_not_null())
        .filter(events::Column::EventType.is_in(kinds))
        .filter(events::Column::ProjectId.in_subquery(existing))
        .order_by_asc(events::Column::Seq)
        .into_tuple()
        .all(&db.read)
        .await?)
}
