/**
 * Kernels written in plain JS over the backend's own memory, for work where tfjs's per-op
 * overhead, not arithmetic, is the cost. Browser-safe (no Node APIs).
 *
 * - `GatherV2` on wasm, axis 0: tfjs-backend-wasm 4.22 gathers element by element (20 ms for
 *   1000 MNIST rows, the cost of a whole training step); rows are contiguous, so we memmove
 *   each one inside the wasm heap (~0.2 ms). Anything else goes to the original kernel.
 * - `RobustlabAdam` on wasm and cpu: one Adam update of a variable, its two moments in one pass
 *   (tf.train.adam takes ~13 kernels per variable, each a full pass and an engine round trip).
 *   Same arithmetic as tf.train.adam (tfjs-core adam_optimizer.ts), in float64 then rounded
 *   (or float32, in the native addon's vectorised loop when it is there).
 * - `RobustlabSigmoidDist` on wasm, only with the native addon: per-row ||σ(h) − x||_p^p
 *   (p = 1, 2) and its gradient in h, the projection objective through the decoder's sigmoid.
 * - `RobustlabDense` on wasm and cpu: x·W + b through the backend's fused matmul, with a
 *   gradient that computes only the inputs being differentiated (see dense()).
 * - `RobustlabSoftmaxCe` on wasm and cpu: per-row softmax cross-entropy against integer labels
 *   and its gradient softmax(l) − onehot in one pass (tf.logSoftmax + oneHot + mul + sum and
 *   their gradients are ~20 kernels; on 1000×10 logits each costs more in dispatch than in
 *   arithmetic). A plain JS loop, so no addon is needed.
 * - `RobustlabBceLogits` on wasm, only with the native addon: per-row Σ softplus(l) − x·l and
 *   its gradient sigmoid(l) − x in one vectorised pass (0.17 ms for 256×784, where wasm's
 *   Softplus alone takes ~2 ms; a JS loop would take ~4.5 ms, so without the addon the
 *   generators keep tf ops).
 *
 * Tensors of the wasm backend live in its heap: an output is allocated first (which may grow
 * the heap and replace its ArrayBuffer) and only then are views taken.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import type { Sfc32Fill } from '../util/rng.js';

/** The parts of tfjs-backend-wasm's BackendWasm we rely on (dist/backend_wasm.js, 4.x). */
export interface WasmTensorData {
  id: number;
  memoryOffset: number | null;
  shape: number[];
  dtype: string;
  refCount: number;
}
export interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): WasmTensorData | undefined };
  makeOutput(shape: number[], dtype: 'float32' | 'int32'): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}
/** The parts of tfjs-backend-cpu's MathBackendCPU we rely on. */
interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

/** A float32 view of tensor `t` (n elements) on the wasm heap `buffer`, or null. */
export function heapView(
  backend: WasmBackendLike,
  buffer: ArrayBufferLike,
  t: TensorInfo,
  n: number,
): Float32Array | null {
  const d = backend.dataIdMap.get(t.dataId);
  if (!d || d.memoryOffset == null || d.dtype !== 'float32' || d.memoryOffset % 4 !== 0)
    return null;
  if (d.memoryOffset + 4 * n > buffer.byteLength) return null;
  return new Float32Array(buffer, d.memoryOffset, n);
}

// --- GatherV2, axis 0 (wasm) -----------------------------------------------------------------

