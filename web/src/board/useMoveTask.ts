import { useCallback, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, unwrap } from '../api';
import { ApiError, messageOf } from '../api/errors';
import { keys } from '../api/keys';
import type { ActivityLog, Board, Member, Page, Task, TaskStatus, User } from '../api/types';
import { applyInverse, dropNeighbours, findTask, moveTask, upsertTask } from './moves';

export interface Conflict {
  taskId: string;
  title: string;
  by: string | null;
}

/** Who last changed a task: from its activity (newest first), else the updated task. */
export async function lastActorName(projectId: string, taskId: string, members: Member[] | undefined): Promise<string | null> {
  let userId: string | null = null;
  try {
    const page = (await unwrap(
      api.GET('/projects/{id}/activity', { params: { path: { id: projectId }, query: { limit: 50 } } }),
    )) as Page<ActivityLog>;
    userId = page.items.find((a) => a.task_id === taskId)?.user_id ?? null;
  } catch {
    userId = null;
  }
  if (!userId) return null;
  const m = members?.find((x) => x.user.id === userId);
  if (m) return m.user.full_name;
  try {
    const u = (await unwrap(api.GET('/users/{id}', { params: { path: { id: userId } } }))) as User;
    return u.full_name;
  } catch {
    return null;
  }
}

/**
 * Optimistic move: the card moves at once, the move is sent with If-Match,
 * and it is rolled back on error; a 412 reports who changed the task meanwhile
 * and shows the fresh card.
 */
export function useMoveTask(projectId: string, members: Member[] | undefined, onError: (msg: string) => void) {
  const qc = useQueryClient();
  const [conflict, setConflict] = useState<Conflict | null>(null);

  const move = useCallback(
    async (taskId: string, toStatus: TaskStatus, columnIdsAfter: string[]) => {
      const key = keys.board(projectId);
      const board = qc.getQueryData<Board>(key);
      if (!board) return;
      const from = findTask(board, taskId);
      if (!from) return;
      const index = columnIdsAfter.indexOf(taskId);
      if (from.status === toStatus && from.index === index) return; // dropped where it was
      const result = moveTask(board, taskId, toStatus, index);
      if (!result) return;
      qc.setQueryData<Board>(key, result.board);
      const neighbours = dropNeighbours(columnIdsAfter, taskId);
      try {
        const moved = (await unwrap(
          api.PATCH('/tasks/{id}/move', {
            params: { path: { id: taskId }, header: { 'If-Match': `"${from.task.version}"` } },
            body: { status: toStatus, ...neighbours },
          }),
        )) as Task;
        qc.setQueryData<Board>(key, (b) => (b ? upsertTask(b, moved) : b));
        qc.setQueryData<Task>(keys.task(taskId), (old) => (old ? moved : old));
      } catch (e) {
        const deleted = e instanceof ApiError && e.status === 404;
        qc.setQueryData<Board>(key, (b) => (b ? applyInverse(b, result.inverse, deleted) : b));
        if (e instanceof ApiError && e.status === 412) {
          let fresh: Task | null = null;
          try {
            fresh = (await unwrap(api.GET('/tasks/{id}', { params: { path: { id: taskId } } }))) as Task;
            const f = fresh;
            qc.setQueryData<Board>(key, (b) => (b ? upsertTask(b, f) : b));
          } catch {
            /* shown below */
          }
          const by = await lastActorName(projectId, taskId, members);
          setConflict({ taskId, title: fresh?.title ?? from.task.title, by });
        } else {
          onError(deleted ? `“${from.task.title}” was deleted meanwhile.` : `Could not move “${from.task.title}”: ${messageOf(e)}`);
        }
      }
    },
    [qc, projectId, members, onError],
  );

  return { move, conflict, clearConflict: () => setConflict(null) };
}
