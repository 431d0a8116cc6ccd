import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackend } from '../testing/fixtures.js';
import { uninstallMatmulFix } from './matmul-fix.js';
import {
  installNativeMatmul,
  isNativeMatmulInstalled,
  loadNativeMatmul,
  nativeMatmulStatus,
  setBlasThreads,
  uninstallNativeMatmul,
} from './native-matmul.js';

const built = loadNativeMatmul() !== null;
const onWasm = (process.env.ROBUSTLAB_TEST_BACKEND ?? 'wasm') === 'wasm';
const skip = !built || !onWasm;

type Out = Float32Array[];
const toHost = (ts: tf.Tensor | tf.Tensor[]): Out =>
  (Array.isArray(ts) ? ts : [ts]).map((t) => t.dataSync() as Float32Array);

/**
 * Run `f` with the native kernels and `ref` (default `f`) with the plain wasm kernels (no fix);
 * check that the native path was taken.
 */
function both(
  f: () => tf.Tensor | tf.Tensor[],
  expectNative = true,
  ref = f,
): { native: Out; wasm: Out; shapes: number[][] } {
  installNativeMatmul();
  const before = nativeMatmulStatus().calls.native;
  const n = tf.tidy(f);
  const used = nativeMatmulStatus().calls.native - before;
  uninstallNativeMatmul();
  const w = tf.tidy(ref);
  installNativeMatmul();
  if (expectNative) expect(used).toBeGreaterThan(0);
  const shapes = (Array.isArray(n) ? n : [n]).map((t) => t.shape);
  expect(shapes).toEqual((Array.isArray(w) ? w : [w]).map((t) => t.shape));
  const out = { native: toHost(n), wasm: toHost(w), shapes };
  tf.dispose([n, w]);
  return out;
}

function expectClose(got: Out, ref: Out, rel = 1e-5): void {
  expect(got.length).toBe(ref.length);
  for (let i = 0; i < ref.length; i++) {
    expect(got[i].length).toBe(ref[i].length);
    let scale = 0;
    let maxDiff = 0;
    for (let j = 0; j < ref[i].length; j++) {
      scale = Math.max(scale, Math.abs(ref[i][j]));
      maxDiff = Math.max(maxDiff, Math.abs(ref[i][j] - got[i][j]));
    }
    expect(maxDiff / Math.max(scale, 1e-30)).toBeLessThan(rel);
  }
}

let seed = 100;
const rand = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);
/** Operands for op(A)·op(B) with op(A) M×K and op(B) K×N, stored transposed when asked. */
function operands(
  M: number,
  K: number,
  N: number,
  tA: boolean,
  tB: boolean,
  batch: number[] = [],
  batchB = batch,
) {
  return [
    rand([...batch, ...(tA ? [K, M] : [M, K])]),
    rand([...batchB, ...(tB ? [N, K] : [K, N])]),
  ] as const;
}

