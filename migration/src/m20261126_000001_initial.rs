//! The whole data model (docs/architecture.md, "Data"): users and their refresh tokens, projects with their
//! members, tasks (and their labels), comments, the activity log, the per-project event log
//! (the outbox that real-time delivery and resume read), personal notifications and settings.
//!
//! Every table is created with `IF NOT EXISTS` and the migration runs in one transaction on
//! both backends, so a crash half-way leaves nothing behind and a re-run is harmless.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    FullName,
    PasswordHash,
    Role,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    FamilyId,
    TokenHash,
    ExpiresAt,
    CreatedAt,
    RevokedAt,
    ReplacedBy,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    Name,
    Description,
    Status,
    OwnerId,
    StartDate,
    DueDate,
    EventSeq,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProjectMembers {
    Table,
    ProjectId,
    UserId,
    Role,
    AddedAt,
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    ProjectId,
    Title,
    Description,
    Status,
    Priority,
    AssigneeId,
    Labels,
    CreatedBy,
    DueDate,
    Position,
    Version,
    CreatedAt,
    UpdatedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum TaskLabels {
    Table,
    TaskId,
    Label,
}

#[derive(DeriveIden)]
enum Comments {
    Table,
    Id,
    TaskId,
    ProjectId,
    AuthorId,
    Body,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ActivityLog {
    Table,
    Id,
    UserId,
    ProjectId,
    TaskId,
    Action,
    Details,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    ProjectId,
    Seq,
    EventType,
    ActorId,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden)]
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
enum Settings {
    Table,
    Key,
    Value,
}

fn uuid_pk(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().primary_key().take()
}

fn uuid_col(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().take()
}

fn uuid_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().null().take()
}

fn text_col(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

fn timestamp_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().take()
}

fn date_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).date().null().take()
}

fn index(name: &str, table: impl IntoIden) -> IndexCreateStatement {
    Index::create()
        .name(name)
        .table(table)
        .if_not_exists()
        .take()
}

fn foreign_key(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    to_col: impl IntoIden,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from_table, from_col)
        .to(to_table, to_col)
        .on_delete(on_delete)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for table in tables(backend) {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children first, so foreign keys never block a drop.
        let names: [DynIden; 11] = [
            Settings::Table.into_iden(),
            Notifications::Table.into_iden(),
            Events::Table.into_iden(),
            ActivityLog::Table.into_iden(),
            Comments::Table.into_iden(),
            TaskLabels::Table.into_iden(),
            Tasks::Table.into_iden(),
            ProjectMembers::Table.into_iden(),
            Projects::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Users::Table.into_iden(),
        ];
        for name in names {
            manager
                .drop_table(Table::drop().table(name).if_exists().take())
                .await?;
        }
        Ok(())
    }
}

/// Board order is byte order of `position`: on PostgreSQL the column gets the `C` collation
/// (a locale collation would sort `a` before `B`); SQLite compares bytes already.
fn position_column(backend: sea_orm::DbBackend) -> ColumnDef {
    let mut column = text_col(Tasks::Position);
    if backend == sea_orm::DbBackend::Postgres {
        column.extra("COLLATE \"C\"");
    }
    column
}

