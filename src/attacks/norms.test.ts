import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Classifier } from '../models/classifier.js';
import { testBackend } from '../testing/fixtures.js';
import { apgd } from './apgd.js';
import { exactSign, hostRandomStartLinf, randomStart, steepestDirection } from './norms.js';
import { pgd } from './pgd.js';

beforeAll(async () => {
  await testBackend();
});

/**
 * Two classes on 4 pixels, z0 − z1 = 2s(Σx − 1): at x0 = 0.5·1 the margin is 2s = 30, so
 * p(wrong) ≈ e⁻³⁰ and every component of the cross-entropy gradient is ~1e-12, below the wasm
 * Sign kernel's threshold; the boundary Σx = 1 is at L∞ distance exactly 0.25 (inside the box).
 */
function confidentLinear(s = 15): Classifier {
  const W = tf.tensor2d([s, -s, s, -s, s, -s, s, -s], [4, 2]);
  const b = tf.tensor1d([-s, s]);
  return {
    inputDim: 4,
    numClasses: 2,
    logits: (x) => tf.add(tf.matMul(x, W), b) as tf.Tensor2D,
    dispose: () => tf.dispose([W, b]),
  };
}

describe('exact sign', () => {
  it('is ±1 for every nonzero float, however small (tf.sign on wasm is 0 below ~1e-7)', () => {
    const v = [1e-3, 1e-7, -1e-9, 1e-20, -1e-30, 0, 1e-44, -2];
    const want = [1, 1, -1, 1, -1, 0, 1, -1];
    expect(Array.from(exactSign(tf.tensor1d(v)).dataSync())).toEqual(want);
    const d = steepestDirection(tf.tensor2d(v, [2, 4]), 'linf');
    expect(Array.from(d.dataSync())).toEqual(want);
  });

  it('lets PGD and APGD leave a confidently classified point (gradient ~1e-12)', () => {
    const clf = confidentLinear();
    const x0 = new Float32Array(4).fill(0.5);
    const y = Int32Array.of(0);
    const before = tf.memory().numTensors;
    for (const attack of [pgd, apgd]) {
      // below the exact minimum 0.25 no attack may succeed; above it a working one does
      const lo = attack(clf, x0, 1, y, { eps: 0.24, steps: 20, seed: 0, silent: true });
      const hi = attack(clf, x0, 1, y, { eps: 0.3, steps: 20, seed: 0, silent: true });
      expect(lo.success[0]).toBe(0);
      expect(hi.success[0]).toBe(1);
      expect(hi.finalLabel[0]).toBe(1);
      for (const v of hi.xAdv) expect(Math.abs(v - 0.5)).toBeLessThanOrEqual(0.3 + 1e-6);
    }
    expect(tf.memory().numTensors).toBe(before);
    clf.dispose();
  });
});

describe('hostRandomStartLinf', () => {
  beforeAll(testBackend);
  it('equals the tfjs random start bit for bit (seeds 0 and 12345, a box edge, no box)', () => {
    const n = 9;
    const d = 53;
    const x0 = Float32Array.from({ length: n * d }, (_, i) => (i % 4 === 0 ? 0 : (i % 13) / 12));
    for (const seed of [0, 12345]) {
      for (const box of [undefined, null] as const) {
        const want = tf.tidy(() =>
          randomStart(tf.tensor2d(x0, [n, d]), 0.3, 'linf', seed, box).dataSync(),
        );
        const got = hostRandomStartLinf(x0, n, d, 0.3, seed, box);
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    }
  });
});
