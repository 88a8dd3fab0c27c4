import { describe, expect, it } from 'vitest';
import { backoffDelay, resumeParam } from './socket';

describe('reconnect backoff', () => {
  it('grows exponentially with jitter and is capped', () => {
    const lo = () => 0;
    const hi = () => 0.999999;
    expect(backoffDelay(0, lo)).toBe(250);
    expect(backoffDelay(0, hi)).toBe(500);
    expect(backoffDelay(3, hi)).toBe(4000);
    expect(backoffDelay(20, hi)).toBe(30000);
    expect(backoffDelay(20, lo)).toBe(15000);
  });
});

describe('resume cursors', () => {
  it('formats project:seq pairs', () => {
    expect(resumeParam({ p1: 3, p2: 10 })).toBe('p1:3,p2:10');
    expect(resumeParam({})).toBe('');
  });
});