fn tables(backend: sea_orm::DbBackend) -> Vec<TableCreateStatement> {
    use ForeignKeyAction::{Cascade, Restrict, SetNull};
    vec![
        Table::create()
            .table(Users::Table)
            .if_not_exists()
            .col(uuid_pk(Users::Id))
            .col(text_col(Users::Email).unique_key().take())
            .col(text_col(Users::FullName))
            .col(text_col(Users::PasswordHash))
            .col(text_col(Users::Role))
            .col(ColumnDef::new(Users::IsActive).boolean().not_null())
            .col(timestamp(Users::CreatedAt))
            .col(timestamp(Users::UpdatedAt))
            .take(),
        Table::create()
            .table(RefreshTokens::Table)
            .if_not_exists()
            .col(uuid_pk(RefreshTokens::Id))
            .col(uuid_col(RefreshTokens::UserId))
            .col(uuid_col(RefreshTokens::FamilyId))
            .col(text_col(RefreshTokens::TokenHash).unique_key().take())
            .col(timestamp(RefreshTokens::ExpiresAt))
            .col(timestamp(RefreshTokens::CreatedAt))
            .col(timestamp_null(RefreshTokens::RevokedAt))
            .col(uuid_null(RefreshTokens::ReplacedBy))
            .foreign_key(&mut foreign_key(
                RefreshTokens::Table,
                RefreshTokens::UserId,
                Users::Table,
                Users::Id,
                Cascade,
            ))
            .take(),
        Table::create()
            .table(Projects::Table)
            .if_not_exists()
            .col(uuid_pk(Projects::Id))
            .col(text_col(Projects::Name))
            .col(text_col(Projects::Description))
            .col(text_col(Projects::Status))
            .col(uuid_col(Projects::OwnerId))
            .col(date_null(Projects::StartDate))
            .col(date_null(Projects::DueDate))
            .col(
                ColumnDef::new(Projects::EventSeq)
                    .big_integer()
                    .not_null()
                    .default(0),
            )
            .col(timestamp(Projects::CreatedAt))
            .col(timestamp(Projects::UpdatedAt))
            .foreign_key(&mut foreign_key(
                Projects::Table,
                Projects::OwnerId,
                Users::Table,
                Users::Id,
                Restrict,
            ))
            .take(),
        Table::create()
            .table(ProjectMembers::Table)
            .if_not_exists()
            .col(uuid_col(ProjectMembers::ProjectId))
            .col(uuid_col(ProjectMembers::UserId))
            .col(text_col(ProjectMembers::Role))
            .col(timestamp(ProjectMembers::AddedAt))
            .primary_key(
                Index::create()
                    .col(ProjectMembers::ProjectId)
                    .col(ProjectMembers::UserId),
            )
            .foreign_key(&mut foreign_key(
                ProjectMembers::Table,
                ProjectMembers::ProjectId,
                Projects::Table,
                Projects::Id,
                Cascade,
            ))
            .foreign_key(&mut foreign_key(
                ProjectMembers::Table,
                ProjectMembers::UserId,
                Users::Table,
                Users::Id,
                Cascade,
            ))
            .take(),
        Table::create()
            .table(Tasks::Table)
            .if_not_exists()
            .col(uuid_pk(Tasks::Id))
            .col(uuid_col(Tasks::ProjectId))
            .col(text_col(Tasks::Title))
            .col(text_col(Tasks::Description))
            .col(text_col(Tasks::Status))
            .col(text_col(Tasks::Priority))
            .col(uuid_null(Tasks::AssigneeId))
            // The ordered label list as JSON text (rendered as-is); `task_labels` indexes it.
            .col(text_col(Tasks::Labels))
            .col(uuid_col(Tasks::CreatedBy))
            .col(date_null(Tasks::DueDate))
            .col(position_column(backend))
            .col(ColumnDef::new(Tasks::Version).big_integer().not_null())
            .col(timestamp(Tasks::CreatedAt))
            .col(timestamp(Tasks::UpdatedAt))
            .col(timestamp_null(Tasks::CompletedAt))
            .foreign_key(&mut foreign_key(
                Tasks::Table,
                Tasks::ProjectId,
                Projects::Table,
                Projects::Id,
                Cascade,
            ))
            .foreign_key(&mut foreign_key(
                Tasks::Table,
                Tasks::AssigneeId,
                Users::Table,
                Users::Id,
                SetNull,
            ))
            .foreign_key(&mut foreign_key(
                Tasks::Table,
                Tasks::CreatedBy,
                Users::Table,
                Users::Id,
                Restrict,
            ))
            .take(),
        Table::create()
            .table(TaskLabels::Table)
            .if_not_exists()
            .col(uuid_col(TaskLabels::TaskId))
            .col(text_col(TaskLabels::Label))
            .primary_key(
                Index::create()
                    .col(TaskLabels::TaskId)
                    .col(TaskLabels::Label),
            )
            .foreign_key(&mut foreign_key(
                TaskLabels::Table,
                TaskLabels::TaskId,
                Tasks::Table,
                Tasks::Id,
                Cascade,
            ))
            .take(),
        Table::create()
            .table(Comments::Table)
            .if_not_exists()
            .col(uuid_pk(Comments::Id))
            .col(uuid_col(Comments::TaskId))
            .col(uuid_col(Comments::ProjectId))
            .col(uuid_col(Comments::AuthorId))
            .col(text_col(Comments::Body))
            .col(timestamp(Comments::CreatedAt))
            .col(timestamp(Comments::UpdatedAt))
            .foreign_key(&mut foreign_key(
                Comments::Table,
                Comments::TaskId,
                Tasks::Table,
                Tasks::Id,
                Cascade,
            ))
            .foreign_key(&mut foreign_key(
                Comments::Table,
                Comments::ProjectId,
                Projects::Table,
                Projects::Id,
                Cascade,
            ))
            .foreign_key(&mut foreign_key(
                Comments::Table,
                Comments::AuthorId,
                Users::Table,
                Users::Id,
                Restrict,
            ))
            .take(),
        // History outlives what it describes: no foreign keys to projects or tasks, so a
        // deleted project's log (and its `project.deleted` event) stays readable.
        Table::create()
            .table(ActivityLog::Table)
            .if_not_exists()
            .col(uuid_pk(ActivityLog::Id))
            .col(uuid_col(ActivityLog::UserId))
            .col(uuid_col(ActivityLog::ProjectId))
            .col(uuid_null(ActivityLog::TaskId))
            .col(text_col(ActivityLog::Action))
            .col(text_col(ActivityLog::Details))
            .col(timestamp(ActivityLog::CreatedAt))
            .foreign_key(&mut foreign_key(
                ActivityLog::Table,
                ActivityLog::UserId,
                Users::Table,
                Users::Id,
                Restrict,
            ))
            .take(),
        Table::create()
            .table(Events::Table)
            .if_not_exists()
            .col(uuid_col(Events::ProjectId))
            .col(ColumnDef::new(Events::Seq).big_integer().not_null())
            .col(text_col(Events::EventType))
            .col(uuid_col(Events::ActorId))
            .col(text_col(Events::Payload))
            .col(timestamp(Events::CreatedAt))
            .primary_key(Index::create().col(Events::ProjectId).col(Events::Seq))
            .take(),
        Table::create()
            .table(Notifications::Table)
            .if_not_exists()
            .col(uuid_pk(Notifications::Id))
            .col(uuid_col(Notifications::UserId))
            .col(text_col(Notifications::Kind))
            .col(uuid_col(Notifications::ProjectId))
            .col(uuid_null(Notifications::TaskId))
            .col(uuid_col(Notifications::ActorId))
            .col(text_col(Notifications::Message))
            .col(timestamp(Notifications::CreatedAt))
            .col(timestamp_null(Notifications::ReadAt))
            .foreign_key(&mut foreign_key(
                Notifications::Table,
                Notifications::UserId,
                Users::Table,
                Users::Id,
                Cascade,
            ))
            .take(),
        Table::create()
            .table(Settings::Table)
            .if_not_exists()
            .col(
                ColumnDef::new(Settings::Key)
                    .text()
                    .not_null()
                    .primary_key(),
            )
            .col(text_col(Settings::Value))
            .take(),
    ]
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("idx_users_role", Users::Table)
            .col(Users::Role)
            .take(),
        index("idx_refresh_tokens_family", RefreshTokens::Table)
            .col(RefreshTokens::FamilyId)
            .take(),
        index("idx_refresh_tokens_user", RefreshTokens::Table)
            .col(RefreshTokens::UserId)
            .take(),
        index("idx_projects_status", Projects::Table)
            .col(Projects::Status)
            .take(),
        index("idx_projects_owner", Projects::Table)
            .col(Projects::OwnerId)
            .take(),
        index("idx_project_members_user", ProjectMembers::Table)
            .col(ProjectMembers::UserId)
            .take(),
        // Unique: two tasks of one column can never share a position (board order is strict).
        index("idx_tasks_board", Tasks::Table)
            .unique()
            .col(Tasks::ProjectId)
            .col(Tasks::Status)
            .col(Tasks::Position)
            .take(),
        index("idx_tasks_assignee", Tasks::Table)
            .col(Tasks::AssigneeId)
            .take(),
        index("idx_tasks_created_at", Tasks::Table)
            .col(Tasks::CreatedAt)
            .take(),
        index("idx_tasks_due_date", Tasks::Table)
            .col(Tasks::DueDate)
            .take(),
        index("idx_tasks_priority", Tasks::Table)
            .col(Tasks::Priority)
            .take(),
        index("idx_task_labels_label", TaskLabels::Table)
            .col(TaskLabels::Label)
            .take(),
        index("idx_comments_task", Comments::Table)
            .col(Comments::TaskId)
            .col(Comments::Id)
            .take(),
        index("idx_activity_project", ActivityLog::Table)
            .col(ActivityLog::ProjectId)
            .col(ActivityLog::Id)
            .take(),
        index("idx_activity_user", ActivityLog::Table)
            .col(ActivityLog::UserId)
            .col(ActivityLog::Id)
            .take(),
        index("idx_activity_task", ActivityLog::Table)
            .col(ActivityLog::TaskId)
            .take(),
        index("idx_events_created_at", Events::Table)
            .col(Events::CreatedAt)
            .take(),
        index("idx_notifications_user", Notifications::Table)
            .col(Notifications::UserId)
            .col(Notifications::Id)
            .take(),
    ]
}
