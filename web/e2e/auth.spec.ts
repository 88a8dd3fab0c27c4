// Registering, signing out and signing in through the screens.
import { expect, test } from '@playwright/test';
import { PASSWORD, registerUser, unique } from './helpers';

test('a visitor registers, signs out and signs in again', async ({ page }) => {
  const email = `${unique('reg').toLowerCase()}@example.com`;

  // The server sends / to /app/, and the app sends a visitor to its sign-in page.
  await page.goto('/');
  await expect(page).toHaveURL(/\/app\/signin/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();

  await page.goto('/app/register');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Full name').fill('Ada Lovelace');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/app\/projects$/);
  await expect(page.getByRole('button', { name: 'New project' })).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  // Signed out for real: the projects page sends back to sign-in.
  await page.goto('/app/projects');
  await expect(page).toHaveURL(/\/app\/signin/);

  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/app\/projects$/);
  await expect(page.getByRole('button', { name: 'New project' })).toBeVisible();

  // A reload keeps the session (the refresh token is stored).
  await page.reload();
  await expect(page.getByRole('button', { name: 'New project' })).toBeVisible();
});

test('a wrong password is refused on the sign-in page', async ({ page }) => {
  const user = await registerUser();
  await page.goto('/app/signin');
  await page.getByLabel('Email').fill(user.user.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert').filter({ hasText: /./ }).first()).toBeVisible();
  await expect(page).toHaveURL(/\/app\/signin/);
});