function makeGatherRows(original: KernelConfig): KernelFunc {
  return (args) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const attrs = args.attrs as { axis?: number | number[]; batchDims?: number };
    const backend = args.backend as unknown as WasmBackendLike;
    const axis = Array.isArray(attrs.axis) ? attrs.axis[0] : (attrs.axis ?? 0);
    const dx = backend.dataIdMap.get(x.dataId);
    const di = backend.dataIdMap.get(indices.dataId);
    const rows = x.shape[0];
    if (
      (axis !== 0 && axis !== -x.shape.length) ||
      (attrs.batchDims ?? 0) !== 0 ||
      indices.shape.length !== 1 ||
      (x.dtype !== 'float32' && x.dtype !== 'int32') ||
      indices.dtype !== 'int32' ||
      !dx ||
      !di ||
      dx.memoryOffset == null ||
      di.memoryOffset == null ||
      indices.shape[0] === 0 ||
      rows === 0
    )
      return original.kernelFunc(args);
    const n = indices.shape[0];
    const row = size(x.shape.slice(1));
    const out = backend.makeOutput([n, ...x.shape.slice(1)], x.dtype as 'float32');
    const heap = new Int32Array(backend.wasm.HEAPU8.buffer);
    const idx = heap.subarray(di.memoryOffset / 4, di.memoryOffset / 4 + n);
    const src = dx.memoryOffset / 4;
    const dst = backend.dataIdMap.get(out.dataId)!.memoryOffset! / 4;
    for (let i = 0; i < n; i++) {
      const j = idx[i];
      if (!(j >= 0 && j < rows)) {
        backend.disposeData(out.dataId);
        throw new Error(`GatherV2: the index value ${j} is not in [0, ${rows - 1}]`);
      }
      heap.copyWithin(dst + i * row, src + j * row, src + (j + 1) * row);
    }
    return out;
  };
}

/** Loops of the native addon (native/matmul.cc) that the host kernels and trainers call. */
export interface NativeElementwise {
  /**
   * C_i = act(op(A_i)·op(B_i) + bias) for i < batch, row-major, in place. op(A_i) is M×K,
   * op(B_i) K×N; A_i starts at A[i*strideA] (stride 0 broadcasts). activation 0 linear, 1 relu.
   */
  sgemm?(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    batch?: number | null,
    strideA?: number | null,
    strideB?: number | null,
    strideC?: number | null,
    bias?: Float32Array | null,
    activation?: number,
  ): void;
  /**
   * The targeted CE + L2 attack's step after its backward pass, per row (src/attacks/fused-ce-l2.ts):
   * g += λ·(x − x0)/‖x − x0‖ (as tfjs differentiates sqrt(Σ(x − x0)² + distEps)), then
   * xOut = clamp(x − α·g/sqrt(Σg² + normEps)) (mode 0, NGD) or clamp(x − α·g) (mode 1, SGD);
   * lo/hi NaN = that side unclamped. Float32, in the tfjs ops' order.
   */
  attackStep?(
    x: Float32Array,
    x0: Float32Array,
    g: Float32Array,
    xOut: Float32Array,
    rows: number,
    cols: number,
    lambda: number,
    stepSize: number,
    mode: number,
    distEps: number,
    normEps: number,
    lo: number,
    hi: number,
  ): void;
  /**
   * PGD's step after its backward pass, per row (src/attacks/fused-pgd.ts, whose pgdStep is the
   * JS form): the steepest step of length stepSize (mode 0 L∞ sign, mode 1 L2), the projection
   * onto the ε-ball around x0 and the [0, 1] clamp. Float32, in the tfjs ops' order.
   */
  pgdStep?(
    x: Float32Array,
    x0: Float32Array,
    g: Float32Array,
    xOut: Float32Array,
    rows: number,
    cols: number,
    eps: number,
    stepSize: number,
    mode: number,
    rootEps: number,
  ): void;
  /** APGD's random init after its draws, in place (src/attacks/fused-apgd.ts, apgdInitJs). */
  apgdInit?(
    x0: Float32Array,
    t: Float32Array,
    rows: number,
    d: number,
    eps: number,
    initEps: number,
  ): void;
  /** APGD's momentum step with its two projections (src/attacks/fused-apgd.ts, apgdStepJs). */
  apgdStep?(
    x: Float32Array,
    xOld: Float32Array,
    g: Float32Array,
    x0: Float32Array,
    eta: Float32Array,
    next: Float32Array,
    rows: number,
    d: number,
    a: number,
    b: number,
    eps: number,
    mode: number,
    rootEps: number,
  ): void;
  /** out[i] = clip(float32(x0[i] + out[i]), lo, hi) for i < n, in place (lo/hi may be ±∞). */
  addClip?(out: Float32Array, x0: Float32Array, n: number, lo: number, hi: number): void;
  /** out[i] = float32(min + range·t_i/2^32) for the sfc32 stream from (a, b, c, d) (util/rng.ts). */
  sfc32Uniform?: Sfc32Fill;
  /**
   * Per row of [rows, d]: NaN if a value of adv is outside [0, 1] or NaN, else ‖adv − x0‖
   * (mode 0 L∞, 1 L2) in float64 summed in order: projectRow's read-only first pass, batched.
   */
  boxBallDistances?(
    adv: Float32Array,
    x0: Float32Array,
    rows: number,
    d: number,
    mode: number,
    out: Float64Array,
  ): void;
  /** g[i] = 0 where h[i] ≤ 0, for i < n: a ReLU's backward pass given its output h. */
  reluMask?(g: Float32Array, h: Float32Array, n: number): void;
  /**
   * Row r of dst = row idx[start + r] of src ([rows, dim], row-major) for r < end − start, and
   * yDst[r] = ySrc[idx[start + r]] when labels are given: a mini-batch gathered in one call.
   */
  gatherRows?(
    src: Float32Array,
    dim: number,
    idx: Int32Array,
    start: number,
    end: number,
    dst: Float32Array,
    ySrc?: Int32Array | null,
    yDst?: Int32Array | null,
  ): void;
  /** h[i] = h[i] < 0 ? alpha·h[i] : h[i], for i < n, in place (float32 alpha). */
  leakyRelu?(h: Float32Array, n: number, alpha: number): void;
  /** g[i] = h[i] > 0 ? g[i] : alpha·g[i]: a leaky ReLU's backward pass given its output h. */
  leakyReluBackward?(g: Float32Array, h: Float32Array, n: number, alpha: number): void;
  /** x[i] *= s for i < n, in place (float32 s). */
  scale?(x: Float32Array, n: number, s: number): void;
  adam?(
    p: Float32Array,
    m: Float32Array,
    v: Float32Array,
    g: Float32Array,
    pOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    lr: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    c1: number,
    c2: number,
  ): void;
  bceLogits?(
    l: Float32Array,
    x: Float32Array,
    rowLoss: Float32Array,
    grad: Float32Array,
    rows: number,
    cols: number,
  ): void;
  sigmoidDist?(
    h: Float32Array,
    x: Float32Array,
    rowLoss: Float32Array,
    grad: Float32Array,
    rows: number,
    cols: number,
    p: number,
  ): void;
  /** out[i] = (σ(hp[i]) − σ(hm[i])) / h2 (float32): a central difference of sigmoid outputs. */
  sigmoidCentralDiff?(
    hp: Float32Array,
    hm: Float32Array,
    out: Float32Array,
    n: number,
    h2: number,
  ): void;
}
let native: NativeElementwise | null = null;

