/** The CLI as a user meets it: --help everywhere, --json, and one-line errors with exit code 1. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TEST_DATA_DIR } from '../src/testing/fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'robustlab-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(...args: string[]) {
  // Run from an empty directory, so no runs/ or data of the repo's is found by accident.
  const loader = pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  const r = spawnSync(
    process.execPath,
    ['--import', loader, join(REPO_ROOT, 'src/cli/run-dev.ts'), ...args],
    {
      cwd: tmp,
      encoding: 'utf8',
      env: { ...process.env, ROBUSTLAB_DATA: '', XDG_CACHE_HOME: join(tmp, 'cache') },
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function expectOneLineError(r: { code: number | null; err: string }, pattern: RegExp) {
  expect(r.code).toBe(1);
  const lines = r.err.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^robustlab: /);
  expect(lines[0]).toMatch(pattern);
}

describe('robustlab CLI', () => {
  it('has --help for every command', () => {
    const top = cli('--help');
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
      const r = cli(c, '--help');
      expect(r.code, c).toBe(0);
      expect(r.out, c).toMatch(/usage: robustlab/);
    }
  });

  it('prints one machine-readable result with --json', () => {
    const r = cli('info', '--json', '--data-dir', TEST_DATA_DIR);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.out);
    expect(info.backend).toBe('wasm');
    expect(info.data.every((d: { found: boolean }) => d.found)).toBe(true);
  });

  it('turns bad input into a one-line error and exit code 1', () => {
    expectOneLineError(cli('frobnicate'), /unknown command 'frobnicate'/);
    expectOneLineError(
      cli('train', 'classifier', '--dataset', 'cifar', '--arch', '2L'),
      /unknown dataset 'cifar'/,
    );
    expectOneLineError(
      cli('train', 'classifier', '--dataset', 'mnist', '--arch', '3L'),
      /unknown architecture '3L'/,
    );
    expectOneLineError(
      cli('train', 'classifier', '--dataset', 'mnist', '--arch', '2L', '--epochs', 'NaN'),
      /--epochs must be an integer/,
    );
    expectOneLineError(
      cli('train', 'classifier', '--dataset', 'mnist', '--arch', '2L', '--bogus'),
      /Unknown option '--bogus'/,
    );
    expectOneLineError(
      cli(
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
    expectOneLineError(cli('attack', '--model', join(tmp, 'nope')), /no robustlab model at/);
    expectOneLineError(
      cli('attack', '--model', 'x', '--lambda', 'abc'),
      /--lambda must be a number/,
    );
    expectOneLineError(
      cli('svd', '--model', 'x', '--mode', 'zero', '--fractions', '0:0.1:2'),
      /fractions must be numbers in \[0, 1\]/,
    );
    expectOneLineError(cli('reproduce', '--preset', 'huge'), /unknown preset 'huge'/);
    expectOneLineError(cli('reproduce', '--seeds', '0,x'), /--seeds must be a comma-separated/);
    expectOneLineError(cli('reproduce', '--seeds', '1,1'), /--seeds has a repeated seed/);
    expectOneLineError(cli('reproduce', '--optimizer', 'lbfgs'), /--optimizer must be one of/);
    expectOneLineError(
      cli('latent', '--dataset', 'mnist', '--method', 'pca'),
      /unknown latent method 'pca'/,
    );
    const bad = join(tmp, 'badmodel');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'robustlab.json'), '{ not json');
    expectOneLineError(cli('eval', '--model', bad), /robustlab\.json: not valid JSON/);
  });
});
