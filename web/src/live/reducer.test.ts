import { beforeEach, describe, expect, it, vi } from 'vitest';
import { QueryClient } from '@tanstack/react-query';
import { keys } from '../api/keys';
import type { Board, Comment, Member, Notification, Page, Project } from '../api/types';
import { LiveReducer, type LiveEvent } from './reducer';
import { ME, OTHER, PID, board, ids, member, project, task } from '../test/fixtures';

let qc: QueryClient;
let refetch: ReturnType<typeof vi.fn<(pid: string) => void>>;
let live: LiveReducer;

function ev(seq: number, type: LiveEvent['type'], data: unknown, project_id = PID): LiveEvent {
  return { type, project_id, seq, actor_id: OTHER, at: '2026-12-05T10:00:00Z', data };
}

function boardData(): Board {
  return qc.getQueryData<Board>(keys.board(PID))!;
}

beforeEach(() => {
  qc = new QueryClient();
  refetch = vi.fn<(pid: string) => void>();
  live = new LiveReducer(qc, { me: () => ME, requestRefetch: refetch });
  // The board was loaded at seq 10.
  qc.setQueryData(keys.board(PID), live.adoptBoard(board({ todo: ['a', 'b'], done: ['d'] }, 10)));
});

describe('ordering by seq', () => {
  it('applies seq = last + 1 and advances the cursor', () => {
    expect(live.handle(ev(11, 'task.created', { task: task('n', 'todo', 'a2') }))).toBe('applied');
    expect(ids(boardData()).todo).toEqual(['a', 'b', 'n']);
    expect(live.cursors()).toEqual({ [PID]: 11 });
    expect(boardData().seq).toBe(11);
  });

  it('ignores duplicates (seq ≤ last applied)', () => {
    live.handle(ev(11, 'task.created', { task: task('n', 'todo', 'a2') }));
    expect(live.handle(ev(11, 'task.created', { task: task('n', 'todo', 'a2') }))).toBe('duplicate');
    expect(live.handle(ev(5, 'task.deleted', { task: task('a', 'todo', 'a0') }))).toBe('duplicate');
    expect(ids(boardData()).todo).toEqual(['a', 'b', 'n']);
    expect(refetch).not.toHaveBeenCalled();
  });

  it('a gap requests a refetch and buffers until the board arrives', () => {
    expect(live.handle(ev(13, 'task.created', { task: task('x', 'todo', 'a9') }))).toBe('gap');
    expect(refetch).toHaveBeenCalledWith(PID);
    expect(ids(boardData()).todo).toEqual(['a', 'b']); // not applied yet
    expect(live.handle(ev(14, 'task.created', { task: task('y', 'todo', 'b0') }))).toBe('buffered');
    expect(refetch).toHaveBeenCalledTimes(1);
    // The refetched board is at seq 13 (it already contains x): continue from 13.
    const fresh = board({ todo: ['a', 'b', 'z', 'x'], done: ['d'] }, 13);
    fresh.columns[0].tasks[2].position = 'a2';
    fresh.columns[0].tasks[3].position = 'a9';
    const adopted = live.adoptBoard(fresh);
    qc.setQueryData(keys.board(PID), adopted);
    expect(ids(adopted).todo).toEqual(['a', 'b', 'z', 'x', 'y']);
    expect(adopted.seq).toBe(14);
    expect(live.cursors()[PID]).toBe(14);
    expect(live.handle(ev(15, 'task.deleted', { task: task('a', 'todo', 'a0') }))).toBe('applied');
    expect(ids(boardData()).todo).toEqual(['b', 'z', 'x', 'y']);
  });

  it('a gap still open after the refetch requests another one', () => {
    live.handle(ev(13, 'task.created', { task: task('x', 'todo', 'a9') }));
    live.handle(ev(16, 'task.created', { task: task('y', 'todo', 'b0') }));
    live.adoptBoard(board({ todo: ['a', 'b'] }, 13));
    expect(refetch).toHaveBeenCalledTimes(2);
    expect(live.isResyncing(PID)).toBe(true);
  });

  it('resync → refetch, then continue from the board seq', () => {
    expect(live.handle({ type: 'resync', project_id: PID })).toBe('resync');
    expect(refetch).toHaveBeenCalledWith(PID);
    qc.setQueryData(keys.board(PID), live.adoptBoard(board({ todo: ['q'] }, 40)));
    expect(live.cursors()[PID]).toBe(40);
    expect(live.handle(ev(40, 'task.created', { task: task('w', 'todo', 'z') }))).toBe('duplicate');
    expect(live.handle(ev(41, 'task.created', { task: task('w', 'todo', 'z') }))).toBe('applied');
    expect(ids(boardData()).todo).toEqual(['q', 'w']);
  });

  it('the first event of a project without a known seq is applied and sets its cursor', () => {
    const other = '00000000-0000-7000-8000-000000000002';
    expect(live.handle(ev(3, 'project.updated', { project: project({ id: other, name: 'X' }) }, other))).toBe('applied');
    expect(live.cursors()[other]).toBe(3);
    expect(live.handle(ev(5, 'project.updated', { project: project({ id: other }) }, other))).toBe('gap');
  });

  it('events applied before the board loaded are bridged onto the snapshot', () => {
    const other = '00000000-0000-7000-8000-000000000003';
    live.handle(ev(7, 'task.created', { task: task('k', 'todo', 'a5', { project_id: other }) }, other));
    // A snapshot taken at seq 6 (before the event) arrives afterwards.
    const b = board({ todo: ['a'] }, 6);
    b.project.id = other;
    const adopted = live.adoptBoard(b);
    expect(ids(adopted).todo).toEqual(['a', 'k']);
    expect(adopted.seq).toBe(7);
  });
});

