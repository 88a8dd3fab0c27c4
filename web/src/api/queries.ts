import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '.';
import { keys, type ProjectFilters } from './keys';
import type { ActivityLog, Comment, Member, Notification, Page, Project, ProjectStatus, User } from './types';
import { fetchBoard } from '../live/live';

/** Every page of a paginated list (bounded). */
export async function fetchAll<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, maxPages = 20): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    const page = await fetchPage(cursor);
    out.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

export function useProjects(f: ProjectFilters) {
  return useQuery({
    queryKey: keys.projects(f),
    queryFn: async (): Promise<Page<Project>> => {
      const items = await fetchAll<Project>((cursor) =>
        unwrap(
          api.GET('/projects', {
            params: {
              query: {
                limit: 200,
                cursor,
                status: (f.status || undefined) as ProjectStatus | undefined,
                q: f.q || undefined,
              },
            },
          }),
        ) as Promise<Page<Project>>,
      );
      return { items, next_cursor: null };
    },
  });
}

export function useBoard(projectId: string) {
  return useQuery({
    queryKey: keys.board(projectId),
    queryFn: () => fetchBoard(projectId),
    staleTime: Infinity, // kept fresh by live events
  });
}

export function useMembers(projectId: string) {
  return useQuery({
    queryKey: keys.members(projectId),
    queryFn: async () =>
      (await unwrap(api.GET('/projects/{id}/members', { params: { path: { id: projectId } } }))) as Member[],
    staleTime: Infinity,
  });
}

export function useComments(taskId: string) {
  return useQuery({
    queryKey: keys.comments(taskId),
    queryFn: () =>
      fetchAll<Comment>(
        (cursor) =>
          unwrap(api.GET('/tasks/{id}/comments', { params: { path: { id: taskId }, query: { limit: 200, cursor } } })) as Promise<
            Page<Comment>
          >,
      ),
    staleTime: Infinity,
  });
}

export function useActivity(projectId: string) {
  return useQuery({
    queryKey: keys.activity(projectId),
    queryFn: async () =>
      (
        (await unwrap(
          api.GET('/projects/{id}/activity', { params: { path: { id: projectId }, query: { limit: 200 } } }),
        )) as Page<ActivityLog>
      ).items,
  });
}

export function useNotifications(enabled: boolean) {
  return useQuery({
    queryKey: keys.notifications,
    queryFn: async () =>
      (await unwrap(api.GET('/notifications', { params: { query: { limit: 50 } } }))) as Page<Notification>,
    enabled,
    staleTime: Infinity,
  });
}

export function useUnread() {
  return useQuery({
    queryKey: keys.unread,
    queryFn: async () =>
      (await unwrap(api.GET('/notifications', { params: { query: { unread: true, limit: 200 } } }))) as Page<Notification>,
    staleTime: Infinity,
  });
}

/** A user by id (only users who share a project with me, or anyone for an admin). */
export function useUser(id: string | null | undefined) {
  return useQuery({
    queryKey: keys.user(id ?? ''),
    queryFn: async () => (await unwrap(api.GET('/users/{id}', { params: { path: { id: id! } } }))) as User,
    enabled: !!id,
    staleTime: 5 * 60_000,
  });
}

/** Names by user id from a project's members. */
export function useMemberNames(projectId: string): Map<string, string> {
  const { data } = useMembers(projectId);
  const map = new Map<string, string>();
  for (const m of data ?? []) map.set(m.user.id, m.user.full_name);
  return map;
}
