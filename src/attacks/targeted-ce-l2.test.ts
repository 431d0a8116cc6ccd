import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/node-io.js';
import { MlpClassifier, predict } from '../models/classifier.js';
import { trainClassifier } from '../models/train.js';
import {
  robustnessSummary,
  selectAttackExamples,
  type AttackExamples,
} from '../metrics/robustness.js';
import { testBackend, TEST_DATA_DIR } from '../testing/fixtures.js';
import { Rng } from '../util/rng.js';
import { runAttack, type AttackResult, type StepFn } from './base.js';
import { PIXEL_RANGE, targetedCeL2 } from './targeted-ce-l2.js';

let images: Float32Array;
let labels: Int32Array;
let nTest: number;
/** 1L = d → h → 10 with no activation: an affine map, so the minimal attack has a closed form. */
let linear: MlpClassifier;
let ex: AttackExamples;

beforeAll(async () => {
  await testBackend();
  const ds = await loadDataset('mnist', {
    dataDir: TEST_DATA_DIR,
    limitTrain: 10000,
    limitTest: 1000,
  });
  ({ images, labels, n: nTest } = ds.test);
  linear = MlpClassifier.create('1L', 784, { hidden: 64, seed: 1 });
  const train = { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 };
  trainClassifier(linear, linear.net.variables(), train, {
    epochs: 3,
    batchSize: 100,
    seed: 1,
    silent: true,
  });
  ex = selectAttackExamples(linear, images, labels, nTest, { count: 4, seed: 3 });
});

const dist = (a: Float32Array, b: Float32Array, i: number, dim: number): number => {
  let s = 0;
  for (let j = i * dim; j < (i + 1) * dim; j++) s += (a[j] - b[j]) ** 2;
  return Math.sqrt(s);
};

/** The affine map f(x) = xA + c of a 1L classifier, in float64 on the host. */
function affine(clf: MlpClassifier): { A: Float64Array; c: Float64Array } {
  const [l1, l2] = clf.net.weightsData();
  const d = clf.inputDim;
  const h = l1.b.length;
  const k = clf.numClasses;
  const A = new Float64Array(d * k);
  const c = Float64Array.from(l2.b);
  for (let j = 0; j < h; j++) {
    for (let q = 0; q < k; q++) {
      const w = l2.W[j * k + q];
      c[q] += l1.b[j] * w;
      for (let i = 0; i < d; i++) A[i * k + q] += l1.W[i * h + j] * w;
    }
  }
  return { A, c };
}

