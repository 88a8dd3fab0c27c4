// Every screen at desktop size and at 375 px: a screenshot of each (target/e2e-screenshots/,
// looked at by people; the README's board picture comes from here), axe-core scans of the
// sign-in page, the board and the task dialog, and the phone-sized board in use.
import { expect, test, type Browser, type Page } from '@playwright/test';
import {
  Api,
  PHONE,
  card,
  column,
  expectAccessible,
  expectBoard,
  registerUser,
  screenshot,
  signedInContext,
  watchForPageErrors,
} from './helpers';

const SIZES = [
  { label: 'desktop', viewport: { width: 1280, height: 800 } },
  { label: 'phone', viewport: PHONE },
] as const;

/** A board that looks like real work: four columns, priorities, labels, people, due dates. */
async function realisticProject(): Promise<{ owner: Api; mate: Api; projectId: string; taskId: string }> {
  const owner = await registerUser(undefined, 'Ada Lovelace');
  const mate = await registerUser(undefined, 'Grace Hopper');
  const project = await owner.call<{ id: string }>('POST', '/projects', {
    name: 'Website relaunch',
    description: 'New site, new copy, same domain.',
  });
  await owner.addMember(project.id, mate.user.email, 'editor');
  const day = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
  const tasks: [string, string, Record<string, unknown>][] = [
    ['Write the launch announcement', 'todo', { priority: 'high', labels: ['copy'], due_date: day(5) }],
    ['Choose hero photos', 'todo', { labels: ['design'], assignee_id: mate.user.id }],
    ['Set up redirects from old URLs', 'todo', { priority: 'low', labels: ['ops'] }],
    ['Draft the pricing page', 'in_progress', { priority: 'urgent', assignee_id: owner.user.id, due_date: day(2) }],
    ['Migrate the blog posts', 'in_progress', { labels: ['content'], assignee_id: mate.user.id }],
    ['Review the navigation', 'review', { priority: 'high', labels: ['design', 'ux'] }],
    ['Pick the new domain host', 'done', { labels: ['ops'] }],
    ['Collect customer quotes', 'done', { assignee_id: owner.user.id }],
  ];
  let taskId = '';
  for (const [title, status, extra] of tasks) {
    const task = await owner.createTask(project.id, title, { status, ...extra });
    if (title === 'Draft the pricing page') taskId = task.id;
  }
  await owner.call('POST', `/tasks/${taskId}/comments`, { body: 'Numbers are in the spreadsheet; copy still to come.' });
  // Something for the owner's bell: Grace comments on Ada's task and hands her another one.
  await mate.call('POST', `/tasks/${taskId}/comments`, { body: 'Copy for the enterprise tier is in the doc.' });
  const review = await mate.createTask(project.id, 'Proofread the FAQ', { status: 'review' });
  await mate.call('PATCH', `/tasks/${review.id}`, { assignee_id: owner.user.id });
  return { owner, mate, projectId: project.id, taskId };
}

async function signedIn(browser: Browser, user: Api, viewport: { width: number; height: number }): Promise<Page> {
  const context = await signedInContext(browser, user, undefined, { viewport });
  return context.newPage();
}

