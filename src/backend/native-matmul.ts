/**
 * Native matmul for the wasm backend: OpenBLAS `cblas_sgemm` through a small N-API addon
 * (native/matmul.cc, built by scripts/build-native.mjs at install time; optional).
 *
 * XNNPACK in tfjs-backend-wasm runs one thread and ~28 GFLOP/s here; OpenBLAS ~200. We
 * re-register the wasm backend's `BatchMatMul` and `_FusedMatMul` kernels with versions that
 * hand the operands to sgemm *in place*: tensors of the wasm backend live in its heap, so A, B
 * and the freshly allocated output are Float32Array views on that heap — nothing is copied,
 * and transposeA/transposeB are passed to BLAS (no Transpose kernel, unlike matmul-fix.ts).
 * Anything unusual (non-float32, broadcasting other than a batch of 1, empty dims, fused
 * activations other than linear/relu, PReLU weights, non-vector bias) goes to the original
 * wasm kernel. Results equal the wasm kernel's up to float32 summation order.
 *
 * When the addon is absent (no OpenBLAS, no compiler, ROBUSTLAB_NATIVE=0) installNativeMatmul()
 * returns false, nativeMatmulStatus().reason says why, and the caller keeps wasm (+ the fix).
 *
 * Threads: OpenBLAS's thread count is process-wide. Default: ROBUSTLAB_BLAS_THREADS, else
 * OPENBLAS_NUM_THREADS if set, else min(2, cores) on the main thread and 1 in a worker thread
 * (robustlab's experiment executor runs one worker per core; 2 workers × 2 BLAS threads would
 * oversubscribe). setBlasThreads(n) changes it at run time.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { heapView, type NativeElementwise, type WasmBackendLike } from './host-kernels.js';
import type { GemmProvider } from './linalg.js';
import { uninstallMatmulFix } from './matmul-fix.js';

/** The addon's exports (native/matmul.cc). */
export interface NativeMatmulAddon {
  sgemm: Required<NativeElementwise>['sgemm'];
  setNumThreads(n: number): void;
  getNumThreads(): number;
  config(): string;
  /** C += A·B, float64 row-major (A [m, k], B [k, n], C [m, n]). */
  dgemmAcc?(...args: Parameters<GemmProvider>): void;
  /** Element-wise loops for backend/host-kernels.ts (see NativeElementwise there). */
  adam?: NativeElementwise['adam'];
  bceLogits?: NativeElementwise['bceLogits'];
  sigmoidDist?: NativeElementwise['sigmoidDist'];
  sigmoidCentralDiff?: NativeElementwise['sigmoidCentralDiff'];
  reluMask?: NativeElementwise['reluMask'];
  gatherRows?: NativeElementwise['gatherRows'];
  leakyRelu?: NativeElementwise['leakyRelu'];
  leakyReluBackward?: NativeElementwise['leakyReluBackward'];
  scale?: NativeElementwise['scale'];
  attackStep?: NativeElementwise['attackStep'];
  pgdStep?: NativeElementwise['pgdStep'];
  apgdInit?: NativeElementwise['apgdInit'];
  apgdStep?: NativeElementwise['apgdStep'];
  /** LAPACK thin SVD of a column-major m×n matrix (a is overwritten); returns LAPACK's info. */
  dgesdd?(
    m: number,
    n: number,
    a: Float64Array,
    s: Float64Array,
    u: Float64Array,
    vt: Float64Array,
  ): number;
}

/**
 * Thin SVD of a row-major [rows, cols] matrix by LAPACK dgesdd, or null without the addon.
 * Row-major W is column-major Wᵀ; LAPACK's Wᵀ = U'ΣV'ᵀ gives W = V'ΣU'ᵀ, and its buffers are
 * exactly our row-major U (= V'ᵀ's buffer) and Vᵀ (= U''s buffer): no copies needed.
 */
