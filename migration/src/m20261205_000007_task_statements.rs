//! PostgreSQL: the two most frequent changes as one statement each — `flowtrack_create_task`
//! (a task created without an assignee) and `flowtrack_move_task` (a task moved to the end of
//! a column) — with their helpers `flowtrack_position_after` and `flowtrack_task_json`.
//!
//! A change in an explicit transaction holds its project's lock across client round trips
//! (the write, the commit): every other write of the project waits for those turnarounds.
//! Called on its own (no `BEGIN`), each function is one statement and its own transaction: it
//! locks the project, checks the caller's membership, reads what it needs, writes the task,
//! the activity entry, `event_seq + 1` and the event, and commits — the lock is held for
//! PostgreSQL's own work only. (A function, not a plain statement, for the same reason as
//! `flowtrack_lock_project`: its reads after the lock see what committed before it.)
//!
//! What the server decides stays in the server: which memberships may change the project
//! (passed comma-separated, from its policy), the new task's fields, the `If-Match` versions,
//! the ids and time; and the event's text, passed cut around what only the database knows at
//! that point — the seq, the new task's position, or the moved task as it is — which is put
//! in. `flowtrack_task_json` writes a task exactly as the server serializes one (a test
//! compares the stored events with the server's own serialization, byte for byte).
//!
//! `flowtrack_position_after(last)` must equal `services::position::between(Some(last),
//! None)` in the server (a test compares them): the smallest key above `last` with as many
//! digits (base 62, `0-9A-Za-z`, never ending in `0`), or `last` followed by `0…01` when
//! every digit is already the largest; `V` for no (or a malformed) last key.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSITION_AFTER: &str = r#"
CREATE OR REPLACE FUNCTION flowtrack_position_after(in_last text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    alphabet constant text :=
        '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    n int := coalesce(length(in_last), 0);
    digits int[];
    i int;
    out text := '';
BEGIN
    IF n = 0 OR right(in_last, 1) = '0' THEN
        RETURN 'V';
    END IF;
    FOR i IN 1..n LOOP
        digits[i] := strpos(alphabet, substr(in_last, i, 1)) - 1;
        IF digits[i] < 0 THEN
            RETURN 'V';
        END IF;
    END LOOP;
    -- Add one in the last digit, carrying; again if the result ends in 0.
    LOOP
        i := n;
        LOOP
            IF i = 0 THEN
                -- Every digit was the largest: one more digit, after as many zeros.
                RETURN in_last || repeat('0', n - 1) || '1';
            END IF;
            IF digits[i] < 61 THEN
                digits[i] := digits[i] + 1;
                EXIT;
            END IF;
            digits[i] := 0;
            i := i - 1;
        END LOOP;
        EXIT WHEN digits[n] <> 0;
    END LOOP;
    FOR i IN 1..n LOOP
        out := out || substr(alphabet, digits[i] + 1, 1);
    END LOOP;
    RETURN out;
END
$$"#;

const CREATE_TASK: &str = r#"
CREATE OR REPLACE FUNCTION flowtrack_create_task(
    in_project uuid, in_actor uuid, in_allowed_roles text, in_nonmember_allowed boolean,
    in_id uuid, in_title text, in_description text, in_status text, in_priority text,
    in_labels text, in_due_date date, in_at timestamptz, in_completed_at timestamptz,
    in_activity_id uuid, in_action text, in_details text,
    in_payload_head text, in_payload_middle text, in_payload_tail text)
RETURNS TABLE (outcome text, member_role text, seq bigint, task_position text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_role text;
    v_last text;
    v_position text;
BEGIN
    SELECT p.event_seq INTO v_seq FROM projects p WHERE p.id = in_project FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'missing'::text, NULL::text, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    SELECT m.role INTO v_role FROM project_members m
     WHERE m.project_id = in_project AND m.user_id = in_actor;
    IF NOT (CASE WHEN v_role IS NULL THEN in_nonmember_allowed
                 ELSE v_role = ANY (string_to_array(in_allowed_roles, ',')) END) THEN
        RETURN QUERY SELECT 'refused'::text, v_role, NULL::bigint, NULL::text;
        RETURN;
    END IF;
    SELECT c.position INTO v_last FROM tasks c
     WHERE c.project_id = in_project AND c.status = in_status
     ORDER BY c.position DESC LIMIT 1;
    v_position := flowtrack_position_after(v_last);
    v_seq := v_seq + 1;
    INSERT INTO tasks (id, project_id, title, description, status, priority, assignee_id,
        labels, created_by, due_date, position, version, created_at, updated_at, completed_at)
    VALUES (in_id, in_project, in_title, in_description, in_status, in_priority, NULL,
        in_labels, in_actor, in_due_date, v_position, 1, in_at, in_at, in_completed_at);
    INSERT INTO task_labels (task_id, label)
    SELECT in_id, l FROM json_array_elements_text(in_labels::json) AS l;
    INSERT INTO activity_log (id, user_id, project_id, task_id, action, details, created_at,
        from_status, to_status)
    VALUES (in_activity_id, in_actor, in_project, in_id, in_action, in_details, in_at,
        NULL, in_status);
    UPDATE projects SET event_seq = v_seq WHERE id = in_project;
    INSERT INTO events (project_id, seq, event_type, actor_id, payload, created_at, subject_id)
    VALUES (in_project, v_seq, in_action, in_actor,
        in_payload_head || v_seq || in_payload_middle || v_position || in_payload_tail,
        in_at, NULL);
    RETURN QUERY SELECT 'created'::text, v_role, v_seq, v_position;
END
$$"#;

const TASK_JSON: &str = r#"
CREATE OR REPLACE FUNCTION flowtrack_task_json(t tasks)
RETURNS text
LANGUAGE sql STABLE AS $$
SELECT '{"id":"' || t.id || '","project_id":"' || t.project_id
    || '","title":' || to_json(t.title)::text
    || ',"description":' || to_json(t.description)::text
    || ',"status":' || to_json(t.status)::text
    || ',"priority":' || to_json(t.priority)::text
    || ',"assignee_id":' || coalesce('"' || t.assignee_id || '"', 'null')
    || ',"labels":' || t.labels
    || ',"created_by":"' || t.created_by
    || '","due_date":' || coalesce('"' || to_char(t.due_date, 'YYYY-MM-DD') || '"', 'null')
    || ',"position":' || to_json(t.position)::text
    || ',"version":' || t.version
    || ',"created_at":"'
    || to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    || '","updated_at":"'
    || to_char(t.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    || '","completed_at":'
    || coalesce('"' || to_char(t.completed_at AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"', 'null')
    || '}'
$$"#;

const MOVE_TASK: &str = r#"
CREATE OR REPLACE FUNCTION flowtrack_move_task(
    in_project uuid, in_task uuid, in_actor uuid, in_allowed_roles text,
    in_nonmember_allowed boolean, in_to text, in_versions text, in_at timestamptz,
    in_activity_id uuid, in_payload_head text, in_payload_middle text)
RETURNS TABLE (outcome text, member_role text, seq bigint, from_status text,
    t_id uuid, t_project_id uuid, t_title text, t_description text, t_status text,
    t_priority text, t_assignee_id uuid, t_labels text, t_created_by uuid, t_due_date date,
    t_position text, t_version bigint, t_created_at timestamptz, t_updated_at timestamptz,
    t_completed_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_seq bigint;
    v_task tasks%ROWTYPE;
    v_from text;
    v_last text;
BEGIN
    SELECT p.event_seq INTO v_seq FROM projects p WHERE p.id = in_project FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'missing';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT m.role INTO member_role FROM project_members m
     WHERE m.project_id = in_project AND m.user_id = in_actor;
    IF NOT (CASE WHEN member_role IS NULL THEN in_nonmember_allowed
                 ELSE member_role = ANY (string_to_array(in_allowed_roles, ',')) END) THEN
        outcome := 'refused';
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO v_task FROM tasks t WHERE t.id = in_task AND t.project_id = in_project;
    IF NOT FOUND THEN
        outcome := 'missing';
        RETURN NEXT;
        RETURN;
    END IF;
    -- in_versions: NULL for any version, else the versions the If-Match tags name.
    IF in_versions IS NOT NULL
       AND NOT v_task.version::text = ANY (string_to_array(in_versions, ',')) THEN
        outcome := 'stale';
        RETURN NEXT;
        RETURN;
    END IF;
    v_from := v_task.status;
    SELECT c.position INTO v_last FROM tasks c
     WHERE c.project_id = in_project AND c.status = in_to AND c.id <> in_task
     ORDER BY c.position DESC LIMIT 1;
    UPDATE tasks t SET status = in_to, position = flowtrack_position_after(v_last),
        completed_at = CASE WHEN in_to <> 'done' THEN NULL
                            WHEN v_from = 'done' THEN t.completed_at
                            ELSE in_at END,
        version = t.version + 1, updated_at = in_at
     WHERE t.id = in_task
    RETURNING t.* INTO v_task;
    v_seq := v_seq + 1;
    INSERT INTO activity_log (id, user_id, project_id, task_id, action, details, created_at,
        from_status, to_status)
    VALUES (in_activity_id, in_actor, in_project, in_task, 'task.moved',
        '{"from":' || to_json(v_from)::text || ',"to":' || to_json(in_to)::text || '}', in_at,
        v_from, in_to);
    UPDATE projects SET event_seq = v_seq WHERE id = in_project;
    INSERT INTO events (project_id, seq, event_type, actor_id, payload, created_at, subject_id)
    VALUES (in_project, v_seq, 'task.moved', in_actor,
        in_payload_head || v_seq || in_payload_middle || flowtrack_task_json(v_task)
            || ',"from":' || to_json(v_from)::text || ',"to":' || to_json(in_to)::text || '}}',
        in_at, NULL);
    outcome := 'moved';
    seq := v_seq;
    from_status := v_from;
    t_id := v_task.id;
    t_project_id := v_task.project_id;
    t_title := v_task.title;
    t_description := v_task.description;
    t_status := v_task.status;
    t_priority := v_task.priority;
    t_assignee_id := v_task.assignee_id;
    t_labels := v_task.labels;
    t_created_by := v_task.created_by;
    t_due_date := v_task.due_date;
    t_position := v_task.position;
    t_version := v_task.version;
    t_created_at := v_task.created_at;
    t_updated_at := v_task.updated_at;
    t_completed_at := v_task.completed_at;
    RETURN NEXT;
END
$$"#;

const DROP: &[&str] = &[
    "DROP FUNCTION IF EXISTS flowtrack_move_task(uuid, uuid, uuid, text, boolean, text, text, \
     timestamptz, uuid, text, text)",
    "DROP FUNCTION IF EXISTS flowtrack_task_json(tasks)",
    "DROP FUNCTION IF EXISTS flowtrack_create_task(uuid, uuid, text, boolean, uuid, text, \
     text, text, text, text, date, timestamptz, timestamptz, uuid, text, text, text, text, text)",
    "DROP FUNCTION IF EXISTS flowtrack_position_after(text)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            for function in [POSITION_AFTER, TASK_JSON, CREATE_TASK, MOVE_TASK] {
                db.execute_unprepared(function).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            for statement in DROP {
                manager
                    .get_connection()
                    .execute_unprepared(statement)
                    .await?;
            }
        }
        Ok(())
    }
}
