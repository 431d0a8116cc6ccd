/**
 * Copies tfjs-backend-wasm makes that give nothing: what the pure wasm path (a browser, or no
 * native addon) spent most of a projection step on besides matmuls. Each replacement gives the
 * same values, bit for bit, as what it replaces. Browser-safe (no Node APIs).
 *
 * - `Identity` on wasm copies its input into a new buffer, and tfjs runs it for every tensor a
 *   gradient saves (Engine.saveTensorsForBackwardMode clones them): sigmoid, square, sum, mul,
 *   dense each copied a [1000, 784] activation per step of a projection. tfjs's cpu backend
 *   shares the buffer (refcounted, as wasm's own Reshape does); here wasm does the same.
 *   Safe because no kernel writes into an input's buffer: outputs are always fresh.
 * - `Cast` to the dtype a tensor already has copies it too (tfjs's Square and Abs gradients
 *   cast their float32 input to float32 every step): shared the same way.
 * - The gradients of `Sum` and `Mean` broadcast dy as `mul(dy, ones(x.shape))`: a host array
 *   of ones filled element by element in JS, uploaded, then multiplied (5 ms for 1000×784, the
 *   cost of a whole projection step's matmuls; wasm's Tile, the other way to broadcast, took
 *   49 ms). dy·1 is dy exactly, so on wasm the broadcast is a plain fill or copy on the heap
 *   (RobustlabExpand); other backends, and shapes the fill does not cover, keep tfjs's own.
 */
import * as tf from '@tensorflow/tfjs';
import type { GradConfig, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { WasmBackendLike } from './host-kernels.js';

type SharingBackend = WasmBackendLike & { incRef(dataId: object): void };

const originals = new Map<string, KernelConfig>();
const originalGrads = new Map<string, GradConfig>();

/** A tensor info sharing x's buffer (one more reference), as wasm's Reshape returns. */
function share(x: TensorInfo, backend: SharingBackend): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

function sharedIdentity(original: KernelConfig): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') return original.kernelFunc(args);
    return share(x, args.backend as unknown as SharingBackend);
  };
}

function sharedCast(original: KernelConfig): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { dtype } = args.attrs as { dtype: string };
    if (x.dtype !== dtype || dtype === 'string' || dtype === 'complex64')
      return original.kernelFunc(args);
    return share(x, args.backend as unknown as SharingBackend);
  };
}

// --- RobustlabExpand: dy broadcast to x's shape, on the wasm heap ------------------------------

export const EXPAND_KERNEL = 'RobustlabExpand';

/**
 * How `inShape` (each dim 1 or equal to outShape's) broadcasts to `outShape` as one of three
 * plain loops over the flat arrays, or null: 'fill' (one value), 'repeat' (each input value
 * fills `block` outputs: the broadcast axes are the trailing ones), 'tile' (the whole input,
 * `block` values, copied one after another: the broadcast axes are the leading ones).
 */
export function expandPlan(
  inShape: number[],
  outShape: number[],
): { kind: 'fill' | 'repeat' | 'tile'; block: number } | null {
  if (inShape.length !== outShape.length) return null;
  if (!inShape.every((d, i) => d === outShape[i] || d === 1)) return null;
  // Axes of size 1 in the output do not move anything; of the others, each is kept (k) or
  // broadcast (b), and the loops cover k…k b…b and b…b k…k.
  const pattern = outShape.map((d, i) => (d === 1 ? '' : inShape[i] === d ? 'k' : 'b')).join('');
  const n = outShape.reduce((p, d) => p * d, 1);
  const m = inShape.reduce((p, d) => p * d, 1);
  if (!pattern.includes('k')) return { kind: 'fill', block: n };
  if (!pattern.includes('b') || /^b+k+$/.test(pattern)) return { kind: 'tile', block: m };
  if (/^k+b+$/.test(pattern)) return { kind: 'repeat', block: n / m };
  return null;
}