/** The native addon's loops given to installHostKernels, or null (none, or a browser). */
export function nativeLoops(): NativeElementwise | null {
  return native;
}

/** The addon's sfc32Uniform, for util/rng.ts's fillUniform (undefined without the addon). */
export function nativeUniformFill(): NativeElementwise['sfc32Uniform'] {
  return native?.sfc32Uniform?.bind(native);
}

// --- RobustlabAdam (wasm, cpu) -----------------------------------------------------------------

export const ADAM_KERNEL = 'RobustlabAdam';

export interface AdamAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** 1 − β₁ᵗ and 1 − β₂ᵗ: the bias corrections of step t. */
  c1: number;
  c2: number;
}

/** p, m, v ← Adam(p, m, v, g), element by element. */
export function adamUpdate(
  p: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: Float32Array,
  pOut: Float32Array,
  mOut: Float32Array,
  vOut: Float32Array,
  a: AdamAttrs,
): void {
  const { lr, beta1, beta2, epsilon, c1, c2 } = a;
  const g1 = 1 - beta1;
  const g2 = 1 - beta2;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + g1 * gi;
    const vi = beta2 * v[i] + g2 * gi * gi;
    mOut[i] = mi;
    vOut[i] = vi;
    pOut[i] = p[i] - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + epsilon);
  }
}

