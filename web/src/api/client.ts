// The fetch wrapper that every API call goes through: it adds the access token,
// and on a 401 does exactly one transparent refresh (shared by concurrent 401s)
// and retries the request once. A refused refresh signs the session out.
import type { TokenPair, User } from './types';
import { ApiError, errorFromResponse, toApiError } from './errors';

export interface RefreshTokenStorage {
  get(): string | null;
  set(token: string | null): void;
}

export type FetchLike = (input: Request) => Promise<Response>;

/** Runs `fn` while holding a lock shared by every tab (refresh tokens rotate: two
 * tabs must never present the same one). */
export type LockFn = <T>(fn: () => Promise<T>) => Promise<T>;

export interface SessionOptions {
  fetch: FetchLike;
  storage: RefreshTokenStorage;
  /** Origin of the API, e.g. `https://flowtrack.example` (no trailing slash). */
  baseUrl: string;
  lock?: LockFn;
}

type Listener = () => void;

export const REFRESH_TOKEN_KEY = 'flowtrack.refresh_token';

export class Session {
  private access: string | null = null;
  private refreshing: Promise<string> | null = null;
  private listeners = new Set<Listener>();
  user: User | null = null;
  /** Why the session ended, for the sign-in page ("Your session has expired"). */
  endedReason: string | null = null;

  constructor(private readonly opts: SessionOptions) {}

  get baseUrl(): string {
    return this.opts.baseUrl;
  }

  /** True while a refresh token is stored (the user counts as signed in). */
  get hasSession(): boolean {
    return !!this.opts.storage.get();
  }

  get accessToken(): string | null {
    return this.access;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit() {
    for (const fn of [...this.listeners]) fn();
  }

  /** Stores a fresh pair (after sign-in, register or refresh). */
  setPair(pair: TokenPair) {
    this.access = pair.access_token;
    this.opts.storage.set(pair.refresh_token);
    this.user = pair.user;
    this.endedReason = null;
    this.emit();
  }

  setUser(user: User) {
    this.user = user;
    this.emit();
  }

  /** Forgets the tokens locally (no server call). */
  clear(reason: string | null = null) {
    const had = this.access !== null || this.opts.storage.get() !== null || this.user !== null;
    this.access = null;
    this.opts.storage.set(null);
    this.user = null;
    this.endedReason = reason;
    if (had) this.emit();
  }

  /** Signs out: revokes the refresh token family on the server (best effort). */
  async signOut(): Promise<void> {
    const token = this.opts.storage.get();
    this.clear();
    if (!token) return;
    try {
      await this.opts.fetch(
        new Request(`${this.opts.baseUrl}/auth/logout`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refresh_token: token }),
        }),
      );
    } catch {
      /* offline: the token expires on its own */
    }
  }

  /** One refresh at a time; concurrent callers share it. Resolves to the new access token. */
  refresh(): Promise<string> {
    if (!this.refreshing) {
      const run = () => this.doRefresh();
      const p = (this.opts.lock ? this.opts.lock(run) : run()).finally(() => {
        if (this.refreshing === p) this.refreshing = null;
      });
      this.refreshing = p;
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<string> {
    // Read inside the lock: another tab may have rotated the token meanwhile.
    const token = this.opts.storage.get();
    if (!token) {
      this.clear('signed_out');
      throw new ApiError(401, { code: 'unauthorized', detail: 'You are signed out.' });
    }
    let res: Response;
    try {
      res = await this.opts.fetch(
        new Request(`${this.opts.baseUrl}/auth/refresh`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refresh_token: token }),
        }),
      );
    } catch (e) {
      throw toApiError(e); // network trouble: keep the session, try again later
    }
    if (res.ok) {
      const pair = (await res.json()) as TokenPair;
      this.setPair(pair);
      return pair.access_token;
    }
    const err = await errorFromResponse(res);
    if (res.status === 429 || res.status >= 500) throw err; // transient: keep the session
    // Refused (expired, revoked, reused): back to sign-in.
    this.clear('expired');
    throw err;
  }

  /** An access token valid for at least `minSeconds` more (refreshing if needed), for the WebSocket. */
  async freshAccessToken(minSeconds = 30): Promise<string> {
    const t = this.access;
    if (t) {
      const exp = jwtExp(t);
      if (exp === null || exp - Date.now() / 1000 > minSeconds) return t;
    }
    return this.refresh();
  }

  /** fetch() for API calls: authorization, one refresh on 401, one retry. */
  fetch = async (input: Request): Promise<Response> => {
    const path = new URL(input.url).pathname;
    const isAuthRoute = path.startsWith('/auth/');
    const retry = input.clone();
    const exp = this.access ? jwtExp(this.access) : null;
    const expiring = exp !== null && exp - Date.now() / 1000 < 10;
    if (!isAuthRoute && (!this.access || expiring) && this.opts.storage.get()) {
      try {
        await this.refresh();
      } catch (e) {
        if (this.opts.storage.get()) throw e; // transient failure, session kept
        // refused: the request goes out unauthenticated and gets its 401
      }
    }
    const used = this.access;
    const first = await this.send(input, isAuthRoute ? null : used);
    if (first.status !== 401 || isAuthRoute || !this.opts.storage.get()) {
      if (first.status === 401 && !isAuthRoute && used) this.clear('expired');
      return first;
    }
    // 401: refresh once (unless another request already did), then retry once.
    let token: string;
    if (this.access && this.access !== used) {
      token = this.access;
    } else {
      try {
        token = await this.refresh();
      } catch (e) {
        if (!this.opts.storage.get()) return first; // refused: signed out
        throw e;
      }
    }
    return this.send(retry, token);
  };

  private send(req: Request, token: string | null): Promise<Response> {
    if (token) req.headers.set('Authorization', `Bearer ${token}`);
    return this.opts.fetch(req);
  }
}

/** `exp` of a JWT in seconds, or null when it cannot be read. */
export function jwtExp(token: string): number | null {
  try {
    const part = token.split('.')[1];
    if (!part) return null;
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}

export function localStorageRefreshStorage(key = REFRESH_TOKEN_KEY): RefreshTokenStorage {
  return {
    get() {
      try {
        return localStorage.getItem(key);
      } catch {
        return null;
      }
    },
    set(token) {
      try {
        if (token) localStorage.setItem(key, token);
        else localStorage.removeItem(key);
      } catch {
        /* storage disabled: the session lasts for this page only */
      }
    },
  };
}

/** A lock shared by every tab of the origin (Web Locks API), or none where unavailable. */
export function webLock(name = 'flowtrack-refresh'): LockFn | undefined {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
  if (!locks) return undefined;
  return <T>(fn: () => Promise<T>) => locks.request(name, fn) as Promise<T>;
}
