/**
 * The lab server without a browser: what it finds in a run, the isolation headers, what it
 * refuses to serve, and `robustlab lab`'s help and one-line errors.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, TEST_DATA_DIR } from '../testing/fixtures.js';
import { indexRun, startLabServer } from './lab-server.js';

const tmp = mkdtempSync(join(tmpdir(), 'robustlab-labsrv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A run layout with metadata only (the index reads robustlab.json; the browser test loads real models). */
function fakeRun(dir: string, spaces: string[]) {
  for (const space of spaces)
    for (const arch of ['1L', '2L', 'LRL']) {
      const m = join(dir, 'stages', `classifier_mnist_${space}_${arch}-0123`, 'model');
      mkdirSync(m, { recursive: true });
      writeFileSync(
        join(m, 'robustlab.json'),
        JSON.stringify({
          kind: 'classifier',
          dataset: 'mnist',
          space,
          arch,
          parts: ['model'],
          accuracy: { test: 0.5 },
          settings: space.endsWith('projection')
            ? { codes: { steps: 100, lr: 0.1, norm: 'l2' } }
            : {},
        }),
      );
      writeFileSync(join(m, 'model.json'), '{}');
    }
  // a finished attack stage and a generator: not classifiers, not listed
  mkdirSync(join(dir, 'stages', 'attack_mnist_image_1L_own-space-0123'), { recursive: true });
  mkdirSync(join(dir, 'figures'), { recursive: true });
  writeFileSync(
    join(dir, 'figures', 'mnist-fig4-accuracy.svg'),
    '<svg xmlns="http://www.w3.org/2000/svg"/>',
  );
  writeFileSync(
    join(dir, 'results.json'),
    JSON.stringify({
      preset: 'quick',
      claims: [{ dataset: 'mnist', claim: 'c', supported: true, evidence: 'e' }],
    }),
  );
  writeFileSync(join(dir, 'secret.txt'), 'not for the page');
  // reproduce records where its data came from; the lab shows test images from there
  writeFileSync(join(dir, 'graph.json'), JSON.stringify({ dataDir: TEST_DATA_DIR }));
}

function cli(...args: string[]) {
  const loader = pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
  const r = spawnSync(
    process.execPath,
    ['--import', loader, join(REPO_ROOT, 'src/cli/run-dev.ts'), ...args],
    {
      cwd: tmp,
      encoding: 'utf8',
    },
  );
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('lab server', () => {
  const run = join(tmp, 'run');
  fakeRun(run, ['vae-projection', 'image', 'ae-encoding']);

  it('indexes a run: classifiers in study order, projection settings, test data, report', () => {
    const ix = indexRun(run); // data from graph.json's dataDir
    const ds = ix.datasets.mnist;
    expect(ds.models.map((m) => m.id)).toEqual([
      'mnist/image/1L',
      'mnist/image/2L',
      'mnist/image/LRL',
      'mnist/ae-encoding/1L',
      'mnist/ae-encoding/2L',
      'mnist/ae-encoding/LRL',
      'mnist/vae-projection/1L',
      'mnist/vae-projection/2L',
      'mnist/vae-projection/LRL',
    ]);
    expect(ds.models[6].projection).toEqual({ steps: 100, lr: 0.1, norm: 'l2' });
    expect(ds.models[0].projection).toBeNull();
    expect(ds.testData?.images).toMatch(/^\/data\/mnist\/t10k-images-idx3-ubyte/);
    expect(ix.report.figures).toEqual(['/run/figures/mnist-fig4-accuracy.svg']);
    expect(ix.report.claims).toHaveLength(1);
    expect(ix.preset).toBe('quick');
  });

  it('says how to make a run when there is none', () => {
    expect(() => indexRun(join(tmp, 'nope'))).toThrow(/robustlab reproduce --preset quick/);
    mkdirSync(join(tmp, 'empty', 'stages'), { recursive: true });
    expect(() => indexRun(join(tmp, 'empty'))).toThrow(/no finished classifiers/);
  });

  it('serves with COOP/COEP, and only the page, model files, figures, report and test images', async () => {
    const app = join(tmp, 'app');
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'index.html'), '<!doctype html><title>lab</title>');
    const s = await startLabServer({ run, port: 0, dataDir: TEST_DATA_DIR, appDir: app });
    try {
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const home = await fetch(s.url);
      expect(home.status).toBe(200);
      expect(home.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(home.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      const ix = await (await fetch(s.url + 'api/index.json')).json();
      expect(ix.datasets.mnist.models).toHaveLength(9);
      const model = await fetch(
        s.url + ix.datasets.mnist.models[0].url.slice(1) + 'robustlab.json',
      );
      expect(model.status).toBe(200);
      expect((await model.json()).arch).toBe('1L');
      const img = await fetch(s.url + ix.datasets.mnist.testData.images.slice(1));
      expect(img.status).toBe(200);
      expect((await img.arrayBuffer()).byteLength).toBeGreaterThan(1_000_000);
      expect(
        (await fetch(s.url + 'run/figures/mnist-fig4-accuracy.svg')).headers.get('content-type'),
      ).toBe('image/svg+xml');
      for (const bad of [
        'run/secret.txt',
        'run/../../etc/passwd',
        'run/stages/..%2f..%2fsecret.txt',
        '..%2f..%2fetc%2fpasswd',
        'data/mnist/train-images-idx3-ubyte.gz',
        'data/mnist/..%2f..%2fmnist%2fSHA256SUMS',
      ])
        expect((await fetch(s.url + bad)).status, bad).toBe(404);
      expect((await fetch(s.url, { method: 'POST' })).status).toBe(405);
    } finally {
      await s.close();
    }
  });

  it('robustlab lab: --help, and a one-line error for a missing run', () => {
    const h = cli('lab', '--help');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/usage: robustlab lab \[--run DIR\] \[--port P\]/);
    const r = cli('lab', '--run', join(tmp, 'missing'), '--port', '0');
    expect(r.code).toBe(1);
    const lines = r.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^robustlab: no run at .*npx robustlab reproduce --preset quick/);
    const p = cli('lab', '--port', 'x');
    expect(p.code).toBe(1);
    expect(p.err).toMatch(/^robustlab: --port must be an integer/);
  });
});
