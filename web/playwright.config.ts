// Browser end-to-end tests of the web app served by a real FlowTrack server (scripts/e2e
// builds the release binary, starts it — SQLite, then two instances on PostgreSQL + Redis —
// and runs this suite against it). The browser is Debian's Chromium: Playwright must never
// download one (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1, and no `playwright install`).
//
//   FLOWTRACK_E2E_URL        the server (instance A), default http://127.0.0.1:8000
//   FLOWTRACK_E2E_URL_B      a second instance sharing A's database and Redis (default: A)
//   FLOWTRACK_E2E_BACKEND    a label for the screenshots' folder (default "local")
//   FLOWTRACK_E2E_SCREENSHOTS where screenshots go (default ../target/e2e-screenshots)
//   FLOWTRACK_E2E_CHROMIUM   the browser (default /usr/bin/chromium)
import { defineConfig } from '@playwright/test';

const chromium = process.env.FLOWTRACK_E2E_CHROMIUM ?? '/usr/bin/chromium';
const backend = process.env.FLOWTRACK_E2E_BACKEND ?? 'local';
const ci = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';

export default defineConfig({
  testDir: './e2e',
  outputDir: `../target/e2e-results/${backend}`,
  // Two cores: a browser per worker plus the server(s) under test.
  workers: 2,
  fullyParallel: true,
  forbidOnly: ci,
  // A retry would hide a real race in the live updates; failures keep their trace instead.
  retries: 0,
  timeout: 45_000,
  expect: { timeout: 5_000 },
  reporter: [['list'], ['html', { outputFolder: `../target/e2e-report/${backend}`, open: 'never' }]],
  use: {
    baseURL: process.env.FLOWTRACK_E2E_URL ?? 'http://127.0.0.1:8000',
    browserName: 'chromium',
    viewport: { width: 1280, height: 800 },
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: chromium,
      // No sandbox (CI runs as root); no GPU; and no background connections of Chromium's
      // own, which this machine's closed network would refuse.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
});