type AdamInputs = { p: TensorInfo; m: TensorInfo; v: TensorInfo; g: TensorInfo };

const adamWasm: KernelFunc = (args) => {
  const { p, m, v, g } = args.inputs as AdamInputs;
  const backend = args.backend as unknown as WasmBackendLike;
  const n = size(p.shape);
  const outs = [0, 1, 2].map(() => backend.makeOutput(p.shape, 'float32'));
  const buf = backend.wasm.HEAPU8.buffer;
  const views = [p, m, v, g, ...outs].map((t) => heapView(backend, buf, t, n));
  if (views.some((x) => x === null)) {
    for (const o of outs) backend.disposeData(o.dataId);
    throw new Error(`${ADAM_KERNEL}: inputs must be float32 tensors of one shape`);
  }
  const [P, M, V, G, PO, MO, VO] = views as Float32Array[];
  const a = args.attrs as unknown as AdamAttrs;
  if (native?.adam)
    native.adam(P, M, V, G, PO, MO, VO, a.lr, a.beta1, a.beta2, a.epsilon, a.c1, a.c2);
  else adamUpdate(P, M, V, G, PO, MO, VO, a);
  return outs;
};

const adamCpu: KernelFunc = (args) => {
  const { p, m, v, g } = args.inputs as AdamInputs;
  const backend = args.backend as unknown as CpuBackendLike;
  const n = size(p.shape);
  const [P, M, V, G] = [p, m, v, g].map((t) => backend.data.get(t.dataId)?.values);
  if (![P, M, V, G].every((x) => x instanceof Float32Array && x.length === n))
    throw new Error(`${ADAM_KERNEL}: inputs must be float32 tensors of one shape`);
  const outs = [0, 1, 2].map(() => new Float32Array(n));
  adamUpdate(
    P as Float32Array,
    M as Float32Array,
    V as Float32Array,
    G as Float32Array,
    outs[0],
    outs[1],
    outs[2],
    args.attrs as unknown as AdamAttrs,
  );
  return outs.map((o) => backend.makeTensorInfo(p.shape, 'float32', o));
};

// --- Row-wise losses with their gradient (wasm + native) --------------------------------------

export const BCE_KERNEL = 'RobustlabBceLogits';
export const SIGMOID_DIST_KERNEL = 'RobustlabSigmoidDist';

type RowLoss = (
  logits: Float32Array,
  x: Float32Array,
  rowLoss: Float32Array,
  grad: Float32Array,
  rows: number,
  cols: number,
  attrs: Record<string, unknown>,
) => void;

/**
 * A kernel taking logits [n, d] and targets x [n, d] to [per-row loss [n], d loss/d logits
 * [n, d]], computed by `loop` in one pass.
 */
function rowLossKernel(name: string, loop: () => RowLoss | null): KernelFunc {
  return (args) => {
    const { logits, x } = args.inputs as { logits: TensorInfo; x: TensorInfo };
    const backend = args.backend as unknown as WasmBackendLike;
    const [rows, cols] = logits.shape;
    if (
      logits.shape.length !== 2 ||
      x.shape.length !== 2 ||
      x.shape[0] !== rows ||
      x.shape[1] !== cols
    )
      throw new Error(`${name}: logits and x must be [n, d] of one shape`);
    const loss = backend.makeOutput([rows], 'float32');
    const grad = backend.makeOutput([rows, cols], 'float32');
    const buf = backend.wasm.HEAPU8.buffer;
    const views = [
      heapView(backend, buf, logits, rows * cols),
      heapView(backend, buf, x, rows * cols),
      heapView(backend, buf, loss, rows),
      heapView(backend, buf, grad, rows * cols),
    ];
    const f = loop();
    if (views.some((v) => v === null) || !f) {
      backend.disposeData(loss.dataId);
      backend.disposeData(grad.dataId);
      throw new Error(`${name}: needs float32 wasm tensors and the native addon`);
    }
    const [L, X, LO, GO] = views as Float32Array[];
    f(L, X, LO, GO, rows, cols, args.attrs as Record<string, unknown>);
    return [loss, grad];
  };
}

