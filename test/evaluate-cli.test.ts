/**
 * `robustlab evaluate` as a user meets it: a model trained by the CLI in the test, --json,
 * the saved adversarials re-checked from the .npy files, and one-line errors.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/node-io.js';
import { decodeNpy } from '../src/evaluation/npy.js';
import { REPO_ROOT, TEST_DATA_DIR } from '../src/testing/fixtures.js';
import { slowTests } from '../src/testing/slow-tests.js';

// tests of many seconds: vitest-setup.ts pauses before each (its RPC timeout)
slowTests();

const tmp = mkdtempSync(join(tmpdir(), 'robustlab-evaluate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Asynchronous, so that vitest's worker keeps answering while a long command runs. */
function cli(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const loader = pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  const p = spawn(
    process.execPath,
    ['--import', loader, join(REPO_ROOT, 'src/cli/run-dev.ts'), ...args],
    {
      cwd: tmp,
      env: { ...process.env, ROBUSTLAB_DATA: TEST_DATA_DIR },
    },
  );
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, out, err })));
}

const model = join(tmp, 'lrl');

beforeAll(async () => {
  const r = await cli(
    'train',
    'classifier',
    '--dataset',
    'mnist',
    '--arch',
    'LRL',
    '--hidden',
    '32',
    '--epochs',
    '2',
    '--limit-train',
    '5000',
    '--limit-test',
    '500',
    '--out',
    model,
    '--quiet',
  );
  expect(r.code, r.err).toBe(0);
});

describe('robustlab evaluate', () => {
  it('prints a RobustBench-like record with --json and saves readable adversarials', async () => {
    const adv = join(tmp, 'adv');
    const r = await cli(
      'evaluate',
      '--model',
      model,
      '--norm',
      'l2',
      '--eps',
      '1.5',
      '--attacks',
      'fgsm,pgd',
      '--n',
      '24',
      '--check-subset',
      '8',
      '--curve',
      '0:0.75:1.5',
      '--save-adversarials',
      adv,
      '--out',
      join(tmp, 'out'),
      '--json',
    );
    expect(r.code, r.err).toBe(0);
    const rec = JSON.parse(r.out);
    expect(rec.command).toBe('evaluate');
    expect(rec.threatModel).toBe('L2');
    expect(rec.eps).toBe(1.5);
    expect(rec.n).toBe(24);
    expect(rec.attacks.map((a: { name: string }) => a.name)).toEqual(['fgsm', 'pgd']);
    expect(rec.attacks[1].settings.steps).toBe(100);
    expect(rec.robustAccuracy).toBeLessThanOrEqual(rec.cleanAccuracy);
    expect(rec.robustAccuracy).toBeLessThanOrEqual(rec.attacks[0].robustAccuracyAfter);
    expect(rec.checks.map((c: { id: string }) => c.id)).toContain('unbounded');
    for (const c of rec.checks) expect(['pass', 'warn', 'fail', 'skip']).toContain(c.status);
    expect(rec.curve.bounded.map((p: { eps: number }) => p.eps)).toEqual([0, 0.75, 1.5]);
    expect(rec.passes.backwards).toBeGreaterThan(0);
    expect(existsSync(rec.figure.svg) && existsSync(rec.figure.png)).toBe(true);

    // Re-check every saved adversarial: within ε in L2, inside [0,1], and the judge's verdict.
    const images = decodeNpy(readFileSync(join(adv, 'adversarials.npy')));
    const labels = decodeNpy(readFileSync(join(adv, 'labels.npy')));
    const predicted = decodeNpy(readFileSync(join(adv, 'predicted.npy')));
    expect(images.shape).toEqual([24, 28, 28]);
    expect(images.descr).toBe('<f4');
    expect(labels.shape).toEqual([24]);
    const ds = await loadDataset('mnist', { dataDir: TEST_DATA_DIR, limitTest: 24 });
    const clean = ds.test.images;
    let broken = 0;
    for (let i = 0; i < 24; i++) {
      let s = 0;
      for (let j = 0; j < 784; j++) {
        const v = images.data[i * 784 + j];
        expect(v >= 0 && v <= 1).toBe(true);
        s += (v - clean[i * 784 + j]) ** 2;
      }
      expect(Math.sqrt(s)).toBeLessThanOrEqual(1.5 + 1e-4);
      const isBroken = rec.brokenBy[i] !== null;
      expect(predicted.data[i] !== labels.data[i]).toBe(isBroken);
      if (isBroken) broken++;
    }
    expect(broken).toBe(Math.round((1 - rec.robustAccuracy) * 24));
    expect(readdirSync(join(adv, 'png'))).toHaveLength(24);
  });

  it('prints a table without --json, and one-line errors for bad input', async () => {
    const r = await cli(
      'evaluate',
      '--model',
      model,
      '--attacks',
      'fgsm',
      '--n',
      '10',
      '--check-subset',
      '0',
      '--out',
      join(tmp, 'o2'),
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/clean accuracy/);
    expect(r.out).toMatch(/robust accuracy/);
    const help = await cli('evaluate', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/usage: robustlab evaluate/);
    for (const [args, msg] of [
      [['--norm', 'l3'], /--norm must be one of/],
      [['--attacks', 'pgd,frob'], /unknown attack 'frob'/],
      [['--curve', '0:0:1'], /--curve/],
      [['--eps=-1'], /--eps must be a number/],
    ] as const) {
      const e = await cli('evaluate', '--model', model, ...args);
      expect(e.code).toBe(1);
      const lines = e.err.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^robustlab: /);
      expect(lines[0]).toMatch(msg);
    }
    const missing = await cli('evaluate', '--model', join(tmp, 'nope'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^robustlab: no robustlab model/);
  });
});
