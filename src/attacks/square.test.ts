import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Classifier, MlpClassifier } from '../models/classifier.js';
import {
  correctPoints,
  rowDist,
  smallMnist,
  trainedMlp,
  type SmallMnist,
} from '../testing/attack-models.js';
import { testBackend } from '../testing/fixtures.js';
import { square, squareP } from './square.js';

let data: SmallMnist;
let linear: MlpClassifier;

beforeAll(async () => {
  await testBackend();
  data = await smallMnist(5000, 500);
  linear = trainedMlp('1L', data, { hidden: 32, epochs: 3, seed: 1 });
});

describe('Square attack', () => {
  it('follows the reference p schedule', () => {
    expect(
      [0, 10, 11, 50, 51, 200, 201, 4000, 4001, 8001].map((i) => squareP(i, 0.8, 5000, false)),
    ).toEqual([0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.8 / 64, 0.8 / 128, 0.8 / 512]);
    // rescaled to 1000 queries: query 100 is the schedule's 1000
    expect(squareP(100, 0.8, 1000, true)).toBe(0.8 / 16);
  });

  for (const [norm, eps] of [
    ['linf', 0.3],
    ['l2', 3],
  ] as const) {
    it(`${norm}: finds adversarials on an undefended 1L at ε = ${eps}, within ε and the box`, () => {
      const pts = correctPoints(linear, data, 12);
      const before = tf.memory().numTensors;
      const r = square(linear, pts.x, pts.n, pts.y, { norm, eps, steps: 300, silent: true });
      expect(tf.memory().numTensors).toBe(before);
      const fooled = r.success.reduce((s, v) => s + v, 0);
      expect(fooled).toBeGreaterThanOrEqual(0.8 * pts.n);
      for (let i = 0; i < pts.n; i++) {
        expect(rowDist(r.xAdv, pts.x, i, 784, norm)).toBeLessThanOrEqual(eps * (1 + 1e-5));
        if (r.success[i]) expect(r.finalLabel[i]).not.toBe(pts.y[i]);
        expect(r.steps[i]).toBeGreaterThanOrEqual(1);
        expect(r.steps[i]).toBeLessThanOrEqual(301);
      }
      expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
      // forwards = queries + the clean and final evaluations; no gradients
      expect(r.forwards).toBe(r.steps.reduce((s, v) => s + v, 0) + 2 * pts.n);
      expect(r.backwards).toBe(0);
    });
  }

  it('same seed, same result; an example does not depend on the rest of the batch', () => {
    const pts = correctPoints(linear, data, 3, 50);
    const o = { norm: 'l2' as const, eps: 1, steps: 40, silent: true, seed: 2 };
    const a = square(linear, pts.x, 3, pts.y, o);
    expect(square(linear, pts.x, 3, pts.y, o).xAdv).toEqual(a.xAdv);
    const first = square(linear, pts.x.subarray(0, 784), 1, pts.y.subarray(0, 1), o);
    expect(first.xAdv).toEqual(a.xAdv.subarray(0, 784));
    expect(() => square(linear, pts.x, 3, pts.y, { imageShape: [1, 27, 28] })).toThrow(
      /imageShape/,
    );
  });

  it('the host forward (addon) and the tfjs forward give the same attack, bit for bit', () => {
    // a plain Classifier wrapping the model has no host form: every query goes through tfjs
    const viaTfjs: Classifier = {
      inputDim: 784,
      numClasses: 10,
      logits: (x) => linear.logits(x),
      dispose: () => {},
    };
    const pts = correctPoints(linear, data, 20, 200);
    for (const norm of ['linf', 'l2'] as const) {
      const o = { norm, eps: norm === 'linf' ? 0.15 : 1.5, steps: 100, silent: true, seed: 3 };
      const a = square(linear, pts.x, pts.n, pts.y, o);
      const b = square(viaTfjs, pts.x, pts.n, pts.y, o);
      expect(a.xAdv).toEqual(b.xAdv);
      expect([a.steps, a.success, a.forwards]).toEqual([b.steps, b.success, b.forwards]);
      // some rows fooled and some not: the comparison covers both paths through the loop
      const fooled = a.success.reduce((s, v) => s + v, 0);
      expect(fooled).toBeGreaterThan(0);
      expect(fooled).toBeLessThan(pts.n);
    }
  });

  it('needs no gradient: it fools a model behind an input quantiser', () => {
    // round(4x)/4 has zero gradient almost everywhere: gradient attacks see nothing
    const quantised: Classifier = {
      inputDim: 784,
      numClasses: 10,
      logits: (x) => tf.tidy(() => linear.logits(tf.div(tf.round(tf.mul(x, 4)), 4))),
      dispose: () => {},
    };
    const pts = correctPoints(linear, data, 8, 100);
    const r = square(quantised, pts.x, pts.n, pts.y, { eps: 0.3, steps: 300, silent: true });
    expect(r.success.reduce((s, v) => s + v, 0)).toBeGreaterThanOrEqual(4);
  });
});
