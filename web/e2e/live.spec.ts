// Two people, two browsers, and (in scripts/e2e's second run) two server instances sharing
// PostgreSQL and Redis: A works on instance A, B watches through instance B.
import { expect, test, type Page } from '@playwright/test';
import {
  Api,
  URL_A,
  URL_B,
  card,
  column,
  dragWithMouse,
  expectBoard,
  expectLive,
  registerUser,
  signedInContext,
  unique,
} from './helpers';

async function team() {
  const a = await registerUser(URL_A, 'Ada Owner');
  const b = await registerUser(URL_B, 'Bo Member');
  const project = await a.createProject(unique('Live board'));
  await a.addMember(project.id, b.user.email, 'editor');
  return { a, b, project };
}

async function openBoard(browser: import('@playwright/test').Browser, who: Api, base: string, projectId: string) {
  const context = await signedInContext(browser, who, base);
  const page = await context.newPage();
  await page.goto(`/app/projects/${projectId}`);
  await expectBoard(page);
  await expectLive(page);
  return page;
}

test('a card dragged by A shows up in its new place for B within a second', async ({ browser }) => {
  const { a, b, project } = await team();
  await a.createTask(project.id, 'Warm-up task');
  const task = await a.createTask(project.id, 'Drag me across');
  const pageA = await openBoard(browser, a, URL_A, project.id);
  const pageB = await openBoard(browser, b, URL_B, project.id);
  await expect(card(column(pageB, 'To do'), 'Drag me across')).toBeVisible();

  await dragWithMouse(pageA, card(column(pageA, 'To do'), 'Drag me across'), column(pageA, 'In progress'));
  const dropped = Date.now();
  await expect(card(column(pageB, 'In progress'), 'Drag me across')).toBeVisible({ timeout: 1_000 });
  const seenAfter = Date.now() - dropped;
  test.info().annotations.push({ type: 'live delay (ms)', description: String(seenAfter) });
  console.log(`B saw A's move ${seenAfter} ms after the drop (${URL_A === URL_B ? 'one instance' : 'across instances'})`);
  await expect(card(column(pageB, 'To do'), 'Drag me across')).toHaveCount(0);
  await expect(card(column(pageA, 'In progress'), 'Drag me across')).toBeVisible();
  expect((await a.task(task.id)).status).toBe('in_progress');
  // B never reloaded: the same document is still there.
  expect(await pageB.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1);
});

/** Keeps A's WebSocket open but drops the server's task events, so A's board goes stale. */
async function holdTaskEvents(page: Page) {
  await page.routeWebSocket(/\/ws\/notifications\//, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((message) => {
      if (typeof message === 'string') {
        try {
          const type = JSON.parse(message).type;
          if (typeof type === 'string' && type.startsWith('task.')) return;
        } catch {
          /* not JSON: pass it on */
        }
      }
      ws.send(message);
    });
  });
}

test('a move based on a stale card shows the conflict instead of overwriting', async ({ browser }) => {
  const { a, b, project } = await team();
  const task = await a.createTask(project.id, 'Contested card');
  const context = await signedInContext(browser, a, URL_A);
  const pageA = await context.newPage();
  await holdTaskEvents(pageA);
  await pageA.goto(`/app/projects/${project.id}`);
  await expectBoard(pageA);
  await expectLive(pageA);
  await expect(card(column(pageA, 'To do'), 'Contested card')).toBeVisible();

  // B moves it to Review through the API, on the condition that it is unchanged.
  const moved = await b.call<{ version: number }>('PATCH', `/tasks/${task.id}/move?status=review`, undefined, {
    'if-match': `"${task.version}"`,
  });
  expect(moved.version).toBe(task.version + 1);
  // A never heard of it: the card still sits in To do on A's screen.
  await expect(card(column(pageA, 'To do'), 'Contested card')).toBeVisible();

  await dragWithMouse(pageA, card(column(pageA, 'To do'), 'Contested card'), column(pageA, 'In progress'));
  await expect(
    pageA.getByRole('alert').or(pageA.getByRole('status')).filter({ hasText: /changed|conflict|someone else|updated/i }).first(),
  ).toBeVisible();
  // Nothing was overwritten, and A's board now shows where the card really is.
  expect((await a.task(task.id)).status).toBe('review');
  await expect(card(column(pageA, 'Review'), 'Contested card')).toBeVisible({ timeout: 5_000 });
  await context.close();
});

test('the bell counts up live when someone assigns me a task', async ({ browser }) => {
  const { a, b, project } = await team();
  // B is the one being notified here: B watches on instance B, A assigns on instance A.
  const pageB = await openBoard(browser, b, URL_B, project.id);
  const bell = pageB.getByRole('button', { name: /^Notifications/ });
  await expect(bell).toBeVisible();
  const before = await b.unreadCount();
  await expect(bell).toHaveAccessibleName(before === 0 ? 'Notifications, none unread' : `Notifications, ${before} unread`);

  const task = await a.createTask(project.id, 'Assigned to Bo');
  await a.call('PATCH', `/tasks/${task.id}`, { assignee_id: b.user.id });
  await expect.poll(() => b.unreadCount()).toBe(before + 1);
  await expect(bell).toHaveAccessibleName(`Notifications, ${before + 1} unread`, { timeout: 3_000 });
});
