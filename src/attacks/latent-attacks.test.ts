import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/node-io.js';
import { computeCodes } from '../latent/codes.js';
import { Generator, trainGenerator } from '../latent/generators.js';
import { LatentPipelineClassifier } from '../latent/pipeline.js';
import { MlpClassifier, predict } from '../models/classifier.js';
import { trainClassifier } from '../models/train.js';
import { testBackend, TEST_DATA_DIR, yieldToEventLoop } from '../testing/fixtures.js';
import type { AttackResult } from './base.js';
import { cwL2 } from './cw-l2.js';
import { deepFool } from './deepfool.js';
import { fgsm } from './fgsm.js';
import { hostRowNorms, type Norm } from './norms.js';
import { pgd } from './pgd.js';

// Image → AE code → LRL head, as one Classifier: the attacks differentiate through the encoder.
let gen: Generator;
let head: MlpClassifier;
let x: Float32Array;
let y: Int32Array;
const N = 4;

beforeAll(async () => {
  await testBackend();
  const ds = await loadDataset('mnist', {
    dataDir: TEST_DATA_DIR,
    limitTrain: 4000,
    limitTest: 200,
  });
  gen = Generator.create('ae', 7);
  trainGenerator(
    gen,
    { x: ds.train.images, n: ds.train.n, dim: 784 },
    { epochs: 2, seed: 7, silent: true },
  );
  await yieldToEventLoop();
  const codes = computeCodes(gen, 'ae-encoding', ds.train.images, ds.train.n, { seed: 0 });
  head = MlpClassifier.create('LRL', 32, { hidden: 64, seed: 7 });
  trainClassifier(
    head,
    head.net.variables(),
    { x: codes, y: ds.train.labels, n: ds.train.n, dim: 32 },
    { epochs: 5, batchSize: 100, seed: 7, silent: true },
  );
  const enc = new LatentPipelineClassifier(head, gen, 'ae-encoding');
  const { labels } = predict(enc, ds.test.images, ds.test.n);
  const picked: number[] = [];
  for (let i = 0; i < ds.test.n && picked.length < N; i++)
    if (labels[i] === ds.test.labels[i]) picked.push(i);
  x = new Float32Array(N * 784);
  picked.forEach((i, k) => x.set(ds.test.images.subarray(i * 784, (i + 1) * 784), k * 784));
  y = Int32Array.from(picked, (i) => ds.test.labels[i]);
});
// long synchronous attacks: let vitest's worker RPC through between tests
afterEach(yieldToEventLoop);
afterAll(() => {
  head.dispose();
  gen.dispose();
});

function check(clf: LatentPipelineClassifier, r: AttackResult, eps: number | null, norm: Norm) {
  expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
  if (eps !== null) {
    const d = hostRowNorms(r.xAdv, x, N, 784, norm);
    d.forEach((v) => expect(v).toBeLessThanOrEqual(eps * (1 + 1e-5)));
  }
  // a success is what the pipeline really predicts on xAdv (here: deterministic encoding)
  const { labels } = predict(clf, r.xAdv, N);
  for (let e = 0; e < N; e++) if (r.success[e]) expect(labels[e]).not.toBe(y[e]);
  expect(r.backwards!).toBeGreaterThan(0);
}

describe('standard attacks on a LatentPipelineClassifier (AE encoding)', () => {
  it('run end to end through the encoder, stay feasible, and leave no tensors', () => {
    const clf = new LatentPipelineClassifier(head, gen, 'ae-encoding');
    const before = tf.memory().numTensors;
    const runs: [AttackResult, number | null, Norm][] = [
      [fgsm(clf, x, N, y, { eps: 0.3, silent: true }), 0.3, 'linf'],
      [pgd(clf, x, N, y, { eps: 0.3, steps: 20, silent: true }), 0.3, 'linf'],
      [pgd(clf, x, N, y, { norm: 'l2', eps: 3, steps: 20, silent: true }), 3, 'l2'],
      [deepFool(clf, x, N, y, { silent: true }), null, 'l2'],
      [deepFool(clf, x, N, y, { norm: 'linf', silent: true }), null, 'linf'],
      [cwL2(clf, x, N, y, { steps: 100, binarySearchSteps: 4, silent: true }), null, 'l2'],
    ];
    expect(tf.memory().numTensors).toBe(before);
    for (const [r, eps, norm] of runs) check(clf, r, eps, norm);
    // an undefended AE-encoding classifier falls to PGD at the L∞ convention ε = 0.3
    expect(runs[1][0].success.reduce((s, v) => s + v, 0)).toBeGreaterThanOrEqual(N - 1);
    expect(runs[3][0].success.reduce((s, v) => s + v, 0)).toBeGreaterThanOrEqual(N - 1);
  });

  it('call prepare on every iterate (projection space, implicit gradient)', () => {
    const clf = new LatentPipelineClassifier(head, gen, 'ae-projection', {
      seed: 1,
      projectionGradient: 'implicit',
      attackSteps: 20,
      steps: 50,
    });
    const seen: tf.Tensor2D[] = [];
    const prepare = clf.prepare.bind(clf);
    clf.prepare = (t: tf.Tensor2D) => {
      seen.push(t);
      prepare(t);
    };
    const before = tf.memory().numTensors;
    const r = pgd(clf, x, 2, y, { eps: 0.3, steps: 3, randomStart: false, silent: true });
    const afterPgd = seen.length;
    const c = cwL2(clf, x, 2, y, {
      steps: 3,
      binarySearchSteps: 1,
      abortEarly: false,
      silent: true,
    });
    clf.release();
    expect(tf.memory().numTensors).toBe(before);
    // PGD (no random start): one prepare per checked iterate; CW: one per Adam iteration
    expect(afterPgd).toBe(Math.max(...r.steps) + 1);
    expect(seen.length - afterPgd).toBe(3);
    expect(Array.from(c.steps)).toEqual([3, 3]);
    expect(new Set(seen).size).toBe(seen.length);
    expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
  });
});
