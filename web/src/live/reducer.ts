// One reducer for live events: applies them by `seq` per project to the
// TanStack Query cache. seq ≤ last applied → duplicate (ignored); seq = last+1 →
// applied; a gap (seq > last+1) or a `resync` → the board is refetched and
// events continue from its seq (events that arrive meanwhile are buffered).
import type { QueryClient } from '@tanstack/react-query';
import type { Board, Comment, Member, Notification, Page, Project, Task, TaskStatus } from '../api/types';
import { keys } from '../api/keys';
import { boardProgress, removeTask, upsertTask } from '../board/moves';

export type EventType =
  | 'project.created'
  | 'project.updated'
  | 'project.deleted'
  | 'member.added'
  | 'member.updated'
  | 'member.removed'
  | 'task.created'
  | 'task.updated'
  | 'task.moved'
  | 'task.deleted'
  | 'comment.created'
  | 'comment.updated'
  | 'comment.deleted';

export interface LiveEvent {
  type: EventType;
  project_id: string;
  seq: number;
  actor_id: string;
  at: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

export type ServerMessage =
  | LiveEvent
  | { type: 'resync'; project_id: string }
  | { type: 'notification'; notification: Notification }
  | { type: 'pong' };

export type Outcome = 'applied' | 'duplicate' | 'gap' | 'buffered' | 'resync' | 'notification' | 'ignored';

export interface LiveOptions {
  /** The signed-in user's id. */
  me: () => string | null;
  /** Asked to refetch a project's board (gap or resync); the host then calls adoptBoard. */
  requestRefetch: (projectId: string) => void;
}

const RECENT = 200;

type ProjectListData = Page<Project>;

export class LiveReducer {
  private last = new Map<string, number>();
  private resyncing = new Map<string, LiveEvent[]>();
  private recent = new Map<string, LiveEvent[]>();

  constructor(
    private readonly qc: QueryClient,
    private readonly opts: LiveOptions,
  ) {}

  /** Last applied seq per project (the resume cursors). */
  cursors(): Record<string, number> {
    return Object.fromEntries(this.last);
  }

  lastSeq(projectId: string): number | undefined {
    return this.last.get(projectId);
  }

  isResyncing(projectId: string): boolean {
    return this.resyncing.has(projectId);
  }

  forget(projectId: string) {
    this.last.delete(projectId);
    this.resyncing.delete(projectId);
    this.recent.delete(projectId);
  }

  reset() {
    this.last.clear();
    this.resyncing.clear();
    this.recent.clear();
  }

  /** Handles one server message. */
  handle(msg: ServerMessage): Outcome {
    if (msg.type === 'pong') return 'ignored';
    if (msg.type === 'notification') {
      applyNotification(this.qc, msg.notification);
      return 'notification';
    }
    if (msg.type === 'resync') {
      this.startResync(msg.project_id);
      return 'resync';
    }
    if (typeof (msg as LiveEvent).seq !== 'number' || !(msg as LiveEvent).project_id) return 'ignored';
    return this.handleEvent(msg as LiveEvent);
  }

  private handleEvent(ev: LiveEvent): Outcome {
    const pid = ev.project_id;
    const buffer = this.resyncing.get(pid);
    if (buffer) {
      buffer.push(ev);
      return 'buffered';
    }
    const last = this.last.get(pid);
    if (last !== undefined && ev.seq <= last) return 'duplicate';
    if (last !== undefined && ev.seq > last + 1) {
      this.startResync(pid, ev);
      return 'gap';
    }
    // seq = last + 1, or the first event seen of this project (no board known yet).
    this.apply(ev);
    return 'applied';
  }

  private apply(ev: LiveEvent) {
    this.last.set(ev.project_id, ev.seq);
    let r = this.recent.get(ev.project_id);
    if (!r) this.recent.set(ev.project_id, (r = []));
    r.push(ev);
    if (r.length > RECENT) r.splice(0, r.length - RECENT);
    applyEventToCache(this.qc, ev, this.opts.me());
    if (ev.type === 'project.deleted' || (ev.type === 'member.removed' && ev.data?.member?.user?.id === this.opts.me())) {
      this.forget(ev.project_id);
    }
  }

  private startResync(pid: string, first?: LiveEvent) {
    const buf = this.resyncing.get(pid) ?? [];
    if (first) buf.push(first);
    const already = this.resyncing.has(pid);
    this.resyncing.set(pid, buf);
    if (!already) this.opts.requestRefetch(pid);
  }

  /** The refetch failed: forget the project's position (the next event is taken as it comes). */
  resyncFailed(pid: string) {
    this.resyncing.delete(pid);
    this.last.delete(pid);
  }

