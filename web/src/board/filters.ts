import type { Board, Priority, Task, TaskStatus } from '../api/types';

export interface BoardFilters {
  /** '' any, 'none' unassigned, or a user id */
  assignee: string;
  label: string;
  priority: '' | Priority;
  text: string;
}

export const NO_FILTERS: BoardFilters = { assignee: '', label: '', priority: '', text: '' };

export function isFiltering(f: BoardFilters): boolean {
  return !!(f.assignee || f.label || f.priority || f.text.trim());
}

export function taskMatches(t: Task, f: BoardFilters): boolean {
  if (f.assignee === 'none' ? t.assignee_id : f.assignee && t.assignee_id !== f.assignee) return false;
  if (f.label && !t.labels.includes(f.label)) return false;
  if (f.priority && t.priority !== f.priority) return false;
  const q = f.text.trim().toLowerCase();
  if (q && !t.title.toLowerCase().includes(q) && !t.description.toLowerCase().includes(q) && !t.labels.some((l) => l.toLowerCase().includes(q)))
    return false;
  return true;
}

export function visibleColumns(board: Board, f: BoardFilters): Record<TaskStatus, Task[]> {
  const out = { todo: [], in_progress: [], review: [], done: [] } as Record<TaskStatus, Task[]>;
  for (const c of board.columns) out[c.status] = c.tasks.filter((t) => taskMatches(t, f));
  return out;
}

export function allLabels(board: Board): string[] {
  const set = new Set<string>();
  for (const c of board.columns) for (const t of c.tasks) for (const l of t.labels) set.add(l);
  return [...set].sort((a, b) => a.localeCompare(b));
}
