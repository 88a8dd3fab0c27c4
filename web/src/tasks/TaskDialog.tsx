import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../api';
import { ApiError, messageOf } from '../api/errors';
import { keys } from '../api/keys';
import { useActivity, useComments } from '../api/queries';
import {
  PRIORITIES,
  PRIORITY_LABEL,
  STATUSES,
  STATUS_LABEL,
  type ActivityLog,
  type Board,
  type Comment,
  type Member,
  type Priority,
  type Task,
  type TaskStatus,
} from '../api/types';
import { useMe } from '../auth/AuthContext';
import { lastActorName } from '../board/useMoveTask';
import { removeTask, upsertTask } from '../board/moves';
import { Avatar } from '../ui/Avatar';
import { Dialog } from '../ui/Dialog';
import { FormError, SelectField, TextArea, TextField, fieldError } from '../ui/Field';
import { dateTime, timeAgo } from '../ui/format';
import { useToast } from '../ui/Toasts';

interface Props {
  projectId: string;
  taskId: string;
  task: Task | null;
  members: Member[];
  canEdit: boolean;
  onClose: () => void;
}

interface FormState {
  title: string;
  description: string;
  priority: Priority;
  assignee_id: string;
  labels: string;
  due_date: string;
}

function toForm(t: Task): FormState {
  return {
    title: t.title,
    description: t.description,
    priority: t.priority,
    assignee_id: t.assignee_id ?? '',
    labels: t.labels.join(', '),
    due_date: t.due_date ?? '',
  };
}

export function parseLabels(s: string): string[] {
  const out: string[] = [];
  for (const raw of s.split(',')) {
    const l = raw.trim();
    if (l && !out.includes(l)) out.push(l);
  }
  return out;
}

function sameLabels(a: string[], b: string[]) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function TaskDialog({ projectId, taskId, task, members, canEdit, onClose }: Props) {
  if (!task) {
    return (
      <Dialog title="Task not found" onClose={onClose}>
        <p>This task does not exist any more, or it belongs to another project.</p>
      </Dialog>
    );
  }
  return <TaskDialogBody projectId={projectId} taskId={taskId} task={task} members={members} canEdit={canEdit} onClose={onClose} />;
}

