//! Project membership and per-project roles.

use sea_orm::entity::prelude::*;

api_enum! {
    pub enum ProjectRole {
        Owner = "owner",
        Editor = "editor",
        Viewer = "viewer",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "project_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub role: ProjectRole,
    pub added_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// `SELECT project_id FROM project_members WHERE user_id = …`: the projects a user is a
/// member of, as a subquery for `… IN (…)` filters.
pub fn project_ids_of(user_id: Uuid) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(Column::ProjectId)
        .from(Entity)
        .and_where(Column::UserId.eq(user_id))
        .to_owned()
}