describe('native (OpenBLAS) matmul', () => {
  beforeAll(async () => {
    await testBackend();
    if (!skip) {
      uninstallMatmulFix();
      expect(installNativeMatmul()).toBe(true);
    }
  });
  afterAll(() => {
    if (!skip) uninstallNativeMatmul();
  });

  it('reports whether the addon is usable', () => {
    const s = nativeMatmulStatus();
    expect(s.loaded).toBe(built);
    if (!built) {
      expect(s.reason).toMatch(/./);
      expect(installNativeMatmul()).toBe(false);
    } else {
      expect(s.blas).toMatch(/OpenBLAS/);
      expect(s.threads).toBeGreaterThanOrEqual(1);
    }
  });

  const shapes: [number, number, number][] = [
    [1000, 784, 256],
    [7, 3, 5],
    [1, 784, 256], // a 1×K row vector
    [300, 64, 1], // times a K×1 column
    [1, 9, 1],
  ];
  for (const [M, K, N] of shapes) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        it.skipIf(skip)(
          `matMul ${M}x${K}x${N} transposeA=${tA} transposeB=${tB} equals wasm`,
          () => {
            const [a, b] = operands(M, K, N, tA, tB);
            const r = both(() => tf.matMul(a, b, tA, tB));
            expect(r.shapes[0]).toEqual([M, N]);
            expectClose(r.native, r.wasm);
            tf.dispose([a, b]);
          },
        );
      }
    }
  }

  it.skipIf(skip)('batched rank-3, broadcast batch of 1, and rank-3 × rank-2', () => {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        const cases = [
          operands(7, 3, 5, tA, tB, [4]),
          operands(7, 3, 5, tA, tB, [4], [1]),
          operands(7, 3, 5, tA, tB, [1], [4]),
          operands(7, 3, 5, tA, tB, [4], []),
          operands(16, 33, 9, tA, tB, [2, 3]),
        ];
        for (const [a, b] of cases) {
          const r = both(() => tf.matMul(a, b, tA, tB));
          expectClose(r.native, r.wasm);
          tf.dispose([a, b]);
        }
      }
    }
  });

  it.skipIf(skip)('falls back to wasm for broadcasting it does not handle', () => {
    const a = rand([2, 1, 4, 3]);
    const b = rand([1, 3, 3, 5]);
    const before = nativeMatmulStatus().calls.fallback;
    const r = both(() => tf.matMul(a, b), false);
    expect(nativeMatmulStatus().calls.fallback).toBeGreaterThan(before);
    expect(r.shapes[0]).toEqual([2, 3, 4, 5]);
    expectClose(r.native, r.wasm);
    tf.dispose([a, b]);
  });

  // Reference: the unfused wasm ops. (The wasm _FusedMatMul itself is wrong by ~6% when a bias
  // is combined with transposeA/transposeB — tfjs-backend-wasm 4.22; matmul-fix avoids it.)
  it.skipIf(skip)('fused matMul: bias + linear/relu natively, other activations via wasm', () => {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        for (const activation of ['linear', 'relu'] as const) {
          const [a, b] = operands(50, 40, 30, tA, tB);
          const [a3, b3] = operands(6, 5, 30, tA, tB, [3], [1]);
          const bias = rand([30]);
          const act = (t: tf.Tensor) => (activation === 'relu' ? tf.relu(t) : t);
          const r = both(
            () => [
              tf.fused.matMul({ a, b, transposeA: tA, transposeB: tB, bias, activation }),
              tf.fused.matMul({ a, b, transposeA: tA, transposeB: tB, activation }),
              tf.fused.matMul({ a: a3, b: b3, transposeA: tA, transposeB: tB, bias, activation }),
            ],
            true,
            () => [
              act(tf.add(tf.matMul(a, b, tA, tB), bias)),
              act(tf.matMul(a, b, tA, tB)),
              act(tf.add(tf.matMul(a3, b3, tA, tB), bias)),
            ],
          );
          expectClose(r.native, r.wasm);
          tf.dispose([a, b, a3, b3, bias]);
        }
      }
    }
    const [a, b] = operands(6, 5, 4, false, false, [3]);
    const bias = rand([4]);
    const before = nativeMatmulStatus().calls.fallback;
    const r = both(() => tf.fused.matMul({ a, b, bias, activation: 'elu' }), false);
    expect(nativeMatmulStatus().calls.fallback).toBeGreaterThan(before);
    expectClose(r.native, r.wasm);
    tf.dispose([a, b, bias]);
  });

  it.skipIf(skip)('gradients of a small MLP loss equal the wasm ones', () => {
    const x = rand([37, 53]);
    const labels = tf.oneHot(
      tf.tensor1d(
        [...Array(37).keys()].map((i) => i % 10),
        'int32',
      ),
      10,
    );
    const params = [
      rand([53, 29]),
      rand([29]),
      rand([29, 31]),
      rand([31]),
      rand([31, 10]),
      rand([10]),
    ];
    const loss = (
      w1: tf.Tensor,
      b1: tf.Tensor,
      w2: tf.Tensor,
      b2: tf.Tensor,
      w3: tf.Tensor,
      b3: tf.Tensor,
    ) => {
      const h1 = tf.relu(tf.add(tf.matMul(x, w1 as tf.Tensor2D), b1)) as tf.Tensor2D;
      const h2 = tf.fused.matMul({ a: h1, b: w2 as tf.Tensor2D, bias: b2, activation: 'relu' });
      const logits = tf.add(tf.matMul(h2, w3 as tf.Tensor2D), b3);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    };
    const r = both(() => {
      const { value, grads } = tf.valueAndGrads(loss)(params);
      return [value, ...grads];
    });
    expect(r.native.length).toBe(7);
    expectClose(r.native, r.wasm);
    tf.dispose([x, labels, ...params]);
  });

  it.skipIf(skip)('does not leak tensors or wasm buffers', () => {
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const [a, b] = operands(20, 10, 8, false, false);
    const bias = rand([8]);
    const step = () =>
      tf
        .tidy(() => {
          const g = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
            tf.sum(
              tf.fused.matMul({
                a: tf.matMul(p, q, true, false),
                b: q,
                transposeB: true,
                activation: 'relu',
              }),
            ),
          )([tf.transpose(a), b]);
          const c = tf.matMul(a, b, false, false);
          const d = tf.fused.matMul({ a, b, bias, activation: 'relu' });
          return tf.addN([tf.sum(c), tf.sum(d), ...g.map((t) => tf.sum(t))]);
        })
        .dispose();
    step();
    const tensors = tf.memory().numTensors;
    const ids = backend.numDataIds();
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(ids);
    tf.dispose([a, b, bias]);
  });

  it.skipIf(skip)('works after the wasm heap grows, including growth inside the kernel', () => {
    const wasm = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm;
    const [a, b] = operands(64, 48, 32, false, true);
    const expected = tf.tidy(() =>
      (tf.matMul(a, b, false, true).dataSync() as Float32Array).slice(),
    );
    // 1) Grow the heap between two calls.
    const heap0 = wasm.HEAPU8.buffer.byteLength;
    const big = tf.zeros([heap0 / 4 + (1 << 20)]);
    expect(wasm.HEAPU8.buffer.byteLength).toBeGreaterThan(heap0);
    const after = tf.tidy(() => (tf.matMul(a, b, false, true).dataSync() as Float32Array).slice());
    expectClose([after], [expected]);
    big.dispose();
    // 2) An output larger than the whole heap forces growth in the kernel's own allocation.
    const heap1 = wasm.HEAPU8.buffer.byteLength;
    const M = 1024;
    const N = Math.ceil(heap1 / 4 / M) + 1024;
    const aData = Float32Array.from({ length: M * 3 }, (_, i) => ((i * 7) % 11) - 5);
    const bData = Float32Array.from({ length: 3 * N }, (_, i) => ((i * 5) % 13) - 6);
    const ta = tf.tensor2d(aData, [M, 3]);
    const tb = tf.tensor2d(bData, [3, N]);
    const calls = nativeMatmulStatus().calls.native;
    const c = tf.matMul(ta, tb);
    expect(nativeMatmulStatus().calls.native).toBe(calls + 1);
    expect(wasm.HEAPU8.buffer.byteLength).toBeGreaterThan(heap1);
    const cData = c.dataSync();
    for (const [i, j] of [
      [0, 0],
      [M - 1, N - 1],
      [517, 12345 % N],
      [3, N - 7],
    ]) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += aData[i * 3 + k] * bData[k * N + j];
      expect(cData[i * N + j]).toBe(s);
    }
    tf.dispose([a, b, ta, tb, c]);
  });

  it.skipIf(skip)(
    'setBlasThreads changes the thread count; uninstall restores the wasm kernels',
    () => {
      const n = nativeMatmulStatus().threads!;
      expect(setBlasThreads(1)).toBe(1);
      expect(nativeMatmulStatus().threads).toBe(1);
      setBlasThreads(n);
      expect(() => setBlasThreads(0)).toThrow(RangeError);
      uninstallNativeMatmul();
      expect(isNativeMatmulInstalled()).toBe(false);
      expect(installNativeMatmul()).toBe(true);
      expect(isNativeMatmulInstalled()).toBe(true);
    },
  );
});