function TaskDialogBody({ projectId, task, members, canEdit, onClose }: Props & { task: Task }) {
  const qc = useQueryClient();
  const toast = useToast();
  const [form, setForm] = useState<FormState>(() => toForm(task));
  const [base, setBase] = useState<Task>(task);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const names = useMemo(() => new Map(members.map((m) => [m.user.id, m.user.full_name])), [members]);

  const dirty = useMemo(() => {
    const b = toForm(base);
    return (Object.keys(b) as (keyof FormState)[]).some((k) => (k === 'labels' ? !sameLabels(parseLabels(form.labels), base.labels) : b[k] !== form[k]));
  }, [form, base]);

  // The task changed elsewhere: follow it unless the user is editing.
  useEffect(() => {
    if (task.version === base.version) return;
    if (!dirty) {
      setForm(toForm(task));
      setBase(task);
    } else {
      setNotice('This task was changed by someone else while you were editing. Saving will be refused; your edits are kept.');
    }
  }, [task]); // eslint-disable-line react-hooks/exhaustive-deps

  function setBoardTask(t: Task) {
    qc.setQueryData<Board>(keys.board(projectId), (b) => (b ? upsertTask(b, t) : b));
  }

  async function save(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const labels = parseLabels(form.labels);
    const body: Record<string, unknown> = {};
    if (form.title !== base.title) body.title = form.title;
    if (form.description !== base.description) body.description = form.description;
    if (form.priority !== base.priority) body.priority = form.priority;
    if ((form.assignee_id || null) !== (base.assignee_id ?? null)) body.assignee_id = form.assignee_id || null;
    if (!sameLabels(labels, base.labels)) body.labels = labels;
    if ((form.due_date || null) !== (base.due_date ?? null)) body.due_date = form.due_date || null;
    try {
      const saved = (await unwrap(
        api.PATCH('/tasks/{id}', {
          params: { path: { id: task.id }, header: { 'If-Match': `"${base.version}"` } },
          body,
        }),
      )) as Task;
      setBoardTask(saved);
      setBase(saved);
      setForm(toForm(saved));
      setNotice(null);
      toast.show('Task saved.');
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        const by = await lastActorName(projectId, task.id, members);
        try {
          const fresh = (await unwrap(api.GET('/tasks/{id}', { params: { path: { id: task.id } } }))) as Task;
          setBoardTask(fresh);
          setBase(fresh);
        } catch {
          /* keep */
        }
        setNotice(
          `${by ?? 'Someone else'} changed this task meanwhile, so your changes were not saved. Review the latest version (shown on the board) and save again.`,
        );
      } else setError(err);
    } finally {
      setBusy(false);
    }
  }

  async function moveTo(status: TaskStatus) {
    if (status === task.status) return;
    try {
      const moved = (await unwrap(
        api.PATCH('/tasks/{id}/move', {
          params: { path: { id: task.id }, header: { 'If-Match': `"${task.version}"` } },
          body: { status },
        }),
      )) as Task;
      setBoardTask(moved);
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        const by = await lastActorName(projectId, task.id, members);
        setNotice(`${by ?? 'Someone else'} changed this task meanwhile; it was not moved. Try again.`);
      } else toast.show(messageOf(err), 'error');
    }
  }

  async function doDelete() {
    setBusy(true);
    try {
      await unwrap(api.DELETE('/tasks/{id}', { params: { path: { id: task.id }, header: { 'If-Match': `"${task.version}"` } } }));
      qc.setQueryData<Board>(keys.board(projectId), (b) => (b ? removeTask(b, task.id) : b));
      toast.show(`Deleted “${task.title}”.`);
      onClose();
    } catch (err) {
      setConfirmDelete(false);
      if (err instanceof ApiError && err.status === 412) {
        const by = await lastActorName(projectId, task.id, members);
        setNotice(`${by ?? 'Someone else'} changed this task meanwhile; it was not deleted. Check the latest version first.`);
      } else setError(err);
    } finally {
      setBusy(false);
    }
  }

  const shown = ['title', 'description', 'priority', 'assignee_id', 'labels', 'due_date'];
  return (
    <Dialog title={task.title} onClose={onClose} wide>
      <div className="task-layout">
        <div className="task-main">
          {notice && (
            <div className="notice notice-warning" role="alert">
              {notice}
            </div>
          )}
          <div className="task-status-row">
            <SelectField
              label="Status"
              value={task.status}
              disabled={!canEdit}
              onChange={(e) => void moveTo(e.target.value as TaskStatus)}
            >
              {STATUSES.map((s) => (
                <option key={s} value={s}>
                  {STATUS_LABEL[s]}
                </option>
              ))}
            </SelectField>
            <p className="muted small task-created">
              Created {timeAgo(task.created_at)}
              {names.get(task.created_by) ? ` by ${names.get(task.created_by)}` : ''} · updated {timeAgo(task.updated_at)}
            </p>
          </div>
          <form onSubmit={save} className="task-form" noValidate>
            <fieldset disabled={!canEdit} className="plain-fieldset">
              <legend className="visually-hidden">Task details</legend>
              <TextField
                label="Title"
                required
                maxLength={200}
                value={form.title}
                onChange={(e) => setForm({ ...form, title: e.target.value })}
                error={fieldError(error, 'title')}
              />
              <TextArea
                label="Description"
                rows={4}
                value={form.description}
                onChange={(e) => setForm({ ...form, description: e.target.value })}
                error={fieldError(error, 'description')}
              />
              <div className="field-row">
                <SelectField
                  label="Priority"
                  value={form.priority}
                  onChange={(e) => setForm({ ...form, priority: e.target.value as Priority })}
                  error={fieldError(error, 'priority')}
                >
                  {PRIORITIES.map((p) => (
                    <option key={p} value={p}>
                      {PRIORITY_LABEL[p]}
                    </option>
                  ))}
                </SelectField>
                <SelectField
                  label="Assignee"
                  value={form.assignee_id}
                  onChange={(e) => setForm({ ...form, assignee_id: e.target.value })}
                  error={fieldError(error, 'assignee_id')}
                >
                  <option value="">Unassigned</option>
                  {members.map((m) => (
                    <option key={m.user.id} value={m.user.id}>
                      {m.user.full_name}
                    </option>
                  ))}
                  {form.assignee_id && !names.has(form.assignee_id) && <option value={form.assignee_id}>Former member</option>}
                </SelectField>
              </div>
              <div className="field-row">
                <TextField
                  label="Labels"
                  hint="Separate labels with commas."
                  value={form.labels}
                  onChange={(e) => setForm({ ...form, labels: e.target.value })}
                  error={fieldError(error, 'labels')}
                />
                <TextField
                  label="Due date"
                  type="date"
                  value={form.due_date}
                  onChange={(e) => setForm({ ...form, due_date: e.target.value })}
                  error={fieldError(error, 'due_date')}
                />
              </div>
              <FormError error={error} shownFields={shown} />
              {canEdit && (
                <div className="form-actions">
                  <button type="submit" className="button button-primary" disabled={busy || !dirty}>
                    Save changes
                  </button>
                  {dirty && (
                    <button type="button" className="button button-ghost" onClick={() => setForm(toForm(base))}>
                      Discard changes
                    </button>
                  )}
                  <span className="spacer" />
                  {confirmDelete ? (
                    <span className="confirm-inline" role="group" aria-label="Confirm deletion">
                      <span>Delete this task?</span>
                      <button type="button" className="button button-danger button-small" onClick={doDelete} disabled={busy}>
                        Yes, delete task
                      </button>
                      <button type="button" className="button button-small" onClick={() => setConfirmDelete(false)}>
                        Keep it
                      </button>
                    </span>
                  ) : (
                    <button type="button" className="button button-ghost button-danger-text" onClick={() => setConfirmDelete(true)}>
                      Delete task
                    </button>
                  )}
                </div>
              )}
            </fieldset>
          </form>
          <Comments taskId={task.id} names={names} />
        </div>
        <aside className="task-side" aria-label="Activity">
          <TaskActivity projectId={projectId} taskId={task.id} names={names} />
        </aside>
      </div>
    </Dialog>
  );
}