for (const { label, viewport } of SIZES) {
  test(`screens at ${label} size`, async ({ browser }) => {
    const { owner, projectId, taskId } = await realisticProject();

    const visitor = await browser.newContext({ viewport });
    const anonymous = await visitor.newPage();
    const anonymousProblems = watchForPageErrors(anonymous);
    await anonymous.goto('/app/signin');
    await expect(anonymous.getByRole('button', { name: 'Sign in' })).toBeVisible();
    await screenshot(anonymous, `signin-${label}`);
    if (label === 'desktop') await expectAccessible(anonymous, 'the sign-in page');
    await anonymous.goto('/app/register');
    await expect(anonymous.getByRole('button', { name: 'Create account' })).toBeVisible();
    await screenshot(anonymous, `register-${label}`);
    expect(anonymousProblems(), 'errors on the sign-in and register pages').toEqual([]);
    await visitor.close();

    const page = await signedIn(browser, owner, viewport);
    const problems = watchForPageErrors(page);
    await page.goto('/app/projects');
    await expect(page.getByRole('link', { name: 'Website relaunch' })).toBeVisible();
    await screenshot(page, `projects-${label}`);

    await page.goto(`/app/projects/${projectId}`);
    await expectBoard(page);
    await expect(card(column(page, 'In progress'), 'Draft the pricing page')).toBeVisible();
    await screenshot(page, `board-${label}`);
    if (label === 'desktop') await expectAccessible(page, 'the board');

    await card(page, 'Draft the pricing page').click();
    const dialog = page.getByRole('dialog', { name: 'Draft the pricing page' });
    await expect(dialog).toBeVisible();
    await expect(dialog.getByText('Numbers are in the spreadsheet')).toBeVisible();
    await screenshot(page, `task-dialog-${label}`);
    if (label === 'desktop') await expectAccessible(page, 'the task dialog', 'dialog[open], [role="dialog"]');
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();

    await page.getByRole('button', { name: /^Notifications/ }).click();
    await screenshot(page, `notifications-${label}`);
    await page.keyboard.press('Escape');

    await page.goto(`/app/projects/${projectId}/members`);
    await expect(page.getByText('Grace Hopper').first()).toBeVisible();
    await screenshot(page, `members-${label}`);

    await page.goto(`/app/projects/${projectId}/reports`);
    await expect(page.getByRole('heading').first()).toBeVisible();
    await page.waitForLoadState('networkidle');
    await screenshot(page, `reports-${label}`);

    await page.goto('/app/my-work');
    await expect(page.getByRole('heading').first()).toBeVisible();
    await page.waitForLoadState('networkidle');
    await screenshot(page, `my-work-${label}`);

    await page.goto('/app/profile');
    await expect(page.getByRole('heading').first()).toBeVisible();
    await screenshot(page, `profile-${label}`);

    // The task's own address, as a shared link would open it.
    await page.goto(`/app/projects/${projectId}/tasks/${taskId}`);
    await expect(page.getByRole('dialog', { name: 'Draft the pricing page' })).toBeVisible();
    // No script error, CSP refusal or missing app file on any screen.
    expect(problems(), 'errors while visiting every screen').toEqual([]);
    await page.context().close();
  });
}

test('the board is usable on a 375 px phone', async ({ browser }) => {
  const { owner, projectId } = await realisticProject();
  const page = await signedIn(browser, owner, PHONE);
  await page.goto(`/app/projects/${projectId}`);
  await expectBoard(page);

  // The page itself never scrolls sideways (a board may scroll inside its own area).
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(1);

  // Quick add works at this size.
  const input = page.getByRole('textbox', { name: 'New task in To do' });
  await input.scrollIntoViewIfNeeded();
  await input.fill('Added from a phone');
  await page.getByRole('button', { name: 'Add', exact: true }).first().click();
  await expect(card(column(page, 'To do'), 'Added from a phone')).toBeVisible();

  // A card opens a dialog that fits the screen, and its controls can be reached.
  await card(column(page, 'To do'), 'Added from a phone').click();
  const dialog = page.getByRole('dialog', { name: 'Added from a phone' });
  await expect(dialog).toBeVisible();
  const box = await dialog.boundingBox();
  expect(box).not.toBeNull();
  expect(box!.x).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width).toBeLessThanOrEqual(PHONE.width + 1);
  await page.keyboard.press('Escape');

  // Every column can be brought into view, and the header's controls stay in reach.
  for (const name of ['In progress', 'Review', 'Done'] as const) {
    await column(page, name).scrollIntoViewIfNeeded();
    await expect(column(page, name)).toBeInViewport({ ratio: 0.3 });
  }
  await expect(page.getByRole('button', { name: /^Notifications/ })).toBeInViewport();
  await screenshot(page, 'board-phone-in-use');
});
