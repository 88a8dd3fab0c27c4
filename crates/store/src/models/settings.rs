//! Server-wide settings kept in the database (e.g. the generated JWT secret), so that every
//! instance sharing the database agrees on them.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub value: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

pub const JWT_SECRET_KEY: &str = "jwt_secret";

/// Returns the stored value of `key`, storing `make()` first if there is none. Safe when
/// several instances start at once: the first insert wins and everyone reads it back.
pub async fn get_or_insert(
    db: &impl ConnectionTrait,
    key: &str,
    make: impl FnOnce() -> String,
) -> Result<String, DbErr> {
    if let Some(existing) = Entity::find_by_id(key.to_string()).one(db).await? {
        return Ok(existing.value);
    }
    let row = ActiveModel {
        key: Set(key.to_string()),
        value: Set(make()),
    };
    Entity::insert(row)
        .on_conflict_do_nothing_on([Column::Key])
        .exec(db)
        .await?;
    Entity::find_by_id(key.to_string())
        .one(db)
        .await?
        .map(|m| m.value)
        .ok_or_else(|| DbErr::RecordNotFound(format!("setting {key}")))
}
