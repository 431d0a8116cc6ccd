/**
 * The native classifier trainer against the tfjs autodiff path (the oracle): same data, seed
 * and options must give the same weights and losses up to float32 summation order. Runs only
 * where the native addon is loaded (the tfjs path is what every other test exercises).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/node-io.js';
import { testBackend, TEST_DATA_DIR } from '../testing/fixtures.js';
import { type Arch, evaluate, MlpClassifier } from './classifier.js';
import { loadNativeMatmul } from '../backend/native-matmul.js';
import { Mlp } from './mlp.js';
import { nativeFitLoops } from './native-fit.js';
import { trainClassifier } from './train.js';

beforeAll(testBackend);

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / scale;
}

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

  it('is used only for MLP classifiers (linear/ReLU hidden, linear out) with the addon loaded', () => {
    const clf = MlpClassifier.create('LRL', 32, { seed: 0 });
    expect(nativeFitLoops(clf.net) !== null).toBe(loadNativeMatmul() !== null);
    const dec = Mlp.create({ inputDim: 32, layers: [{ units: 784, activation: 'sigmoid' }] }, 0);
    expect(nativeFitLoops(dec)).toBeNull();
    clf.dispose();
    dec.dispose();
  });
});
