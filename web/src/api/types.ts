import type { components } from './schema';

type S = components['schemas'];
export type User = S['User'];
export type Project = S['Project'];
export type ProjectStatus = S['ProjectStatus'];
export type ProjectRole = S['ProjectRole'];
export type Progress = S['Progress'];
export type Task = S['Task'];
export type TaskStatus = S['TaskStatus'];
export type Priority = S['Priority'];
export type Board = S['Board'];
export type Column = S['Column'];
export type Member = S['Member'];
export type Comment = S['Comment'];
export type ActivityLog = S['ActivityLog'];
export type Notification = S['Notification'];
export type TokenPair = S['TokenPair'];
export type Problem = S['Problem'];
export type FieldError = S['FieldError'];
export type Summary = S['Summary'];
export type CumulativeFlow = S['CumulativeFlow'];
export type Burndown = S['Burndown'];
export type Workload = S['Workload'];

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export const STATUSES: readonly TaskStatus[] = ['todo', 'in_progress', 'review', 'done'];
export const STATUS_LABEL: Record<TaskStatus, string> = {
  todo: 'To do',
  in_progress: 'In progress',
  review: 'Review',
  done: 'Done',
};
export const PRIORITIES: readonly Priority[] = ['low', 'medium', 'high', 'urgent'];
export const PRIORITY_LABEL: Record<Priority, string> = {
  low: 'Low',
  medium: 'Medium',
  high: 'High',
  urgent: 'Urgent',
};
export const PROJECT_STATUSES: readonly ProjectStatus[] = ['active', 'on_hold', 'completed', 'archived'];
export const PROJECT_STATUS_LABEL: Record<ProjectStatus, string> = {
  active: 'Active',
  on_hold: 'On hold',
  completed: 'Completed',
  archived: 'Archived',
};
export const ROLES: readonly ProjectRole[] = ['owner', 'editor', 'viewer'];
export const ROLE_LABEL: Record<ProjectRole, string> = { owner: 'Owner', editor: 'Editor', viewer: 'Viewer' };