const bceWasm = rowLossKernel(BCE_KERNEL, () =>
  native?.bceLogits ? (l, x, lo, go, r, c) => native!.bceLogits!(l, x, lo, go, r, c) : null,
);
const sigmoidDistWasm = rowLossKernel(SIGMOID_DIST_KERNEL, () =>
  native?.sigmoidDist
    ? (h, x, lo, go, r, c, attrs) => native!.sigmoidDist!(h, x, lo, go, r, c, attrs.p as number)
    : null,
);

// --- RobustlabSoftmaxCe (wasm, cpu) ------------------------------------------------------------

export const SOFTMAX_CE_KERNEL = 'RobustlabSoftmaxCe';

/**
 * Per row i: loss[i] = logsumexp(l_i) − l_i[y_i], grad_i = softmax(l_i) − onehot(y_i). Sums in
 * float64 (JS numbers), max-shifted so any finite logits are safe.
 */
export function softmaxCeRows(
  l: Float32Array,
  y: Int32Array,
  loss: Float32Array,
  grad: Float32Array,
  rows: number,
  cols: number,
): void {
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    const yi = y[i];
    if (!(yi >= 0 && yi < cols))
      throw new Error(`${SOFTMAX_CE_KERNEL}: label ${yi} is not in [0, ${cols - 1}]`);
    let max = -Infinity;
    for (let j = 0; j < cols; j++) if (l[o + j] > max) max = l[o + j];
    let sum = 0;
    let others = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(l[o + j] - max);
      grad[o + j] = e;
      sum += e;
      if (j !== yi) others += e;
    }
    for (let j = 0; j < cols; j++) grad[o + j] /= sum;
    // p_y − 1 as −Σ_{j≠y} p_j in float64: on a confident row p_y rounds to 1 in float32 and the
    // true-class term of the gradient would vanish (an attack's step then only raises the
    // other logits; found by the PyTorch float64 cross-check, bench/crosscheck.ts)
    grad[o + yi] = -others / sum;
    loss[i] = Math.log(sum) + max - l[o + yi];
  }
}

type CeInputs = { logits: TensorInfo; labels: TensorInfo };

function checkCe(logits: TensorInfo, labels: TensorInfo): [number, number] {
  const [rows, cols] = logits.shape;
  if (
    logits.shape.length !== 2 ||
    labels.shape.length !== 1 ||
    labels.shape[0] !== rows ||
    logits.dtype !== 'float32' ||
    labels.dtype !== 'int32'
  )
    throw new Error(`${SOFTMAX_CE_KERNEL}: needs float32 logits [n, k] and int32 labels [n]`);
  return [rows, cols];
}

const softmaxCeWasm: KernelFunc = (args) => {
  const { logits, labels } = args.inputs as CeInputs;
  const backend = args.backend as unknown as WasmBackendLike;
  const [rows, cols] = checkCe(logits, labels);
  const loss = backend.makeOutput([rows], 'float32');
  const grad = backend.makeOutput([rows, cols], 'float32');
  const buf = backend.wasm.HEAPU8.buffer;
  const dy = backend.dataIdMap.get(labels.dataId);
  const views = [
    heapView(backend, buf, logits, rows * cols),
    heapView(backend, buf, loss, rows),
    heapView(backend, buf, grad, rows * cols),
  ];
  try {
    if (views.some((v) => v === null) || dy?.memoryOffset == null)
      throw new Error(`${SOFTMAX_CE_KERNEL}: tensors are not on the wasm heap`);
    const y = new Int32Array(buf, dy.memoryOffset, rows);
    const [L, LO, GO] = views as Float32Array[];
    softmaxCeRows(L, y, LO, GO, rows, cols);
  } catch (e) {
    backend.disposeData(loss.dataId);
    backend.disposeData(grad.dataId);
    throw e;
  }
  return [loss, grad];
};

