// One user's board: quick add, the task dialog, members, deep links and the keyboard move.
import { expect, test } from '@playwright/test';
import { card, column, expectBoard, registerUser, signedInContext, unique } from './helpers';

test('tasks are added with the quick-add field and open as a dialog', async ({ browser }) => {
  const user = await registerUser();
  const project = await user.createProject(unique('Quick add'));
  const context = await signedInContext(browser, user);
  const page = await context.newPage();
  await page.goto(`/app/projects/${project.id}`);
  await expectBoard(page);

  const titles = ['Draft the copy', 'Pick the photos', 'Book the venue'];
  const input = page.getByRole('textbox', { name: 'New task in To do' });
  for (const title of titles) {
    await input.fill(title);
    await page.getByRole('button', { name: 'Add', exact: true }).first().click();
    await expect(card(column(page, 'To do'), title)).toBeVisible();
  }
  // In the order they were added, and stored on the server.
  const names = await column(page, 'To do').getByRole('listitem').allInnerTexts();
  const order = titles.map((t) => names.findIndex((n) => n.includes(t)));
  expect(order).toEqual([...order].sort((a, b) => a - b));
  const board: { columns: { status: string; tasks: { title: string }[] }[] } = await user.call(
    'GET',
    `/projects/${project.id}/board`,
  );
  expect(board.columns[0].tasks.map((t) => t.title)).toEqual(titles);

  await card(column(page, 'To do'), 'Pick the photos').click();
  const dialog = page.getByRole('dialog', { name: 'Pick the photos' });
  await expect(dialog).toBeVisible();
  await expect(page).toHaveURL(new RegExp(`/app/projects/${project.id}/tasks/[0-9a-f-]{36}$`));
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await context.close();
});

test('a member is added from the members page', async ({ browser }) => {
  const owner = await registerUser(undefined, 'Olivia Owner');
  const teammate = await registerUser(undefined, 'Tomás Teammate');
  const project = await owner.createProject(unique('Members'));
  const context = await signedInContext(browser, owner);
  const page = await context.newPage();
  await page.goto(`/app/projects/${project.id}`);
  await expectBoard(page);

  await page.getByRole('link', { name: 'Members' }).or(page.getByRole('button', { name: 'Members' })).first().click();
  await expect(page).toHaveURL(new RegExp(`/app/projects/${project.id}/members$`));
  await page.getByLabel('Email').fill(teammate.user.email);
  await page.getByRole('combobox', { name: 'Role', exact: true }).selectOption({ label: 'Viewer' });
  await page.getByRole('button', { name: 'Invite' }).click();
  const list = page.getByRole('list', { name: 'Members' });
  await expect(list.getByRole('listitem').filter({ hasText: 'Tomás Teammate' })).toBeVisible();

  const members: { user: { id: string }; role: string }[] = await owner.call('GET', `/projects/${project.id}/members`);
  expect(members.find((m) => m.user.id === teammate.user.id)?.role).toBe('viewer');
  await context.close();
});

test('a deep link to a board survives a reload and a fresh tab', async ({ browser }) => {
  const user = await registerUser();
  const project = await user.createProject(unique('Deep link'));
  const task = await user.createTask(project.id, 'Read the deep link');
  const context = await signedInContext(browser, user);
  const page = await context.newPage();

  await page.goto(`/app/projects/${project.id}`);
  await expectBoard(page);
  await expect(card(column(page, 'To do'), 'Read the deep link')).toBeVisible();
  await page.reload();
  await expectBoard(page);
  await expect(card(column(page, 'To do'), 'Read the deep link')).toBeVisible();

  // A task's own address opens the board with its dialog, on reload too.
  await page.goto(`/app/projects/${project.id}/tasks/${task.id}`);
  await expect(page.getByRole('dialog', { name: 'Read the deep link' })).toBeVisible();
  await page.reload();
  await expect(page.getByRole('dialog', { name: 'Read the deep link' })).toBeVisible();

  const fresh = await context.newPage();
  await fresh.goto(`/app/projects/${project.id}`);
  await expectBoard(fresh);
  await context.close();
});

test('a card moves to another column with the keyboard alone', async ({ browser }) => {
  const user = await registerUser();
  const project = await user.createProject(unique('Keyboard'));
  await user.createTask(project.id, 'Stay in place');
  const task = await user.createTask(project.id, 'Move me by keyboard');
  const context = await signedInContext(browser, user);
  const page = await context.newPage();
  await page.goto(`/app/projects/${project.id}`);
  await expectBoard(page);

  const moving = card(column(page, 'To do'), 'Move me by keyboard');
  await moving.focus();
  await expect(moving).toBeFocused();
  // As a screen-reader user would: each key once the previous one was announced (the
  // drag-and-drop library measures the columns on the frames after a drag starts).
  // (The live region holds only the latest announcement: "Picked up…" is at once followed
  // by "…is over To do".)
  const announced = (text: RegExp) => expect(page.getByRole('status').filter({ hasText: text })).toBeAttached();
  await page.keyboard.press('Space');
  await announced(/^(Picked up task Move me by keyboard|Task Move me by keyboard is over To do)/);
  await page.keyboard.press('ArrowRight');
  await announced(/^Task Move me by keyboard is over In progress/);
  await page.keyboard.press('Space');
  await announced(/^Task Move me by keyboard was moved to In progress/);

  await expect(card(column(page, 'In progress'), 'Move me by keyboard')).toBeVisible();
  await expect(card(column(page, 'To do'), 'Move me by keyboard')).toHaveCount(0);
  await expect.poll(async () => (await user.task(task.id)).status).toBe('in_progress');
  await context.close();
});
