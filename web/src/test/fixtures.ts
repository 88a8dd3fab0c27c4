import type { Board, Member, Project, Task, TaskStatus } from '../api/types';

export const PID = '00000000-0000-7000-8000-000000000001';
export const ME = '00000000-0000-7000-8000-0000000000aa';
export const OTHER = '00000000-0000-7000-8000-0000000000bb';

export function project(over: Partial<Project> = {}): Project {
  return {
    id: PID,
    name: 'Website',
    description: '',
    status: 'active',
    owner_id: ME,
    start_date: null,
    due_date: null,
    created_at: '2026-12-01T10:00:00Z',
    updated_at: '2026-12-01T10:00:00Z',
    progress: { total: 0, done: 0, percent: 0 },
    ...over,
  };
}

export function task(id: string, status: TaskStatus, position: string, over: Partial<Task> = {}): Task {
  return {
    id,
    project_id: PID,
    title: `Task ${id}`,
    description: '',
    status,
    priority: 'medium',
    assignee_id: null,
    labels: [],
    created_by: ME,
    due_date: null,
    position,
    version: 1,
    created_at: '2026-12-01T10:00:00Z',
    updated_at: '2026-12-01T10:00:00Z',
    completed_at: null,
    ...over,
  };
}

/** A board from columns of task ids (positions a0, a1, … in order). */
export function board(cols: Partial<Record<TaskStatus, string[]>>, seq = 10): Board {
  const statuses: TaskStatus[] = ['todo', 'in_progress', 'review', 'done'];
  const columns = statuses.map((s) => ({
    status: s,
    tasks: (cols[s] ?? []).map((id, i) => task(id, s, `a${i}`)),
  }));
  const total = columns.reduce((n, c) => n + c.tasks.length, 0);
  const done = columns[3].tasks.length;
  return {
    project: project({ progress: { total, done, percent: total ? Math.round((100 * done) / total) : 0 } }),
    seq,
    columns,
  };
}

export function ids(b: Board): Record<TaskStatus, string[]> {
  return Object.fromEntries(b.columns.map((c) => [c.status, c.tasks.map((t) => t.id)])) as Record<TaskStatus, string[]>;
}

export function member(userId: string, role: Member['role'] = 'editor', name = 'Someone'): Member {
  return {
    user: {
      id: userId,
      email: `${userId}@example.com`,
      full_name: name,
      role: 'member',
      is_active: true,
      created_at: '2026-12-01T10:00:00Z',
      updated_at: '2026-12-01T10:00:00Z',
    },
    role,
    added_at: '2026-12-01T10:00:00Z',
  };
}
