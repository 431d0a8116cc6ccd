/**
 * The wasm-path replacements (wasm-kernels.ts) against what they replace, bit for bit: shared
 * Identity and Cast buffers, the Sum and Mean gradients' broadcast as a fill, and whole
 * computations (training, a projection, an attack) with and without them.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { targetedCeL2, PIXEL_RANGE } from '../attacks/targeted-ce-l2.js';
import { projectBatch } from '../latent/codes.js';
import { Generator, trainGenerator } from '../latent/generators.js';
import { MlpClassifier } from '../models/classifier.js';
import { trainClassifier } from '../models/train.js';
import { testBackend } from '../testing/fixtures.js';
import { Rng } from '../util/rng.js';
import {
  expandPlan,
  installWasmKernels,
  uninstallWasmKernels,
  wasmKernelsInstalled,
} from './wasm-kernels.js';

const onWasm = () => tf.getBackend() === 'wasm';

/** Bits of every value (NaN payloads and −0 included). */
const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));

function randn(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.next() * 4 - 2);
}

/** fn() with the replacements installed and without them. */
function both<T>(fn: () => T): [T, T] {
  installWasmKernels();
  const on = fn();
  uninstallWasmKernels();
  try {
    return [on, fn()];
  } finally {
    installWasmKernels();
  }
}

describe('expandPlan', () => {
  it('covers a fill, trailing and leading broadcasts, and nothing else', () => {
    expect(expandPlan([1, 1], [3, 4])).toEqual({ kind: 'fill', block: 12 });
    expect(expandPlan([3, 1], [3, 4])).toEqual({ kind: 'repeat', block: 4 });
    expect(expandPlan([1, 4], [3, 4])).toEqual({ kind: 'tile', block: 4 });
    expect(expandPlan([2, 3, 1, 1], [2, 3, 4, 5])).toEqual({ kind: 'repeat', block: 20 });
    expect(expandPlan([1, 1, 4], [2, 3, 4])).toEqual({ kind: 'tile', block: 4 });
    expect(expandPlan([2, 1, 4], [2, 3, 4])).toBeNull(); // a middle axis
    expect(expandPlan([1, 3, 1], [2, 3, 4])).toBeNull();
    expect(expandPlan([3, 4], [3, 4])).toEqual({ kind: 'tile', block: 12 }); // a plain copy
    expect(expandPlan([3, 1], [3, 1])).toEqual({ kind: 'tile', block: 3 });
    expect(expandPlan([2, 4], [3, 4])).toBeNull();
    expect(expandPlan([4], [3, 4])).toBeNull();
  });
});

describe('wasm-path kernels', () => {
  beforeAll(testBackend);
  afterAll(() => {
    if (onWasm()) installWasmKernels();
  });

  it('are installed on wasm by initBackend', () => {
    if (!onWasm()) return;
    expect(wasmKernelsInstalled()).toBe(true);
  });

  it('Sum and Mean gradients equal tfjs own, for every axis pattern', () => {
    if (!onWasm()) return;
    const cases: [number[], number | number[] | undefined, boolean][] = [
      [[37, 29], undefined, false],
      [[37, 29], 1, false],
      [[37, 29], 1, true],
      [[37, 29], 0, false],
      [[37, 29], -1, true],
      [[5, 6, 7], [1, 2], false],
      [[5, 6, 7], [0, 1], true],
      [[5, 6, 7], 1, false], // a middle axis: tfjs's own gradient
      [[1, 9], 0, false],
      [[0, 4], 1, false], // empty
    ];
    for (const [shape, axis, keepDims] of cases) {
      const size = shape.reduce((p, d) => p * d, 1);
      const x = tf.tensor(randn(size, size + 1), shape);
      const grads = () =>
        (['sum', 'mean'] as const).map((op) =>
          tf.tidy(() => {
            // a non-constant dy: the reduction's output times a ramp
            const g = tf.grad((v: tf.Tensor) => {
              const r = op === 'sum' ? tf.sum(v, axis, keepDims) : tf.mean(v, axis, keepDims);
              return tf.sum(tf.mul(r, tf.range(1, r.size + 1).reshape(r.shape)));
            })(x);
            return bits(g.dataSync());
          }),
        );
      const [on, off] = both(grads);
      expect(on).toEqual(off);
      x.dispose();
    }
  });

  it('Identity and Cast share buffers safely: values, lifetimes and no leaks', () => {
    if (!onWasm()) return;
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(randn(12, 3), [3, 4]);
    const c = tf.clone(x);
    const f = tf.cast(x, 'float32');
    const i0 = tf.tensor1d([1, 2, 3], 'int32');
    const i = tf.cast(i0, 'int32');
    i0.dispose();
    // a real conversion stays tfjs-wasm's own (which keeps 2 as 2 in a bool tensor)
    const [bOn, bOff] = both(() =>
      tf.tidy(() => Array.from(tf.cast(tf.tensor1d([0, 2, 0], 'int32'), 'bool').dataSync())),
    );
    expect(bOn).toEqual(bOff);
    const v = tf.variable(x);
    x.dispose();
    expect(bits(c.dataSync())).toEqual(bits(f.dataSync()));
    tf.tidy(() => v.assign(tf.zeros([3, 4])));
    expect(bits(c.dataSync())).toEqual(bits(f.dataSync())); // untouched by the assign
    expect(Array.from(i.dataSync())).toEqual([1, 2, 3]);
    tf.dispose([c, f, i, v]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('training, a projection and the targeted attack are bit-identical with and without them', () => {
    if (!onWasm()) return;
    const n = 300;
    const x = randn(n * 784, 5).map((v) => (v + 2) / 4);
    const y = Int32Array.from({ length: n }, (_, i) => i % 10);
    const [on, off] = both(() => {
      const out: number[][] = [];
      const clf = MlpClassifier.create('2L', 784, { seed: 1 });
      // native: false, the tfjs autodiff path (the native trainer does not use these kernels)
      trainClassifier(
        clf,
        clf.net.variables(),
        { x, y, n, dim: 784 },
        {
          epochs: 1,
          batchSize: 100,
          seed: 0,
          silent: true,
          native: false,
        },
      );
      out.push(...clf.net.weightsData().flatMap((l) => [bits(l.W), bits(l.b)]));
      const goals = Int32Array.from({ length: 8 }, (_, i) => (i + 3) % 10);
      const r = targetedCeL2(clf, x.subarray(0, 8 * 784), 8, goals, {
        ...PIXEL_RANGE,
        confidence: 1,
        maxSteps: 5,
        silent: true,
        fused: false,
      });
      out.push(bits(r.xAdv));
      clf.dispose();
      const g = Generator.create('vae', 2);
      trainGenerator(g, { x, n, dim: 784 }, { epochs: 1, seed: 0, silent: true, native: false });
      out.push(...g.decoder.weightsData().map((l) => bits(l.W)));
      const xt = tf.tensor2d(x.subarray(0, 50 * 784), [50, 784]);
      for (const norm of ['l2', 'l1'] as const) {
        const z = projectBatch(g.decoder, xt, { steps: 5, seed: 3, norm });
        out.push(bits(z.dataSync()));
        z.dispose();
      }
      xt.dispose();
      g.dispose();
      return out;
    });
    expect(on.length).toBe(off.length);
    on.forEach((a, i) => expect(a).toEqual(off[i]));
  });
});
