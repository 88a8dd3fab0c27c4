//! API tokens: long-lived personal tokens, stored only as the SHA-256 of their secret.

use sea_orm::entity::prelude::*;

api_enum! {
    /// What a token may do: `read` allows only `GET`/`HEAD` requests and the WebSocket.
    pub enum TokenScope {
        Read = "read",
        Write = "write",
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub scope: TokenScope,
    /// The one project the token sees (`None`: whatever its owner sees).
    pub project_id: Option<Uuid>,
    /// The secret's first characters, to recognise it in a list.
    pub prefix: String,
    #[sea_orm(unique)]
    pub secret_hash: String,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
