//! PostgreSQL: `flowtrack_lock_project`, the first statement of every change of a project.
//!
//! A change locks its project's row (so its `seq` is gapless and in commit order), then
//! reads what it decides on: the caller's membership, the task it changes, the last position
//! of the column a task goes to. Each statement after the lock is a client round trip spent
//! holding the lock that every other write of the project waits for. This function takes the
//! lock and makes those reads in one round trip.
//!
//! It must be a function: a plain statement reads with the snapshot taken when it *started*,
//! before it waited for the lock, so it could miss a change committed meanwhile. A VOLATILE
//! function takes a fresh snapshot for each statement it runs, so the reads after `FOR UPDATE`
//! see everything committed before the lock was granted. PL/pgSQL (not SQL) because it keeps
//! its plans between calls.
//!
//! The one migration written as SQL: SeaQuery has no builder for functions. SQLite has no
//! functions and needs none (one writer at a time; its statements are in-process calls).

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const CREATE: &str = r#"
CREATE OR REPLACE FUNCTION flowtrack_lock_project(
    in_project uuid, in_user uuid, in_task uuid, in_column text)
RETURNS TABLE (
    p_id uuid, p_name text, p_description text, p_status text, p_owner_id uuid,
    p_start_date date, p_due_date date, p_event_seq bigint, p_created_at timestamptz,
    p_updated_at timestamptz,
    member_role text,
    last_position text,
    t_id uuid, t_project_id uuid, t_title text, t_description text, t_status text,
    t_priority text, t_assignee_id uuid, t_labels text, t_created_by uuid, t_due_date date,
    t_position text, t_version bigint, t_created_at timestamptz, t_updated_at timestamptz,
    t_completed_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM projects WHERE projects.id = in_project FOR UPDATE;
    RETURN QUERY
    SELECT p.id, p.name, p.description, p.status, p.owner_id, p.start_date, p.due_date,
        p.event_seq, p.created_at, p.updated_at,
        (SELECT m.role FROM project_members m
          WHERE m.project_id = in_project AND m.user_id = in_user),
        (SELECT c.position FROM tasks c
          WHERE in_column IS NOT NULL AND c.project_id = in_project AND c.status = in_column
            AND c.id IS DISTINCT FROM in_task
          ORDER BY c.position DESC LIMIT 1),
        t.id, t.project_id, t.title, t.description, t.status, t.priority, t.assignee_id,
        t.labels, t.created_by, t.due_date, t.position, t.version, t.created_at,
        t.updated_at, t.completed_at
    FROM projects p LEFT JOIN tasks t ON t.id = in_task
    WHERE p.id = in_project;
END
$$"#;

const DROP: &str = "DROP FUNCTION IF EXISTS flowtrack_lock_project(uuid, uuid, uuid, text)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(CREATE).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared(DROP).await?;
        }
        Ok(())
    }
}