  /**
   * A board fresh from the server (initial load or refetch). Continues from its
   * seq: buffered or recently applied events with a greater seq are applied to
   * it, and the resulting board is returned for the cache.
   */
  adoptBoard(board: Board): Board {
    const pid = board.project.id;
    const buffered = this.resyncing.get(pid) ?? [];
    this.resyncing.delete(pid);
    const known = this.last.get(pid);
    let out = board;
    let seq = board.seq;
    // Events already applied (to other caches) that the snapshot predates.
    if (known !== undefined && known > board.seq) {
      const recent = (this.recent.get(pid) ?? []).filter((e) => e.seq > board.seq).sort((a, b) => a.seq - b.seq);
      if (recent.length === known - board.seq && recent[0]?.seq === board.seq + 1) {
        for (const e of recent) out = applyEventToBoard(out, e);
        seq = known;
      }
      // else: cannot bridge; continue from the snapshot (a later gap refetches).
    }
    this.last.set(pid, seq);
    out = { ...out, seq };
    const pending = [...buffered].sort((a, b) => a.seq - b.seq);
    const rest: LiveEvent[] = [];
    for (const e of pending) {
      const l = this.last.get(pid)!;
      if (e.seq <= l) continue;
      if (e.seq === l + 1) {
        out = applyEventToBoard(out, e);
        out = { ...out, seq: e.seq };
        this.apply(e); // other caches (members, comments, …); the board is returned below
      } else rest.push(e);
    }
    if (rest.length > 0) {
      // Still a gap: refetch again from the new position.
      this.resyncing.set(pid, rest);
      this.opts.requestRefetch(pid);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------
// Effects of events on cached data.

function applyEventToBoard(board: Board, ev: LiveEvent): Board {
  switch (ev.type) {
    case 'task.created':
    case 'task.updated':
    case 'task.moved': {
      const b = upsertTask(board, ev.data.task as Task);
      return { ...b, project: { ...b.project, progress: boardProgress(b) } };
    }
    case 'task.deleted': {
      const b = removeTask(board, (ev.data.task as Task).id);
      return { ...b, project: { ...b.project, progress: boardProgress(b) } };
    }
    case 'project.updated':
      return { ...board, project: { ...(ev.data.project as Project), progress: board.project.progress } };
    default:
      return board;
  }
}

type ProgressDelta = { total: number; done: number };

function taskDelta(ev: LiveEvent): ProgressDelta | null {
  const t = ev.data?.task as Task | undefined;
  if (!t) return null;
  switch (ev.type) {
    case 'task.created':
      return { total: 1, done: t.status === 'done' ? 1 : 0 };
    case 'task.deleted':
      return { total: -1, done: t.status === 'done' ? -1 : 0 };
    case 'task.moved': {
      const from = ev.data.from as TaskStatus;
      const to = ev.data.to as TaskStatus;
      return { total: 0, done: (to === 'done' ? 1 : 0) - (from === 'done' ? 1 : 0) };
    }
    default:
      return null;
  }
}

function withProgress(p: Project, progress: { total: number; done: number } | null, delta: ProgressDelta | null): Project {
  let total = p.progress.total;
  let done = p.progress.done;
  if (progress) {
    total = progress.total;
    done = progress.done;
  } else if (delta) {
    total = Math.max(0, total + delta.total);
    done = Math.max(0, Math.min(total, done + delta.done));
  } else return p;
  return { ...p, progress: { total, done, percent: total === 0 ? 0 : Math.round((100 * done) / total) } };
}

function matchesFilter(p: Project, key: readonly unknown[]): boolean | null {
  const f = (key[1] ?? {}) as { status?: string; q?: string };
  if (f.q) return null; // cannot tell how the server searches: refetch
  if (f.status && f.status !== p.status) return false;
  return true;
}

function updateProjectLists(qc: QueryClient, fn: (list: Project[], key: readonly unknown[]) => Project[] | null) {
  for (const [key, data] of qc.getQueriesData<ProjectListData>({ queryKey: keys.projectsAll })) {
    if (!data) continue;
    const next = fn(data.items, key);
    if (next === null) {
      void qc.invalidateQueries({ queryKey: key, exact: true });
    } else if (next !== data.items) {
      qc.setQueryData<ProjectListData>(key, { ...data, items: next });
    }
  }
}

function upsertProject(qc: QueryClient, project: Project, addIfMissing: boolean) {
  updateProjectLists(qc, (items, key) => {
    const m = matchesFilter(project, key);
    const i = items.findIndex((p) => p.id === project.id);
    if (m === null) return i >= 0 || addIfMissing ? null : items;
    if (i >= 0) {
      if (!m) return items.filter((p) => p.id !== project.id);
      const copy = [...items];
      copy[i] = { ...project, progress: project.progress ?? items[i].progress };
      return copy;
    }
    if (addIfMissing && m) return [project, ...items];
    return items;
  });
  qc.setQueryData<Project>(keys.project(project.id), (old) => (old || addIfMissing ? project : old));
}

function removeProject(qc: QueryClient, pid: string) {
  updateProjectLists(qc, (items) => (items.some((p) => p.id === pid) ? items.filter((p) => p.id !== pid) : items));
}

function setTaskProgress(qc: QueryClient, pid: string, ev: LiveEvent, board: Board | undefined) {
  const progress = board ? boardProgress(board) : null;
  const delta = progress ? null : taskDelta(ev);
  if (!progress && !delta) return;
  updateProjectLists(qc, (items) => {
    const i = items.findIndex((p) => p.id === pid);
    if (i < 0) return items;
    const copy = [...items];
    copy[i] = withProgress(items[i], progress, delta);
    return copy;
  });
  qc.setQueryData<Project>(keys.project(pid), (old) => (old ? withProgress(old, progress, delta) : old));
}

/** Applies one event's effect to every cache it touches. */
export function applyEventToCache(qc: QueryClient, ev: LiveEvent, me: string | null) {
  const pid = ev.project_id;
  switch (ev.type) {
    case 'task.created':
    case 'task.updated':
    case 'task.moved':
    case 'task.deleted': {
      const task = ev.data.task as Task;
      const board = qc.getQueryData<Board>(keys.board(pid));
      let next: Board | undefined;
      if (board) {
        next = applyEventToBoard(board, ev);
        qc.setQueryData<Board>(keys.board(pid), { ...next, seq: ev.seq });
      }
      if (ev.type === 'task.deleted') {
        qc.setQueryData<Task | null>(keys.task(task.id), (old) => (old === undefined ? old : null));
      } else {
        qc.setQueryData<Task>(keys.task(task.id), (old) => (old && old.version > task.version ? old : old ? task : old));
      }
      setTaskProgress(qc, pid, ev, next);
      break;
    }
    case 'project.created':
      upsertProject(qc, ev.data.project as Project, true);
      break;
    case 'project.updated': {
      const project = ev.data.project as Project;
      upsertProject(qc, project, false);
      qc.setQueryData<Board>(keys.board(pid), (b) => (b ? { ...applyEventToBoard(b, ev), seq: ev.seq } : b));
      break;
    }
    case 'project.deleted':
      removeProject(qc, pid);
      void qc.invalidateQueries({ queryKey: keys.board(pid) });
      void qc.invalidateQueries({ queryKey: keys.project(pid) });
      break;
    case 'member.added':
    case 'member.updated': {
      const member = ev.data.member as Member;
      qc.setQueryData<Member[]>(keys.members(pid), (list) => {
        if (!list) return list;
        const i = list.findIndex((m) => m.user.id === member.user.id);
        if (i < 0) return [...list, member];
        const copy = [...list];
        copy[i] = member;
        return copy;
      });
      if (ev.type === 'member.added' && member.user.id === me) {
        void qc.invalidateQueries({ queryKey: keys.projectsAll });
      }
      break;
    }
    case 'member.removed': {
      const member = ev.data.member as Member;
      qc.setQueryData<Member[]>(keys.members(pid), (list) => list?.filter((m) => m.user.id !== member.user.id));
      if (member.user.id === me) {
        removeProject(qc, pid);
        void qc.invalidateQueries({ queryKey: keys.board(pid) });
        void qc.invalidateQueries({ queryKey: keys.project(pid) });
      }
      break;
    }
    case 'comment.created':
    case 'comment.updated':
    case 'comment.deleted': {
      const c = ev.data.comment as Comment;
      qc.setQueryData<Comment[]>(keys.comments(c.task_id), (list) => {
        if (!list) return list;
        if (ev.type === 'comment.deleted') return list.filter((x) => x.id !== c.id);
        const i = list.findIndex((x) => x.id === c.id);
        if (i < 0) return [...list, c];
        const copy = [...list];
        copy[i] = c;
        return copy;
      });
      break;
    }
  }
  // The activity feed of the project changes with every event.
  void qc.invalidateQueries({ queryKey: keys.activity(pid) });
}

export function applyNotification(qc: QueryClient, n: Notification) {
  qc.setQueryData<Page<Notification>>(keys.notifications, (old) =>
    old ? (old.items.some((x) => x.id === n.id) ? old : { ...old, items: [n, ...old.items] }) : old,
  );
  qc.setQueryData<Page<Notification>>(keys.unread, (old) =>
    old ? (old.items.some((x) => x.id === n.id) || n.read_at ? old : { ...old, items: [n, ...old.items] }) : old,
  );
}