export function nativeSvd(
  w: Float64Array,
  rows: number,
  cols: number,
): { u: Float64Array; s: Float64Array; vt: Float64Array } | null {
  const a = loadNativeMatmul();
  if (!a?.dgesdd) return null;
  const k = Math.min(rows, cols);
  const s = new Float64Array(k);
  const uPrime = new Float64Array(cols * k); // becomes our Vᵀ [k, cols]
  const vtPrime = new Float64Array(k * rows); // becomes our U [rows, k]
  // One BLAS thread: dgesdd on the study's small matrices (≤ 784×256) is a chain of level-2
  // calls that a second thread only slows (50 → 30 ms for a 2L's three layers, as PyTorch's
  // 1-thread setting); one fixed setting also keeps the singular vectors the same bits always.
  const threads = a.getNumThreads();
  if (threads !== 1) a.setNumThreads(1);
  let info: number;
  try {
    info = a.dgesdd(cols, rows, new Float64Array(w), s, uPrime, vtPrime);
  } finally {
    if (threads !== 1) a.setNumThreads(threads);
  }
  if (info !== 0) return null; // did not converge: the caller falls back to Jacobi
  return { u: vtPrime, s, vt: uPrime };
}

/** C += A·B by BLAS dgemm (linalg.ts's GemmProvider); false without the addon. */
export const nativeGemmAcc: GemmProvider = (m, n, k, a, b, c, lda) => {
  const addon = loadNativeMatmul();
  if (!addon?.dgemmAcc) return false;
  addon.dgemmAcc(m, n, k, a, b, c, lda);
  return true;
};

export interface NativeMatmulStatus {
  /** The addon is loaded. */
  loaded: boolean;
  /** Our kernels are registered on the wasm backend. */
  installed: boolean;
  /** Why the addon is not loaded / not installed. */
  reason?: string;
  /** Where the addon was looked for. */
  path: string;
  /** OpenBLAS build and core, e.g. "OpenBLAS 0.3.21 ... core=Haswell". */
  blas?: string;
  threads?: number;
  /** Kernel calls served natively / handed to the original wasm kernel. */
  calls: { native: number; fallback: number };
}

const KERNELS = ['BatchMatMul', '_FusedMatMul'] as const;
const ADDON_REL = join('native', 'build', 'Release', 'robustlab_matmul.node');

let addon: NativeMatmulAddon | null = null;
let loadTried = false;
let reason: string | undefined;
const calls = { native: 0, fallback: 0 };
/** Kernel configs we replaced, by `${backend}/${kernel}`, and the kernelFuncs we registered. */
const originals = new Map<string, KernelConfig>();
const ours = new Map<string, KernelFunc>();

/** The package root: the nearest ancestor with robustlab's package.json (src/ via tsx, dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'robustlab')
          return dir;
      } catch {
        /* unreadable package.json: keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
    dir = up;
  }
}

function addonPath(): string {
  return process.env.ROBUSTLAB_NATIVE_MATMUL || join(packageRoot(), ADDON_REL);
}

function defaultThreads(): number {
  const env = process.env.ROBUSTLAB_BLAS_THREADS ?? process.env.OPENBLAS_NUM_THREADS;
  const n = env === undefined ? NaN : Number(env);
  if (Number.isInteger(n) && n >= 1) return n;
  return isMainThread ? Math.max(1, Math.min(2, availableParallelism())) : 1;
}

/** Load the addon (once). Returns it, or null with `reason` set. */
export function loadNativeMatmul(): NativeMatmulAddon | null {
  if (loadTried) return addon;
  loadTried = true;
  if (process.env.ROBUSTLAB_NATIVE === '0') {
    reason = 'disabled by ROBUSTLAB_NATIVE=0';
    return null;
  }
  const path = addonPath();
  if (!existsSync(path)) {
    reason = `addon not built (${path} missing; run: node scripts/build-native.mjs)`;
    return null;
  }
  try {
    const mod = createRequire(import.meta.url)(path) as NativeMatmulAddon;
    if (typeof mod.sgemm !== 'function') throw new Error('not a robustlab_matmul addon');
    mod.setNumThreads(defaultThreads());
    addon = mod;
  } catch (e) {
    reason = `addon failed to load: ${String((e as Error).message ?? e).split('\n')[0]}`;
  }
  return addon;
}