function Comments({ taskId, names }: { taskId: string; names: Map<string, string> }) {
  const me = useMe();
  const qc = useQueryClient();
  const { data, isLoading, error } = useComments(taskId);
  const [body, setBody] = useState('');
  const [err, setErr] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [editBody, setEditBody] = useState('');

  function put(c: Comment, remove = false) {
    qc.setQueryData<Comment[]>(keys.comments(taskId), (list) => {
      if (!list) return list;
      if (remove) return list.filter((x) => x.id !== c.id);
      const i = list.findIndex((x) => x.id === c.id);
      if (i < 0) return [...list, c];
      const copy = [...list];
      copy[i] = c;
      return copy;
    });
  }

  async function add(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      const c = (await unwrap(api.POST('/tasks/{id}/comments', { params: { path: { id: taskId } }, body: { body } }))) as Comment;
      put(c);
      setBody('');
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  }

  async function saveEdit(c: Comment) {
    setErr(null);
    try {
      const saved = (await unwrap(api.PATCH('/comments/{id}', { params: { path: { id: c.id } }, body: { body: editBody } }))) as Comment;
      put(saved);
      setEditing(null);
    } catch (x) {
      setErr(x);
    }
  }

  async function remove(c: Comment) {
    setErr(null);
    try {
      await unwrap(api.DELETE('/comments/{id}', { params: { path: { id: c.id } } }));
      put(c, true);
    } catch (x) {
      setErr(x);
    }
  }

  const comments = data ?? [];
  return (
    <section className="comments" aria-labelledby="comments-heading">
      <h3 id="comments-heading">Comments {comments.length > 0 && <span className="muted">({comments.length})</span>}</h3>
      {isLoading ? (
        <p className="muted">Loading comments…</p>
      ) : error ? (
        <p className="form-error" role="alert">
          {messageOf(error)}
        </p>
      ) : comments.length === 0 ? (
        <p className="muted">No comments yet.</p>
      ) : (
        <ul className="comment-list">
          {comments.map((c) => {
            const author = c.author_id === me.id ? me.full_name : (names.get(c.author_id) ?? 'Former member');
            return (
              <li key={c.id} className="comment">
                <Avatar name={author} id={c.author_id} size="sm" decorative />
                <div className="comment-body">
                  <div className="comment-head">
                    <strong>{author}</strong>
                    <time dateTime={c.created_at} title={dateTime(c.created_at)} className="muted small">
                      {timeAgo(c.created_at)}
                      {c.updated_at !== c.created_at ? ' (edited)' : ''}
                    </time>
                  </div>
                  {editing === c.id ? (
                    <div className="comment-edit">
                      <TextArea label="Edit comment" hideLabel rows={3} value={editBody} onChange={(e) => setEditBody(e.target.value)} />
                      <div className="form-actions">
                        <button type="button" className="button button-small button-primary" onClick={() => saveEdit(c)}>
                          Save comment
                        </button>
                        <button type="button" className="button button-small" onClick={() => setEditing(null)}>
                          Cancel
                        </button>
                      </div>
                    </div>
                  ) : (
                    <p className="comment-text">{c.body}</p>
                  )}
                  {c.author_id === me.id && editing !== c.id && (
                    <div className="comment-actions">
                      <button
                        type="button"
                        className="link-button"
                        onClick={() => {
                          setEditing(c.id);
                          setEditBody(c.body);
                        }}
                      >
                        Edit<span className="visually-hidden"> comment</span>
                      </button>
                      <button type="button" className="link-button danger" onClick={() => remove(c)}>
                        Delete<span className="visually-hidden"> comment</span>
                      </button>
                    </div>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      )}
      <form onSubmit={add} className="comment-form">
        <TextArea label="Add a comment" hideLabel placeholder="Write a comment…" rows={2} value={body} onChange={(e) => setBody(e.target.value)} error={fieldError(err, 'body')} />
        <FormError error={err} shownFields={['body']} />
        <button type="submit" className="button button-primary button-small" disabled={busy || !body.trim()}>
          Comment
        </button>
      </form>
    </section>
  );
}

const STATUS_NAMES = STATUS_LABEL as Record<string, string>;

export function describeActivity(a: ActivityLog): string {
  const d = (a.details ?? {}) as Record<string, unknown>;
  switch (a.action) {
    case 'task.created':
      return 'created the task';
    case 'task.moved':
      return `moved it from ${STATUS_NAMES[String(d.from)] ?? d.from} to ${STATUS_NAMES[String(d.to)] ?? d.to}`;
    case 'task.updated': {
      const fields = (Array.isArray(d.changes) ? d.changes : Array.isArray(d.fields) ? d.fields : Object.keys(d))
        .map(String)
        .filter((f) => f !== 'version' && f !== 'updated_at');
      return fields.length ? `changed ${fields.join(', ').replace(/_id\b/g, '').replace(/_/g, ' ')}` : 'updated the task';
    }
    case 'task.deleted':
      return 'deleted the task';
    case 'comment.created':
      return 'commented';
    case 'comment.updated':
      return 'edited a comment';
    case 'comment.deleted':
      return 'deleted a comment';
    default:
      return a.action.replace('.', ' ');
  }
}

function TaskActivity({ projectId, taskId, names }: { projectId: string; taskId: string; names: Map<string, string> }) {
  const { data, isLoading, error } = useActivity(projectId);
  const me = useMe();
  const items = (data ?? []).filter((a) => a.task_id === taskId);
  return (
    <section aria-labelledby="activity-heading">
      <h3 id="activity-heading">Activity</h3>
      {isLoading ? (
        <p className="muted">Loading…</p>
      ) : error ? (
        <p className="form-error">{messageOf(error)}</p>
      ) : items.length === 0 ? (
        <p className="muted">No activity yet.</p>
      ) : (
        <ol className="activity-list">
          {items.map((a) => (
            <li key={a.id}>
              <strong>{a.user_id === me.id ? 'You' : (names.get(a.user_id) ?? 'Someone')}</strong> {describeActivity(a)}
              <time className="muted small" dateTime={a.created_at} title={dateTime(a.created_at)}>
                {' '}
                {timeAgo(a.created_at)}
              </time>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
