/**
 * The native AE/VAE trainer against the tfjs autodiff path (the oracle): same data, seed and
 * options must give the same losses and weights up to float32 summation order (the VAE's noise
 * is the same tf.randomNormal draw on both paths). Runs only where the native addon is loaded.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadNativeMatmul } from '../backend/native-matmul.js';
import { loadDataset } from '../data/node-io.js';
import type { Dataset } from '../data/datasets.js';
import { Mlp } from '../models/mlp.js';
import { testBackend, TEST_DATA_DIR, yieldToEventLoop, maxRelDiff } from '../testing/fixtures.js';
import { deriveSeed, Rng } from '../util/rng.js';
import {
  Generator,
  GENERATOR_DEFAULTS,
  type GeneratorKind,
  reconstructionError,
  trainGenerator,
} from './generators.js';
import { fitGeneratorNative, nativeGeneratorLoops } from './native-generator-fit.js';

let ds: Dataset;
beforeAll(async () => {
  await testBackend();
  ds = await loadDataset('mnist', { dataDir: TEST_DATA_DIR, limitTrain: 1500, limitTest: 500 });
});

const weights = (g: Generator) => [...g.encoder.weightsData(), ...g.decoder.weightsData()];

/** Mean ‖D(E(x)) − x‖₂ over the 500 test images (E = the code, or μ for the VAE). */
function testError(g: Generator): number {
  const codes = tf.tidy(() =>
    g.encodeMean(tf.tensor2d(ds.test.images, [ds.test.n, 784])).dataSync(),
  ) as Float32Array;
  return reconstructionError(g.decoder, codes, ds.test.images, ds.test.n);
}

// batch 128: 11 full batches and a partial one of 92 per epoch
const OPTS = { epochs: 3, seed: 5, batchSize: 128, lr: GENERATOR_DEFAULTS.lr, silent: true };

describe('native generator training', () => {
  for (const kind of ['ae', 'vae'] as GeneratorKind[]) {
    it(`${kind}: same losses and weights as tfjs autodiff + Adam (3 epochs of 1,500 MNIST images)`, async () => {
      const probe = Generator.create(kind, 1);
      const loops = nativeGeneratorLoops(probe);
      probe.dispose();
      if (!loops) return; // no addon (ROBUSTLAB_NATIVE=0 or no OpenBLAS): the tfjs path only
      const data = { x: ds.train.images, n: ds.train.n, dim: 784 };
      const run = (native: boolean) => {
        const g = Generator.create(kind, 1);
        const before = tf.memory().numTensors;
        const losses = trainGenerator(g, data, { ...OPTS, native });
        expect(tf.memory().numTensors).toBe(before);
        const w = weights(g);
        const err = testError(g);
        g.dispose();
        return { losses, w, err };
      };
      const nat = run(true);
      await yieldToEventLoop();
      const ref = run(false);
      for (let e = 0; e < OPTS.epochs; e++)
        expect(Math.abs(nat.losses[e] - ref.losses[e]) / ref.losses[e]).toBeLessThan(1e-5);
      nat.w.forEach((l, i) => {
        expect(maxRelDiff(l.W, ref.w[i].W)).toBeLessThan(1e-4);
        expect(maxRelDiff(l.b, ref.w[i].b)).toBeLessThan(1e-4);
      });
      expect(nat.losses[2]).toBeLessThan(nat.losses[0]); // it trains
      expect(Math.abs(nat.err - ref.err) / ref.err).toBeLessThan(1e-4);
    });
  }

  it('an addon built before leakyRelu/leakyReluBackward/scale gives the identical result (JS loops)', () => {
    const probe = Generator.create('vae', 1);
    const loops = nativeGeneratorLoops(probe);
    probe.dispose();
    if (!loops) return;
    const { leakyRelu, leakyReluBackward, scale, ...older } = loops;
    expect([leakyRelu, leakyReluBackward, scale].every((f) => typeof f === 'function')).toBe(true);
    const data = { x: ds.train.images, n: 600, dim: 784 };
    const o = { ...OPTS, epochs: 1 };
    const run = (l: typeof loops) => {
      const g = Generator.create('vae', 2);
      const noise = new Rng(deriveSeed(o.seed, 'noise'));
      const losses = fitGeneratorNative(g, l, data, o, () => noise.seed());
      const w = weights(g);
      g.dispose();
      return { losses, w };
    };
    const a = run(loops);
    const b = run(older);
    expect(b.losses).toEqual(a.losses);
    b.w.forEach((l, i) => {
      expect(l.W).toEqual(a.w[i].W);
      expect(l.b).toEqual(a.w[i].b);
    });
  });

  it('is used only for AE/VAE shapes with the addon loaded', () => {
    const gen = Generator.create('vae', 0);
    expect(nativeGeneratorLoops(gen) !== null).toBe(loadNativeMatmul() !== null);
    // an encoder with a ReLU hidden layer: not a shape the native trainer knows
    const relu = Mlp.create(
      {
        inputDim: 784,
        layers: [
          { units: 150, activation: 'relu' },
          { units: 64, activation: 'linear' },
        ],
      },
      0,
    );
    const odd = new Generator('vae', relu, gen.decoder);
    expect(nativeGeneratorLoops(odd)).toBeNull();
    // the AE's code fed to the VAE's decoder: sizes do not fit the kind
    const ae = Generator.create('ae', 0);
    expect(nativeGeneratorLoops(new Generator('vae', ae.encoder, gen.decoder))).toBeNull();
    relu.dispose();
    ae.dispose();
    gen.dispose();
  });
});
