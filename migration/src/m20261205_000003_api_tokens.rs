//! `api_tokens`: long-lived personal tokens for scripts and integrations. Only the SHA-256 of
//! a secret is stored (`secret_hash`, unique: the lookup key); `prefix` is the secret's first
//! characters, shown in lists. `project_id` narrows the token to one project; it has no
//! foreign key on purpose: a token bound to a deleted project must keep seeing nothing,
//! never become unbound.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    Name,
    Scope,
    ProjectId,
    Prefix,
    SecretHash,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

const BY_USER: &str = "idx_api_tokens_user";

fn timestamp(col: ApiTokens, null: bool) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.timestamp_with_time_zone();
    if null {
        def.null();
    } else {
        def.not_null();
    }
    def
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ApiTokens::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ApiTokens::UserId).uuid().not_null())
                    .col(ColumnDef::new(ApiTokens::Name).text().not_null())
                    .col(ColumnDef::new(ApiTokens::Scope).text().not_null())
                    .col(ColumnDef::new(ApiTokens::ProjectId).uuid().null())
                    .col(ColumnDef::new(ApiTokens::Prefix).text().not_null())
                    .col(
                        ColumnDef::new(ApiTokens::SecretHash)
                            .text()
                            .not_null()
                            .unique_key(),
                    )
                    .col(timestamp(ApiTokens::CreatedAt, false))
                    .col(timestamp(ApiTokens::ExpiresAt, true))
                    .col(timestamp(ApiTokens::LastUsedAt, true))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_USER)
                    .table(ApiTokens::Table)
                    .col(ApiTokens::UserId)
                    .col(ApiTokens::CreatedAt)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiTokens::Table).if_exists().take())
            .await
    }
}
