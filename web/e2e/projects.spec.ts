// Projects: creating one through the dialog, and a project made in one tab showing up in
// another without a reload.
import { expect, test } from '@playwright/test';
import { expectBoard, expectLive, registerUser, signedInContext, unique } from './helpers';

test('a project created through the dialog opens as an empty board', async ({ browser }) => {
  const user = await registerUser();
  const context = await signedInContext(browser, user);
  const page = await context.newPage();
  await page.goto('/app/projects');

  const name = unique('Launch plan');
  await page.getByRole('button', { name: 'New project' }).click();
  const dialog = page.getByRole('dialog');
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Name').fill(name);
  await dialog.getByRole('button', { name: 'Create project' }).click();
  await expect(dialog).toBeHidden();

  // The new project is listed (and may have opened already): open it from the list.
  await page.goto('/app/projects');
  await page.getByRole('link', { name, exact: true }).click();
  await expect(page).toHaveURL(/\/app\/projects\/[0-9a-f-]{36}$/);
  await expectBoard(page);
  await context.close();
});

test('a project created in one tab appears in the other tab', async ({ browser }) => {
  const user = await registerUser();
  const context = await signedInContext(browser, user);
  const watching = await context.newPage();
  await watching.goto('/app/projects');
  await expect(watching.getByRole('button', { name: 'New project' })).toBeVisible();
  await expectLive(watching);

  const creating = await context.newPage();
  await creating.goto('/app/projects');
  const name = unique('Other tab');
  await creating.getByRole('button', { name: 'New project' }).click();
  await creating.getByRole('dialog').getByLabel('Name').fill(name);
  await creating.getByRole('dialog').getByRole('button', { name: 'Create project' }).click();

  await expect(watching.getByRole('link', { name, exact: true })).toBeVisible({ timeout: 5_000 });
  await context.close();
});
