/**
 * Host kernels against the kernels they replace: the row gather against wasm's own GatherV2,
 * fused Adam against tf.train.adam (wasm and cpu, JS and native loops), the fused BCE against
 * the tf-ops formula and its autodiff gradient, the fused softmax cross-entropy likewise.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bceSum } from '../latent/generators.js';
import { adam } from '../models/adam.js';
import { Rng } from '../util/rng.js';
import { testBackend } from '../testing/fixtures.js';
import {
  dense,
  fusedRowLoss,
  hasFusedAdam,
  hasFusedSigmoidDist,
  SIGMOID_DIST_KERNEL,
  hasFusedBce,
  hasFusedSoftmaxCe,
  softmaxCrossEntropyRows,
  installHostKernels,
  uninstallHostKernels,
  type NativeElementwise,
} from './host-kernels.js';
import { loadNativeMatmul } from './native-matmul.js';

const addon = loadNativeMatmul();
const rng = new Rng(7);
/** Roughly normal (a sum of uniforms): the kernels care about range, not the distribution. */
const gauss = (r: Rng) => r.next() + r.next() + r.next() - 1.5;
const randn = (n: number, scale = 1) =>
  Float32Array.from({ length: n }, () => gauss(rng) * scale * 2);

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

/** Train a tiny least-squares model for `steps` with an optimiser; returns final weights. */
function trainSteps(make: () => ReturnType<typeof adam>, steps: number): Float32Array[] {
  const w = tf.tidy(() => tf.variable(tf.tensor2d(randnFixed(12 * 5, 1), [12, 5])));
  const b = tf.tidy(() => tf.variable(tf.zeros([5])));
  const x = tf.tensor2d(randnFixed(30 * 12, 2), [30, 12]);
  const y = tf.tensor2d(randnFixed(30 * 5, 3), [30, 5]);
  const opt = make();
  for (let i = 0; i < steps; i++)
    tf.tidy(() => {
      opt.minimize(() => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), y))), false, [w, b]);
    });
  const out = [w, b].map((v) => v.dataSync().slice() as Float32Array);
  opt.dispose();
  tf.dispose([w, b, x, y]);
  return out;
}
function randnFixed(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => gauss(r));
}

