/**
 * The native projection against the tfjs path (the oracle: tfjs autodiff of the same objective
 * and the fused Adam): same decoder, images, seed and options must give the same codes and the
 * same objective per step up to float32 summation order. Runs only where the addon is loaded.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/node-io.js';
import type { Dataset } from '../data/datasets.js';
import { testBackend, TEST_DATA_DIR, maxRelDiff } from '../testing/fixtures.js';
import { projectBatch } from './codes.js';
import { Generator, type GeneratorKind, trainGenerator } from './generators.js';
import { MlpClassifier } from '../models/classifier.js';
import { nativeJacobianLoops, nativeProjectionLoops } from './native-projection.js';
import { LatentPipelineClassifier } from './pipeline.js';

let ds: Dataset;
const gens = new Map<GeneratorKind, Generator>();
beforeAll(async () => {
  await testBackend();
  ds = await loadDataset('mnist', { dataDir: TEST_DATA_DIR, limitTrain: 1500, limitTest: 300 });
  for (const kind of ['ae', 'vae'] as GeneratorKind[]) {
    const g = Generator.create(kind, 2);
    trainGenerator(
      g,
      { x: ds.train.images, n: ds.train.n, dim: 784 },
      {
        epochs: 2,
        seed: 2,
        batchSize: 100,
        lr: 1e-3,
        silent: true,
      },
    );
    gens.set(kind, g);
  }
});

describe('native projection', () => {
  for (const kind of ['ae', 'vae'] as GeneratorKind[])
    for (const norm of ['l2', 'l1'] as const)
      it(`${kind}, ${norm}: the same codes and objectives as the tfjs path (200 steps, 300 images)`, () => {
        const g = gens.get(kind)!;
        if (!nativeProjectionLoops(g.decoder)) return; // no addon: the tfjs path only
        const n = ds.test.n;
        const run = (native: boolean) =>
          tf.tidy(() => {
            const objectives: number[] = [];
            const x = tf.tensor2d(ds.test.images, [n, 784]);
            const before = tf.memory().numTensors;
            const z = projectBatch(g.decoder, x, { steps: 200, seed: 9, norm, native }, (_, m) =>
              objectives.push(m),
            );
            expect(tf.memory().numTensors).toBe(before + 1); // the codes only
            return { z: z.dataSync() as Float32Array, objectives };
          });
        const nat = run(true);
        const ref = run(false);
        expect(nat.objectives).toHaveLength(200);
        // The same start (tfRandomNormal is tf.randomNormal's draw), so step 0 agrees closely.
        expect(Math.abs(nat.objectives[0] - ref.objectives[0]) / ref.objectives[0]).toBeLessThan(
          1e-5,
        );
        for (let i = 0; i < 200; i++)
          expect(Math.abs(nat.objectives[i] - ref.objectives[i]) / ref.objectives[i]).toBeLessThan(
            1e-3,
          );
        // the optimisation works: the objective falls by far more than the paths differ
        expect(nat.objectives[199]).toBeLessThan(0.5 * nat.objectives[0]);
        expect(maxRelDiff(nat.z, ref.z)).toBeLessThan(1e-3);
      });

  it('a warm start (init) continues from the given codes on both paths', () => {
    const g = gens.get('vae')!;
    if (!nativeProjectionLoops(g.decoder)) return;
    const n = 50;
    const run = (native: boolean) =>
      tf.tidy(() => {
        const x = tf.tensor2d(ds.test.images.subarray(0, n * 784), [n, 784]);
        const init = g.encodeMean(x);
        return projectBatch(g.decoder, x, { steps: 10, seed: 4, init, native }).dataSync();
      }) as Float32Array;
    const nat = run(true);
    expect(maxRelDiff(nat, run(false))).toBeLessThan(1e-4);
    // 0 steps return the start itself: the encoder's code, not a random draw
    const start = tf.tidy(() => {
      const x = tf.tensor2d(ds.test.images.subarray(0, n * 784), [n, 784]);
      const init = g.encodeMean(x);
      const z0 = projectBatch(g.decoder, x, { steps: 0, seed: 4, init });
      return tf.sub(z0, init).abs().max().dataSync()[0];
    });
    expect(start).toBe(0);
  });

  for (const kind of ['ae', 'vae'] as GeneratorKind[])
    it(`${kind}: the implicit gradient through the native Jacobian equals the tfjs one`, () => {
      const g = gens.get(kind)!;
      if (!nativeJacobianLoops(g.decoder)) return;
      const head = MlpClassifier.create('2L', 32, { hidden: 16, seed: 3 });
      const n = 6;
      const grad = (native: boolean) => {
        const p = new LatentPipelineClassifier(head, g, `${kind}-projection`, {
          seed: 1,
          projectionGradient: 'implicit',
          attackSteps: 100,
          native,
        });
        const before = tf.memory().numTensors;
        const x = tf.tensor2d(ds.test.images.subarray(0, n * 784), [n, 784]);
        p.prepare(x);
        const gx = tf.tidy(() =>
          tf.grad((xx: tf.Tensor) => tf.sum(tf.logSoftmax(p.logits(xx as tf.Tensor2D))))(x),
        );
        const out = gx.dataSync() as Float32Array;
        p.release();
        tf.dispose([x, gx]);
        expect(tf.memory().numTensors).toBe(before);
        return out;
      };
      const nat = grad(true);
      const ref = grad(false);
      expect(Math.max(...nat.map(Math.abs))).toBeGreaterThan(0);
      expect(maxRelDiff(nat, ref)).toBeLessThan(1e-3);
      head.dispose();
    });
});