/** Set OpenBLAS's (process-wide) thread count. Returns the count in effect, or 0 without the addon. */
export function setBlasThreads(n: number): number {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`BLAS threads must be an integer ≥ 1 (got ${n})`);
  const a = loadNativeMatmul();
  if (!a) return 0;
  a.setNumThreads(n);
  return a.getNumThreads();
}

export function nativeMatmulStatus(backendName = 'wasm'): NativeMatmulStatus {
  const installed = isNativeMatmulInstalled(backendName);
  return {
    loaded: addon !== null,
    installed,
    reason: installed ? undefined : (reason ?? (loadTried ? 'not installed' : 'not loaded yet')),
    path: addonPath(),
    blas: addon?.config(),
    threads: addon?.getNumThreads(),
    calls: { ...calls },
  };
}

// ---------------------------------------------------------------------------------------------

interface GemmPlan {
  M: number;
  N: number;
  K: number;
  batch: number;
  strideA: number;
  strideB: number;
  outShape: number[];
}

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

/** The sgemm call for a (possibly batched) matmul, or null when we leave it to wasm. */
function plan(
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): GemmPlan | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (K !== Kb) return null; // the original kernel throws the proper error
  let outer: number[];
  try {
    outer = tf.broadcast_util.assertAndGetBroadcastShape(
      a.shape.slice(0, -2),
      b.shape.slice(0, -2),
    );
  } catch {
    return null;
  }
  const batch = size(outer);
  const batchA = size(a.shape.slice(0, -2));
  const batchB = size(b.shape.slice(0, -2));
  // Same batch layout, or one operand shared by every batch; anything else → wasm.
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return null;
  if (M === 0 || N === 0 || K === 0 || batch === 0) return null;
  if (M > 0x7fffffff || N > 0x7fffffff || K > 0x7fffffff) return null;
  return {
    M,
    N,
    K,
    batch,
    strideA: batchA === 1 ? 0 : M * K,
    strideB: batchB === 1 ? 0 : K * N,
    outShape: [...outer, M, N],
  };
}

/**
 * Run the plan: allocate the output, then (after the allocation, which may grow wasm memory and
 * replace the heap's ArrayBuffer) view A, B, C on the heap and call sgemm. Null → fall back.
 */
function runGemm(
  backend: WasmBackendLike,
  a: TensorInfo,
  b: TensorInfo,
  p: GemmPlan,
  transposeA: boolean,
  transposeB: boolean,
  bias: TensorInfo | null,
  activation: number,
): TensorInfo | null {
  if (!backend.dataIdMap.get(a.dataId) || !backend.dataIdMap.get(b.dataId)) return null;
  const out = backend.makeOutput(p.outShape, 'float32');
  const buffer = backend.wasm.HEAPU8.buffer; // read only after makeOutput
  const A = heapView(backend, buffer, a, size(a.shape));
  const B = heapView(backend, buffer, b, size(b.shape));
  const C = heapView(backend, buffer, out, size(p.outShape));
  const biasView = bias ? heapView(backend, buffer, bias, size(bias.shape)) : null;
  if (!A || !B || !C || (bias && !biasView)) {
    backend.disposeData(out.dataId);
    return null;
  }
  try {
    addon!.sgemm(
      transposeA,
      transposeB,
      p.M,
      p.N,
      p.K,
      A,
      B,
      C,
      p.batch,
      p.strideA,
      p.strideB,
      p.M * p.N,
      biasView,
      activation,
    );
  } catch (e) {
    backend.disposeData(out.dataId);
    throw e;
  }
  return out;
}

