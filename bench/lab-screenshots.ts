/**
 * Screenshots of the lab's main views for docs/lab (run by hand, with a reproduce run):
 *
 *   node --import tsx bench/lab-screenshots.ts [--run runs/quick] [--out docs/lab]
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startLabServer } from '../src/cli/lab-server.js';
import { launchChromium } from '../src/testing/browser.js';

const { values: o } = parseArgs({
  options: {
    run: { type: 'string', default: 'runs/quick' },
    out: { type: 'string', default: 'docs/lab' },
    'data-dir': { type: 'string' },
  },
});
mkdirSync(o.out!, { recursive: true });
const server = await startLabServer({ run: o.run!, port: 0, dataDir: o['data-dir'] });
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${server.url}?seed=7`);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 300_000 });
  await page.waitForFunction(() => document.querySelector('#defence-acc')!.textContent !== '–', null, {
    timeout: 300_000,
  });
  await page.selectOption('#pick-class', '3');
  await page.click('#pick');
  await page.waitForFunction(() => /^test image #/.test(document.querySelector('#input-info')!.textContent!));
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(o.out!, 'predictions.png'), fullPage: true });
  await page.click('#run-attack');
  await page.waitForSelector('#norm-l2', { timeout: 300_000 });
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#pred-table td.adv')].every((td) => td.textContent !== '–'),
  );
  await page.check('input[name="svd-mode"][value="scale"]');
  await page.fill('#svd-slider', '40');
  await page.waitForFunction(() => document.querySelector('#svd-pct')!.textContent === '40');
  await page.waitForTimeout(3000);
  await page.screenshot({ path: join(o.out!, 'attack-and-defence.png'), fullPage: true });
  await page.click('button[data-tab="latent"]');
  await page.waitForFunction(() => document.querySelectorAll('#latent-grid figure').length === 6, null, {
    timeout: 300_000,
  });
  await page.screenshot({ path: join(o.out!, 'latent-view.png'), fullPage: true });
  await page.click('button[data-tab="report"]');
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(o.out!, 'report-view.png'), fullPage: false });
  console.log(`screenshots in ${o.out}`);
} finally {
  await browser.close();
  await server.close();
}
