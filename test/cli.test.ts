/** The CLI as a user meets it: --help everywhere, --json, and one-line errors with exit code 1. */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_DATA_DIR } from '../src/testing/fixtures.js';
import { runCli } from '../src/testing/spawn.js';
import { slowTests } from '../src/testing/slow-tests.js';

// tests of many seconds: vitest-setup.ts pauses before each (its RPC timeout)
slowTests();

const tmp = mkdtempSync(join(tmpdir(), 'robustlab-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  // Run from an empty directory, so no runs/ or data of the repo's is found by accident.
  return runCli(args, {
    cwd: tmp,
    env: { ...process.env, ROBUSTLAB_DATA: '', XDG_CACHE_HOME: join(tmp, 'cache') },
  });
}

function expectOneLineError(r: { code: number | null; err: string }, pattern: RegExp) {
  expect(r.code).toBe(1);
  const lines = r.err.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^robustlab: /);
  expect(lines[0]).toMatch(pattern);
}

describe('robustlab CLI', () => {
  it('has --help for every command', async () => {
    const top = await cli('--help');
    expect(top.code).toBe(0);
    for (const c of [
      'reproduce',
      'train',
      'eval',
      'latent',
      'attack',
      'svd',
      'figure',
      'data',
      'info',
    ]) {
      expect(top.out).toContain(c);
      const r = await cli(c, '--help');
      expect(r.code, c).toBe(0);
      expect(r.out, c).toMatch(/usage: robustlab/);
    }
  });

  it('prints one machine-readable result with --json', async () => {
    const r = await cli('info', '--json', '--data-dir', TEST_DATA_DIR);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.out);
    expect(info.backend).toBe('wasm');
    expect(info.data.every((d: { found: boolean }) => d.found)).toBe(true);
  });

  it('turns bad input into a one-line error and exit code 1', async () => {
    expectOneLineError(await cli('frobnicate'), /unknown command 'frobnicate'/);
    expectOneLineError(
      await cli('train', 'classifier', '--dataset', 'cifar', '--arch', '2L'),
      /--dataset must be one of: mnist, fashion-mnist \(got 'cifar'\)/,
    );
    expectOneLineError(
      await cli('train', 'classifier', '--dataset', 'mnist', '--arch', '3L'),
      /--arch must be one of: 1L, 2L, LRL \(got '3L'\)/,
    );
    expectOneLineError(
      await cli('train', 'classifier', '--dataset', 'mnist', '--arch', '2L', '--epochs', 'NaN'),
      /--epochs must be an integer/,
    );
    expectOneLineError(
      await cli('train', 'classifier', '--dataset', 'mnist', '--arch', '2L', '--bogus'),
      /unknown option --bogus for 'train classifier'/,
    );
    expectOneLineError(
      await cli(
        'train',
        'classifier',
        '--dataset',
        'mnist',
        '--arch',
        '2L',
        '--data-dir',
        join(tmp, 'nowhere'),
      ),
      /mnist dataset not found/,
    );
    expectOneLineError(await cli('attack', '--model', join(tmp, 'nope')), /no robustlab model at/);
    expectOneLineError(
      await cli('attack', '--model', 'x', '--lambda', 'abc'),
      /--lambda must be a number/,
    );
    expectOneLineError(
      await cli('svd', '--model', 'x', '--mode', 'zero', '--fractions', '0:0.1:2'),
      /--fractions must be a comma list of numbers in \[0, 1\]/,
    );
    expectOneLineError(
      await cli('reproduce', '--seeds', '0,x'),
      /--seeds must be a comma-separated/,
    );
    expectOneLineError(await cli('reproduce', '--seeds', '1,1'), /--seeds has a repeated seed/);
    expectOneLineError(
      await cli('reproduce', '--optimizer', 'lbfgs'),
      /--optimizer must be one of: ngd, sgd, adam/,
    );
    expectOneLineError(
      await cli('reproduce', '--preset', 'huge'),
      /--preset must be one of: paper, quick, smoke, tiny \(got 'huge'\)/,
    );
    expectOneLineError(
      await cli('latent', '--dataset', 'mnist', '--method', 'pca'),
      /--method must be one of: .* \(got 'pca'\)/,
    );
    const bad = join(tmp, 'badmodel');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'robustlab.json'), '{ not json');
    expectOneLineError(await cli('eval', '--model', bad), /robustlab\.json: not valid JSON/);
  });
});