function makeBatchMatMul(original: KernelConfig): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const attrs = (args.attrs ?? {}) as NamedAttrMap & {
      transposeA?: boolean;
      transposeB?: boolean;
    };
    const tA = !!attrs.transposeA;
    const tB = !!attrs.transposeB;
    const p = addon ? plan(a, b, tA, tB) : null;
    const out = p ? runGemm(args.backend as WasmBackendLike, a, b, p, tA, tB, null, 0) : null;
    if (out) {
      calls.native++;
      return out;
    }
    calls.fallback++;
    return original.kernelFunc(args);
  };
}

const ACTIVATIONS = new Map<string, number>([
  ['linear', 0],
  ['relu', 1],
]);

function makeFusedMatMul(original: KernelConfig): KernelFunc {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<
      string,
      TensorInfo | undefined
    >;
    const attrs = (args.attrs ?? {}) as NamedAttrMap & {
      transposeA?: boolean;
      transposeB?: boolean;
      activation?: string;
    };
    const tA = !!attrs.transposeA;
    const tB = !!attrs.transposeB;
    const act = ACTIVATIONS.get(attrs.activation ?? 'linear');
    let out: TensorInfo | null = null;
    if (addon && a && b && act !== undefined && preluActivationWeights == null) {
      const p = plan(a, b, tA, tB);
      // Bias: a per-column vector (shape [N], [1,N], …) or a scalar, not raising the output's rank.
      const biasOk =
        bias == null ||
        (bias.dtype === 'float32' &&
          p != null &&
          bias.shape.length <= p.outShape.length &&
          (size(bias.shape) === 1 ||
            (bias.shape[bias.shape.length - 1] === p.N && size(bias.shape) === p.N)));
      if (p && biasOk)
        out = runGemm(args.backend as WasmBackendLike, a, b, p, tA, tB, bias ?? null, act);
    }
    if (out) {
      calls.native++;
      return out;
    }
    calls.fallback++;
    return original.kernelFunc(args);
  };
}

/**
 * Load the addon and register native BatchMatMul/_FusedMatMul on `backendName` (default wasm),
 * replacing matmul-fix's wrappers if present (the native kernels handle transposes themselves).
 * Idempotent. Returns false — changing nothing — when the addon is unavailable.
 */
export function installNativeMatmul(backendName = 'wasm'): boolean {
  if (!loadNativeMatmul()) return false;
  if (isNativeMatmulInstalled(backendName)) return true;
  if (!tf.findBackend(backendName)) {
    reason = `backend '${backendName}' is not initialised`;
    return false;
  }
  uninstallMatmulFix(backendName);
  for (const name of KERNELS) {
    const key = `${backendName}/${name}`;
    const original = tf.getKernel(name, backendName);
    if (!original) continue;
    const kernelFunc =
      name === 'BatchMatMul' ? makeBatchMatMul(original) : makeFusedMatMul(original);
    originals.set(key, original);
    ours.set(key, kernelFunc);
    tf.unregisterKernel(name, backendName);
    tf.registerKernel({ ...original, kernelFunc });
  }
  if (!isNativeMatmulInstalled(backendName)) {
    reason = `backend '${backendName}' has no BatchMatMul kernel`;
    return false;
  }
  reason = undefined;
  return true;
}

/** Restore the kernels that were registered before installNativeMatmul (tests, benchmarks). */
export function uninstallNativeMatmul(backendName = 'wasm'): void {
  for (const name of KERNELS) {
    const key = `${backendName}/${name}`;
    const original = originals.get(key);
    if (!original) continue;
    // Only undo our own registration (if something wrapped us since, leave it alone).
    if (tf.getKernel(name, backendName)?.kernelFunc === ours.get(key)) {
      tf.unregisterKernel(name, backendName);
      tf.registerKernel(original);
    }
    originals.delete(key);
    ours.delete(key);
  }
}

export function isNativeMatmulInstalled(backendName = 'wasm'): boolean {
  return KERNELS.some((name) => {
    const key = `${backendName}/${name}`;
    return ours.has(key) && tf.getKernel(name, backendName)?.kernelFunc === ours.get(key);
  });
}