const expandWasm: KernelFunc = (args) => {
  const { x } = args.inputs as { x: TensorInfo };
  const { shape } = args.attrs as unknown as { shape: number[] };
  const backend = args.backend as unknown as WasmBackendLike;
  const plan = expandPlan(x.shape, shape);
  const dx = backend.dataIdMap.get(x.dataId);
  if (!plan || x.dtype !== 'float32' || dx?.memoryOffset == null)
    throw new Error(`${EXPAND_KERNEL}: cannot broadcast [${x.shape}] to [${shape}]`);
  const n = shape.reduce((p, d) => p * d, 1);
  const m = x.shape.reduce((p, d) => p * d, 1);
  const out = backend.makeOutput(shape, 'float32');
  // views only after makeOutput (it may grow the heap and replace its buffer)
  const buf = backend.wasm.HEAPU8.buffer;
  const src = new Float32Array(buf, backend.dataIdMap.get(x.dataId)!.memoryOffset!, m);
  const dst = new Float32Array(buf, backend.dataIdMap.get(out.dataId)!.memoryOffset!, n);
  if (plan.kind === 'fill') dst.fill(src[0]);
  else if (plan.kind === 'repeat')
    for (let i = 0; i < m; i++) dst.fill(src[i], i * plan.block, (i + 1) * plan.block);
  else for (let o = 0; o < n; o += m) dst.set(src, o);
  return out;
};

/** dy reshaped to x's rank: x's shape with the reduced axes as 1 (as tfjs's gradients do). */
function expandedDy(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): tf.Tensor {
  const shape = x.shape.slice();
  for (const a of tf.util.parseAxisParam(axis, x.shape)) shape[a] = 1;
  return tf.reshape(dy, shape);
}

/** The broadcast of dy the tfjs gradient would compute as dy·ones, or null (use tfjs's). */
function expandOnWasm(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): tf.Tensor | null {
  if (tf.getBackend() !== 'wasm' || dy.dtype !== 'float32' || x.size === 0) return null;
  const e = expandedDy(dy, x, axis);
  if (!expandPlan(e.shape, x.shape)) return null;
  return tf.engine().runKernel(EXPAND_KERNEL, { x: e }, { shape: x.shape }) as tf.Tensor;
}

function leanReduceGrad(kernelName: 'Sum' | 'Mean'): GradConfig {
  const original = originalGrads.get(kernelName)!;
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const { axis } = attrs as unknown as { axis: number | number[] };
      const ex = expandOnWasm(dy as tf.Tensor, x, axis);
      if (!ex) return original.gradFunc(dy, saved, attrs);
      if (kernelName === 'Sum') return { x: () => ex };
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const reduceSize = axes.reduce((p, a) => p * x.shape[a], 1);
      return { x: () => tf.div(ex, reduceSize) };
    },
  };
}

let installedOn = false;

/** Install the replacements on wasm (idempotent); the gradients apply on wasm only. */
export function installWasmKernels(): void {
  if (installedOn) return;
  for (const [name, make] of [
    ['Identity', sharedIdentity],
    ['Cast', sharedCast],
  ] as const) {
    const original = tf.getKernel(name, 'wasm');
    if (!original) continue;
    originals.set(name, original);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...original, kernelFunc: make(original) });
  }
  tf.registerKernel({ kernelName: EXPAND_KERNEL, backendName: 'wasm', kernelFunc: expandWasm });
  for (const name of ['Sum', 'Mean'] as const) {
    const g = tf.getGradient(name);
    if (!g) continue;
    originalGrads.set(name, g);
    tf.registerGradient(leanReduceGrad(name));
  }
  installedOn = true;
}

/** Restore tfjs's own kernels and gradients (benchmarks, and the equivalence tests). */
export function uninstallWasmKernels(): void {
  if (!installedOn) return;
  for (const [name, original] of originals) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(original);
  }
  originals.clear();
  tf.unregisterKernel(EXPAND_KERNEL, 'wasm');
  for (const g of originalGrads.values()) tf.registerGradient(g);
  originalGrads.clear();
  installedOn = false;
}

export function wasmKernelsInstalled(): boolean {
  return installedOn;
}
