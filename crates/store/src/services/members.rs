//! Project membership: list, add (by id or email), change role, remove or leave. A project
//! always keeps at least one owner.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::policy::{self, ProjectAction};
use crate::models::project_members::{self, ProjectRole};
use crate::models::{projects, users};
use crate::services::changes::{ChangeRecord, ProjectTransaction};
use crate::services::event::{EventData, MemberData};
use crate::services::notifications::NotificationKind;
use crate::services::projects::visible;
use crate::services::users::User;
use crate::state::Store;
use flowtrack_core::error::{AppError, AppResult, is_unique_violation};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user: User,
    pub role: ProjectRole,
    #[serde(serialize_with = "flowtrack_core::time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub added_at: DateTime<Utc>,
}

impl Member {
    fn new(user: &users::Model, m: &project_members::Model) -> Self {
        Self {
            user: User::from(user),
            role: m.role,
            added_at: m.added_at,
        }
    }
}

/// Who to add: by id or by email (exactly one).
pub enum MemberRef {
    Id(Uuid),
    Email(String),
}

pub async fn list(
    state: &Store,
    principal: &Principal,
    project_id: Uuid,
) -> AppResult<Vec<Member>> {
    visible(state, principal, project_id).await?;
    let db = &state.db.read;
    let members = project_members::Entity::find()
        .filter(project_members::Column::ProjectId.eq(project_id))
        .order_by_asc(project_members::Column::AddedAt)
        .order_by_asc(project_members::Column::UserId)
        .all(db)
        .await?;
    let rows = with_users(db, members).await?;
    Ok(rows.iter().map(|(m, u)| Member::new(u, m)).collect())
}

/// Pairs each membership with its user (one query for all).
async fn with_users(
    db: &impl ConnectionTrait,
    members: Vec<project_members::Model>,
) -> AppResult<Vec<(project_members::Model, users::Model)>> {
    let ids: Vec<Uuid> = members.iter().map(|m| m.user_id).collect();
    let users = users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(members
        .into_iter()
        .filter_map(|m| {
            let user = users.iter().find(|u| u.id == m.user_id)?.clone();
            Some((m, user))
        })
        .collect())
}

async fn count_owners(db: &impl ConnectionTrait, project_id: Uuid) -> AppResult<u64> {
    Ok(project_members::Entity::find()
        .filter(project_members::Column::ProjectId.eq(project_id))
        .filter(project_members::Column::Role.eq(ProjectRole::Owner))
        .count(db)
        .await?)
}

async fn find_member(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    user_id: Uuid,
) -> AppResult<(project_members::Model, users::Model)> {
    let member = project_members::Entity::find_by_id((project_id, user_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    let user = users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((member, user))
}

/// Keeps `projects.owner_id` pointing at an owner when the one it names stops being one.
async fn reassign_owner_id(change: &mut ProjectTransaction, leaving: Uuid) -> AppResult<()> {
    if change.project.owner_id != leaving {
        return Ok(());
    }
    let next = project_members::Entity::find()
        .filter(project_members::Column::ProjectId.eq(change.project.id))
        .filter(project_members::Column::Role.eq(ProjectRole::Owner))
        .filter(project_members::Column::UserId.ne(leaving))
        .order_by_asc(project_members::Column::AddedAt)
        .one(&change.txn)
        .await?;
    if let Some(next) = next {
        let mut row: projects::ActiveModel = change.project.clone().into();
        row.owner_id = Set(next.user_id);
        row.update(&change.txn).await?;
        change.project.owner_id = next.user_id;
    }
    Ok(())
}

pub async fn add(
    state: &Store,
    actor: &Principal,
    project_id: Uuid,
    who: MemberRef,
    role: ProjectRole,
) -> AppResult<Member> {
    let mut change =
        ProjectTransaction::begin(state, actor, project_id, ProjectAction::Own).await?;
    let (field, user) = match &who {
        MemberRef::Id(id) => (
            "user_id",
            users::Entity::find_by_id(*id).one(&change.txn).await?,
        ),
        MemberRef::Email(email) => (
            "email",
            users::Entity::find()
                .filter(users::Column::Email.eq(email.as_str()))
                .one(&change.txn)
                .await?,
        ),
    };
    let user = user
        .filter(|u| u.is_active)
        .ok_or_else(|| AppError::field(field, "no active user matches"))?;
    let row = project_members::ActiveModel {
        project_id: Set(project_id),
        user_id: Set(user.id),
        role: Set(role),
        added_at: Set(change.now),
    }
    .insert(&change.txn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            AppError::Conflict("This user is already a member of the project.".into())
        } else {
            e.into()
        }
    })?;
    let member = Member::new(&user, &row);
    let message = format!(
        "{} added you to {} as {}",
        actor.user.full_name,
        change.project.name,
        flowtrack_core::validate::ApiEnum::as_str(role)
    );
    change
        .notify(user.id, NotificationKind::MemberAdded, None, message)
        .await?;
    change
        .record(ChangeRecord {
            data: EventData::MemberAdded(MemberData {
                member: member.clone(),
            }),
            details: json!({"user_id": user.id, "role": role}),
        })
        .await?;
    change.commit(state).await?;
    Ok(member)
}

pub async fn update_role(
    state: &Store,
    actor: &Principal,
    project_id: Uuid,
    user_id: Uuid,
    role: ProjectRole,
) -> AppResult<Member> {
    let mut change =
        ProjectTransaction::begin(state, actor, project_id, ProjectAction::Own).await?;
    let (current, user) = find_member(&change.txn, project_id, user_id).await?;
    if current.role == role {
        change.txn.rollback().await?;
        return Ok(Member::new(&user, &current));
    }
    if current.role == ProjectRole::Owner && count_owners(&change.txn, project_id).await? <= 1 {
        return Err(AppError::Conflict(
            "A project must keep at least one owner.".into(),
        ));
    }
    let from = current.role;
    let mut row: project_members::ActiveModel = current.into();
    row.role = Set(role);
    let updated = row.update(&change.txn).await?;
    if from == ProjectRole::Owner {
        reassign_owner_id(&mut change, user_id).await?;
    }
    let member = Member::new(&user, &updated);
    change
        .record(ChangeRecord {
            data: EventData::MemberUpdated(MemberData {
                member: member.clone(),
            }),
            details: json!({"user_id": user_id, "from": from, "to": role}),
        })
        .await?;
    change.commit(state).await?;
    Ok(member)
}

pub async fn remove(
    state: &Store,
    actor: &Principal,
    project_id: Uuid,
    user_id: Uuid,
) -> AppResult<()> {
    let mut change =
        ProjectTransaction::begin(state, actor, project_id, ProjectAction::View).await?;
    policy::member_removal_access(change.role, user_id == actor.id()).check()?;
    let (current, user) = find_member(&change.txn, project_id, user_id).await?;
    if current.role == ProjectRole::Owner && count_owners(&change.txn, project_id).await? <= 1 {
        return Err(AppError::Conflict(
            "A project must keep at least one owner.".into(),
        ));
    }
    let member = Member::new(&user, &current);
    project_members::Entity::delete_by_id((project_id, user_id))
        .exec(&change.txn)
        .await?;
    if current.role == ProjectRole::Owner {
        reassign_owner_id(&mut change, user_id).await?;
    }
    change
        .record(ChangeRecord {
            data: EventData::MemberRemoved(MemberData { member }),
            details: json!({"user_id": user_id, "role": current.role}),
        })
        .await?;
    change.commit(state).await
}