describe('targetedCeL2 on a linear MNIST classifier', () => {
  let r: AttackResult;
  beforeAll(() => {
    r = targetedCeL2(linear, ex.x0, ex.n, ex.goals, { ...PIXEL_RANGE, silent: true });
  });

  it('never beats the closed-form minimal L2 distance, and always succeeds', () => {
    expect(ex.n).toBe(36);
    const { A, c } = affine(linear);
    const k = 10;
    const ratios: number[] = [];
    for (let e = 0; e < ex.n; e++) {
      const [t, g] = [ex.trueLabels[e], ex.goals[e]];
      // Reaching logit_goal ≥ logit_true needs ‖δ‖₂ ≥ (f_t − f_g)(x̄) / ‖a_g − a_t‖₂.
      let gap = c[t] - c[g];
      let norm2 = 0;
      for (let i = 0; i < 784; i++) {
        gap += ex.x0[e * 784 + i] * (A[i * k + t] - A[i * k + g]);
        norm2 += (A[i * k + g] - A[i * k + t]) ** 2;
      }
      const bound = gap / Math.sqrt(norm2);
      expect(bound).toBeGreaterThan(0); // correctly classified
      const d = dist(r.xAdv, ex.x0, e, 784);
      expect(d).toBeGreaterThanOrEqual(bound - 1e-4);
      // Tighter: p(goal) ≥ 0.95 forces p(goal)/p(true) ≥ 19, i.e. logit_goal − logit_true ≥ ln 19.
      const bound95 = (gap + Math.log(19)) / Math.sqrt(norm2);
      expect(d).toBeGreaterThanOrEqual(bound95 - 1e-4);
      ratios.push(d / bound95);
    }
    expect(Array.from(r.success).every((s) => s === 1)).toBe(true);
    expect(Math.max(...r.steps)).toBeLessThan(1000);
    // Not vacuous: the attack lands close to the bound (the box bends its path, and the
    // 95% region is curved, so it cannot be reached exactly at the bound).
    expect(ratios.reduce((s, v) => s + v, 0) / ratios.length).toBeLessThan(1.75);
  });

  it('stays in the box, and its successes really reach p(goal) ≥ 0.95', () => {
    expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
    const { labels: pred, probs } = predict(linear, r.xAdv, r.n);
    for (let e = 0; e < r.n; e++) {
      expect(probs[e * 10 + ex.goals[e]]).toBeGreaterThanOrEqual(0.95);
      expect(pred[e]).toBe(ex.goals[e]);
      expect(r.finalLabel[e]).toBe(ex.goals[e]);
      expect(r.goalProb[e]).toBeCloseTo(probs[e * 10 + ex.goals[e]], 6);
    }
    const s = robustnessSummary(ex.x0, r);
    expect(s.successRate).toBe(1);
    expect(s.robustness).toBeGreaterThan(0);
    expect(s.robustness).toBeLessThan(1);
  });

  it('records failures at maxSteps', () => {
    const short = targetedCeL2(linear, ex.x0, ex.n, ex.goals, {
      ...PIXEL_RANGE,
      maxSteps: 2,
      silent: true,
    });
    const failed = Array.from(short.success).filter((s) => !s).length;
    expect(failed).toBeGreaterThan(ex.n / 2);
    for (let e = 0; e < ex.n; e++) {
      if (short.success[e]) expect(short.goalProb[e]).toBeGreaterThanOrEqual(0.95);
      else {
        expect(short.steps[e]).toBe(2);
        expect(short.goalProb[e]).toBeLessThan(0.95);
      }
    }
    expect(robustnessSummary(ex.x0, short).successRate).toBe((ex.n - failed) / ex.n);
  });

  it('freezes an example once it succeeds', () => {
    // Runs are deterministic, so a longer run must agree exactly with a shorter one on every
    // example the shorter one finished: nothing moves after success.
    const m = Math.max(2, Math.floor(Math.max(...r.steps) / 2));
    const part = targetedCeL2(linear, ex.x0, ex.n, ex.goals, {
      ...PIXEL_RANGE,
      maxSteps: m,
      silent: true,
    });
    let finished = 0;
    for (let e = 0; e < ex.n; e++) {
      if (!part.success[e]) continue;
      finished++;
      expect(r.steps[e]).toBe(part.steps[e]);
      expect(r.xAdv.subarray(e * 784, (e + 1) * 784)).toEqual(
        part.xAdv.subarray(e * 784, (e + 1) * 784),
      );
    }
    expect(finished).toBeGreaterThan(0);
    expect(finished).toBeLessThan(ex.n);
  });

  it('leaves no tensors behind, with every optimizer', () => {
    const before = tf.memory().numTensors;
    for (const optimizer of ['ngd', 'sgd', 'adam'] as const) {
      targetedCeL2(linear, ex.x0, 9, ex.goals, {
        ...PIXEL_RANGE,
        optimizer,
        maxSteps: 50,
        silent: true,
      });
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('runAttack', () => {
  it('keeps the number of live tensors flat across steps, as rows finish', () => {
    const seen = new Set<number>();
    // Plain gradient steps on CE, with a dummy per-row slot to exercise slot bookkeeping.
    const step: StepFn = ({ x, labels: y, slots }) => {
      if (slots.length) seen.add(tf.memory().numTensors); // from step 2 on, the slot exists
      const loss = (xv: tf.Tensor) =>
        tf.losses.softmaxCrossEntropy(
          tf.oneHot(y, 10),
          linear.logits(xv as tf.Tensor2D),
          undefined,
          undefined,
          tf.Reduction.SUM,
        );
      const g = tf.grad(loss)(x) as tf.Tensor2D;
      return {
        update: tf.mul(g, -0.05),
        slots: [slots.length ? tf.add(slots[0], 1) : tf.zerosLike(x)],
      };
    };
    const before = tf.memory().numTensors;
    const r = runAttack(linear, ex.x0, ex.n, ex.goals, step, {
      targeted: true,
      maxSteps: 300,
      confidence: 0.95,
      ...PIXEL_RANGE,
      silent: true,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(new Set(r.steps).size).toBeGreaterThan(3); // rows did finish at different steps
    expect(seen.size).toBe(1);
  });

  it('untargeted: succeeds when the label changes; already-wrong inputs take 0 steps', () => {
    const trueLabels = Int32Array.from(ex.trueLabels);
    trueLabels[0] = (trueLabels[0] + 1) % 10; // pretend example 0 is misclassified
    const step: StepFn = ({ x, labels: y }) => {
      const loss = (xv: tf.Tensor) =>
        tf.neg(
          tf.losses.softmaxCrossEntropy(
            tf.oneHot(y, 10),
            linear.logits(xv as tf.Tensor2D),
            undefined,
            undefined,
            tf.Reduction.SUM,
          ),
        );
      return { update: tf.mul(tf.grad(loss)(x) as tf.Tensor2D, -0.05), slots: [] };
    };
    const r = runAttack(linear, ex.x0, ex.n, trueLabels, step, {
      targeted: false,
      maxSteps: 500,
      confidence: 0.95,
      silent: true,
    });
    expect(r.steps[0]).toBe(0);
    expect(r.xAdv.subarray(0, 784)).toEqual(ex.x0.subarray(0, 784));
    for (let e = 0; e < r.n; e++) {
      expect(r.success[e]).toBe(1);
      expect(r.finalLabel[e]).not.toBe(trueLabels[e]);
    }
  });

  it('rejects bad inputs', () => {
    const o = { targeted: true, maxSteps: 10, confidence: 0.95 };
    const noop: StepFn = ({ x }) => ({ update: tf.zerosLike(x), slots: [] });
    expect(() => runAttack(linear, ex.x0, 2, Int32Array.of(0, 10), noop, o)).toThrow(RangeError);
    expect(() =>
      runAttack(linear, ex.x0, 2, Int32Array.of(0, 1), noop, { ...o, confidence: 1.5 }),
    ).toThrow(RangeError);
    expect(() => runAttack(linear, new Float32Array(10), 2, Int32Array.of(0, 1), noop, o)).toThrow(
      RangeError,
    );
    expect(runAttack(linear, ex.x0, 0, new Int32Array(0), noop, { ...o, silent: true }).n).toBe(0);
  });
});

describe('targetedCeL2 in a 32-d latent space (no box)', () => {
  it('succeeds and may leave [0, 1]', () => {
    // Codes uniform in [0, 1]³², labelled by a random linear rule, so a box would matter.
    const rng = new Rng(5);
    const n = 2000;
    const dim = 32;
    const rule = Float32Array.from({ length: dim * 10 }, () => rng.next() * 2 - 1);
    const x = Float32Array.from({ length: n * dim }, () => rng.next());
    const y = Int32Array.from({ length: n }, (_, i) => {
      let best = 0;
      let bestV = -Infinity;
      for (let k = 0; k < 10; k++) {
        let v = 0;
        for (let j = 0; j < dim; j++) v += (x[i * dim + j] - 0.5) * rule[j * 10 + k];
        if (v > bestV) [best, bestV] = [k, v];
      }
      return best;
    });
    const clf = MlpClassifier.create('LRL', dim, { hidden: 64, seed: 2 });
    trainClassifier(
      clf,
      clf.net.variables(),
      { x, y, n, dim },
      { epochs: 20, batchSize: 100, seed: 2, silent: true },
    );
    const lat = selectAttackExamples(clf, x, y, n, { count: 5, seed: 1 });
    const before = tf.memory().numTensors;
    const r = targetedCeL2(clf, lat.x0, lat.n, lat.goals, { silent: true });
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(r.success).every((s) => s === 1)).toBe(true);
    expect(r.goalProb.every((p) => p >= 0.95)).toBe(true);
    expect(r.xAdv.some((v) => v < 0 || v > 1)).toBe(true);
    clf.dispose();
  });
});

describe('selectAttackExamples', () => {
  it('pairs 20 correctly classified inputs with the 9 other classes, deterministically', () => {
    const a = selectAttackExamples(linear, images, labels, nTest, { seed: 11 });
    expect(a.n).toBe(180);
    expect(a.x0.length).toBe(180 * 784);
    const { labels: pred } = predict(linear, a.x0, a.n);
    const imgs = new Set<number>();
    for (let e = 0; e < a.n; e++) {
      expect(pred[e]).toBe(a.trueLabels[e]);
      expect(a.trueLabels[e]).toBe(labels[a.imageIndex[e]]);
      expect(a.goals[e]).not.toBe(a.trueLabels[e]);
      imgs.add(a.imageIndex[e]);
    }
    expect(imgs.size).toBe(20);
    for (let i = 0; i < 20; i++) {
      const goals = new Set(a.goals.subarray(i * 9, (i + 1) * 9));
      expect(goals.size).toBe(9);
    }
    const b = selectAttackExamples(linear, images, labels, nTest, { seed: 11 });
    expect(b.imageIndex).toEqual(a.imageIndex);
    expect(b.x0).toEqual(a.x0);
    const c = selectAttackExamples(linear, images, labels, nTest, { seed: 12 });
    expect(c.imageIndex).not.toEqual(a.imageIndex);
  });

  it('can take a fixed number per class, and says when there are too few', () => {
    const a = selectAttackExamples(linear, images, labels, nTest, { perClass: 2, seed: 1 });
    expect(a.n).toBe(2 * 10 * 9);
    const perClass = new Array<number>(10).fill(0);
    for (let e = 0; e < a.n; e += 9) perClass[a.trueLabels[e]]++;
    expect(perClass).toEqual(new Array(10).fill(2));
    expect(() => selectAttackExamples(linear, images, labels, 10, { count: 20, seed: 1 })).toThrow(
      RangeError,
    );
  });
});

describe('robustnessSummary', () => {
  it('averages relative L2 over successes only', () => {
    const x0 = Float32Array.of(3, 4, 1, 0, 0, 2);
    const r: AttackResult = {
      xAdv: Float32Array.of(3, 4.5, 1, 1, 0, 0),
      success: Uint8Array.of(1, 1, 0),
      steps: Int32Array.of(4, 6, 100),
      goalProb: Float32Array.of(0.96, 0.97, 0.2),
      finalLabel: Int32Array.of(1, 1, 0),
      n: 3,
      dim: 2,
    };
    const s = robustnessSummary(x0, r);
    expect(s.successes).toBe(2);
    expect(s.successRate).toBeCloseTo(2 / 3);
    expect(s.robustness).toBeCloseTo((0.5 / 5 + 1 / 1) / 2);
    expect(s.meanL2).toBeCloseTo(0.75);
    expect(s.meanSteps).toBe(5);
    // sd of {0.1, 1}: |1 − 0.1| / √2
    expect(s.robustnessSd).toBeCloseTo(0.9 / Math.SQRT2, 6);
    expect(robustnessSummary(x0, { ...r, success: new Uint8Array(3) }).robustness).toBeNaN();
  });
});
