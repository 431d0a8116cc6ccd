import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { predict } from '../models/classifier.js';
import { testBackend, yieldToEventLoop } from '../testing/fixtures.js';
import {
  exactLinfBoxed,
  linearMnist,
  type LinearFixture,
  type Points,
} from '../testing/linear-oracle.js';
import type { AttackResult } from './base.js';
import { fgsm } from './fgsm.js';
import { hostRowNorms, type Norm } from './norms.js';

let F: LinearFixture;
let P: Points;
let linf: number[];

beforeAll(async () => {
  await testBackend();
  F = await linearMnist();
  P = F.points(24);
  linf = Array.from({ length: P.n }, (_, e) => exactLinfBoxed(F.affine, P.x, e, P.y[e]));
});
// long synchronous attacks: let vitest's worker RPC through between tests
afterEach(yieldToEventLoop);

/** Every xAdv in [0,1] and within ε (relative 1e-5); success ⇔ really misclassified. */
function checkFeasible(r: AttackResult, eps: number, norm: Norm) {
  expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
  const d = hostRowNorms(r.xAdv, P.x, r.n, 784, norm);
  const { labels } = predict(F.clf, r.xAdv, r.n);
  for (let e = 0; e < r.n; e++) {
    expect(d[e]).toBeLessThanOrEqual(eps * (1 + 1e-5));
    expect(r.success[e] === 1).toBe(labels[e] !== P.y[e]);
  }
  return d;
}

describe('fgsm on a linear MNIST classifier', () => {
  it('one signed step of ε (clipped to the box), never below the exact minimum', () => {
    const eps = 0.1;
    const r = fgsm(F.clf, P.x, P.n, P.y, { eps, silent: true });
    const d = checkFeasible(r, eps, 'linf');
    let moved = 0;
    for (let e = 0; e < P.n; e++) {
      if (r.success[e]) expect(d[e]).toBeGreaterThanOrEqual(linf[e] * (1 - 1e-4));
      else expect(linf[e]).toBeGreaterThan(0); // sanity
      for (let i = e * 784; i < (e + 1) * 784; i++) {
        const [a, b] = [r.xAdv[i], P.x[i]];
        // each coordinate moved by exactly ±ε, or was stopped by the box
        expect(Math.abs(Math.abs(a - b) - eps) < 1e-6 || a === 0 || a === 1).toBe(true);
        if (a !== b) moved++;
      }
    }
    expect(moved).toBeGreaterThan(P.n * 100);
    const rate = r.success.reduce((s, v) => s + v, 0) / P.n;
    expect(rate).toBeGreaterThan(0.2);
    expect(rate).toBeLessThan(1);
    // one gradient per row, one more forward per row that was not done at x0
    expect(r.backwards).toBe(P.n);
    expect(r.forwards).toBe(P.n + r.steps.reduce((s, t) => s + t, 0));
    // the L2 fast gradient method: one step of L2 length ε
    const g = fgsm(F.clf, P.x, P.n, P.y, { norm: 'l2', eps: 1, silent: true });
    checkFeasible(g, 1, 'l2');
  });
});

describe('fgsm', () => {
  it('is deterministic, leaves no tensors behind, and rejects steps ≠ 1', () => {
    const before = tf.memory().numTensors;
    const a = fgsm(F.clf, P.x, 8, P.y, { eps: 0.1, silent: true });
    const b = fgsm(F.clf, P.x, 8, P.y, { eps: 0.1, seed: 9, silent: true });
    expect(b.xAdv).toEqual(a.xAdv);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => fgsm(F.clf, P.x, 2, P.y, { steps: 5 })).toThrow(RangeError);
    expect(() => fgsm(F.clf, P.x, 2, P.y, { eps: NaN })).toThrow(RangeError);
  });
});