describe('effects of each event type', () => {
  beforeEach(() => {
    qc.setQueryData<Page<Project>>(keys.projects({}), { items: [project({ progress: { total: 3, done: 1, percent: 33 } })], next_cursor: null });
    qc.setQueryData<Member[]>(keys.members(PID), [member(ME, 'owner', 'Me')]);
    qc.setQueryData<Comment[]>(keys.comments('a'), []);
  });

  it('task.updated replaces the task in place', () => {
    live.handle(ev(11, 'task.updated', { task: task('a', 'todo', 'a0', { title: 'Renamed', version: 2 }), changes: ['title'] }));
    expect(boardData().columns[0].tasks[0].title).toBe('Renamed');
  });

  it('task.moved moves the card and updates project progress', () => {
    live.handle(ev(11, 'task.moved', { task: task('a', 'done', 'a1', { version: 2 }), from: 'todo', to: 'done' }));
    expect(ids(boardData())).toMatchObject({ todo: ['b'], done: ['d', 'a'] });
    const list = qc.getQueryData<Page<Project>>(keys.projects({}))!;
    expect(list.items[0].progress).toEqual({ total: 3, done: 2, percent: 67 });
    expect(boardData().project.progress.done).toBe(2);
  });

  it('task.deleted removes the card', () => {
    live.handle(ev(11, 'task.deleted', { task: task('b', 'todo', 'a1') }));
    expect(ids(boardData()).todo).toEqual(['a']);
  });

  it('project.created adds the project to the list', () => {
    const np = project({ id: '00000000-0000-7000-8000-000000000009', name: 'New one' });
    live.handle(ev(1, 'project.created', { project: np }, np.id));
    const list = qc.getQueryData<Page<Project>>(keys.projects({}))!;
    expect(list.items.map((p) => p.name)).toEqual(['New one', 'Website']);
  });

  it('project.created is not added to a list filtered on another status', () => {
    qc.setQueryData<Page<Project>>(keys.projects({ status: 'archived' }), { items: [], next_cursor: null });
    const np = project({ id: '00000000-0000-7000-8000-000000000009' });
    live.handle(ev(1, 'project.created', { project: np }, np.id));
    expect(qc.getQueryData<Page<Project>>(keys.projects({ status: 'archived' }))!.items).toEqual([]);
  });

  it('project.updated updates the list and the board header', () => {
    live.handle(ev(11, 'project.updated', { project: project({ name: 'Renamed site' }) }));
    expect(qc.getQueryData<Page<Project>>(keys.projects({}))!.items[0].name).toBe('Renamed site');
    expect(boardData().project.name).toBe('Renamed site');
  });

  it('project.deleted removes it from the list', () => {
    live.handle(ev(11, 'project.deleted', { project_id: PID }));
    expect(qc.getQueryData<Page<Project>>(keys.projects({}))!.items).toEqual([]);
  });

  it('member.added / updated / removed update the members', () => {
    live.handle(ev(11, 'member.added', { member: member(OTHER, 'viewer', 'Bob') }));
    expect(qc.getQueryData<Member[]>(keys.members(PID))!.map((m) => m.role)).toEqual(['owner', 'viewer']);
    live.handle(ev(12, 'member.updated', { member: member(OTHER, 'editor', 'Bob') }));
    expect(qc.getQueryData<Member[]>(keys.members(PID))!.map((m) => m.role)).toEqual(['owner', 'editor']);
    live.handle(ev(13, 'member.removed', { member: member(OTHER, 'editor', 'Bob') }));
    expect(qc.getQueryData<Member[]>(keys.members(PID))!.map((m) => m.user.id)).toEqual([ME]);
  });

  it('member.added for me refetches the project list (the project appears)', () => {
    const spy = vi.spyOn(qc, 'invalidateQueries');
    const p2 = '00000000-0000-7000-8000-000000000005';
    live.handle(ev(4, 'member.added', { member: member(ME, 'editor', 'Me') }, p2));
    expect(spy).toHaveBeenCalledWith({ queryKey: keys.projectsAll });
  });

  it('member.removed for me removes the project from the list', () => {
    live.handle(ev(11, 'member.removed', { member: member(ME, 'owner', 'Me') }));
    expect(qc.getQueryData<Page<Project>>(keys.projects({}))!.items).toEqual([]);
    expect(live.cursors()[PID]).toBeUndefined();
  });

  it('comment.created / updated / deleted update the task comments', () => {
    const c: Comment = { id: 'c1', task_id: 'a', author_id: OTHER, body: 'hi', created_at: 'x', updated_at: 'x' };
    live.handle(ev(11, 'comment.created', { comment: c }));
    expect(qc.getQueryData<Comment[]>(keys.comments('a'))!.map((x) => x.body)).toEqual(['hi']);
    live.handle(ev(12, 'comment.updated', { comment: { ...c, body: 'hello' } }));
    expect(qc.getQueryData<Comment[]>(keys.comments('a'))!.map((x) => x.body)).toEqual(['hello']);
    live.handle(ev(13, 'comment.deleted', { comment: c }));
    expect(qc.getQueryData<Comment[]>(keys.comments('a'))).toEqual([]);
  });

  it('notification messages go to the notification lists, outside seq', () => {
    qc.setQueryData<Page<Notification>>(keys.unread, { items: [], next_cursor: null });
    const n: Notification = {
      id: 'n1',
      kind: 'task.assigned',
      project_id: PID,
      task_id: 'a',
      actor_id: OTHER,
      message: 'Bob assigned you a task',
      created_at: 'x',
      read_at: null,
    };
    expect(live.handle({ type: 'notification', notification: n })).toBe('notification');
    expect(live.handle({ type: 'notification', notification: n })).toBe('notification');
    expect(qc.getQueryData<Page<Notification>>(keys.unread)!.items).toHaveLength(1);
    expect(live.cursors()).toEqual({ [PID]: 10 });
  });
});