describe('native SVD (LAPACK dgesdd)', () => {
  it.skipIf(!built)('agrees with the exact Jacobi SVD to float64 precision', async () => {
    const { nativeSvd } = await import('./native-matmul.js');
    const { setSvdProvider, svdProvider } = await import('./linalg.js');
    const { svd } = await import('../defences/spectral.js');
    const saved = svdProvider();
    setSvdProvider(null); // the reference: robustlab's own Jacobi SVD
    try {
      let seed = 7;
      const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
      for (const [rows, cols] of [
        [784, 64],
        [64, 64],
        [64, 10],
        [10, 37],
      ]) {
        const w = Float64Array.from({ length: rows * cols }, rand);
        const ref = svd(w, rows, cols);
        const nat = nativeSvd(w, rows, cols)!;
        expect(nat).not.toBeNull();
        const k = Math.min(rows, cols);
        for (let i = 0; i < k; i++)
          expect(Math.abs(nat.s[i] - ref.s[i])).toBeLessThan(1e-10 * ref.s[0]);
        // U diag(s) Vᵀ rebuilds W (the vectors' signs may differ from Jacobi's).
        let maxErr = 0;
        for (let r = 0; r < rows; r++)
          for (let c = 0; c < cols; c++) {
            let v = 0;
            for (let i = 0; i < k; i++) v += nat.u[r * k + i] * nat.s[i] * nat.vt[i * cols + c];
            maxErr = Math.max(maxErr, Math.abs(v - w[r * cols + c]));
          }
        expect(maxErr).toBeLessThan(1e-12);
      }
    } finally {
      setSvdProvider(saved);
    }
  });
});

describe.skipIf(!built)('nativeGemmAcc', () => {
  it('accumulates a block of columns of a wider A (row stride lda) into C, as the plain loop does', async () => {
    const { nativeGemmAcc } = await import('./native-matmul.js');
    const [m, n, k, lda, k0] = [7, 5, 3, 11, 4];
    const wide = Float64Array.from({ length: m * lda }, (_, i) => Math.sin(i + 1));
    const b = Float64Array.from({ length: k * n }, (_, i) => Math.cos(i + 2));
    const c0 = Float64Array.from({ length: m * n }, (_, i) => i / 10);
    const c = Float64Array.from(c0);
    expect(nativeGemmAcc(m, n, k, wide.subarray(k0), b, c, lda)).toBe(true);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let want = c0[i * n + j];
        for (let t = 0; t < k; t++) want += wide[i * lda + k0 + t] * b[t * n + j];
        expect(c[i * n + j]).toBeCloseTo(want, 12);
      }
    // a block that runs past A's end is refused, not read out of bounds
    expect(() => nativeGemmAcc(m, n, k, wide.subarray(lda - 2), b, c, lda)).toThrow(/too small/);
  });
});
