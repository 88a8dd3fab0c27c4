import createClient from 'openapi-fetch';
import type { paths } from './schema';
import { Session, localStorageRefreshStorage, webLock } from './client';
import { ApiError, errorFromResponse, parseRetryAfter, toApiError } from './errors';

export const session = new Session({
  baseUrl: window.location.origin,
  storage: localStorageRefreshStorage(),
  fetch: (req) => fetch(req),
  lock: webLock(),
});

/** Typed API client (openapi-fetch) over the session's fetch wrapper. */
export const api = createClient<paths>({
  baseUrl: window.location.origin,
  fetch: (req: Request) => session.fetch(req).catch((e: unknown) => Promise.reject(toApiError(e))),
});

interface FetchResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Unwraps an openapi-fetch result: the data, or throws an ApiError. */
export async function unwrap<T>(p: Promise<FetchResult<T>>): Promise<T> {
  let r: FetchResult<T>;
  try {
    r = await p;
  } catch (e) {
    throw toApiError(e);
  }
  if (r.response.ok) return r.data as T;
  const err = r.error as Record<string, unknown> | undefined;
  const retry = r.response.headers.get('Retry-After');
  throw new ApiError(
    r.response.status,
    err && typeof err === 'object' ? (err as never) : { detail: typeof err === 'string' ? err : undefined },
    parseRetryAfter(retry),
  );
}

/** A raw authenticated request (CSV/SVG downloads). Throws ApiError on failure. */
export async function rawFetch(path: string, init?: RequestInit): Promise<Response> {
  let res: Response;
  try {
    res = await session.fetch(new Request(`${window.location.origin}${path}`, init));
  } catch (e) {
    throw toApiError(e);
  }
  if (!res.ok) throw await errorFromResponse(res);
  return res;
}
