import { describe, expect, it } from 'vitest';
import { NO_FILTERS, allLabels, isFiltering, taskMatches, visibleColumns } from './filters';
import { board, OTHER, task } from '../test/fixtures';

describe('board filters', () => {
  const t = task('a', 'todo', 'a0', { title: 'Fix login', labels: ['bug', 'auth'], priority: 'high', assignee_id: OTHER });

  it('no filters: everything matches', () => {
    expect(isFiltering(NO_FILTERS)).toBe(false);
    expect(taskMatches(t, NO_FILTERS)).toBe(true);
  });
  it('assignee, unassigned, label, priority and text', () => {
    expect(taskMatches(t, { ...NO_FILTERS, assignee: OTHER })).toBe(true);
    expect(taskMatches(t, { ...NO_FILTERS, assignee: 'someone-else' })).toBe(false);
    expect(taskMatches(t, { ...NO_FILTERS, assignee: 'none' })).toBe(false);
    expect(taskMatches({ ...t, assignee_id: null }, { ...NO_FILTERS, assignee: 'none' })).toBe(true);
    expect(taskMatches(t, { ...NO_FILTERS, label: 'bug' })).toBe(true);
    expect(taskMatches(t, { ...NO_FILTERS, label: 'docs' })).toBe(false);
    expect(taskMatches(t, { ...NO_FILTERS, priority: 'high' })).toBe(true);
    expect(taskMatches(t, { ...NO_FILTERS, priority: 'low' })).toBe(false);
    expect(taskMatches(t, { ...NO_FILTERS, text: 'LOGIN' })).toBe(true);
    expect(taskMatches(t, { ...NO_FILTERS, text: 'auth' })).toBe(true);
    expect(taskMatches(t, { ...NO_FILTERS, text: 'payment' })).toBe(false);
  });
  it('visible columns and the label list', () => {
    const b = board({ todo: ['a', 'b'], done: ['c'] });
    b.columns[0].tasks[0] = { ...b.columns[0].tasks[0], labels: ['x'] };
    b.columns[3].tasks[0] = { ...b.columns[3].tasks[0], labels: ['a', 'x'] };
    expect(allLabels(b)).toEqual(['a', 'x']);
    const v = visibleColumns(b, { ...NO_FILTERS, label: 'x' });
    expect(v.todo.map((x) => x.id)).toEqual(['a']);
    expect(v.done.map((x) => x.id)).toEqual(['c']);
  });
});
