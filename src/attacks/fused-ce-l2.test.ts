/**
 * The fused host step of the targeted attack against the tfjs path (runAttack + tf.grad), on
 * real MNIST models: image 2L (box, NGD, the study's defaults), image LRL (ReLU; SGD and NGD),
 * and latent 1L/2L on 32-d AE codes (no box). Same adversarials, step counts, successes,
 * p(goal), labels and query counts, bit for bit.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nativeLoops } from '../backend/host-kernels.js';
import { loadDataset } from '../data/node-io.js';
import { computeCodes } from '../latent/codes.js';
import { Generator, trainGenerator } from '../latent/generators.js';
import { selectAttackExamples } from '../metrics/robustness.js';
import { type Arch, MlpClassifier, predict } from '../models/classifier.js';
import { HostMlp, HostMlpClassifier } from '../models/host-mlp.js';
import { trainClassifier } from '../models/train.js';
import { testBackend, TEST_DATA_DIR, yieldToEventLoop } from '../testing/fixtures.js';
import { expectSameAttack } from '../testing/same-attack.js';
import { Rng } from '../util/rng.js';
import { attackStepJs, DIST_EPS, NORM_EPS } from './fused-ce-l2.js';
import { PIXEL_RANGE, targetedCeL2, type TargetedCeL2Options } from './targeted-ce-l2.js';

const native = () => !!nativeLoops()?.sgemm;
let train: { x: Float32Array; y: Int32Array; n: number; dim: number };
let test: { x: Float32Array; y: Int32Array; n: number };
let codes: { train: Float32Array; test: Float32Array };

function trained(arch: Arch, data: typeof train, seed: number): MlpClassifier {
  const clf = MlpClassifier.create(arch, data.dim, { seed });
  trainClassifier(clf, clf.net.variables(), data, { epochs: 2, seed, silent: true });
  return clf;
}

beforeAll(async () => {
  await testBackend();
  const ds = await loadDataset('mnist', {
    dataDir: TEST_DATA_DIR,
    limitTrain: 10000,
    limitTest: 1000,
  });
  train = { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 };
  test = { x: ds.test.images, y: ds.test.labels, n: ds.test.n };
  const ae = Generator.create('ae', 5);
  trainGenerator(ae, { x: train.x, n: train.n, dim: 784 }, { epochs: 1, seed: 5, silent: true });
  codes = {
    train: computeCodes(ae, 'ae-encoding', train.x, train.n, { seed: 5 }),
    test: computeCodes(ae, 'ae-encoding', test.x, test.n, { seed: 5 }),
  };
  ae.dispose();
}, 600_000);

/** Both paths on the same model and inputs: equal results, bit for bit. */
async function compare(clf: MlpClassifier, x: Float32Array, y: Int32Array, o: TargetedCeL2Options) {
  const ex = selectAttackExamples(clf, x, y, test.n, { count: 4, seed: 2 });
  const before = tf.memory().numTensors;
  const fused = targetedCeL2(clf, ex.x0, ex.n, ex.goals, { ...o, silent: true });
  expect(tf.memory().numTensors).toBe(before);
  await yieldToEventLoop();
  const ref = targetedCeL2(clf, ex.x0, ex.n, ex.goals, { ...o, silent: true, fused: false });
  expectSameAttack(fused, ref);
  return { fused, ref, ex };
}

