/**
 * The targeted CE + L2 attack (targeted-ce-l2.ts) on a host MLP, one fused step at a time: with
 * the native addon, a step is the MLP's forward and input-gradient sgemm calls (HostMlp), the
 * softmax-CE gradient in one JS pass, and one native pass for the L2 term's gradient, the
 * normalised step and the clamp (`attackStep` in native/matmul.cc), instead of ~60 small tfjs
 * kernels. The success check is the backend's own softmax on the step's [rows, 10] logits, so it
 * decides exactly as runAttack's. Finished rows are retired by compacting the host arrays.
 *
 * Same iterates as runAttack + targeted-ce-l2's step: every float32 operation is the one the
 * tfjs ops perform, in their order (sums sequential, as the wasm backend's Sum), and the
 * matmuls are the same sgemm calls; fused-ce-l2.test.ts checks adversarials, step counts and
 * query counts against the tfjs path on real MNIST models. NGD and SGD only (Adam keeps tfjs).
 * Browser-safe; without the addon targetedCeL2 stays on the tfjs path.
 */
import { softmaxCeRows, type NativeElementwise } from '../backend/host-kernels.js';
import { HostMlp, softmaxRows } from '../models/host-mlp.js';
import { Progress } from '../util/progress.js';

export interface FusedCeL2Params {
  lambda: number;
  optimizer: 'ngd' | 'sgd';
  stepSize: number;
  maxSteps: number;
  confidence: number;
  clampMin?: number;
  clampMax?: number;
  silent?: boolean;
  label: string;
}

/** The ε in ‖x − x̄‖₂ = sqrt(Σ(x − x̄)² + ε) and in NGD's sqrt(Σg² + ε), as targeted-ce-l2.ts. */
export const DIST_EPS = 1e-12;
export const NORM_EPS = 1e-30;

const f = Math.fround;

/**
 * The JS form of the addon's attackStep (same float32 operations, same order): g += the L2
 * term's gradient, xOut = clamp(x + update). lo/hi NaN = that side unclamped.
 */
export const attackStepJs: NonNullable<NativeElementwise['attackStep']> = (
  x,
  x0,
  g,
  xOut,
  rows,
  cols,
  lambda,
  stepSize,
  mode,
  distEps,
  normEps,
  lo,
  hi,
) => {
  const lam = f(lambda);
  const neg = -f(stepSize);
  const de = f(distEps);
  const ne = f(normEps);
  const hasLo = !Number.isNaN(lo);
  const hasHi = !Number.isNaN(hi);
  const flo = f(lo);
  const fhi = f(hi);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    let r = 0;
    for (let j = 0; j < cols; j++) {
      const d = f(x[o + j] - x0[o + j]);
      r = f(r + f(d * d));
    }
    const gr = f(lam / f(f(Math.sqrt(f(r + de))) * 2));
    for (let j = 0; j < cols; j++) {
      const d2 = f(f(x[o + j] - x0[o + j]) * 2);
      g[o + j] = f(g[o + j] + f(gr * d2));
    }
    let scale = 0;
    if (mode === 0) {
      let s = 0;
      for (let j = 0; j < cols; j++) s = f(s + f(g[o + j] * g[o + j]));
      scale = f(Math.sqrt(f(s + ne)));
    }
    for (let j = 0; j < cols; j++) {
      const u = mode === 0 ? f(f(g[o + j] / scale) * neg) : f(g[o + j] * neg);
      let v = f(x[o + j] + u);
      if (hasLo) v = v > flo ? v : flo;
      if (hasHi) v = v < fhi ? v : fhi;
      xOut[o + j] = v;
    }
  }
};

/** Keep rows `keep` (increasing) of a row-major array in place, at the front. */
export function compact<T extends Float32Array | Int32Array>(
  a: T,
  keep: number[],
  width: number,
): void {
  keep.forEach((r, k) => {
    if (r !== k) a.copyWithin(k * width, r * width, (r + 1) * width);
  });
}

export interface FusedAttackResult {
  xAdv: Float32Array;
  success: Uint8Array;
  steps: Int32Array;
  forwards: number;
  backwards: number;
}

/**
 * runAttack's bookkeeping (targeted, no ball, no random start) with the fused step: each row
 * stops at its first iterate with p(goal) ≥ confidence (steps = updates taken), a failure keeps
 * its iterate after maxSteps updates. Inputs are checked by the caller.
 */
export function fusedTargetedCeL2(
  net: HostMlp,
  x0: Float32Array,
  n: number,
  goals: Int32Array,
  p: FusedCeL2Params,
): FusedAttackResult {
  const dim = net.inputDim;
  const k = net.numClasses;
  const xAdv = Float32Array.from(x0.subarray(0, n * dim));
  const success = new Uint8Array(n);
  const steps = new Int32Array(n).fill(p.maxSteps);
  const bar = new Progress({ label: p.label, total: p.maxSteps, unit: 'step', silent: p.silent });
  const step = net.loops.attackStep?.bind(net.loops) ?? attackStepJs;
  const mode = p.optimizer === 'ngd' ? 0 : 1;
  const lo = p.clampMin ?? NaN;
  const hi = p.clampMax ?? NaN;
  // as tf.greaterEqual(p, confidence): the threshold is a float32 scalar
  const conf = f(p.confidence);

  let forwards = 0;
  let backwards = 0;
  let active = Int32Array.from({ length: n }, (_, i) => i);
  let x = Float32Array.from(xAdv);
  let next = new Float32Array(n * dim);
  const xOrig = Float32Array.from(xAdv);
  const lab = Int32Array.from(goals.subarray(0, n));
  const grad = new Float32Array(n * dim);
  const rowLoss = new Float32Array(n);
  const dLogits = new Float32Array(n * k);
  try {
    for (let t = 0; active.length > 0; t++) {
      const rows = active.length;
      const last = t === p.maxSteps;
      const logits = net.forward(x, rows);
      forwards += rows;
      if (!last) {
        softmaxCeRows(logits, lab, rowLoss, dLogits, rows, k);
        net.backwardInput(dLogits, rows, grad);
        backwards += rows;
        step(
          x,
          xOrig,
          grad,
          next,
          rows,
          dim,
          p.lambda,
          p.stepSize,
          mode,
          DIST_EPS,
          NORM_EPS,
          lo,
          hi,
        );
      }
      const probs = softmaxRows(logits, rows, k);
      const keep: number[] = [];
      for (let r = 0; r < rows; r++) {
        if (probs[r * k + lab[r]] >= conf) {
          const i = active[r];
          xAdv.set(x.subarray(r * dim, (r + 1) * dim), i * dim);
          success[i] = 1;
          steps[i] = t;
        } else keep.push(r);
      }
      const retire = keep.length < rows;
      if (!last) [x, next] = [next, x];
      if (retire) {
        compact(x, keep, dim);
        compact(xOrig, keep, dim);
        compact(lab, keep, 1);
        active = Int32Array.from(keep, (r) => active[r]);
      }
      if (last) break;
      if (active.length > 0) bar.tick(1, `succeeded ${n - active.length}/${n}`);
    }
    // Failures keep their last iterate.
    active.forEach((i, r) => xAdv.set(x.subarray(r * dim, (r + 1) * dim), i * dim));
  } finally {
    bar.finish(`succeeded ${success.reduce((s, v) => s + v, 0)}/${n}`);
  }
  return { xAdv, success, steps, forwards, backwards };
}
