import { describe, expect, it, vi } from 'vitest';
import { Session, jwtExp, type RefreshTokenStorage } from './client';
import { ApiError, errorFromResponse } from './errors';
import type { User } from './types';

const BASE = 'http://flowtrack.test';

function memoryStorage(initial: string | null): RefreshTokenStorage & { value: string | null } {
  const s = {
    value: initial,
    get: () => s.value,
    set: (v: string | null) => {
      s.value = v;
    },
  };
  return s;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

const user: User = { id: 'u1', email: 'a@example.com', full_name: 'A', role: 'member', is_active: true, created_at: 'x', updated_at: 'x' };
const pair = (n: number) => ({ access_token: `access-${n}`, refresh_token: `refresh-${n}`, token_type: 'bearer', expires_in: 900, user });
const unauthorized = () => json(401, { code: 'unauthorized', status: 401, title: 'Unauthorized', detail: 'token expired' });

/** A fake server: /auth/refresh rotates; other routes accept only the current access token. */
function fakeServer(opts: { refreshOk?: boolean; delay?: number } = {}) {
  let n = 1;
  let validAccess = 'access-1';
  let validRefresh = 'refresh-1';
  const calls: { path: string; auth: string | null; body: string }[] = [];
  const fetch = vi.fn(async (req: Request) => {
    const path = new URL(req.url).pathname;
    const body = await req.text();
    calls.push({ path, auth: req.headers.get('Authorization'), body });
    if (opts.delay) await new Promise((r) => setTimeout(r, opts.delay));
    if (path === '/auth/refresh') {
      const presented = JSON.parse(body).refresh_token;
      if (opts.refreshOk === false || presented !== validRefresh) return unauthorized();
      n += 1;
      validAccess = `access-${n}`;
      validRefresh = `refresh-${n}`;
      return json(200, pair(n));
    }
    if (req.headers.get('Authorization') !== `Bearer ${validAccess}`) return unauthorized();
    return json(200, { ok: true, path, body });
  });
  return {
    fetch,
    calls,
    expireAccess() {
      validAccess = 'nothing-valid';
    },
  };
}

function req(path: string, init?: RequestInit) {
  return new Request(`${BASE}${path}`, init);
}

describe('Session fetch wrapper', () => {
  it('sends the access token', async () => {
    const srv = fakeServer();
    const s = new Session({ fetch: srv.fetch, storage: memoryStorage('refresh-1'), baseUrl: BASE });
    s.setPair(pair(1));
    const res = await s.fetch(req('/projects'));
    expect(res.status).toBe(200);
    expect(srv.calls[0].auth).toBe('Bearer access-1');
  });

  it('a 401 triggers one refresh, stores the rotated pair and retries once (with the body)', async () => {
    const srv = fakeServer();
    const storage = memoryStorage('refresh-1');
    const s = new Session({ fetch: srv.fetch, storage, baseUrl: BASE });
    s.setPair({ ...pair(1), access_token: 'stale' });
    const res = await s.fetch(req('/tasks', { method: 'POST', body: '{"title":"x"}', headers: { 'Content-Type': 'application/json' } }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ body: '{"title":"x"}' });
    expect(srv.calls.map((c) => c.path)).toEqual(['/tasks', '/auth/refresh', '/tasks']);
    expect(storage.value).toBe('refresh-2');
    expect(s.accessToken).toBe('access-2');
    expect(srv.calls[2].auth).toBe('Bearer access-2');
  });

  it('concurrent 401s share exactly one refresh', async () => {
    const srv = fakeServer({ delay: 5 });
    const s = new Session({ fetch: srv.fetch, storage: memoryStorage('refresh-1'), baseUrl: BASE });
    s.setPair({ ...pair(1), access_token: 'stale' });
    const results = await Promise.all([s.fetch(req('/a')), s.fetch(req('/b')), s.fetch(req('/c')), s.fetch(req('/d'))]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(srv.calls.filter((c) => c.path === '/auth/refresh')).toHaveLength(1);
    // each request: first try + one retry
    expect(srv.calls.filter((c) => c.path !== '/auth/refresh')).toHaveLength(8);
  });

  it('retries only once: a second 401 is returned as it is', async () => {
    let refreshes = 0;
    const fetch = vi.fn(async (r: Request) => {
      if (new URL(r.url).pathname === '/auth/refresh') {
        refreshes++;
        return json(200, pair(refreshes + 1));
      }
      return unauthorized();
    });
    const s = new Session({ fetch, storage: memoryStorage('refresh-1'), baseUrl: BASE });
    s.setPair(pair(1));
    const res = await s.fetch(req('/projects'));
    expect(res.status).toBe(401);
    expect(refreshes).toBe(1);
    expect(fetch).toHaveBeenCalledTimes(3);
  });

  it('a refused refresh signs out and returns the 401', async () => {
    const srv = fakeServer({ refreshOk: false });
    const storage = memoryStorage('refresh-1');
    const s = new Session({ fetch: srv.fetch, storage, baseUrl: BASE });
    s.setPair({ ...pair(1), access_token: 'stale' });
    const onChange = vi.fn();
    s.subscribe(onChange);
    const res = await s.fetch(req('/projects'));
    expect(res.status).toBe(401);
    expect(storage.value).toBeNull();
    expect(s.user).toBeNull();
    expect(s.hasSession).toBe(false);
    expect(s.endedReason).toBe('expired');
    expect(onChange).toHaveBeenCalled();
    // No second refresh attempt for later calls.
    await s.fetch(req('/projects'));
    expect(srv.calls.filter((c) => c.path === '/auth/refresh')).toHaveLength(1);
  });

  it('after a reload (no access token) it refreshes first', async () => {
    const srv = fakeServer();
    const s = new Session({ fetch: srv.fetch, storage: memoryStorage('refresh-1'), baseUrl: BASE });
    const res = await s.fetch(req('/users/me'));
    expect(res.status).toBe(200);
    expect(srv.calls.map((c) => c.path)).toEqual(['/auth/refresh', '/users/me']);
    expect(s.user?.id).toBe('u1');
  });

  it('does not refresh on 401 from /auth routes (wrong password)', async () => {
    const fetch = vi.fn(async () => unauthorized());
    const s = new Session({ fetch, storage: memoryStorage(null), baseUrl: BASE });
    const res = await s.fetch(req('/auth/login', { method: 'POST', body: '{}' }));
    expect(res.status).toBe(401);
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('a 429 is passed through, not retried, and keeps Retry-After', async () => {
    const fetch = vi.fn(async () =>
      json(429, { code: 'rate_limited', status: 429, title: 'Too Many Requests', detail: 'slow down' }, { 'Retry-After': '42' }),
    );
    const s = new Session({ fetch, storage: memoryStorage('refresh-1'), baseUrl: BASE });
    s.setPair(pair(1));
    const res = await s.fetch(req('/projects'));
    expect(res.status).toBe(429);
    expect(fetch).toHaveBeenCalledTimes(1);
    const err = await errorFromResponse(res);
    expect(err.retryAfter).toBe(42);
    expect(err.userMessage).toContain('42 seconds');
  });

  it('a refresh that fails on the network keeps the session', async () => {
    const fetch = vi.fn(async (r: Request) => {
      if (new URL(r.url).pathname === '/auth/refresh') throw new TypeError('Failed to fetch');
      return unauthorized();
    });
    const storage = memoryStorage('refresh-1');
    const s = new Session({ fetch, storage, baseUrl: BASE });
    s.setPair(pair(1));
    await expect(s.fetch(req('/projects'))).rejects.toBeInstanceOf(ApiError);
    expect(storage.value).toBe('refresh-1');
  });

  it('refreshes run under the cross-tab lock and read the token inside it', async () => {
    const srv = fakeServer();
    const storage = memoryStorage('refresh-0');
    const order: string[] = [];
    const lock = async <T,>(fn: () => Promise<T>) => {
      order.push('lock');
      storage.value = 'refresh-1'; // another tab rotated while we waited
      return fn();
    };
    const s = new Session({ fetch: srv.fetch, storage, baseUrl: BASE, lock });
    const token = await s.refresh();
    expect(order).toEqual(['lock']);
    expect(token).toBe('access-2');
    expect(JSON.parse(srv.calls[0].body).refresh_token).toBe('refresh-1');
  });

  it('signOut revokes the refresh token on the server and forgets it', async () => {
    const fetch = vi.fn(async () => new Response(null, { status: 204 }));
    const storage = memoryStorage('refresh-1');
    const s = new Session({ fetch, storage, baseUrl: BASE });
    s.setPair(pair(1));
    await s.signOut();
    expect(storage.value).toBeNull();
    const sent = fetch.mock.calls[0] as unknown as [Request];
    expect(new URL(sent[0].url).pathname).toBe('/auth/logout');
  });
});

describe('jwtExp', () => {
  it('reads exp from a JWT payload', () => {
    const payload = btoa(JSON.stringify({ exp: 1234 })).replace(/=+$/, '');
    expect(jwtExp(`x.${payload}.y`)).toBe(1234);
    expect(jwtExp('garbage')).toBeNull();
  });
});

describe('proactive refresh', () => {
  it('refreshes before sending when the access token is about to expire', async () => {
    const srv = fakeServer();
    const s = new Session({ fetch: srv.fetch, storage: memoryStorage('refresh-1'), baseUrl: BASE });
    const payload = btoa(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 3 })).replace(/=+$/, '');
    s.setPair({ ...pair(1), access_token: `h.${payload}.s` });
    const res = await s.fetch(req('/projects'));
    expect(res.status).toBe(200);
    expect(srv.calls.map((c) => c.path)).toEqual(['/auth/refresh', '/projects']);
  });
});
