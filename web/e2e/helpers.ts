// Shared helpers of the end-to-end tests: users and data made through the public API (fast,
// and independent of the screens under test), signed-in browser contexts, screenshots and
// accessibility scans.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AxeBuilder } from '@axe-core/playwright';
import { expect, type Browser, type BrowserContext, type Locator, type Page } from '@playwright/test';

export const URL_A = trimSlash(process.env.FLOWTRACK_E2E_URL ?? 'http://127.0.0.1:8000');
/** A second server instance sharing A's database and Redis; A itself when there is none. */
export const URL_B = trimSlash(process.env.FLOWTRACK_E2E_URL_B ?? URL_A);
export const TWO_INSTANCES = URL_A !== URL_B;
export const PASSWORD = 'correct horse battery';
/** The app keeps the refresh token here (web/src/api/client.ts). */
const REFRESH_TOKEN_KEY = 'flowtrack.refresh_token';

export const PHONE = { width: 375, height: 740 };
export const COLUMNS = ['To do', 'In progress', 'Review', 'Done'] as const;
export type ColumnName = (typeof COLUMNS)[number];
export const STATUS_OF: Record<ColumnName, string> = {
  'To do': 'todo',
  'In progress': 'in_progress',
  Review: 'review',
  Done: 'done',
};

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

let counter = 0;
/** A name no other test (or earlier run on the same database) uses. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${process.pid}-${counter}-${Math.random().toString(36).slice(2, 6)}`;
}

export interface ApiUser {
  id: string;
  email: string;
  fullName: string;
  access: string;
  refresh: string;
  base: string;
}

export interface Task {
  id: string;
  title: string;
  status: string;
  version: number;
  assignee_id: string | null;
  position: string;
}

/** A tiny client of the public API, acting as one user on one instance. */
export class Api {
  constructor(
    readonly user: ApiUser,
    readonly base: string = user.base,
  ) {}

  /** The same user talking to another instance. */
  on(base: string): Api {
    return new Api(this.user, base);
  }

  async call<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const response = await this.raw(method, path, body, headers);
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  raw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.user.access}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  createProject(name: string): Promise<{ id: string; name: string }> {
    return this.call('POST', '/projects', { name });
  }

  createTask(projectId: string, title: string, extra: Record<string, unknown> = {}): Promise<Task> {
    return this.call('POST', '/tasks', { project_id: projectId, title, ...extra });
  }

  task(id: string): Promise<Task> {
    return this.call('GET', `/tasks/${id}`);
  }

  addMember(projectId: string, email: string, role: 'owner' | 'editor' | 'viewer' = 'editor'): Promise<unknown> {
    return this.call('POST', `/projects/${projectId}/members`, { email, role });
  }

  async unreadCount(): Promise<number> {
    let count = 0;
    let cursor: string | null = null;
    do {
      const page: { items: unknown[]; next_cursor: string | null } = await this.call(
        'GET',
        `/notifications?unread=true&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      count += page.items.length;
      cursor = page.next_cursor;
    } while (cursor);
    return count;
  }
}

/** Registers a new user through the API of `base`. */
export async function registerUser(base: string = URL_A, name = 'E2E User'): Promise<Api> {
  // Readable in screenshots (ada-lovelace-…@example.com), unique across runs.
  const slug = name.toLowerCase().normalize('NFD').replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '') || 'user';
  const email = `${slug}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}@example.com`;
  const response = await fetch(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: PASSWORD, full_name: name }),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`register → ${response.status}: ${text}`);
  const pair = JSON.parse(text);
  return new Api({
    id: pair.user.id,
    email,
    fullName: name,
    access: pair.access_token,
    refresh: pair.refresh_token,
    base,
  });
}

/** Logs in again (a fresh refresh-token family, so a browser session of its own). */
async function freshRefreshToken(user: ApiUser, base: string): Promise<string> {
  const response = await fetch(`${base}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: user.email, password: PASSWORD }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`login → ${response.status}: ${text}`);
  return JSON.parse(text).refresh_token;
}

/**
 * A browser context on `base`, signed in as `user` the way a returning visitor is: a stored
 * refresh token (set once with storageState, never by an init script, which would put an
 * already rotated token back on every reload and trip the reuse detection).
 */
export async function signedInContext(
  browser: Browser,
  user: Api,
  base: string = user.base,
  options: { viewport?: { width: number; height: number } } = {},
): Promise<BrowserContext> {
  const refresh = await freshRefreshToken(user.user, base);
  return browser.newContext({
    baseURL: base,
    viewport: options.viewport,
    storageState: {
      cookies: [],
      origins: [{ origin: base, localStorage: [{ name: REFRESH_TOKEN_KEY, value: refresh }] }],
    },
  });
}