const softmaxCeCpu: KernelFunc = (args) => {
  const { logits, labels } = args.inputs as CeInputs;
  const backend = args.backend as unknown as CpuBackendLike;
  const [rows, cols] = checkCe(logits, labels);
  const L = backend.data.get(logits.dataId)?.values;
  const Y = backend.data.get(labels.dataId)?.values;
  if (!(L instanceof Float32Array) || !(Y instanceof Int32Array))
    throw new Error(`${SOFTMAX_CE_KERNEL}: needs float32 logits and int32 labels`);
  const loss = new Float32Array(rows);
  const grad = new Float32Array(rows * cols);
  softmaxCeRows(L, Y, loss, grad, rows, cols);
  return [
    backend.makeTensorInfo([rows], 'float32', loss),
    backend.makeTensorInfo([rows, cols], 'float32', grad),
  ];
};

// --- RobustlabDense (wasm, cpu): x·W + b with lazy gradients ---------------------------------

export const DENSE_KERNEL = 'RobustlabDense';

/**
 * x·W + b by the backend's own _FusedMatMul kernel (the native one when installed), looked up
 * at call time. Why a kernel of our own: tf.fused.matMul's gradient is a customGrad that
 * computes dx, dW and db every time, but a projection or an attack needs only dx (dW of
 * 784×150 is a wasted matmul per step) and training only dW, db (dx of the input batch is
 * wasted). A registered gradient returns one closure per input, and tfjs calls only those on
 * the path to what is differentiated.
 */
function denseKernel(backendName: string): KernelFunc {
  return (args) => {
    const fused = tf.getKernel('_FusedMatMul', backendName);
    if (!fused) throw new Error(`${DENSE_KERNEL}: backend ${backendName} has no _FusedMatMul`);
    // As a batch of one: tfjs's own kernels (wasm) expect rank-3 operands, as tf.fused.matMul
    // gives them. Same data, relabelled shapes (what a Reshape kernel does).
    const { a, b, bias } = args.inputs as { a: TensorInfo; b: TensorInfo; bias: TensorInfo };
    const as3 = (t: TensorInfo): TensorInfo => ({ ...t, shape: [1, ...t.shape] });
    const out = fused.kernelFunc({
      ...args,
      inputs: { a: as3(a), b: as3(b), bias },
      attrs: { transposeA: false, transposeB: false, activation: 'linear' },
    }) as TensorInfo;
    return { ...out, shape: [a.shape[0], b.shape[1]] };
  };
}

let denseGradientRegistered = false;
function registerDenseGradient(): void {
  if (denseGradientRegistered || tf.getGradient(DENSE_KERNEL)) return;
  denseGradientRegistered = true;
  tf.registerGradient({
    kernelName: DENSE_KERNEL,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const g = dy as tf.Tensor2D;
      const [a, b] = saved as tf.Tensor2D[];
      return {
        a: () => tf.matMul(g, b, false, true),
        b: () => tf.matMul(a, g, true, false),
        // Σ over rows as ones[1, n]·dy: a (BLAS) matmul; wasm's Sum over axis 0 transposes
        // first and took ~0.2 ms for 256×784
        bias: () => tf.reshape(tf.matMul(tf.ones([1, g.shape[0]]), g), [g.shape[1]]),
      };
    },
  });
}

/** x·W + b (x [n, k], W [k, m], b [m]): the dense-layer op with lazy gradients, where registered. */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  if (!installed(DENSE_KERNEL)) return tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D;
  return tf.engine().runKernel(DENSE_KERNEL, { a: x, b: w, bias: b }, {}) as tf.Tensor2D;
}

// --- installation ------------------------------------------------------------------------------

const originals = new Map<string, KernelConfig>();
const ours = new Map<string, KernelFunc>();

function register(name: string, backendName: string, kernelFunc: KernelFunc): void {
  const key = `${backendName}/${name}`;
  if (ours.has(key)) return;
  const original = tf.getKernel(name, backendName);
  if (original) {
    originals.set(key, original);
    tf.unregisterKernel(name, backendName);
  }
  ours.set(key, kernelFunc);
  tf.registerKernel({ kernelName: name, backendName, kernelFunc });
}

/**
 * Register the host kernels on `backendName` (wasm: gather + Adam, + BCE with the addon's
 * loops; cpu: Adam; other backends: nothing, and fused Adam falls back to tf.train.adam).
 * Idempotent.
 */
