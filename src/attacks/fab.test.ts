import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  affine,
  boxedMin,
  correctPoints,
  rowDist,
  smallMnist,
  trainedMlp,
  unboxedMin,
  type SmallMnist,
} from '../testing/attack-models.js';
import { Generator, trainGenerator } from '../latent/generators.js';
import { LatentPipelineClassifier } from '../latent/pipeline.js';
import { MlpClassifier, predict } from '../models/classifier.js';
import { testBackend, yieldToEventLoop } from '../testing/fixtures.js';
import { Rng } from '../util/rng.js';
import { boxedHyperplaneProjection, fab } from './fab.js';

let data: SmallMnist;
let linear: MlpClassifier;

beforeAll(async () => {
  await testBackend();
  data = await smallMnist(5000, 500);
  linear = trainedMlp('1L', data, { hidden: 32, epochs: 3, seed: 1 });
});

describe('boxedHyperplaneProjection', () => {
  it('reaches the hyperplane inside the box at the exact minimal norm', () => {
    const rng = new Rng(7);
    const d = 7;
    for (let trial = 0; trial < 200; trial++) {
      const t = Array.from({ length: d }, () =>
        rng.next() < 0.3 ? Math.round(rng.next()) : rng.next(),
      );
      const w = Array.from({ length: d }, () => (rng.next() < 0.15 ? 0 : rng.next() * 2 - 1));
      const wt = w.reduce((s, v, i) => s + v * t[i], 0);
      const b = wt + (rng.next() * 2 - 1) * 0.6;
      for (const norm of ['linf', 'l2'] as const) {
        const delta = new Float64Array(d);
        boxedHyperplaneProjection(t, w, b, norm, delta);
        const z = t.map((v, i) => v + delta[i]);
        expect(z.every((v) => v >= -1e-12 && v <= 1 + 1e-12)).toBe(true);
        // brute force: the largest move of w·z towards b within norm r, by bisection on r
        const s = b > wt ? 1 : -1;
        const reach = (r: number) => {
          if (norm === 'linf')
            return w.reduce(
              (a, v, i) => a + Math.abs(v) * Math.min(r, s * v > 0 ? 1 - t[i] : t[i]),
              0,
            );
          let [lo, hi] = [0, 1e6]; // δ = clip(λ|w|) with ‖δ‖₂ = r
          const at = (lam: number) =>
            w.map((v, i) => Math.min(lam * Math.abs(v), s * v > 0 ? 1 - t[i] : t[i]));
          for (let q = 0; q < 100; q++) {
            const mid = (lo + hi) / 2;
            if (Math.hypot(...at(mid)) < r) lo = mid;
            else hi = mid;
          }
          return at(lo).reduce((a, v, i) => a + v * Math.abs(w[i]), 0);
        };
        const need = Math.abs(b - wt);
        const full = reach(1e3);
        const size = norm === 'linf' ? Math.max(...delta.map(Math.abs)) : Math.hypot(...delta);
        if (full < need - 1e-9) {
          // unreachable: the full move, as close to the hyperplane as the box allows
          expect(Math.abs(z.reduce((a, v, i) => a + w[i] * v, 0) - wt)).toBeCloseTo(full, 9);
          continue;
        }
        expect(z.reduce((a, v, i) => a + w[i] * v, 0)).toBeCloseTo(b, 9);
        let [lo, hi] = [0, norm === 'linf' ? 1 : Math.sqrt(d)];
        for (let q = 0; q < 60; q++) {
          const mid = (lo + hi) / 2;
          if (reach(mid) >= need) hi = mid;
          else lo = mid;
        }
        expect(size).toBeCloseTo(hi, 6);
      }
    }
  });
});

