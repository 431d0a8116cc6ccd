import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { predict } from '../models/classifier.js';
import { testBackend, yieldToEventLoop } from '../testing/fixtures.js';
import {
  exactL2,
  exactL2Boxed,
  linearMnist,
  type LinearFixture,
  type Points,
} from '../testing/linear-oracle.js';
import type { AttackResult } from './base.js';
import { cwL2 } from './cw-l2.js';
import { hostRowNorms } from './norms.js';

let F: LinearFixture;
/** Real test digits, and digits at half contrast (the L2 optimum inside the box). */
let P: Points;
let Q: Points;
let optQ: number[];

beforeAll(async () => {
  await testBackend();
  F = await linearMnist();
  P = F.points(3);
  Q = F.points(8, 0.5);
  optQ = Array.from({ length: Q.n }, (_, e) => exactL2Boxed(F.affine, Q.x, e, Q.y[e]).dist);
});
// long synchronous attacks: let vitest's worker RPC through between tests
afterEach(yieldToEventLoop);

function distances(p: Points, r: AttackResult) {
  expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
  const { labels } = predict(F.clf, r.xAdv, r.n);
  for (let e = 0; e < r.n; e++) expect(r.success[e] === 1).toBe(labels[e] !== p.y[e]);
  return hostRowNorms(r.xAdv, p.x, r.n, 784, 'l2');
}

const fmt = (r: number[]) =>
  `mean ${(r.reduce((s, v) => s + v, 0) / r.length).toFixed(4)}, max ${Math.max(...r).toFixed(4)} (n=${r.length})`;

// 300 iterations per search step: early abort stops every example within ~200 here, so this
// gives the same distances as the default 1000 (measured) at a third of the worst-case cost.
const FAST = { steps: 300, silent: true };

describe('cwL2 on a linear MNIST classifier', () => {
  it('never below the exact boxed minimum on real digits', () => {
    // A short search from a large c (the lower bound holds for any settings): saturated pixels
    // need hundreds of Adam steps to leave the box's faces in tanh space, so keep 1000 per step.
    const r = cwL2(F.clf, P.x, P.n, P.y, { binarySearchSteps: 3, initialConst: 1, silent: true });
    const d = distances(P, r);
    expect(Array.from(r.success).every((s) => s === 1)).toBe(true);
    const ratios = Array.from({ length: P.n }, (_, e) => {
      const opt = exactL2Boxed(F.affine, P.x, e, P.y[e]).dist;
      expect(d[e]).toBeGreaterThanOrEqual(opt * (1 - 1e-4));
      return d[e] / opt;
    });
    console.log(`cw-l2 / boxed optimum (real digits): ${fmt(ratios)}`);
    // not vacuous (the full default search measured mean 1.08× on 8 digits)
    expect(ratios.reduce((s, v) => s + v, 0) / P.n).toBeLessThan(1.3);
    // one forward and one backward per row and iteration
    expect(r.forwards).toBe(r.steps.reduce((s, t) => s + t, 0));
    expect(r.backwards).toBe(r.forwards);
  });

  // Adam's step (lr 1e-2 in tanh space) leaves an absolute excess of up to ~0.03 in L2, so the
  // 5% holds from distances ≈ 0.15 up; a half-size step removes the floor. Measured on 12
  // half-contrast digits: lr 1e-2 mean 1.029, max 1.337 (at d* = 0.078); lr 5e-3 max 1.004.
  for (const learningRate of [1e-2, 5e-3]) {
    it(`lr ${learningRate}: within 5% of the optimum where it lies in the box`, () => {
      const r = cwL2(F.clf, Q.x, Q.n, Q.y, { ...FAST, learningRate });
      const d = distances(Q, r);
      expect(Array.from(r.success).every((s) => s === 1)).toBe(true);
      const ratios: number[] = [];
      for (let e = 0; e < Q.n; e++) {
        expect(d[e]).toBeGreaterThanOrEqual(optQ[e] * (1 - 1e-4));
        if (!exactL2(F.affine, Q.x, e, Q.y[e]).inBox) continue;
        ratios.push(d[e] / optQ[e]);
        if (learningRate < 1e-2 || optQ[e] >= 0.15) expect(d[e]).toBeLessThan(1.05 * optQ[e]);
        else expect(d[e] - optQ[e]).toBeLessThan(0.05);
      }
      expect(ratios.length).toBeGreaterThan(Q.n / 2);
      console.log(`cw-l2 lr ${learningRate} / optimum (in box): ${fmt(ratios)}`);
    });
  }

  it('κ: the margin at the result is at least κ; deterministic; no tensors left; bad options', () => {
    const before = tf.memory().numTensors;
    const o = { steps: 100, binarySearchSteps: 4, silent: true };
    const a = cwL2(F.clf, Q.x, 4, Q.y, o);
    expect(cwL2(F.clf, Q.x, 4, Q.y, o).xAdv).toEqual(a.xAdv);
    const k = cwL2(F.clf, Q.x, 4, Q.y, { ...o, kappa: 2 });
    const z = tf.tidy(() => F.clf.logits(tf.tensor2d(k.xAdv, [4, 784])).arraySync());
    const dk = hostRowNorms(k.xAdv, Q.x, 4, 784, 'l2');
    const d0 = hostRowNorms(a.xAdv, Q.x, 4, 784, 'l2');
    for (let e = 0; e < 4; e++) {
      expect(k.success[e]).toBe(1);
      const zy = z[e][Q.y[e]];
      const other = Math.max(...z[e].filter((_, j) => j !== Q.y[e]));
      expect(other - zy).toBeGreaterThanOrEqual(2 - 1e-3);
      expect(dk[e]).toBeGreaterThan(d0[e]);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(() => cwL2(F.clf, Q.x, 2, Q.y, { norm: 'linf' })).toThrow(RangeError);
    expect(() => cwL2(F.clf, Q.x, 2, Q.y, { steps: 0 })).toThrow(RangeError);
    expect(() => cwL2(F.clf, Q.x, 2, Q.y, { kappa: -1 })).toThrow(RangeError);
  });
});
