//! Webhooks: `webhooks` (a project's subscriptions, with their delivery state: the cursor in
//! the project's event log, the retry state of the event at the cursor, and the lease that
//! lets exactly one instance deliver a webhook at a time) and `webhook_deliveries` (one row
//! per attempt; a `pending` row is a ping or a redelivery waiting for the worker).
//!
//! `notifications.actor_id` becomes nullable: a webhook disabled by the delivery worker
//! notifies the project's owners with no actor. PostgreSQL drops the constraint; SQLite
//! cannot, so the table is rebuilt (same columns, keys and index) and its rows copied.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    ProjectId,
    Url,
    Events,
    Description,
    Active,
    DisabledReason,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    CursorSeq,
    Attempt,
    FirstFailureAt,
    NextAttemptAt,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    MessageId,
    EventType,
    Seq,
    Payload,
    Attempt,
    State,
    StatusCode,
    Error,
    DurationMs,
    CreatedAt,
    NextAttemptAt,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Notifications {
    Table,
    Id,
    UserId,
    Kind,
    ProjectId,
    TaskId,
    ActorId,
    Message,
    CreatedAt,
    ReadAt,
}

#[derive(DeriveIden)]
enum NotificationsRebuilt {
    Table,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

const NOTIFICATIONS_INDEX: &str = "idx_notifications_user";

/// The notifications table as it is after this migration (`actor_id` nullable).
fn notifications(name: impl IntoIden) -> TableCreateStatement {
    Table::create()
        .table(name)
        .col(
            ColumnDef::new(Notifications::Id)
                .uuid()
                .not_null()
                .primary_key(),
        )
        .col(ColumnDef::new(Notifications::UserId).uuid().not_null())
        .col(ColumnDef::new(Notifications::Kind).text().not_null())
        .col(ColumnDef::new(Notifications::ProjectId).uuid().not_null())
        .col(ColumnDef::new(Notifications::TaskId).uuid().null())
        .col(ColumnDef::new(Notifications::ActorId).uuid().null())
        .col(ColumnDef::new(Notifications::Message).text().not_null())
        .col(timestamp(Notifications::CreatedAt, false))
        .col(timestamp(Notifications::ReadAt, true))
        .foreign_key(
            ForeignKey::create()
                .from(Notifications::Table, Notifications::UserId)
                .to(Users::Table, Users::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

async fn actor_may_be_null(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if manager.get_database_backend() == sea_orm::DbBackend::Postgres {
        return manager
            .alter_table(
                Table::alter()
                    .table(Notifications::Table)
                    .modify_column(ColumnDef::new(Notifications::ActorId).uuid().null())
                    .take(),
            )
            .await;
    }
    manager
        .create_table(notifications(NotificationsRebuilt::Table))
        .await?;
    let columns = [
        Notifications::Id,
        Notifications::UserId,
        Notifications::Kind,
        Notifications::ProjectId,
        Notifications::TaskId,
        Notifications::ActorId,
        Notifications::Message,
        Notifications::CreatedAt,
        Notifications::ReadAt,
    ];
    let copy = Query::insert()
        .into_table(NotificationsRebuilt::Table)
        .columns(columns)
        .select_from(
            Query::select()
                .columns(columns)
                .from(Notifications::Table)
                .take(),
        )
        .map_err(|e| DbErr::Migration(e.to_string()))?
        .take();
    manager.exec_stmt(copy).await?;
    manager
        .drop_table(Table::drop().table(Notifications::Table).take())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(NotificationsRebuilt::Table, Notifications::Table)
                .take(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name(NOTIFICATIONS_INDEX)
                .table(Notifications::Table)
                .col(Notifications::UserId)
                .col(Notifications::Id)
                .take(),
        )
        .await
}

fn timestamp(col: impl IntoIden, null: bool) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.timestamp_with_time_zone();
    if null {
        def.null();
    } else {
        def.not_null();
    }
    def
}

fn webhooks() -> TableCreateStatement {
    Table::create()
        .table(Webhooks::Table)
        .if_not_exists()
        .col(ColumnDef::new(Webhooks::Id).uuid().not_null().primary_key())
        .col(ColumnDef::new(Webhooks::ProjectId).uuid().not_null())
        .col(ColumnDef::new(Webhooks::Url).text().not_null())
        .col(ColumnDef::new(Webhooks::Events).text().not_null())
        .col(ColumnDef::new(Webhooks::Description).text().not_null())
        .col(ColumnDef::new(Webhooks::Active).boolean().not_null())
        .col(ColumnDef::new(Webhooks::DisabledReason).text().null())
        .col(ColumnDef::new(Webhooks::Secret).text().not_null())
        .col(ColumnDef::new(Webhooks::PreviousSecret).text().null())
        .col(timestamp(Webhooks::PreviousSecretUntil, true))
        .col(ColumnDef::new(Webhooks::CursorSeq).big_integer().not_null())
        .col(
            ColumnDef::new(Webhooks::Attempt)
                .integer()
                .not_null()
                .default(0),
        )
        .col(timestamp(Webhooks::FirstFailureAt, true))
        .col(timestamp(Webhooks::NextAttemptAt, true))
        .col(ColumnDef::new(Webhooks::LeaseOwner).uuid().null())
        .col(timestamp(Webhooks::LeaseUntil, true))
        .col(timestamp(Webhooks::CreatedAt, false))
        .col(timestamp(Webhooks::UpdatedAt, false))
        .foreign_key(
            ForeignKey::create()
                .from(Webhooks::Table, Webhooks::ProjectId)
                .to(Projects::Table, Projects::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

fn deliveries() -> TableCreateStatement {
    Table::create()
        .table(WebhookDeliveries::Table)
        .if_not_exists()
        .col(
            ColumnDef::new(WebhookDeliveries::Id)
                .uuid()
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(WebhookDeliveries::WebhookId)
                .uuid()
                .not_null(),
        )
        .col(
            ColumnDef::new(WebhookDeliveries::MessageId)
                .text()
                .not_null(),
        )
        .col(
            ColumnDef::new(WebhookDeliveries::EventType)
                .text()
                .not_null(),
        )
        .col(ColumnDef::new(WebhookDeliveries::Seq).big_integer().null())
        .col(ColumnDef::new(WebhookDeliveries::Payload).text().null())
        .col(
            ColumnDef::new(WebhookDeliveries::Attempt)
                .integer()
                .not_null(),
        )
        .col(ColumnDef::new(WebhookDeliveries::State).text().not_null())
        .col(
            ColumnDef::new(WebhookDeliveries::StatusCode)
                .integer()
                .null(),
        )
        .col(ColumnDef::new(WebhookDeliveries::Error).text().null())
        .col(
            ColumnDef::new(WebhookDeliveries::DurationMs)
                .big_integer()
                .null(),
        )
        .col(timestamp(WebhookDeliveries::CreatedAt, false))
        .col(timestamp(WebhookDeliveries::NextAttemptAt, true))
        .foreign_key(
            ForeignKey::create()
                .from(WebhookDeliveries::Table, WebhookDeliveries::WebhookId)
                .to(Webhooks::Table, Webhooks::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        actor_may_be_null(manager).await?;
        manager.create_table(webhooks()).await?;
        manager.create_table(deliveries()).await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhooks_project")
                    .table(Webhooks::Table)
                    .col(Webhooks::ProjectId)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_webhook")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::Id)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_state")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::State)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebhookDeliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }
}
