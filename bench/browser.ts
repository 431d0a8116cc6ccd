/**
 * Browser benchmark (run by hand, not in the tests): seconds for a 100-step attack in Chromium
 * on one image and on a batch of 100, for the image-space 2L and the VAE-encoding LRL (attacked
 * in pixels through the encoder), wasm with and without threads.
 *
 *   node --import tsx bench/browser.ts [--run runs/quick] [--steps 100] [--batch 100]
 *
 * The attack is the study's targeted CE + L2 attack with confidence 1, so every example takes
 * all the steps (PGD, one forward and one backward per step too, is not on main yet).
 */
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cpSync } from 'node:fs';
import { indexRun } from '../src/cli/lab-server.js';
import { locateDataDir } from '../src/data/node-io.js';
import {
  launchChromium,
  serveStatic,
  HAVE_CHROMIUM,
  NO_CHROMIUM_MESSAGE,
} from '../src/testing/browser.js';
import { table } from './util.js';

const { values: o } = parseArgs({
  options: {
    run: { type: 'string', default: 'runs/quick' },
    steps: { type: 'string', default: '100' },
    batch: { type: 'string', default: '100' },
    'data-dir': { type: 'string' },
  },
});
if (!HAVE_CHROMIUM) {
  console.error(NO_CHROMIUM_MESSAGE);
  process.exit(1);
}
const ix = indexRun(o.run!, o['data-dir']);
const models = ix.datasets.mnist?.models.filter(
  (m) =>
    (m.space === 'image' && m.arch === '2L') || (m.space === 'vae-encoding' && m.arch === 'LRL'),
);
if (!models || models.length !== 2)
  throw new Error(`${o.run}: needs mnist image/2L and vae-encoding/LRL`);

const site = mkdtempSync(join(tmpdir(), 'robustlab-bench-browser-'));
await build({
  entryPoints: [resolve('bench/browser-page/main.ts')],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  outfile: join(site, 'main.js'),
  logLevel: 'warning',
});
const fs = await import('node:fs');
fs.writeFileSync(
  join(site, 'index.html'),
  '<!doctype html><title>bench</title><script type="module" src="./main.js"></script>',
);
const wasmDir = join(
  dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')),
  'dist',
);
for (const f of [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
])
  copyFileSync(join(wasmDir, f), join(site, f));
mkdirSync(join(site, 'data'));
const dataDir = locateDataDir('mnist', { dataDir: o['data-dir'] });
for (const f of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'])
  if (existsSync(join(dataDir, f))) copyFileSync(join(dataDir, f), join(site, 'data', f));
for (const m of models)
  cpSync(join(ix.run, m.url.replace(/^\/run\//, '')), join(site, 'models', m.space, m.arch), {
    recursive: true,
  });

const server = await serveStatic(site);
const browser = await launchChromium();
const rows: (string | number)[][] = [];
try {
  for (const m of models)
    for (const n of [1, Number(o.batch)])
      for (const threads of [1, 0]) {
        const page = await browser.context.newPage();
        page.on('pageerror', (e) => console.error('page error:', e.message));
        page.on('crash', () => console.error('page crashed'));
        const url = `${server.url}?model=./models/${m.space}/${m.arch}/&n=${n}&steps=${o.steps}&threads=${threads}`;
        await page.goto(url);
        await page.waitForSelector('body[data-result]', { state: 'attached', timeout: 600_000 });
        const r = JSON.parse((await page.getAttribute('body', 'data-result'))!);
        await page.close();
        if (r.error) throw new Error(r.error);
        console.error(JSON.stringify(r));
        rows.push([
          `${m.space} ${m.arch} (h=${r.hidden})`,
          n,
          r.steps,
          r.mt ? 'threaded-simd' : 'simd',
          r.threads,
          r.seconds,
          (r.seconds / r.steps) * 1000,
        ]);
      }
} catch (e) {
  console.error('bench failed:', (e as Error).message);
  process.exitCode = 1;
} finally {
  await browser.close().catch(() => {});
  await server.close();
  rmSync(site, { recursive: true, force: true });
}
console.log(
  table(['model', 'images', 'steps', 'wasm binary', 'pool (tfjs)', 'seconds', 'ms/step'], rows),
);
