/**
 * The fused host PGD (fused-pgd.ts) against the tfjs path (runAttack + tf.grad), on real MNIST
 * models: image 2L and LRL, L∞ and L2, random start with restarts, MultiTargeted, failures at
 * the last step. Same adversarials, step counts, successes, p(true), labels and query counts,
 * bit for bit; and what a PGD result must satisfy on its own (within ε, in the box).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeLoops } from '../backend/host-kernels.js';
import { loadDataset } from '../data/node-io.js';
import { type Arch, MlpClassifier } from '../models/classifier.js';
import { trainClassifier } from '../models/train.js';
import { testBackend, TEST_DATA_DIR, yieldToEventLoop } from '../testing/fixtures.js';
import { expectSameAttack } from '../testing/same-attack.js';
import { pgdStep, ROOT_EPS } from './fused-pgd.js';
import { hostRowNorms } from './norms.js';
import { Rng } from '../util/rng.js';
import { pgd, type PgdOptions } from './pgd.js';

const native = () => !!nativeLoops()?.sgemm;
const N = 120;
let train: { x: Float32Array; y: Int32Array; n: number; dim: number };
let test: { x: Float32Array; y: Int32Array };

beforeAll(async () => {
  await testBackend();
  const ds = await loadDataset('mnist', {
    dataDir: TEST_DATA_DIR,
    limitTrain: 6000,
    limitTest: N,
  });
  train = { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 };
  test = { x: ds.test.images, y: ds.test.labels };
}, 600_000);

function trained(arch: Arch, seed: number): MlpClassifier {
  const clf = MlpClassifier.create(arch, 784, { seed });
  trainClassifier(clf, clf.net.variables(), train, { epochs: 2, seed, silent: true });
  return clf;
}

/** Both paths on the same model and inputs: equal results, bit for bit. */
async function compare(clf: MlpClassifier, o: PgdOptions) {
  const before = tf.memory().numTensors;
  const fused = pgd(clf, test.x, N, test.y, { ...o, silent: true });
  expect(tf.memory().numTensors).toBe(before);
  await yieldToEventLoop();
  const ref = pgd(clf, test.x, N, test.y, { ...o, silent: true, fused: false });
  expectSameAttack(fused, ref);
  // a PGD result on its own: in the box and within ε of its input (float32 slack)
  const eps = o.eps!;
  const dist = hostRowNorms(fused.xAdv, test.x, N, 784, o.norm ?? 'linf');
  expect(Math.max(...dist)).toBeLessThanOrEqual(eps * (1 + 1e-5));
  expect(fused.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
  return fused;
}

const successes = (r: { success: Uint8Array }) => r.success.reduce((s, v) => s + v, 0);

describe('fused PGD', () => {
  it('image 2L, L∞: random start, 2 restarts, some rows robust: identical to tfjs', async () => {
    if (!native()) return;
    const clf = trained('2L', 1);
    const r = await compare(clf, { eps: 0.05, norm: 'linf', steps: 30, restarts: 2, seed: 3 });
    // a budget where some rows succeed at many different steps and some never do
    expect(successes(r)).toBeGreaterThan(5);
    expect(successes(r)).toBeLessThan(N);
    expect(new Set(r.steps).size).toBeGreaterThan(4);
    clf.dispose();
  }, 600_000);

  it('image LRL, L2 and MultiTargeted L∞ (3 targets), no random start: identical to tfjs', async () => {
    if (!native()) return;
    const clf = trained('LRL', 2);
    const l2 = await compare(clf, { eps: 1.0, norm: 'l2', steps: 25, restarts: 2, seed: 4 });
    expect(successes(l2)).toBeGreaterThan(5);
    expect(successes(l2)).toBeLessThan(N);
    const mt = await compare(clf, {
      eps: 0.05,
      norm: 'linf',
      steps: 20,
      targets: 3,
      randomStart: false,
    });
    expect(successes(mt)).toBeGreaterThan(5);
    clf.dispose();
  }, 600_000);

  it("the addon's pgdStep equals its JS form bit for bit (L∞ and L2, zero gradients, box edges)", () => {
    const loops = nativeLoops();
    if (!loops?.pgdStep) return;
    const rng = new Rng(4);
    const rows = 6;
    const cols = 257;
    const x0 = Float32Array.from({ length: rows * cols }, (_, i) =>
      i % 5 === 0 ? 0 : i % 7 === 0 ? 1 : rng.next(),
    );
    const x = Float32Array.from(x0, (v) => v + (rng.next() - 0.5) * 0.4);
    const g = Float32Array.from({ length: rows * cols }, (_, i) =>
      i % 11 === 0 ? 0 : (rng.next() - 0.5) * 1e-6,
    );
    g.fill(0, 0, cols); // a row with no gradient at all
    for (const norm of ['linf', 'l2'] as const) {
      for (const [eps, step] of [
        [0.3, 0.0075],
        [0.05, 0.2],
        [2, 0.05],
      ]) {
        const [a, b] = [new Float32Array(x.length), new Float32Array(x.length)];
        loops.pgdStep(x, x0, g, a, rows, cols, eps, step, norm === 'linf' ? 0 : 1, ROOT_EPS);
        pgdStep(x, x0, g, b, rows, cols, eps, step, norm === 'linf' ? 0 : 1, ROOT_EPS);
        expect(Array.from(a)).toEqual(Array.from(b));
      }
    }
    expect(() => loops.pgdStep!(x, x0, g, x, rows, cols, 0.3, 0.01, 0, ROOT_EPS)).toThrow(/xOut/);
  });
});
