import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { predict } from '../models/classifier.js';
import { testBackend, yieldToEventLoop } from '../testing/fixtures.js';
import {
  exactL2,
  exactL2Boxed,
  exactLinfBoxed,
  linearMnist,
  type LinearFixture,
  type Points,
} from '../testing/linear-oracle.js';
import type { AttackResult } from './base.js';
import { deepFool } from './deepfool.js';
import { hostRowNorms, type Norm } from './norms.js';

let F: LinearFixture;
/** Real test digits, and digits at half contrast (the L2 optimum inside the box). */
let P: Points;
let Q: Points;

beforeAll(async () => {
  await testBackend();
  F = await linearMnist();
  P = F.points(24);
  Q = F.points(24, 0.5);
});
// long synchronous attacks: let vitest's worker RPC through between tests
afterEach(yieldToEventLoop);

/** Distances of the results, after checking box, success ⇔ misclassified. */
function distances(p: Points, r: AttackResult, norm: Norm) {
  expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
  const { labels } = predict(F.clf, r.xAdv, r.n);
  for (let e = 0; e < r.n; e++) expect(r.success[e] === 1).toBe(labels[e] !== p.y[e]);
  return hostRowNorms(r.xAdv, p.x, r.n, 784, norm);
}

describe('deepFool on a linear MNIST classifier', () => {
  it('L2: never below the exact minimum; within 5% of it where it lies in the box', async () => {
    const ratios: number[] = [];
    for (const p of [P, Q]) {
      await yieldToEventLoop();
      const r = deepFool(F.clf, p.x, p.n, p.y, { silent: true });
      const d = distances(p, r, 'l2');
      expect(Array.from(r.success).every((s) => s === 1)).toBe(true);
      for (let e = 0; e < p.n; e++) {
        const opt = exactL2Boxed(F.affine, p.x, e, p.y[e]).dist;
        expect(d[e]).toBeGreaterThanOrEqual(opt * (1 - 1e-4));
        if (p === Q && exactL2(F.affine, p.x, e, p.y[e]).inBox) {
          expect(d[e]).toBeLessThanOrEqual(1.05 * opt);
          ratios.push(d[e] / opt);
        }
      }
      if (p === P) console.log('deepfool-l2 / boxed optimum, real digits:', summary(d, p, 'l2'));
    }
    expect(ratios.length).toBeGreaterThan(Q.n / 2);
    console.log(`deepfool-l2 / optimum (in box): ${fmt(ratios)}`);
  });

  it('L∞: never below the exact boxed minimum, and close to it', () => {
    for (const p of [P, Q]) {
      const r = deepFool(F.clf, p.x, p.n, p.y, { norm: 'linf', silent: true });
      const d = distances(p, r, 'linf');
      expect(Array.from(r.success).every((s) => s === 1)).toBe(true);
      const ratios = Array.from({ length: p.n }, (_, e) => {
        const opt = exactLinfBoxed(F.affine, p.x, e, p.y[e]);
        expect(d[e]).toBeGreaterThanOrEqual(opt * (1 - 1e-4));
        // half contrast: the box does not bind, one step lands at (1 + overshoot)(ε* + 1e-4)
        if (p === Q) expect(d[e]).toBeLessThanOrEqual(1.02 * (opt + 1e-4) * (1 + 1e-3));
        return d[e] / opt;
      });
      console.log(`deepfool-linf / boxed optimum (contrast ${p === P ? 1 : 0.5}): ${fmt(ratios)}`);
      expect(ratios.reduce((s, v) => s + v, 0) / p.n).toBeLessThan(1.05);
    }
  });

  it('is deterministic, counts its passes, honours candidates, leaves no tensors', () => {
    const before = tf.memory().numTensors;
    const a = deepFool(F.clf, P.x, 8, P.y, { silent: true });
    expect(deepFool(F.clf, P.x, 8, P.y, { silent: true }).xAdv).toEqual(a.xAdv);
    // A row done at check t ran t + 1 steps of 9 gradients each (the step's first forward is
    // the check), plus one forward for the candidates.
    const steps = Array.from(a.steps);
    expect(Math.max(...steps)).toBeLessThan(50);
    expect(a.backwards).toBe(steps.reduce((s, t) => s + 9 * (t + 1), 0));
    expect(a.forwards).toBe(steps.reduce((s, t) => s + 9 * (t + 1) + 1, 0));
    // two candidates: only the runner-up class is tried
    const b = deepFool(F.clf, P.x, 8, P.y, { candidates: 2, silent: true });
    expect(b.backwards).toBe(Array.from(b.steps).reduce((s, t) => s + t + 1, 0));
    const few = deepFool(F.clf, P.x, 8, P.y, { steps: 0, silent: true });
    expect(Array.from(few.success).every((s) => s === 0)).toBe(true);
    expect(few.xAdv).toEqual(P.x.subarray(0, 8 * 784));
    deepFool(F.clf, P.x, 8, P.y, { norm: 'linf', silent: true });
    expect(tf.memory().numTensors).toBe(before);
    expect(() => deepFool(F.clf, P.x, 2, P.y, { candidates: 1 })).toThrow(RangeError);
  });
});

const fmt = (r: number[]) =>
  `mean ${(r.reduce((s, v) => s + v, 0) / r.length).toFixed(4)}, max ${Math.max(...r).toFixed(4)} (n=${r.length})`;

function summary(d: Float64Array, p: Points, norm: Norm) {
  const r = Array.from(d, (v, e) =>
    norm === 'l2' ? v / exactL2Boxed(F.affine, p.x, e, p.y[e]).dist : v,
  );
  return fmt(r);
}
