//! `users.session_epoch`: a counter raised whenever a user's password is set (by the user,
//! an admin or the CLI). Access tokens carry the epoch they were issued in (claim `sv`), and
//! one from an older epoch is refused: that is how a password change ends every session,
//! access tokens included, without a denylist of token ids.
//!
//! Existing rows start at 0, the epoch of tokens that carry no `sv` claim.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    SessionEpoch,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // NOT NULL with a constant default: SQLite's ADD COLUMN accepts it too.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::SessionEpoch)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::SessionEpoch)
                    .take(),
            )
            .await?;
        Ok(())
    }
}