export async function signedInPage(
  browser: Browser,
  user: Api,
  path: string,
  base: string = user.base,
  options: { viewport?: { width: number; height: number } } = {},
): Promise<Page> {
  const context = await signedInContext(browser, user, base, options);
  const page = await context.newPage();
  await page.goto(`/app${path}`);
  return page;
}

// ------------------------------------------------------------------ the board ---

export function column(page: Page, name: ColumnName): Locator {
  return page.getByRole('region', { name, exact: true });
}

/** The card of `title` (its accessible name begins with the title) inside `scope`. */
export function card(scope: Page | Locator, title: string): Locator {
  return scope.getByRole('listitem', { name: new RegExp(`^${escapeRegExp(title)}`) });
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Waits until the board of a project is drawn with its four columns. */
export async function expectBoard(page: Page): Promise<void> {
  for (const name of COLUMNS) await expect(column(page, name)).toBeVisible({ timeout: 10_000 });
}

/** The header's live indicator says the WebSocket is connected. */
export async function expectLive(page: Page): Promise<void> {
  await expect(page.getByText('Live', { exact: true }).first()).toBeVisible({ timeout: 10_000 });
}

/**
 * Drags `source` onto `target` with the mouse, in small steps as a person would (dnd-kit's
 * pointer sensor starts a drag only after the pointer moved a few pixels).
 */
export async function dragWithMouse(page: Page, source: Locator, target: Locator): Promise<void> {
  await source.scrollIntoViewIfNeeded();
  const from = await source.boundingBox();
  if (!from) throw new Error('the dragged card has no box');
  const startX = from.x + from.width / 2;
  const startY = from.y + Math.min(from.height / 2, 20);
  await page.mouse.move(startX, startY);
  await page.mouse.down();
  await page.mouse.move(startX + 8, startY + 8, { steps: 4 });
  const to = await target.boundingBox();
  if (!to) throw new Error('the drop target has no box');
  const endX = to.x + to.width / 2;
  const endY = to.y + Math.min(to.height / 2, 120);
  await page.mouse.move(endX, endY, { steps: 20 });
  // dnd-kit measures the droppables on the next frames: let it see the pointer there.
  await page.mouse.move(endX + 2, endY + 2, { steps: 2 });
  await page.mouse.up();
}

// ---------------------------------------------------------- screenshots, axe ---

const SHOT_DIR = join(
  process.env.FLOWTRACK_E2E_SCREENSHOTS ??
    join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'target', 'e2e-screenshots'),
  process.env.FLOWTRACK_E2E_BACKEND ?? 'local',
);

/** A full-page screenshot under target/e2e-screenshots/<backend>/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOT_DIR, { recursive: true });
  // Let fonts and transitions settle so the picture shows the resting state.
  await page.evaluate(() => document.fonts?.ready);
  await page.waitForTimeout(150);
  await page.screenshot({ path: join(SHOT_DIR, `${name}.png`), fullPage: true });
}

/** Runs axe-core on the page (or a part of it) and fails on serious or critical violations. */
export async function expectAccessible(page: Page, what: string, include?: string): Promise<void> {
  let builder = new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']);
  if (include) builder = builder.include(include);
  const results = await builder.analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const report = bad
    .map(
      (v) =>
        `${v.impact}: ${v.id} — ${v.help}\n` +
        v.nodes
          .slice(0, 5)
          .map((n) => `    ${n.target.join(' ')}: ${n.failureSummary?.split('\n').join(' ')}`)
          .join('\n'),
    )
    .join('\n');
  // Soft: the test goes on (and takes its other screenshots), yet fails at its end.
  expect.soft(bad.length, `accessibility violations on ${what}:\n${report}`).toBe(0);
}

/**
 * Records what a person would never see but a broken page shows in its console: uncaught
 * errors, Content-Security-Policy refusals, and app files that failed to load. API answers
 * are left out (a 401 before a token refresh, a 412 conflict are part of normal work).
 */
export function watchForPageErrors(page: Page): () => string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (/Content[- ]Security[- ]Policy/i.test(text)) problems.push(`CSP: ${text}`);
    else if (message.type() === 'error' && !/Failed to load resource/.test(text)) problems.push(`console: ${text}`);
  });
  page.on('response', (response) => {
    const path = new URL(response.url()).pathname;
    if (path.startsWith('/app/') && response.status() >= 400) problems.push(`${response.status()} ${path}`);
  });
  return () => problems;
}
