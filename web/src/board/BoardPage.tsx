import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router';
import {
  DndContext,
  DragOverlay,
  KeyboardSensor,
  MouseSensor,
  TouchSensor,
  closestCorners,
  useDroppable,
  useSensor,
  useSensors,
  type Announcements,
  type DragEndEvent,
  type DragOverEvent,
  type DragStartEvent,
  type UniqueIdentifier,
} from '@dnd-kit/core';
import { SortableContext, arrayMove, sortableKeyboardCoordinates, verticalListSortingStrategy } from '@dnd-kit/sortable';
import { api, unwrap } from '../api';
import { ApiError, messageOf } from '../api/errors';
import { keys } from '../api/keys';
import { useBoard, useMembers } from '../api/queries';
import { PRIORITIES, PRIORITY_LABEL, STATUSES, STATUS_LABEL, type Board, type Task, type TaskStatus } from '../api/types';
import { useMe } from '../auth/AuthContext';
import { ProjectFormDialog } from '../projects/ProjectFormDialog';
import { ProgressBar, ProjectStatusChip } from '../projects/ProjectsPage';
import { TaskDialog } from '../tasks/TaskDialog';
import { NotFound } from '../pages/NotFound';
import { useToast } from '../ui/Toasts';
import { NO_FILTERS, allLabels, isFiltering, visibleColumns, type BoardFilters } from './filters';
import { findTask, placeAmongAll, upsertTask } from './moves';
import { CardBody, SortableCard } from './TaskCard';
import { useMoveTask } from './useMoveTask';

type Ids = Record<TaskStatus, string[]>;
const COLUMN_PREFIX = 'column:';

