/**
 * The examples run as a user runs them, from the package's own exports map (self-reference:
 * `import ... from 'robustlab'` resolves to dist/), with small workloads: train-and-attack
 * trains, attacks and saves a model; evaluate-saved-model loads it through `robustlab/node`
 * and must measure exactly the same test accuracy; the page example bundles for the browser.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TEST_DATA_DIR } from '../src/testing/fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'robustlab-examples-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function node(args: string[]) {
  const r = spawnSync(process.execPath, args, {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  const last = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  return { stdout: r.stdout, json: JSON.parse(last ?? 'null') };
}

describe('examples', () => {
  it('dist/ is built (npm ci runs the build)', () => {
    expect(existsSync(join(REPO_ROOT, 'dist/index.js')), 'run npm run build').toBe(true);
    expect(existsSync(join(REPO_ROOT, 'dist/node.js')), 'run npm run build').toBe(true);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['.'].types).toBe('./dist/index.d.ts');
    expect(pkg.exports['./node'].default).toBe('./dist/node.js');
  });

  it('train-and-attack (only robustlab imports) and evaluate-saved-model agree on the model', () => {
    const src = readFileSync(join(REPO_ROOT, 'examples/train-and-attack.mjs'), 'utf8');
    const imports = [
      ...new Set([...src.matchAll(/^(?:import|\}).*from '([^']+)';$/gm)].map((m) => m[1])),
    ];
    expect(imports.filter((m) => !m.startsWith('node:'))).toEqual(['robustlab']);
    const model = join(tmp, 'model');
    const common = [
      '--data-dir',
      TEST_DATA_DIR,
      '--limit-test',
      '500',
      '--count',
      '1',
      '--max-steps',
      '600',
    ];
    const a = node([
      'examples/train-and-attack.mjs',
      ...common,
      '--limit-train',
      '3000',
      '--epochs',
      '8',
      '--hidden',
      '64',
      '--save',
      model,
    ]);
    expect(a.json.testAccuracy).toBeGreaterThan(0.6); // 3000 images, 8 epochs: a real classifier
    expect(a.json.attack.n).toBe(9);
    expect(a.json.attack.successes).toBeGreaterThan(0);
    expect(a.json.attack.meanL2).toBeGreaterThan(0);
    expect(existsSync(join(model, 'robustlab.json'))).toBe(true);
    const b = node(['examples/evaluate-saved-model.mjs', '--model', model, ...common]);
    // Same weights, same 500 test images: the same accuracy (the native and wasm paths agree
    // to float rounding, far below one of 500 predictions changing).
    expect(b.json.testAccuracy).toBeCloseTo(a.json.testAccuracy, 10);
    expect(b.json.attack.successes).toBeGreaterThan(0);
  });

  it('the page example bundles for the browser with its wasm binaries', () => {
    const out = join(tmp, 'page');
    node(['examples/page/build.mjs', '--out', out]);
    for (const f of [
      'index.html',
      'main.js',
      'tfjs-backend-wasm-simd.wasm',
      'tfjs-backend-wasm-threaded-simd.wasm',
    ])
      expect(existsSync(join(out, f)), f).toBe(true);
    expect(readFileSync(join(out, 'main.js'), 'utf8')).not.toMatch(/from\s*["']node:/);
  });
});
