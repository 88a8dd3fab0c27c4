// bench/web/perf.mjs — the web app's performance budget, measured in headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core from web/node_modules):
//
//   1. initial JavaScript: gzip size of what index.html loads before anything else
//      (its module script and modulepreload links), budget ≤ 150 KiB;
//   2. a 500-task board interactive ≤ 1 s after navigation: from navigation start until
//      all 500 cards are in the DOM and the page answers a frame (requestAnimationFrame);
//   3. a live move repainted ≤ 100 ms after its WebSocket frame arrives: another client
//      moves a card through the REST API; the page records when the frame arrived (a
//      wrapped WebSocket) and when the card is in its new column at the next frame.
//
// Run by bench/web/run, which starts a release server and seeds it. Environment:
// BASE (server URL), REFRESH (a refresh token of the board's owner), ACCESS (an access
// token), PROJECT (the 500-task project id), RUNS (board loads, default 5),
// MOVES (live moves, default 20).

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'web/package.json'));
const { chromium } = require('playwright-core');

const { BASE, ACCESS, PROJECT } = process.env;
// Rotated at every sign-in of a fresh page: always the latest one.
let refresh = process.env.REFRESH;
const RUNS = Number(process.env.RUNS ?? 5);
const MOVES = Number(process.env.MOVES ?? 20);
const STATUSES = ['todo', 'in_progress', 'review', 'done'];

function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function initialJsGzip() {
  const dist = path.join(root, 'web/dist');
  const html = readFileSync(path.join(dist, 'index.html'), 'utf8');
  const files = new Set();
  for (const m of html.matchAll(/<script[^>]*src="([^"]+)"/g)) files.add(m[1]);
  for (const m of html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)) files.add(m[1]);
  let raw = 0;
  let gz = 0;
  for (const url of files) {
    const body = readFileSync(path.join(dist, url.replace(/^\/app\//, '')));
    raw += body.length;
    gz += gzipSync(body, { level: 9 }).length;
  }
  return { files: [...files], raw, gz };
}

async function api(method, route, body, ifMatch) {
  const headers = { authorization: `Bearer ${ACCESS}`, 'content-type': 'application/json' };
  if (ifMatch) headers['if-match'] = ifMatch;
  const r = await fetch(BASE + route, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) throw new Error(`${method} ${route}: ${r.status} ${await r.text()}`);
  return r.json();
}

// Runs in the page before the app: keeps the refresh token where the app looks for it and
// timestamps every WebSocket frame that carries a task move, by task id.
function pageSetup(refresh) {
  localStorage.setItem('flowtrack.refresh_token', refresh);
  window.__frames = {};
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        const at = performance.now();
        try {
          const m = JSON.parse(e.data);
          if (m.type === 'task.moved') window.__frames[m.data.task.id + ':' + m.data.task.version] = at;
        } catch {
          /* not JSON: not ours */
        }
      });
    }
  };
}

async function main() {
  const bundle = initialJsGzip();
  const browser = await chromium.launch({
    executablePath: process.env.FLOWTRACK_E2E_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  const board = await api('GET', `/projects/${PROJECT}/board`);
  const tasks = board.columns.flatMap((c) => c.tasks);

  // 2. Board loads, each in a fresh context (no cache, no service worker).
  const loads = [];
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await context.addInitScript(pageSetup, refresh);
    const page = await context.newPage();
    await page.goto(`${BASE}/app/projects/${PROJECT}`);
    await page
      .waitForFunction((n) => document.querySelectorAll('li.card').length >= n, tasks.length, {
        timeout: 30_000,
        polling: 'raf',
      })
      .catch(async (err) => {
        await page.screenshot({ path: path.join(root, 'target/web-bench-failure.png') });
        throw err;
      });
    const ms = await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(performance.now()))));
    loads.push(ms);
    // Each fresh context signs in with the refresh token, which rotates: take the new one.
    const rotated = await page.evaluate(() => localStorage.getItem('flowtrack.refresh_token'));
    if (rotated) refresh = rotated;
    await context.close();
  }

  // 3. Live moves, seen by a board that stays open.
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  await context.addInitScript(pageSetup, refresh);
  const page = await context.newPage();
  await page.goto(`${BASE}/app/projects/${PROJECT}`);
  await page.waitForFunction((n) => document.querySelectorAll('li.card').length >= n, tasks.length, { timeout: 30_000 });
  await page.getByText('Live', { exact: true }).first().waitFor({ timeout: 10_000 });
  const repaints = [];
  for (let i = 0; i < MOVES; i++) {
    const task = tasks[(i * 37) % tasks.length];
    const to = STATUSES[(STATUSES.indexOf(task.status) + 1) % STATUSES.length];
    const moved = await api('PATCH', `/tasks/${task.id}/move`, { status: to });
    Object.assign(task, moved);
    const key = `${moved.id}:${moved.version}`;
    const ms = await page.evaluate(
      ({ key, title, to }) =>
        new Promise((resolve, reject) => {
          const deadline = performance.now() + 5000;
          const check = () => {
            const card = [...document.querySelectorAll(`section.column-${to} li.card`)].find((li) =>
              (li.getAttribute('aria-label') ?? '').startsWith(title),
            );
            const frame = window.__frames[key];
            if (card && frame !== undefined) {
              // The card is in place; the frame after this one shows it.
              requestAnimationFrame(() => resolve(performance.now() - frame));
            } else if (performance.now() > deadline) {
              reject(new Error(`move of ${title} to ${to} not shown`));
            } else {
              requestAnimationFrame(check);
            }
          };
          check();
        }),
      { key, title: moved.title, to },
    );
    repaints.push(ms);
    await new Promise((r) => setTimeout(r, 100));
  }
  await browser.close();

  const kib = (n) => (n / 1024).toFixed(1);
  const fmt = (v) => v.toFixed(0);
  console.log('## Web app (bench/web/run)');
  console.log('');
  console.log('| measure | result | budget |');
  console.log('|---|---|---|');
  console.log(`| initial JavaScript (${bundle.files.length} files) | ${kib(bundle.gz)} KiB gzipped (${kib(bundle.raw)} KiB raw) | ≤ 150 KiB |`);
  console.log(`| ${tasks.length}-task board interactive after navigation (${RUNS} loads) | median ${fmt(quantile(loads, 0.5))} ms, max ${fmt(Math.max(...loads))} ms | ≤ 1000 ms |`);
  console.log(`| live move repainted after its WebSocket frame (${MOVES} moves) | median ${fmt(quantile(repaints, 0.5))} ms, p95 ${fmt(quantile(repaints, 0.95))} ms, max ${fmt(Math.max(...repaints))} ms | ≤ 100 ms |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