describe('host kernels', () => {
  beforeAll(testBackend);
  afterAll(() => installHostKernels(tf.getBackend(), addon));

  it('fused Adam equals tf.train.adam over 25 steps, and leaks no tensors', () => {
    expect(hasFusedAdam()).toBe(['wasm', 'cpu'].includes(tf.getBackend()));
    const ref = trainSteps(() => adam(0.05, { fused: false }), 25);
    const before = tf.memory().numTensors;
    const got = trainSteps(() => adam(0.05), 25);
    expect(tf.memory().numTensors).toBe(before);
    // outside any tidy, as projectBatch calls it
    const v = tf.tidy(() => tf.variable(tf.ones([3])));
    const opt = adam(0.1);
    const cost = opt.minimize(() => tf.sum(tf.square(v)), true, [v]);
    cost!.dispose();
    opt.dispose();
    v.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // rounding differences compound along the trajectory: one step is tight, 25 a little less
    for (let i = 0; i < ref.length; i++) expect(maxRelDiff(got[i], ref[i])).toBeLessThan(1e-4);
    const one = trainSteps(() => adam(0.05), 1);
    const oneRef = trainSteps(() => adam(0.05, { fused: false }), 1);
    for (let i = 0; i < one.length; i++) expect(maxRelDiff(one[i], oneRef[i])).toBeLessThan(2e-6);
    // the weights moved: the comparison is not between two untouched initialisations
    expect(maxRelDiff(got[0], randnFixed(60, 1))).toBeGreaterThan(0.1);
  });

  it('fused Adam without the native loop (JS) equals it with', () => {
    if (!addon?.adam) return;
    const name = tf.getBackend();
    const withNative = trainSteps(() => adam(0.05), 10);
    installHostKernels(name, { ...addon, adam: undefined } as NativeElementwise);
    const js = trainSteps(() => adam(0.05), 10);
    installHostKernels(name, addon);
    for (let i = 0; i < js.length; i++) expect(maxRelDiff(withNative[i], js[i])).toBeLessThan(1e-5);
  });

  it('row gather equals wasm GatherV2 (float32, int32, repeats) and rejects bad indices', () => {
    if (tf.getBackend() !== 'wasm') return;
    const x = tf.tensor3d(randn(50 * 3 * 4), [50, 3, 4]);
    const xi = tf.tensor2d(
      Int32Array.from({ length: 100 }, (_, i) => i * 7 - 300),
      [50, 2],
      'int32',
    );
    const idx = tf.tensor1d([49, 0, 3, 3, 17, 49, 25], 'int32');
    const idx2 = tf.tensor1d([3, 0, 0, 2], 'int32');
    const run = () => [tf.gather(x, idx), tf.gather(xi, idx), tf.gather(x, idx2, 2)];
    const ours = run();
    uninstallHostKernels('wasm');
    const ref = run();
    installHostKernels('wasm', addon);
    for (let i = 0; i < ref.length; i++) {
      expect(ours[i].shape).toEqual(ref[i].shape);
      expect(Array.from(ours[i].dataSync())).toEqual(Array.from(ref[i].dataSync()));
    }
    const bad = tf.tensor1d([1, 50], 'int32');
    expect(() => tf.gather(x, bad)).toThrow(/index value 50/);
    tf.dispose([x, xi, idx, idx2, bad, ...ours, ...ref]);
  });

  it('dense equals tf.fused.matMul in value and in each gradient', () => {
    const x = tf.tensor2d(randn(37 * 20), [37, 20]);
    const w = tf.tensor2d(randn(20 * 9), [20, 9]);
    const b = tf.tensor1d(randn(9));
    const r = tf.tensor2d(randn(37 * 9), [37, 9]); // weights the outputs, so dy is not all ones
    const f = (op: typeof dense) =>
      tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.mul(op(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D), r)),
      )([x, w, b]);
    const y = dense(x, w, b);
    const ref = tf.fused.matMul({ a: x, b: w, bias: b });
    expect(y.shape).toEqual([37, 9]);
    expect(maxRelDiff(y.dataSync(), ref.dataSync())).toBeLessThan(1e-6);
    const ours = f(dense);
    const theirs = f((a, bw, bias) => tf.fused.matMul({ a, b: bw, bias }) as tf.Tensor2D);
    for (let i = 0; i < 3; i++) {
      expect(ours[i].shape).toEqual(theirs[i].shape);
      expect(maxRelDiff(ours[i].dataSync(), theirs[i].dataSync())).toBeLessThan(1e-5);
    }
    // a gradient in x alone leaves nothing behind
    const before = tf.memory().numTensors;
    const gx = tf.grad((xx: tf.Tensor) => tf.sum(dense(xx as tf.Tensor2D, w, b)))(x);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, w, b, r, y, ref, gx, ...ours, ...theirs]);
  });

  it('fused softmax cross-entropy equals -Σ onehot·logSoftmax, with the same gradient', () => {
    const be = tf.getBackend();
    expect(hasFusedSoftmaxCe()).toBe(true); // wasm and cpu both register it, addon or not
    const n = 200;
    const k = 10;
    const lv = randn(n * k, 5);
    lv.set([-300, 80, 300, 0, 0, 0, 1e-3, -1e-3, 50, -50]); // one extreme row
    const l = tf.tensor2d(lv, [n, k]);
    const y = tf.tensor1d(
      Int32Array.from({ length: n }, (_, i) => (i * 7) % k),
      'int32',
    );
    const w = tf.tensor1d(randn(n)); // weights the rows, so dy is not all ones
    const f = () =>
      tf.valueAndGrad((t: tf.Tensor) =>
        tf.sum(tf.mul(softmaxCrossEntropyRows(t as tf.Tensor2D, y), w)),
      )(l);
    const fused = f();
    uninstallHostKernels(be);
    expect(hasFusedSoftmaxCe()).toBe(false);
    const ref = f();
    installHostKernels(be, addon);
    expect(maxRelDiff(fused.value.dataSync(), ref.value.dataSync())).toBeLessThan(1e-5);
    expect(maxRelDiff(fused.grad.dataSync(), ref.grad.dataSync())).toBeLessThan(1e-5);
    const bad = tf.tensor1d(new Int32Array(n).fill(k), 'int32');
    expect(() => softmaxCrossEntropyRows(l, bad)).toThrow(/label 10 is not in/);
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      tf.grad((t: tf.Tensor) => tf.sum(softmaxCrossEntropyRows(t as tf.Tensor2D, y)))(l);
    });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([l, y, w, bad, fused.value, fused.grad, ref.value, ref.grad]);
  });

  it('fused softmax cross-entropy keeps the true-class gradient on a confident row', () => {
    // margin 30: p_y = 1 − ~e⁻³⁰ rounds to 1 in float32, but ∂/∂l_y = −Σ_{j≠y} p_j ≠ 0
    const l = tf.tensor2d([30, 0, 0, -5], [1, 4]);
    const y = tf.tensor1d([0], 'int32');
    const g = tf.grad((t: tf.Tensor) => tf.sum(softmaxCrossEntropyRows(t as tf.Tensor2D, y)))(l);
    const gv = g.dataSync();
    const others = [0, 0, -5].map((v) => Math.exp(v - 30));
    const want = -others.reduce((a, b) => a + b, 0);
    expect(gv[0]).toBeLessThan(0);
    expect(Math.abs(gv[0] / want - 1)).toBeLessThan(1e-5);
    expect(Math.abs(gv[1] / others[0] - 1)).toBeLessThan(1e-5);
    tf.dispose([l, y, g]);
  });

  it('fused BCE equals softplus(l) − x·l summed, with the same gradient', () => {
    if (!hasFusedBce()) return; // wasm with the native addon only
    const n = 64;
    const d = 784;
    const lv = randn(n * d, 6);
    lv.set([-200, -90, -87, -20, -1e-4, 0, 1e-4, 20, 87, 90, 200]);
    const l = tf.tensor2d(lv, [n, d]);
    const x = tf.tensor2d(
      Float32Array.from({ length: n * d }, () => rng.next()),
      [n, d],
    );
    const w = tf.tensor1d(randn(n)); // weights the rows, so dy is not all ones
    const f = (bce: typeof bceSum) =>
      tf.valueAndGrad((t: tf.Tensor) => tf.sum(tf.mul(bce(t as tf.Tensor2D, x), w)));
    const fused = f(bceSum)(l);
    uninstallHostKernels('wasm');
    expect(hasFusedBce()).toBe(false);
    const ref = f(bceSum)(l);
    installHostKernels('wasm', addon);
    expect(maxRelDiff(fused.value.dataSync(), ref.value.dataSync())).toBeLessThan(1e-5);
    expect(maxRelDiff(fused.grad.dataSync(), ref.grad.dataSync())).toBeLessThan(1e-5);
    const rows = tf.tidy(() => bceSum(l, x).dataSync());
    expect(rows.every(Number.isFinite)).toBe(true);
    tf.dispose([l, x, w, fused.value, fused.grad, ref.value, ref.grad]);
  });

  it('fused sigmoid distance equals sum |σ(h) − x|^p (p = 1, 2), with the same gradient', () => {
    if (!hasFusedSigmoidDist()) return; // wasm with the native addon only
    const n = 32;
    const d = 784;
    const hv = randn(n * d, 4);
    hv.set([-200, -90, -20, -1e-4, 0, 1e-4, 20, 90, 200]);
    const h = tf.tensor2d(hv, [n, d]);
    const x = tf.tensor2d(
      Float32Array.from({ length: n * d }, () => rng.next()),
      [n, d],
    );
    const w = tf.tensor1d(randn(n));
    for (const p of [1, 2]) {
      const ref = tf.valueAndGrad((t: tf.Tensor) => {
        const diff = tf.sub(tf.sigmoid(t), x);
        const rows = tf.sum(p === 1 ? tf.abs(diff) : tf.square(diff), 1);
        return tf.sum(tf.mul(rows, w));
      })(h);
      const got = tf.valueAndGrad((t: tf.Tensor) =>
        tf.sum(tf.mul(fusedRowLoss(SIGMOID_DIST_KERNEL, t as tf.Tensor2D, x, { p }), w)),
      )(h);
      expect(maxRelDiff(got.value.dataSync(), ref.value.dataSync())).toBeLessThan(1e-5);
      expect(maxRelDiff(got.grad.dataSync(), ref.grad.dataSync())).toBeLessThan(1e-5);
      tf.dispose([ref.value, ref.grad, got.value, got.grad]);
    }
    tf.dispose([h, x, w]);
  });
});
