import type { FieldError, Problem } from './types';

/** An error answer of the API (RFC 9457 problem details), or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly fieldErrors: FieldError[];
  /** Seconds from `Retry-After` on a 429, else null. */
  readonly retryAfter: number | null;

  constructor(status: number, problem: Partial<Problem> | null, retryAfter: number | null = null) {
    const detail = problem?.detail || problem?.title || defaultMessage(status);
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem?.code ?? (status === 0 ? 'network' : 'error');
    this.detail = detail;
    this.fieldErrors = problem?.errors ?? [];
    this.retryAfter = retryAfter;
  }

  /** The message for `field`, if the server named it. */
  fieldError(field: string): string | undefined {
    return this.fieldErrors.find((e) => e.field === field)?.message;
  }

  /** A sentence for the user. */
  get userMessage(): string {
    if (this.status === 429) {
      const s = this.retryAfter;
      return s != null
        ? `Too many requests. Please try again in ${s} second${s === 1 ? '' : 's'}.`
        : 'Too many requests. Please wait a moment and try again.';
    }
    return this.detail;
  }
}

function defaultMessage(status: number): string {
  if (status === 0) return 'Cannot reach the server. Check your connection and try again.';
  if (status === 404) return 'Not found.';
  if (status >= 500) return 'The server had a problem. Please try again.';
  return `Request failed (${status}).`;
}

export function parseRetryAfter(value: string | null): number | null {
  if (!value) return null;
  const n = Number(value);
  if (Number.isFinite(n)) return Math.max(0, Math.ceil(n));
  const date = Date.parse(value);
  if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - Date.now()) / 1000));
  return null;
}

/** Builds an ApiError from a non-2xx response (reads its body). */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let problem: Partial<Problem> | null = null;
  try {
    const text = await res.text();
    if (text) problem = JSON.parse(text) as Partial<Problem>;
  } catch {
    problem = null;
  }
  return new ApiError(res.status, problem, parseRetryAfter(res.headers.get('Retry-After')));
}

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError(0, { detail: e instanceof Error && e.message ? `Network error: ${e.message}` : undefined });
}

export function messageOf(e: unknown): string {
  return e instanceof ApiError ? e.userMessage : e instanceof Error ? e.message : String(e);
}
