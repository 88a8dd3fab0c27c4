import { describe, expect, it } from 'vitest';
import { applyInverse, dropNeighbours, moveTask, placeAmongAll, removeTask, upsertTask } from './moves';
import { board, ids, task } from '../test/fixtures';

describe('dropNeighbours', () => {
  it('middle of a column: before_id is the next task, after_id the previous one', () => {
    expect(dropNeighbours(['a', 'm', 'b'], 'm')).toEqual({ before_id: 'b', after_id: 'a' });
  });
  it('top of a column: only before_id', () => {
    expect(dropNeighbours(['m', 'a', 'b'], 'm')).toEqual({ before_id: 'a' });
  });
  it('bottom of a column: only after_id', () => {
    expect(dropNeighbours(['a', 'b', 'm'], 'm')).toEqual({ after_id: 'b' });
  });
  it('alone in a column: no neighbours (goes to the end)', () => {
    expect(dropNeighbours(['m'], 'm')).toEqual({});
  });
  it('throws when the moved task is not in the list', () => {
    expect(() => dropNeighbours(['a'], 'm')).toThrow();
  });
});

describe('placeAmongAll (filtered board)', () => {
  it('places directly after the visible predecessor', () => {
    // full: a x b y c ; visible after drop: a, m, c  → m goes right after a
    expect(placeAmongAll(['a', 'x', 'b', 'y', 'c'], ['a', 'm', 'c'], 'm')).toEqual(['a', 'm', 'x', 'b', 'y', 'c']);
  });
  it('at the top of the visible list: directly before the visible successor', () => {
    expect(placeAmongAll(['x', 'a', 'b'], ['m', 'a'], 'm')).toEqual(['x', 'm', 'a', 'b']);
  });
  it('alone among visible tasks: at the end', () => {
    expect(placeAmongAll(['x', 'y'], ['m'], 'm')).toEqual(['x', 'y', 'm']);
  });
  it('unfiltered: the same list', () => {
    expect(placeAmongAll(['a', 'm', 'b'], ['a', 'b', 'm'], 'm')).toEqual(['a', 'b', 'm']);
  });
});

describe('moveTask and its inverse', () => {
  it('moves across columns and the inverse restores the board', () => {
    const b = board({ todo: ['a', 'b', 'c'], in_progress: ['d'] });
    const r = moveTask(b, 'b', 'in_progress', 1)!;
    expect(ids(r.board).todo).toEqual(['a', 'c']);
    expect(ids(r.board).in_progress).toEqual(['d', 'b']);
    expect(r.board.columns[1].tasks[1].status).toBe('in_progress');
    expect(r.inverse).toMatchObject({ taskId: 'b', status: 'todo', index: 1 });
    const back = applyInverse(r.board, r.inverse);
    expect(back).toEqual(b);
  });

  it('reorders within a column', () => {
    const b = board({ todo: ['a', 'b', 'c'] });
    const r = moveTask(b, 'a', 'todo', 2)!;
    expect(ids(r.board).todo).toEqual(['b', 'c', 'a']);
    expect(ids(applyInverse(r.board, r.inverse)).todo).toEqual(['a', 'b', 'c']);
  });

  it('does not mutate the input board', () => {
    const b = board({ todo: ['a', 'b'] });
    const copy = structuredClone(b);
    moveTask(b, 'a', 'done', 0);
    expect(b).toEqual(copy);
  });

  it('rollback keeps other changes made meanwhile', () => {
    const b = board({ todo: ['a', 'b'], done: ['z'] });
    const r = moveTask(b, 'a', 'done', 0)!;
    const meanwhile = upsertTask(r.board, task('n', 'review', 'a0'));
    const back = applyInverse(meanwhile, r.inverse);
    expect(ids(back)).toMatchObject({ todo: ['a', 'b'], review: ['n'], done: ['z'] });
  });

  it('rollback of a task deleted meanwhile leaves it deleted', () => {
    const b = board({ todo: ['a', 'b'] });
    const r = moveTask(b, 'a', 'done', 0)!;
    expect(ids(applyInverse(r.board, r.inverse, true)).todo).toEqual(['b']);
    expect(ids(applyInverse(r.board, r.inverse, true)).done).toEqual([]);
  });

  it('returns null for an unknown task', () => {
    expect(moveTask(board({ todo: ['a'] }), 'nope', 'done', 0)).toBeNull();
  });
});

describe('upsertTask', () => {
  it('inserts by position (byte order)', () => {
    const b = board({ todo: ['a', 'b'] }); // positions a0, a1
    const out = upsertTask(b, task('m', 'todo', 'a0V'));
    expect(ids(out).todo).toEqual(['a', 'm', 'b']);
  });
  it('moves a task to its new column', () => {
    const b = board({ todo: ['a', 'b'] });
    const out = upsertTask(b, task('a', 'done', 'a0', { version: 2 }));
    expect(ids(out)).toMatchObject({ todo: ['b'], done: ['a'] });
  });
  it('ignores an older version', () => {
    const b = upsertTask(board({}), task('a', 'done', 'a0', { version: 3 }));
    const out = upsertTask(b, task('a', 'todo', 'a0', { version: 2 }));
    expect(ids(out).done).toEqual(['a']);
  });
  it('removeTask takes it out', () => {
    expect(ids(removeTask(board({ todo: ['a', 'b'] }), 'a')).todo).toEqual(['b']);
  });
});