export function installHostKernels(
  backendName: string,
  nativeLoops: NativeElementwise | null = null,
): void {
  native = nativeLoops;
  if (backendName === 'wasm') {
    const gather = tf.getKernel('GatherV2', 'wasm');
    if (gather && !ours.has('wasm/GatherV2')) register('GatherV2', 'wasm', makeGatherRows(gather));
    register(ADAM_KERNEL, 'wasm', adamWasm);
    register(SOFTMAX_CE_KERNEL, 'wasm', softmaxCeWasm);
    register(DENSE_KERNEL, 'wasm', denseKernel('wasm'));
    registerDenseGradient();
    if (native?.bceLogits) register(BCE_KERNEL, 'wasm', bceWasm);
    if (native?.sigmoidDist) register(SIGMOID_DIST_KERNEL, 'wasm', sigmoidDistWasm);
  } else if (backendName === 'cpu') {
    register(ADAM_KERNEL, 'cpu', adamCpu);
    register(SOFTMAX_CE_KERNEL, 'cpu', softmaxCeCpu);
    register(DENSE_KERNEL, 'cpu', denseKernel('cpu'));
    registerDenseGradient();
  }
}

/** Undo installHostKernels (benchmarks compare with and without). */
export function uninstallHostKernels(backendName: string): void {
  for (const key of [...ours.keys()].filter((k) => k.startsWith(`${backendName}/`))) {
    const name = key.slice(backendName.length + 1);
    tf.unregisterKernel(name, backendName);
    const original = originals.get(key);
    if (original) tf.registerKernel(original);
    originals.delete(key);
    ours.delete(key);
  }
}

/** Our kernel `name` is registered on the backend. */
function installed(name: string, backendName = tf.getBackend()): boolean {
  return ours.has(`${backendName}/${name}`);
}

export function hasFusedAdam(backendName = tf.getBackend()): boolean {
  return installed(ADAM_KERNEL, backendName);
}

export function hasFusedSoftmaxCe(backendName = tf.getBackend()): boolean {
  return installed(SOFTMAX_CE_KERNEL, backendName);
}

export function hasFusedBce(backendName = tf.getBackend()): boolean {
  return installed(BCE_KERNEL, backendName);
}

export function hasFusedSigmoidDist(backendName = tf.getBackend()): boolean {
  return installed(SIGMOID_DIST_KERNEL, backendName);
}

/**
 * A row-wise loss kernel as a differentiable op in `logits` (the other inputs are data): the
 * kernel returns the per-row loss and its gradient together, and the gradient is scaled by dy
 * on the way back.
 */
function lossWithGrad(
  kernel: string,
  logits: tf.Tensor2D,
  data: Record<string, tf.Tensor>,
  attrs: Record<string, number>,
): tf.Tensor1D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [l, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [loss, grad] = tf
      .engine()
      .runKernel(kernel, { logits: l, ...data }, attrs) as tf.Tensor[];
    save([grad]);
    return {
      value: loss,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(saved[0], tf.expandDims(dy, 1)),
    };
  });
  return op(logits) as tf.Tensor1D;
}

/** A row-wise loss kernel of (logits, x) [n, d] (RobustlabBceLogits, RobustlabSigmoidDist). */
export function fusedRowLoss(
  kernel: string,
  logits: tf.Tensor2D,
  x: tf.Tensor2D,
  attrs: Record<string, number> = {},
): tf.Tensor1D {
  return lossWithGrad(kernel, logits, { x }, attrs);
}

/**
 * Per-row softmax cross-entropy of `logits` against integer `labels`, differentiable in the
 * logits; tf ops where the fused kernel is not registered.
 */
export function softmaxCrossEntropyRows(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  if (hasFusedSoftmaxCe()) return lossWithGrad(SOFTMAX_CE_KERNEL, logits, { labels }, {});
  return tf.tidy(() =>
    tf.neg(tf.sum(tf.mul(tf.oneHot(labels, logits.shape[1]), tf.logSoftmax(logits)), 1)),
  );
}
