// Pure board operations: optimistic moves and their inverse, drop position →
// neighbours, and placing server tasks by `position`.
import type { Board, Task, TaskStatus } from '../api/types';

export interface TaskLocation {
  status: TaskStatus;
  index: number;
  task: Task;
}

export function findTask(board: Board, taskId: string): TaskLocation | null {
  for (const col of board.columns) {
    const index = col.tasks.findIndex((t) => t.id === taskId);
    if (index >= 0) return { status: col.status, index, task: col.tasks[index] };
  }
  return null;
}

/** Undo information of a move: where the task was, as it was. */
export interface MoveInverse {
  taskId: string;
  status: TaskStatus;
  index: number;
  task: Task;
}

function withColumn(board: Board, status: TaskStatus, fn: (tasks: Task[]) => Task[]): Board {
  return {
    ...board,
    columns: board.columns.map((c) => (c.status === status ? { ...c, tasks: fn(c.tasks) } : c)),
  };
}

function without(board: Board, taskId: string): Board {
  return {
    ...board,
    columns: board.columns.map((c) =>
      c.tasks.some((t) => t.id === taskId) ? { ...c, tasks: c.tasks.filter((t) => t.id !== taskId) } : c,
    ),
  };
}

function insertAt(board: Board, status: TaskStatus, index: number, task: Task): Board {
  return withColumn(board, status, (tasks) => {
    const i = Math.max(0, Math.min(index, tasks.length));
    return [...tasks.slice(0, i), task, ...tasks.slice(i)];
  });
}

/**
 * Moves a task to `toStatus` at `toIndex` (index in the target column once the
 * task has been taken out). Returns the new board and the inverse, or null when
 * the task is not on the board.
 */
export function moveTask(
  board: Board,
  taskId: string,
  toStatus: TaskStatus,
  toIndex: number,
): { board: Board; inverse: MoveInverse } | null {
  const from = findTask(board, taskId);
  if (!from) return null;
  const moved: Task = { ...from.task, status: toStatus };
  const next = insertAt(without(board, taskId), toStatus, toIndex, moved);
  return { board: next, inverse: { taskId, status: from.status, index: from.index, task: from.task } };
}

/**
 * Undoes a move: the task goes back where it was, as it was. Changes that other
 * events made to the rest of the board meanwhile are kept. If the task was
 * deleted meanwhile, it stays deleted.
 */
export function applyInverse(board: Board, inverse: MoveInverse, deletedMeanwhile = false): Board {
  const stripped = without(board, inverse.taskId);
  if (deletedMeanwhile) return stripped;
  return insertAt(stripped, inverse.status, inverse.index, inverse.task);
}

export interface Neighbours {
  before_id?: string;
  after_id?: string;
}

/**
 * Given the target column's task ids after the drop and the moved task's id,
 * the move's neighbours (API semantics): `before_id` = the task directly after
 * the moved one (the moved task goes before it), `after_id` = the task directly
 * before it (the moved task goes after it).
 */
export function dropNeighbours(columnIds: readonly string[], movedId: string): Neighbours {
  const i = columnIds.indexOf(movedId);
  if (i < 0) throw new Error(`moved task ${movedId} is not in the column`);
  const out: Neighbours = {};
  if (i + 1 < columnIds.length) out.before_id = columnIds[i + 1];
  if (i > 0) out.after_id = columnIds[i - 1];
  return out;
}

/**
 * With a filtered board, the user drops among the visible cards only. Places the
 * moved task in the full column: directly after its visible predecessor, or
 * directly before its visible successor, or at the end. Returns the full
 * column's ids after the drop.
 */
export function placeAmongAll(
  fullIds: readonly string[],
  visibleIdsAfterDrop: readonly string[],
  movedId: string,
): string[] {
  const rest = fullIds.filter((id) => id !== movedId);
  const v = visibleIdsAfterDrop.indexOf(movedId);
  if (v < 0) return [...rest, movedId];
  const prev = v > 0 ? visibleIdsAfterDrop[v - 1] : undefined;
  const next = v + 1 < visibleIdsAfterDrop.length ? visibleIdsAfterDrop[v + 1] : undefined;
  let at: number;
  if (prev !== undefined && rest.includes(prev)) at = rest.indexOf(prev) + 1;
  else if (next !== undefined && rest.includes(next)) at = rest.indexOf(next);
  else at = rest.length;
  return [...rest.slice(0, at), movedId, ...rest.slice(at)];
}

function comparePosition(a: Task, b: Task): number {
  if (a.position < b.position) return -1;
  if (a.position > b.position) return 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Puts a task as the server knows it on the board: taken out of wherever it is,
 * inserted in its status column by `position`. An older version than the one on
 * the board is ignored (answers and events can cross).
 */
export function upsertTask(board: Board, task: Task): Board {
  const cur = findTask(board, task.id);
  if (cur && cur.task.version > task.version) return board;
  if (cur && cur.task.version === task.version && cur.status === task.status && cur.task.position === task.position) {
    // Same version in place (e.g. our own answer, then its event): keep the order, refresh the data.
    return withColumn(board, cur.status, (tasks) => tasks.map((t) => (t.id === task.id ? task : t)));
  }
  return withColumn(without(board, task.id), task.status, (tasks) => {
    const out = [...tasks];
    let i = out.findIndex((t) => comparePosition(task, t) < 0);
    if (i < 0) i = out.length;
    out.splice(i, 0, task);
    return out;
  });
}

export function removeTask(board: Board, taskId: string): Board {
  return without(board, taskId);
}

/** Progress numbers of a board. */
export function boardProgress(board: Board): { total: number; done: number; percent: number } {
  let total = 0;
  let done = 0;
  for (const c of board.columns) {
    total += c.tasks.length;
    if (c.status === 'done') done += c.tasks.length;
  }
  return { total, done, percent: total === 0 ? 0 : Math.round((100 * done) / total) };
}