describe('fused targeted attack', () => {
  it('is on with the addon: a plain MLP classifier gets a host form', () => {
    const clf = MlpClassifier.create('1L', 784, { seed: 0 });
    expect(HostMlp.of(clf.net) !== null).toBe(native());
    clf.dispose();
  });

  it('image 2L, the study defaults (box, NGD, λ = 0.01, ≤ 1000 steps): identical to tfjs', async () => {
    if (!native()) return;
    const clf = trained('2L', train, 1);
    const { fused } = await compare(clf, test.x, test.y, PIXEL_RANGE);
    expect(fused.success.every((s) => s === 1)).toBe(true);
    expect(new Set(fused.steps).size).toBeGreaterThan(5); // rows retire at many different steps
    clf.dispose();
  }, 600_000);

  it('image LRL (ReLU), SGD and NGD with failures at maxSteps: identical to tfjs', async () => {
    if (!native()) return;
    const clf = trained('LRL', train, 2);
    const { fused } = await compare(clf, test.x, test.y, {
      ...PIXEL_RANGE,
      optimizer: 'sgd',
      maxSteps: 60,
    });
    expect(fused.success.some((s) => s === 0)).toBe(true);
    await compare(clf, test.x, test.y, { ...PIXEL_RANGE, lambda: 0.05, maxSteps: 200 });
    clf.dispose();
  }, 600_000);

  it('latent 1L and 2L on 32-d AE codes (no box): identical to tfjs', async () => {
    if (!native()) return;
    const data = { x: codes.train, y: train.y, n: train.n, dim: 32 };
    for (const arch of ['1L', '2L'] as Arch[]) {
      const clf = trained(arch, data, 3);
      const { fused } = await compare(clf, codes.test, test.y, { maxSteps: 400 });
      expect(fused.success.filter((s) => s === 1).length).toBeGreaterThan(0);
      clf.dispose();
    }
  }, 600_000);

  it('a HostMlpClassifier attacks and predicts like the tfjs model of its weights', async () => {
    if (!native()) return;
    const clf = trained('2L', train, 4);
    const host = new HostMlpClassifier('2L', clf.net.spec, clf.net.weightsData());
    const a = predict(host, test.x, test.n);
    const b = predict(clf, test.x, test.n);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    expect(Array.from(a.probs)).toEqual(Array.from(b.probs));
    const ex = selectAttackExamples(clf, test.x, test.y, test.n, { count: 2, seed: 1 });
    const before = tf.memory().numTensors;
    const r1 = targetedCeL2(host, ex.x0, ex.n, ex.goals, { ...PIXEL_RANGE, silent: true });
    expect(tf.memory().numTensors).toBe(before); // no tfjs model was built
    const r2 = targetedCeL2(clf, ex.x0, ex.n, ex.goals, {
      ...PIXEL_RANGE,
      silent: true,
      fused: false,
    });
    expect(Array.from(r1.steps)).toEqual(Array.from(r2.steps));
    expect(Array.from(r1.xAdv)).toEqual(Array.from(r2.xAdv));
    host.dispose();
    clf.dispose();
  }, 600_000);

  it("the addon's attackStep equals its JS form bit for bit (NGD, SGD, one side or no box)", () => {
    const loops = nativeLoops();
    if (!loops?.attackStep) return;
    const rng = new Rng(9);
    const rows = 7;
    const cols = 301;
    const x = Float32Array.from({ length: rows * cols }, () => rng.next());
    const x0 = Float32Array.from(x, (v, i) => (i % 3 === 0 ? v : v + (rng.next() - 0.5) * 0.2));
    x0.set(x.subarray(0, cols), 0); // row 0 at x0: the L2 term's 0/0 point
    const g = Float32Array.from({ length: rows * cols }, () => (rng.next() - 0.5) * 1e-3);
    for (const [mode, lo, hi] of [
      [0, 0, 1],
      [1, 0, 1],
      [0, NaN, NaN],
      [0, 0.2, NaN],
      [1, NaN, 0.8],
    ]) {
      const [gA, gB] = [g.slice(), g.slice()];
      const [oA, oB] = [new Float32Array(x.length), new Float32Array(x.length)];
      loops.attackStep(x, x0, gA, oA, rows, cols, 0.01, 0.05, mode, DIST_EPS, NORM_EPS, lo, hi);
      attackStepJs(x, x0, gB, oB, rows, cols, 0.01, 0.05, mode, DIST_EPS, NORM_EPS, lo, hi);
      expect(Array.from(gA)).toEqual(Array.from(gB));
      expect(Array.from(oA)).toEqual(Array.from(oB));
    }
    expect(() =>
      loops.attackStep!(x, x0, g, x, rows, cols, 0.01, 0.05, 0, DIST_EPS, NORM_EPS, 0, 1),
    ).toThrow(/xOut/);
  });
});