function QuickAdd({ projectId, status, disabled }: { projectId: string; status: TaskStatus; disabled: boolean }) {
  const qc = useQueryClient();
  const [title, setTitle] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const label = `New task in ${STATUS_LABEL[status]}`;
  const errId = `quick-add-${status}-error`;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!title.trim()) {
      setError('Enter a title.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const task = (await unwrap(api.POST('/tasks', { body: { project_id: projectId, title, status } }))) as Task;
      qc.setQueryData<Board>(keys.board(projectId), (b) => (b ? upsertTask(b, task) : b));
      setTitle('');
    } catch (err) {
      setError(err instanceof ApiError ? (err.fieldError('title') ?? err.userMessage) : messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  if (disabled) return null;
  return (
    <form className="quick-add" onSubmit={submit}>
      <input
        className="input input-small"
        aria-label={label}
        placeholder="Add a task…"
        value={title}
        maxLength={200}
        onChange={(e) => setTitle(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? errId : undefined}
      />
      <button type="submit" className="button button-small" disabled={busy}>
        Add
      </button>
      {error && (
        <div id={errId} className="field-error quick-add-error" role="alert">
          {error}
        </div>
      )}
    </form>
  );
}

function ColumnView({
  status,
  tasks,
  ids,
  total,
  names,
  canEdit,
  projectId,
  onOpen,
}: {
  status: TaskStatus;
  tasks: Map<string, Task>;
  ids: string[];
  total: number;
  names: Map<string, string>;
  canEdit: boolean;
  projectId: string;
  onOpen: (t: Task) => void;
}) {
  const { setNodeRef, isOver } = useDroppable({ id: COLUMN_PREFIX + status, disabled: !canEdit });
  const headingId = `column-${status}-heading`;
  const shown = ids.length;
  return (
    <section className={`column column-${status}${isOver ? ' column-over' : ''}`} aria-labelledby={headingId}>
      <header className="column-header">
        <h2 id={headingId} className="column-title">
          {STATUS_LABEL[status]}
        </h2>
        <span className="column-count" aria-label={shown === total ? `${total} tasks` : `${shown} of ${total} tasks shown`}>
          {shown === total ? total : `${shown}/${total}`}
        </span>
      </header>
      <SortableContext id={status} items={ids} strategy={verticalListSortingStrategy}>
        <ul ref={setNodeRef} role="list" className="card-list" aria-labelledby={headingId}>
          {ids.map((id) => {
            const t = tasks.get(id);
            if (!t) return null;
            return (
              <SortableCard
                key={id}
                task={t}
                assignee={t.assignee_id ? names.get(t.assignee_id) : undefined}
                disabled={!canEdit}
                onOpen={onOpen}
              />
            );
          })}
        </ul>
      </SortableContext>
      <QuickAdd projectId={projectId} status={status} disabled={!canEdit} />
    </section>
  );
}

export function BoardPage() {
  const { projectId = '', taskId } = useParams();
  const me = useMe();
  const navigate = useNavigate();
  const toast = useToast();
  const board = useBoard(projectId);
  const members = useMembers(projectId);
  const [filters, setFilters] = useState<BoardFilters>(NO_FILTERS);
  const [dragIds, setDragIds] = useState<Ids | null>(null);
  const [activeId, setActiveId] = useState<string | null>(null);
  const [editingProject, setEditingProject] = useState(false);
  const lastDragEnd = useRef(0);
  const onMoveError = useCallback((m: string) => toast.show(m, 'error'), [toast]);
  const { move, conflict, clearConflict } = useMoveTask(projectId, members.data, onMoveError);

  const names = useMemo(() => {
    const m = new Map<string, string>();
    for (const x of members.data ?? []) m.set(x.user.id, x.user.full_name);
    return m;
  }, [members.data]);
  const myRole = members.data?.find((m) => m.user.id === me.id)?.role ?? (me.role === 'admin' ? 'owner' : undefined);
  const canEdit = me.role === 'admin' || myRole === 'owner' || myRole === 'editor';

  const data = board.data;
  const visible = useMemo(() => (data ? visibleColumns(data, filters) : null), [data, filters]);
  const taskMap = useMemo(() => {
    const m = new Map<string, Task>();
    for (const c of data?.columns ?? []) for (const t of c.tasks) m.set(t.id, t);
    return m;
  }, [data]);
  const baseIds = useMemo<Ids | null>(
    () =>
      visible
        ? (Object.fromEntries(STATUSES.map((s) => [s, visible[s].map((t) => t.id)])) as Ids)
        : null,
    [visible],
  );
  const ids = dragIds ?? baseIds;

  const sensors = useSensors(
    useSensor(MouseSensor, { activationConstraint: { distance: 6 } }),
    useSensor(TouchSensor, { activationConstraint: { delay: 200, tolerance: 8 } }),
    useSensor(KeyboardSensor, {
      coordinateGetter: sortableKeyboardCoordinates,
      keyboardCodes: { start: ['Space'], cancel: ['Escape'], end: ['Space', 'Enter'] },
    }),
  );

  const containerOf = useCallback(
    (id: UniqueIdentifier, within: Ids | null): TaskStatus | undefined => {
      const s = String(id);
      if (s.startsWith(COLUMN_PREFIX)) return s.slice(COLUMN_PREFIX.length) as TaskStatus;
      if (!within) return undefined;
      return STATUSES.find((st) => within[st].includes(s));
    },
    [],
  );

  const titleOf = (id: UniqueIdentifier) => taskMap.get(String(id))?.title ?? 'task';
  const positionText = (id: UniqueIdentifier, overId: UniqueIdentifier | undefined) => {
    const cur = dragIds ?? baseIds;
    if (!cur || overId === undefined) return '';
    const col = containerOf(overId, cur);
    if (!col) return '';
    const list = cur[col];
    const i = list.indexOf(String(id));
    return `${STATUS_LABEL[col]}${i >= 0 ? `, position ${i + 1} of ${list.length}` : ''}`;
  };
  const announcements: Announcements = {
    onDragStart: ({ active }) => `Picked up task ${titleOf(active.id)}. Use the arrow keys to move it, Space to drop, Escape to cancel.`,
    onDragOver: ({ active, over }) =>
      over ? `Task ${titleOf(active.id)} is over ${positionText(active.id, over.id)}.` : `Task ${titleOf(active.id)} is no longer over a column.`,
    onDragEnd: ({ active, over }) => {
      const col = over ? containerOf(over.id, dragIds ?? baseIds) : undefined;
      return col ? `Task ${titleOf(active.id)} was moved to ${STATUS_LABEL[col]}.` : `Task ${titleOf(active.id)} was dropped.`;
    },
    onDragCancel: ({ active }) => `Moving task ${titleOf(active.id)} was cancelled. It is back where it was.`,
  };

  function onDragStart(e: DragStartEvent) {
    setActiveId(String(e.active.id));
    setDragIds(baseIds);
  }

  function onDragOver({ active, over }: DragOverEvent) {
    if (!over) return;
    setDragIds((prev) => {
      if (!prev) return prev;
      const from = containerOf(active.id, prev);
      const to = containerOf(over.id, prev);
      if (!from || !to || from === to) return prev;
      const aid = String(active.id);
      const fromList = prev[from].filter((x) => x !== aid);
      const toList = prev[to].filter((x) => x !== aid);
      const overIndex = toList.indexOf(String(over.id));
      let at = overIndex >= 0 ? overIndex : toList.length;
      // Below the middle of the card under the pointer: after it.
      const rect = active.rect.current.translated;
      if (overIndex >= 0 && rect && rect.top > over.rect.top + over.rect.height / 2) at = overIndex + 1;
      toList.splice(at, 0, aid);
      return { ...prev, [from]: fromList, [to]: toList };
    });
  }

  function onDragEnd({ active, over }: DragEndEvent) {
    const cur = dragIds;
    setDragIds(null);
    setActiveId(null);
    lastDragEnd.current = Date.now();
    if (!over || !cur || !data) return;
    const aid = String(active.id);
    const to = containerOf(aid, cur);
    if (!to) return;
    let list = cur[to];
    if (!String(over.id).startsWith(COLUMN_PREFIX) && containerOf(over.id, cur) === to) {
      const oldIndex = list.indexOf(aid);
      const newIndex = list.indexOf(String(over.id));
      if (oldIndex !== newIndex && newIndex >= 0) list = arrayMove(list, oldIndex, newIndex);
    }
    const fullIds = data.columns.find((c) => c.status === to)!.tasks.map((t) => t.id);
    // With filters on, only some cards were visible: place the task among all of them.
    const after = placeAmongAll(fullIds, list, aid);
    void move(aid, to, after);
  }

  const openTask = useCallback(
    (t: Task) => {
      if (Date.now() - lastDragEnd.current < 250) return;
      navigate(`/projects/${projectId}/tasks/${t.id}`);
    },
    [navigate, projectId],
  );

  useEffect(() => {
    if (data) document.title = `${data.project.name} · FlowTrack`;
    return () => {
      document.title = 'FlowTrack';
    };
  }, [data]);

  if (board.isLoading) {
    return (
      <p className="page muted" role="status">
        Loading board…
      </p>
    );
  }
  if (board.error || !data || !ids) {
    if (board.error instanceof ApiError && board.error.status === 404) return <NotFound what="project" />;
    return (
      <div className="page">
        <p className="form-error" role="alert">
          {messageOf(board.error)}
        </p>
        <button type="button" className="button" onClick={() => board.refetch()}>
          Try again
        </button>
      </div>
    );
  }

  const project = data.project;
  const labels = allLabels(data);
  const totals = Object.fromEntries(data.columns.map((c) => [c.status, c.tasks.length])) as Record<TaskStatus, number>;
  const activeTask = activeId ? taskMap.get(activeId) : undefined;
  const openedTask = taskId ? (findTask(data, taskId)?.task ?? null) : null;

  return (
    <div className="board-page">
      <div className="board-header">
        <div className="board-title-row">
          <h1 className="board-title">{project.name}</h1>
          <ProjectStatusChip status={project.status} />
          <div className="board-progress">
            <ProgressBar percent={project.progress.percent} label={`${project.name} progress`} />
            <span className="muted small">{project.progress.percent}% done</span>
          </div>
        </div>
        <nav className="board-actions" aria-label="Project">
          <Link className="button button-small" to={`/projects/${projectId}/members`}>
            Members
          </Link>
          <Link className="button button-small" to={`/projects/${projectId}/reports`}>
            Reports
          </Link>
          {canEdit && (
            <button type="button" className="button button-small" onClick={() => setEditingProject(true)}>
              Edit project
            </button>
          )}
        </nav>
      </div>

      <div className="toolbar board-filters" role="search" aria-label="Filter tasks">
        <input
          className="input input-small"
          type="search"
          aria-label="Filter tasks by text"
          placeholder="Filter tasks…"
          value={filters.text}
          onChange={(e) => setFilters({ ...filters, text: e.target.value })}
        />
        <select
          className="input input-small select"
          aria-label="Filter by assignee"
          value={filters.assignee}
          onChange={(e) => setFilters({ ...filters, assignee: e.target.value })}
        >
          <option value="">Any assignee</option>
          <option value={me.id}>Assigned to me</option>
          <option value="none">Unassigned</option>
          {(members.data ?? [])
            .filter((m) => m.user.id !== me.id)
            .map((m) => (
              <option key={m.user.id} value={m.user.id}>
                {m.user.full_name}
              </option>
            ))}
        </select>
        <select
          className="input input-small select"
          aria-label="Filter by label"
          value={filters.label}
          onChange={(e) => setFilters({ ...filters, label: e.target.value })}
        >
          <option value="">Any label</option>
          {labels.map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
        <select
          className="input input-small select"
          aria-label="Filter by priority"
          value={filters.priority}
          onChange={(e) => setFilters({ ...filters, priority: e.target.value as BoardFilters['priority'] })}
        >
          <option value="">Any priority</option>
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {PRIORITY_LABEL[p]}
            </option>
          ))}
        </select>
        {isFiltering(filters) && (
          <button type="button" className="button button-small button-ghost" onClick={() => setFilters(NO_FILTERS)}>
            Clear filters
          </button>
        )}
      </div>

      {conflict && (
        <div className="notice notice-warning conflict" role="alert">
          <p>
            <strong>Conflict:</strong> “{conflict.title}” was changed by {conflict.by ?? 'someone else'} meanwhile. The board shows
            the latest version; your move was not applied.
          </p>
          <button type="button" className="button button-small" onClick={clearConflict}>
            Dismiss
          </button>
        </div>
      )}
      {!canEdit && members.data && (
        <p className="notice" role="note">
          You can view this board; only owners and editors can change tasks.
        </p>
      )}

      <DndContext
        sensors={sensors}
        collisionDetection={closestCorners}
        onDragStart={onDragStart}
        onDragOver={onDragOver}
        onDragEnd={onDragEnd}
        onDragCancel={() => {
          setDragIds(null);
          setActiveId(null);
        }}
        accessibility={{
          announcements,
          screenReaderInstructions: {
            draggable:
              'To move a task, press Space to pick it up, use the arrow keys to move it between positions and columns, then press Space to drop it or Escape to cancel. Press Enter to open the task.',
          },
        }}
      >
        <div className="board">
          {STATUSES.map((s) => (
            <ColumnView
              key={s}
              status={s}
              tasks={taskMap}
              ids={ids[s]}
              total={totals[s] ?? 0}
              names={names}
              canEdit={canEdit}
              projectId={projectId}
              onOpen={openTask}
            />
          ))}
        </div>
        <DragOverlay>
          {activeTask ? (
            <ul className="overlay-list" role="presentation">
              <CardBody task={activeTask} assignee={activeTask.assignee_id ? names.get(activeTask.assignee_id) : undefined} overlay aria-hidden="true" />
            </ul>
          ) : null}
        </DragOverlay>
      </DndContext>

      {taskId && (
        <TaskDialog
          key={taskId}
          projectId={projectId}
          taskId={taskId}
          task={openedTask}
          members={members.data ?? []}
          canEdit={canEdit}
          onClose={() => navigate(`/projects/${projectId}`)}
        />
      )}
      {editingProject && (
        <ProjectFormDialog project={project} onClose={() => setEditingProject(false)} onSaved={() => setEditingProject(false)} />
      )}
    </div>
  );
}
