import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../testing/fixtures.js';
import { uninstallNativeMatmul } from './native-matmul.js';
import {
  cachedTransposes,
  installMatmulFix,
  isMatmulFixInstalled,
  setTransposeCache,
  uninstallMatmulFix,
} from './matmul-fix.js';

/** Value and gradients of a small loss built from every transposed matmul the kernels see. */
function lossAndGrads(seed: number) {
  return tf.tidy(() => {
    const x = tf.randomNormal([37, 53], 0, 1, 'float32', seed);
    const w1 = tf.randomNormal([53, 29], 0, 1, 'float32', seed + 1);
    const w2 = tf.randomNormal([31, 29], 0, 1, 'float32', seed + 2);
    const bias = tf.randomNormal([31], 0, 1, 'float32', seed + 3);
    const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
      const h = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D); // grads use transposeA / transposeB
      const g = tf.fused.matMul({
        a: h,
        b: c as tf.Tensor2D,
        transposeB: true,
        bias: d,
        activation: 'relu',
      });
      const k = tf.matMul(g, h, true, false); // transposeA in the forward pass too
      return tf.sum(tf.square(k));
    };
    const { value, grads } = tf.valueAndGrads(f)([x, w1, w2, bias]);
    return [value, ...grads].map((t) => Array.from(t.dataSync()));
  });
}

describe('transposed-matmul fix', () => {
  beforeAll(async () => {
    await testBackend();
    uninstallNativeMatmul(); // this file tests the pure-wasm path
  });
  afterAll(() => installMatmulFix());

  it('gives the same values and gradients as the unpatched kernels', () => {
    uninstallMatmulFix();
    expect(isMatmulFixInstalled()).toBe(false);
    const ref = lossAndGrads(7);
    expect(installMatmulFix()).toBe(true);
    const fixed = lossAndGrads(7);
    expect(fixed.length).toBe(ref.length);
    for (let i = 0; i < ref.length; i++) {
      const scale = Math.max(...ref[i].map(Math.abs));
      const maxDiff = Math.max(...ref[i].map((v, j) => Math.abs(v - fixed[i][j])));
      expect(maxDiff / scale).toBeLessThan(1e-5);
    }
  });

  it('keeps the transpose of a live B (same values) and frees it once B is gone', () => {
    if (tf.getBackend() !== 'wasm') return;
    installMatmulFix();
    const before = tf.memory().numTensors;
    const a = tf.randomNormal([6, 5], 0, 1, 'float32', 1);
    const w = tf.randomNormal([7, 5], 0, 1, 'float32', 2);
    const product = (b: tf.Tensor2D) =>
      tf.tidy(() => Array.from(tf.matMul(a as tf.Tensor2D, b, false, true).dataSync()));
    setTransposeCache(false);
    const ref = product(w as tf.Tensor2D);
    setTransposeCache(true);
    for (let i = 0; i < 3; i++) expect(product(w as tf.Tensor2D)).toEqual(ref);
    expect(cachedTransposes()).toBe(1);
    w.dispose();
    const w2 = tf.randomNormal([7, 5], 0, 1, 'float32', 3);
    product(w2 as tf.Tensor2D); // prunes w's transpose, keeps w2's
    expect(cachedTransposes()).toBe(1);
    // an input gradient (dy·Wᵀ, what an attack step takes at every step) as without the cache
    const w3 = tf.randomNormal([5, 4], 0, 1, 'float32', 4) as tf.Tensor2D;
    const grad = () =>
      tf.tidy(() =>
        Array.from(
          tf
            .grad((x: tf.Tensor) => tf.sum(tf.square(tf.matMul(x as tf.Tensor2D, w3))))(a)
            .dataSync(),
        ),
      );
    const cached = [grad(), grad()];
    expect(cachedTransposes()).toBe(2);
    setTransposeCache(false);
    expect(cachedTransposes()).toBe(0);
    expect(cached).toEqual([grad(), grad()]);
    setTransposeCache(true);
    tf.dispose([a, w2, w3]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('does not leak tensors', () => {
    installMatmulFix();
    const before = tf.memory().numTensors;
    const a = tf.randomNormal([8, 5]);
    const b = tf.randomNormal([8, 6]);
    const c = tf.matMul(a, b, true, false);
    expect(c.shape).toEqual([5, 6]);
    tf.dispose([a, b, c]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
