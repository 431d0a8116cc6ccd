/**
 * `npm run bench [-- --only a,b --repeats N --json]`: robustlab's performance benchmarks.
 * Prints a markdown table per benchmark and writes bench/results/latest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.js';
import { benchEpochs } from './epoch.js';
import { table } from './util.js';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    repeats: { type: 'string', default: '3' },
    'data-dir': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: npm run bench -- [--only epoch,...] [--repeats N] [--data-dir DIR] [--json]');
  process.exit(0);
}
const only = values.only?.split(',');
const want = (name: string) => !only || only.includes(name);
const repeats = Number(values.repeats);
const dataDir = values['data-dir'] ?? process.env.ROBUSTLAB_DATA ?? (await import('../src/testing/fixtures.js')).TEST_DATA_DIR;

await initBackend({ backend: 'wasm' });
const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version };
const log = (s: string) => (values.json ? process.stderr.write(s + '\n') : console.log(s));

if (want('epoch')) {
  log('\n## Seconds per MNIST training epoch (wasm backend, batch 1000, h=256)\n');
  const rows = await benchEpochs(dataDir, { repeats });
  results.epoch = rows;
  const by = (arch: string, fix: boolean) => rows.find((r) => r.arch === arch && r.matmulFix === fix)!;
  log(
    table(
      ['arch', 's/epoch with fix', 's/epoch without fix', 'speed-up', 'GFLOP/s with fix'],
      [...new Set(rows.map((r) => r.arch))].map((a) => [
        a,
        by(a, true).secondsPerEpoch,
        by(a, false).secondsPerEpoch,
        `${(by(a, false).secondsPerEpoch / by(a, true).secondsPerEpoch).toFixed(1)}x`,
        by(a, true).gflops,
      ]),
    ),
  );
}

mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/latest.json', JSON.stringify(results, null, 2) + '\n');
if (values.json) console.log(JSON.stringify(results, null, 2));
