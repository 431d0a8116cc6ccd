import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostRowNorms } from '../attacks/norms.js';
import type { MlpClassifier } from '../models/classifier.js';
import { smallMnistLrl, testFgsm, testPgd } from '../testing/evaluation-fixtures.js';
import { testBackend } from '../testing/fixtures.js';
import { decodeNpy, encodeNpy } from './npy.js';
import {
  boundedCurve,
  budgetTolerance,
  CountingClassifier,
  curveFromDistances,
  evaluateRobustness,
  type AttackSpec,
} from './robust-accuracy.js';

let clf: MlpClassifier;
let x: Float32Array;
let y: Int32Array;
const N = 60;

const fgsm: AttackSpec = { name: 'fgsm', fn: testFgsm, kind: 'bounded', options: {} };
const pgd: AttackSpec = { name: 'pgd', fn: testPgd, kind: 'bounded', options: { steps: 10 } };

beforeAll(async () => {
  await testBackend();
  ({ clf, x, y } = await smallMnistLrl({ test: N }));
});

describe('evaluateRobustness on a real MNIST LRL', () => {
  it('keeps the worst case per example: the ensemble is ≤ each attack alone, within budget', () => {
    for (const norm of ['linf', 'l2'] as const) {
      const eps = norm === 'linf' ? 0.1 : 1.0;
      const before = tf.memory().numTensors;
      const alone = [fgsm, pgd].map(
        (a) =>
          evaluateRobustness(clf, x, y, N, { norm, eps, attacks: [a], silent: true })
            .robustAccuracy,
      );
      const both = evaluateRobustness(clf, x, y, N, {
        norm,
        eps,
        attacks: [fgsm, pgd],
        silent: true,
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(both.cleanAccuracy).toBeGreaterThan(0.8);
      expect(both.robustAccuracy).toBeLessThanOrEqual(Math.min(...alone));
      expect(both.robustAccuracy).toBeLessThan(both.cleanAccuracy); // real attacks do something
      // PGD runs only on the points FGSM left robust.
      const robustAfterFgsm = Math.round(both.attacks[0].robustAccuracyAfter * N);
      expect(both.attacks[1].attacked).toBe(robustAfterFgsm);
      // Every adversarial is within ε and the box, and is misclassified.
      const d = hostRowNorms(both.xAdv, x, N, 784, norm);
      const tol = budgetTolerance(eps, norm, 784);
      for (let i = 0; i < N; i++) expect(d[i]).toBeLessThanOrEqual(eps + tol);
      for (const v of both.xAdv) expect(v >= 0 && v <= 1).toBe(true);
      for (let i = 0; i < N; i++) {
        if (both.brokenBy[i] && both.brokenBy[i] !== 'clean') {
          expect(both.advLabel[i]).not.toBe(y[i]);
          expect(both.distance[i]).toBeLessThanOrEqual(eps + tol);
        }
        expect(both.robustScore[i] >= 0.5).toBe(both.brokenBy[i] === null);
      }
      expect(both.attacks.every((a) => a.outOfBudget === 0)).toBe(true);
    }
  });

  it('counts forward and backward rows', () => {
    const c = new CountingClassifier(clf);
    testPgd(c, x, 5, y, { eps: 0.05, steps: 4 });
    // at most 1 forward+backward per step per row (+ the last check and the re-evaluation)
    expect(c.backwards).toBeGreaterThan(0);
    expect(c.backwards).toBeLessThanOrEqual(5 * 4);
    expect(c.forwards).toBeGreaterThanOrEqual(c.backwards);
    const ev = evaluateRobustness(clf, x, y, N, {
      norm: 'linf',
      eps: 0.1,
      attacks: [fgsm],
      silent: true,
    });
    expect(ev.attacks[0].backwards).toBeLessThanOrEqual(ev.attacks[0].attacked);
    expect(ev.attacks[0].backwards).toBeGreaterThan(0);
  });

  it('gives curves that fall with ε, from distances and from bounded attacks', () => {
    const grid = [0, 0.05, 0.1, 0.2];
    const curve = boundedCurve(clf, x, y, N, grid, { norm: 'linf', attacks: [pgd], silent: true });
    expect(curve.map((p) => p.eps)).toEqual(grid);
    for (let i = 1; i < curve.length; i++)
      expect(curve[i].envelope).toBeLessThanOrEqual(curve[i - 1].envelope);
    // ε = 0: robust accuracy is the clean accuracy
    const clean = evaluateRobustness(clf, x, y, N, {
      norm: 'linf',
      eps: 0,
      attacks: [],
      silent: true,
    });
    expect(curve[0].robustAccuracy).toBeCloseTo(clean.cleanAccuracy, 10);
    const dc = curveFromDistances(Float64Array.from([0, 0.1, 0.3, Infinity]), [0, 0.1, 0.2, 1]);
    expect(dc).toEqual([0.75, 0.5, 0.5, 0.25]);
  });

  it('judges a stochastic model over fresh draws', () => {
    // a randomised model: logits plus fresh noise on every call
    let calls = 0;
    const noisy = {
      inputDim: 784,
      numClasses: 10,
      logits: (xb: tf.Tensor2D) =>
        tf.tidy(() =>
          tf.add(clf.logits(xb), tf.randomNormal([xb.shape[0], 10], 0, 4, 'float32', calls++)),
        ) as tf.Tensor2D,
      dispose: () => {},
    };
    const ev = evaluateRobustness(noisy, x, y, N, {
      norm: 'linf',
      eps: 0.05,
      attacks: [fgsm],
      draws: 5,
      silent: true,
    });
    expect(ev.draws).toBe(5);
    expect(ev.robustAccuracyDraws).toHaveLength(5);
    expect(new Set(ev.cleanAccuracyDraws).size).toBeGreaterThan(1);
    for (const s of ev.robustScore)
      expect([0, 0.2, 0.4, 0.6, 0.8, 1].some((v) => Math.abs(v - s) < 1e-6)).toBe(true);
  });
});

describe('npy', () => {
  it('round-trips float32 and int32 arrays with a 64-byte aligned header', () => {
    const a = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => i / 1000);
    const bytes = encodeNpy(a, [2, 28, 28]);
    const header = new TextDecoder().decode(bytes.subarray(10, 128));
    expect(header).toContain("'descr': '<f4', 'fortran_order': False, 'shape': (2, 28, 28)");
    const dataStart = 10 + (bytes[8] | (bytes[9] << 8));
    expect(dataStart % 64).toBe(0);
    const back = decodeNpy(bytes);
    expect(back.shape).toEqual([2, 28, 28]);
    expect(Array.from(back.data)).toEqual(Array.from(a));
    const l = decodeNpy(encodeNpy(Int32Array.from([3, -1, 7]), [3]));
    expect(l.shape).toEqual([3]);
    expect(Array.from(l.data)).toEqual([3, -1, 7]);
    expect(() => encodeNpy(a, [3, 28, 28])).toThrow(/shape/);
  });
});
