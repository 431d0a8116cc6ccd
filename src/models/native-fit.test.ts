/**
 * The native classifier trainer against the tfjs autodiff path (the oracle): same data, seed
 * and options must give the same weights and losses up to float32 summation order. Runs only
 * where the native addon is loaded (the tfjs path is what every other test exercises).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/node-io.js';
import { testBackend, TEST_DATA_DIR, maxRelDiff } from '../testing/fixtures.js';
import { type Arch, evaluate, MlpClassifier } from './classifier.js';
import { loadNativeMatmul } from '../backend/native-matmul.js';
import { Mlp } from './mlp.js';
import { fitClassifierNative, fitClassifiersNative, nativeFitLoops } from './native-fit.js';
import { trainClassifier, trainClassifiers } from './train.js';
import { Rng } from '../util/rng.js';

beforeAll(testBackend);

describe('native classifier training', () => {
  for (const arch of ['1L', '2L', 'LRL'] as Arch[]) {
    it(`${arch}: same weights and losses as tfjs autodiff + Adam (4 epochs of 1,500 MNIST images)`, async () => {
      const probe = MlpClassifier.create(arch, 784, { seed: 1, hidden: 64 });
      const loops = nativeFitLoops(probe.net);
      probe.dispose();
      if (!loops) return; // no addon (ROBUSTLAB_NATIVE=0 or no OpenBLAS): the tfjs path only
      const ds = await loadDataset('mnist', {
        dataDir: TEST_DATA_DIR,
        limitTrain: 1500,
        limitTest: 500,
      });
      const data = { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 };
      // batch 128: 11 full batches and a partial one per epoch
      const o = { epochs: 4, seed: 3, batchSize: 128, silent: true };
      const run = (native: boolean) => {
        const clf = MlpClassifier.create(arch, 784, { seed: 1, hidden: 64 });
        const before = tf.memory().numTensors;
        const losses = trainClassifier(clf, clf.net.variables(), data, { ...o, native });
        expect(tf.memory().numTensors).toBe(before);
        const w = clf.net.weightsData();
        const acc = evaluate(clf, ds.test.images, ds.test.labels, ds.test.n).accuracy;
        clf.dispose();
        return { losses, w, acc };
      };
      const nat = run(true);
      const ref = run(false);
      for (let e = 0; e < 4; e++)
        expect(Math.abs(nat.losses[e] - ref.losses[e])).toBeLessThan(1e-4);
      nat.w.forEach((l, i) => {
        expect(maxRelDiff(l.W, ref.w[i].W)).toBeLessThan(1e-3);
        expect(maxRelDiff(l.b, ref.w[i].b)).toBeLessThan(1e-3);
      });
      expect(nat.losses[3]).toBeLessThan(nat.losses[0]); // it trains
      expect(nat.acc).toBeGreaterThan(0.7);
      expect(Math.abs(nat.acc - ref.acc)).toBeLessThan(0.02);
    });
  }

  // Several models trained together must end exactly as each trained alone: same weights and
  // losses, bit for bit (their products are the same sgemm calls; only the gathered batch is
  // shared). Tiny synthetic data: 300 rows, batch 64 (four full batches and a partial one).
  describe('several models at once', () => {
    const n = 300;
    const dim = 20;
    const rng = new Rng(5);
    const x = Float32Array.from({ length: n * dim }, () => rng.next() * 2 - 1);
    // labels from a fixed linear rule, so the models have something to learn
    const y = Int32Array.from({ length: n }, (_, i) => {
      let s = 0;
      for (let c = 0; c < dim; c++) s += x[i * dim + c] * ((c % 5) - 2);
      return Math.min(9, Math.max(0, Math.floor(s + 5)));
    });
    const data = { x, y, n, dim };
    const o = { epochs: 3, seed: 7, batchSize: 64, lr: 1e-2, silent: true };
    // the three heads, and a wider 2L: one loop takes models of different shapes
    const make = () => [
      ...(['1L', '2L', 'LRL'] as Arch[]).map((a, i) =>
        MlpClassifier.create(a, dim, { seed: 10 + i, hidden: 16 }),
      ),
      MlpClassifier.create('2L', dim, { seed: 13, hidden: 24 }),
    ];
    const loops = () => {
      const probe = MlpClassifier.create('1L', dim, { seed: 0, hidden: 4 });
      const l = nativeFitLoops(probe.net);
      probe.dispose();
      return l;
    };

    it('equal each model trained alone, bit for bit (weights and losses)', () => {
      const l = loops();
      if (!l) return;
      const alone = make().map((c) => {
        const before = c.net.weightsData().map((w) => w.W.slice());
        const losses = fitClassifierNative(c.net, l, data, o);
        const w = c.net.weightsData();
        // it trains: every layer moved, the loss fell
        w.forEach((wi, i) => expect(wi.W).not.toEqual(before[i]));
        expect(losses[2]).toBeLessThan(losses[0]);
        c.dispose();
        return { losses, w };
      });
      const clfs = make();
      const tensors = tf.memory().numTensors;
      const together = fitClassifiersNative(
        clfs.map((c) => c.net),
        l,
        data,
        o,
      );
      expect(tf.memory().numTensors).toBe(tensors);
      clfs.forEach((c, k) => {
        expect(together[k]).toEqual(alone[k].losses);
        c.net.weightsData().forEach((w, i) => {
          expect(w.W).toEqual(alone[k].w[i].W);
          expect(w.b).toEqual(alone[k].w[i].b);
        });
        c.dispose();
      });
    });

    it('trainClassifiers equals trainClassifier per model, with and without the addon', () => {
      for (const native of [true, false]) {
        const alone = make().map((c) => {
          const losses = trainClassifier(c, c.net.variables(), data, { ...o, native });
          const w = c.net.weightsData();
          c.dispose();
          return { losses, w };
        });
        const clfs = make();
        const together = trainClassifiers(clfs, data, { ...o, native });
        clfs.forEach((c, k) => {
          expect(together[k]).toEqual(alone[k].losses);
          c.net.weightsData().forEach((w, i) => expect(w.W).toEqual(alone[k].w[i].W));
          c.dispose();
        });
      }
    });

    it('an addon built before gatherRows gives the identical result (JS gather)', () => {
      const l = loops();
      if (!l) return;
      const { gatherRows, ...older } = l;
      expect(typeof gatherRows).toBe('function');
      const run = (lp: typeof l) => {
        const clfs = make();
        const losses = fitClassifiersNative(
          clfs.map((c) => c.net),
          lp,
          data,
          o,
        );
        const w = clfs.map((c) => c.net.weightsData());
        clfs.forEach((c) => c.dispose());
        return { losses, w };
      };
      const a = run(l);
      const b = run(older);
      expect(b.losses).toEqual(a.losses);
      b.w.forEach((m, k) => m.forEach((wi, i) => expect(wi.W).toEqual(a.w[k][i].W)));
    });

    it('refuses a model given twice, a wrong input width, and bad gather arguments', () => {
      const l = loops();
      if (!l) return;
      const c = MlpClassifier.create('1L', dim, { seed: 0, hidden: 4 });
      const wide = MlpClassifier.create('1L', dim + 1, { seed: 0, hidden: 4 });
      expect(() => fitClassifiersNative([c.net, c.net], l, data, o)).toThrow(/twice/);
      expect(() => fitClassifiersNative([c.net, wide.net], l, data, o)).toThrow(/features/);
      expect(() => fitClassifiersNative([], l, data, o)).toThrow(/no models/);
      c.dispose();
      wide.dispose();
      const src = new Float32Array(12); // 4 rows of 3
      const dst = new Float32Array(6);
      const g = l.gatherRows!;
      expect(() => g(src, 3, Int32Array.of(0, 4), 0, 2, dst)).toThrow(/outside/);
      expect(() => g(src, 3, Int32Array.of(-1), 0, 1, dst)).toThrow(/outside/);
      expect(() => g(src, 3, Int32Array.of(0, 1, 2), 0, 3, dst)).toThrow(/too short/);
      expect(() => g(src, 3, Int32Array.of(0), 0, 2, dst)).toThrow(/start/);
      const ys = Int32Array.of(5, 6, 7, 8);
      const yd = new Int32Array(2);
      g(
        Float32Array.from({ length: 12 }, (_, i) => i),
        3,
        Int32Array.of(3, 1),
        0,
        2,
        dst,
        ys,
        yd,
      );
      expect([...dst]).toEqual([9, 10, 11, 3, 4, 5]);
      expect([...yd]).toEqual([8, 6]);
    });
  });

  it('is used only for MLP classifiers (linear/ReLU hidden, linear out) with the addon loaded', () => {
    const clf = MlpClassifier.create('LRL', 32, { seed: 0 });
    expect(nativeFitLoops(clf.net) !== null).toBe(loadNativeMatmul() !== null);
    const dec = Mlp.create({ inputDim: 32, layers: [{ units: 784, activation: 'sigmoid' }] }, 0);
    expect(nativeFitLoops(dec)).toBeNull();
    clf.dispose();
    dec.dispose();
  });
});