describe('FAB on a linear MNIST classifier', () => {
  for (const norm of ['linf', 'l2'] as const) {
    it(`${norm}: FAB-T never beats the exact minimum and lands within 5% of it`, () => {
      const pts = correctPoints(linear, data, 6);
      const m = affine(linear);
      const r = fab(linear, pts.x, pts.n, pts.y, { norm, silent: true });
      const ratios: number[] = [];
      for (let e = 0; e < pts.n; e++) {
        expect(r.success[e]).toBe(1);
        expect(r.finalLabel[e]).not.toBe(pts.y[e]);
        const dist = rowDist(r.xAdv, pts.x, e, 784, norm);
        const exact = boxedMin(m, pts.x, e, pts.y[e], norm);
        expect(dist).toBeGreaterThanOrEqual(
          unboxedMin(m, pts.x, e, pts.y[e], norm).dist * (1 - 1e-4),
        );
        expect(dist).toBeGreaterThanOrEqual(exact * (1 - 1e-4));
        ratios.push(dist / exact);
      }
      expect(Math.max(...ratios)).toBeLessThan(1.05);
      expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
    });
  }

  it('untargeted FAB, and the finite-ε (AutoAttack) mode: success exactly above the minimum', async () => {
    const pts = correctPoints(linear, data, 4, 20);
    const m = affine(linear);
    const u = fab(linear, pts.x, pts.n, pts.y, { norm: 'l2', targeted: false, silent: true });
    for (let e = 0; e < pts.n; e++) {
      await yieldToEventLoop(); // long synchronous work starves vitest's worker RPC
      const exact = boxedMin(m, pts.x, e, pts.y[e], 'l2');
      const dist = rowDist(u.xAdv, pts.x, e, 784, 'l2');
      expect(dist).toBeGreaterThanOrEqual(exact * (1 - 1e-4));
      expect(dist).toBeLessThan(exact * 1.05);
      const x = pts.x.subarray(e * 784, (e + 1) * 784);
      const y = pts.y.subarray(e, e + 1);
      const above = fab(linear, x, 1, y, {
        norm: 'linf',
        eps: 1.05 * boxedMin(m, pts.x, e, pts.y[e], 'linf'),
        silent: true,
      });
      expect(above.success[0]).toBe(1);
      expect(rowDist(above.xAdv, x, 0, 784, 'linf')).toBeLessThanOrEqual(
        above.success[0] ? 1.05 * boxedMin(m, pts.x, e, pts.y[e], 'linf') * (1 + 1e-5) : 0,
      );
      const exactLinf = boxedMin(m, pts.x, e, pts.y[e], 'linf');
      const below = fab(linear, x, 1, y, { norm: 'linf', eps: exactLinf / 1.01, silent: true });
      // what it finds below the minimum can only lie beyond it
      if (below.success[0])
        expect(rowDist(below.xAdv, x, 0, 784, 'linf')).toBeGreaterThanOrEqual(
          exactLinf * (1 - 1e-4),
        );
      else expect(below.xAdv).toEqual(x);
    }
  });

  it('same seed, same result with restarts; no tensors left; bad options rejected', () => {
    const pts = correctPoints(linear, data, 3, 40);
    const before = tf.memory().numTensors;
    const o = {
      norm: 'l2' as const,
      steps: 10,
      restarts: 2,
      nTargetClasses: 2,
      silent: true,
      seed: 3,
    };
    const a = fab(linear, pts.x, pts.n, pts.y, o);
    const b = fab(linear, pts.x, pts.n, pts.y, o);
    expect(a.xAdv).toEqual(b.xAdv);
    expect(a.backwards).toBe(2 * 2 * 10 * pts.n);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => fab(linear, pts.x, pts.n, pts.y, { nTargetClasses: 0 })).toThrow(/nTargetClasses/);
    expect(() => fab(linear, pts.x, pts.n, pts.y, { eta: 0.5 })).toThrow(/eta/);
  });
});

describe('FAB on a latent pipeline', () => {
  it('finds boundaries of image → AE code → class, in pixels', () => {
    const gen = Generator.create('ae', 5);
    trainGenerator(
      gen,
      { x: data.train.x.subarray(0, 2000 * 784), n: 2000, dim: 784 },
      { epochs: 1, seed: 5, silent: true },
    );
    const head = MlpClassifier.create('1L', 32, { hidden: 16, seed: 5 });
    const pipe = new LatentPipelineClassifier(head, gen, 'ae-encoding');
    const x = data.test.x.subarray(0, 4 * 784);
    const y = predict(pipe, x, 4).labels;
    const before = tf.memory().numTensors;
    for (const norm of ['linf', 'l2'] as const) {
      const r = fab(pipe, x, 4, y, { norm, steps: 20, nTargetClasses: 2, silent: true });
      expect(r.success.reduce((s, v) => s + v, 0)).toBeGreaterThanOrEqual(2);
      for (let i = 0; i < 4; i++) if (r.success[i]) expect(r.finalLabel[i]).not.toBe(y[i]);
      expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
    }
    expect(tf.memory().numTensors).toBe(before);
    pipe.dispose();
  });
});
