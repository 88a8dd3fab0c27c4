// TanStack Query keys, in one place so that live events find the caches.
export interface ProjectFilters {
  status?: string;
  q?: string;
}

export const keys = {
  me: ['me'] as const,
  projects: (f: ProjectFilters = {}) => ['projects', { status: f.status ?? '', q: f.q ?? '' }] as const,
  projectsAll: ['projects'] as const,
  project: (id: string) => ['project', id] as const,
  board: (id: string) => ['board', id] as const,
  members: (id: string) => ['members', id] as const,
  task: (id: string) => ['task', id] as const,
  comments: (taskId: string) => ['comments', taskId] as const,
  activity: (projectId: string) => ['activity', projectId] as const,
  notifications: ['notifications'] as const,
  unread: ['notifications', 'unread'] as const,
  users: (q: string) => ['users', q] as const,
  usersAll: ['users'] as const,
  user: (id: string) => ['user', id] as const,
  reports: (projectId: string, kind: string, range = '') => ['reports', projectId, kind, range] as const,
  workload: ['workload'] as const,
};
