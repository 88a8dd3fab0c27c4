// Fails when the initial JavaScript of the built app (dist/index.html's module script and
// its modulepreloads) is over the budget, gzipped. Run after `npm run build`.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUDGET_KIB = Number(process.env.FLOWTRACK_JS_BUDGET_KIB ?? 150);
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const srcs = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*rel="modulepreload"[^>]*\shref)="([^"]+\.js)"/g)].map((m) => m[1]);
let total = 0;
for (const src of new Set(srcs)) {
  const file = join(dist, src.replace(/^\/app\//, ''));
  const size = gzipSync(readFileSync(file), { level: 9 }).length;
  total += size;
  console.log(`${src}: ${(size / 1024).toFixed(1)} KiB gzipped`);
}
console.log(`initial JavaScript: ${(total / 1024).toFixed(1)} KiB gzipped (budget ${BUDGET_KIB} KiB)`);
if (total > BUDGET_KIB * 1024) {
  console.error('check:size: over budget; lazy-load more screens');
  process.exit(1);
}
