/**
 * PGD (pgd.ts) on a host MLP, one fused step at a time: the forward and input-gradient sgemm
 * calls of HostMlp, the loss gradient in the logits in one JS pass, then the steepest-ascent
 * step, the ε-ball projection and the [0,1] clamp in one pass over the rows (the addon's
 * pgdStep, or its JS form below), instead of
 * ~15 tfjs kernels per step on [rows, 784] tensors (on 1000 MNIST points at L∞ 0.3 the tfjs
 * path took 4.3× PyTorch's time, almost all of it in those element-wise kernels).
 *
 * Same iterates as runAttack + pgd's step: every float32 operation is the one the tfjs ops
 * perform, in their order (row sums sequential, as the wasm backend's Sum; exactSign; the ball
 * projection of norms.ts, then ClipByValue to the box), and the matmuls are the same sgemm
 * calls; fused-pgd.test.ts checks adversarials, step counts, successes and query counts
 * against the tfjs path on real MNIST models, L∞ and L2, untargeted and MultiTargeted.
 * Losses: the untargeted cross-entropy and MultiTargeted's margin z_t − z_y (the 'margin'
 * loss keeps tfjs). Browser-safe; without the addon pgd stays on the tfjs path.
 */
import { softmaxCeRows, type NativeElementwise } from '../backend/host-kernels.js';
import type { HostMlp } from '../models/host-mlp.js';
import { Progress } from '../util/progress.js';
import { ScratchPool } from '../util/scratch.js';
import { argmaxRow } from './bounded-common.js';
import { compact, type FusedAttackResult } from './fused-ce-l2.js';
import type { Norm } from './norms.js';

export interface FusedPgdParams {
  eps: number;
  norm: Norm;
  /** α, the step length in input units. */
  stepSize: number;
  maxSteps: number;
  /** The iterate each row starts from (a random start), or absent: x0. */
  start?: Float32Array;
  /** MultiTargeted: the class each row ascends z_t − z_y towards; absent: untargeted CE. */
  targets?: Int32Array;
  silent?: boolean;
  label: string;
}

const f = Math.fround;
/** The ε added under the square roots of steepestDirection and projectToBall (norms.ts). */
export const ROOT_EPS = f(1e-24);

/**
 * xOut = clamp_[0,1](Π_{B(x0, ε)}(x + α·dir(g))) for `rows` rows, dir = sign (L∞) or g/‖g‖₂
 * (L2), with the float32 operations of steepestDirection → tf.mul → tf.add → projectToBall
 * (box null) → tf.clipByValue(0, 1).
 */
export const pgdStep: NonNullable<NativeElementwise['pgdStep']> = (
  x,
  x0,
  g,
  xOut,
  rows,
  cols,
  eps,
  stepSize,
  mode,
  rootEps,
) => {
  const norm: Norm = mode === 0 ? 'linf' : 'l2';
  const re = f(rootEps);
  const a = f(stepSize);
  const e = f(eps);
  const clip01 = (v: number) => (v > 1 ? 1 : v < 0 ? 0 : v);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    if (norm === 'linf') {
      for (let j = o; j < o + cols; j++) {
        const s = (g[j] > 0 ? 1 : 0) - (g[j] < 0 ? 1 : 0);
        let d = f(f(x[j] + s * a) - x0[j]); // s·a is exact: ±α or 0
        d = d < -e ? -e : d > e ? e : d;
        xOut[j] = clip01(f(x0[j] + d));
      }
      continue;
    }
    let gs = 0;
    for (let j = o; j < o + cols; j++) gs = f(gs + f(g[j] * g[j]));
    const gn = f(Math.sqrt(f(gs + re)));
    let ds = 0;
    for (let j = o; j < o + cols; j++) {
      const d = f(f(x[j] + f(f(g[j] / gn) * a)) - x0[j]);
      xOut[j] = d; // δ for now
      ds = f(ds + f(d * d));
    }
    const q = f(e / f(Math.sqrt(f(ds + re))));
    const scale = q < 1 ? q : 1;
    for (let j = o; j < o + cols; j++) xOut[j] = clip01(f(x0[j] + f(xOut[j] * scale)));
  }
};

/**
 * runAttack's bookkeeping (untargeted success, ball, optional start) with the fused step: a row
 * misclassified at x0 is done at 0 steps when a start is given; each row stops at its first
 * misclassified iterate; a failure keeps its iterate after maxSteps updates. Inputs are checked
 * by the caller.
 */
/** fusedPgd's iterate arrays, reused from call to call. */
const pool = new ScratchPool();

export function fusedPgd(
  net: HostMlp,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  p: FusedPgdParams,
): FusedAttackResult {
  const dim = net.inputDim;
  const k = net.numClasses;
  const xAdv = x0.slice(0, n * dim);
  const success = new Uint8Array(n);
  const steps = new Int32Array(n).fill(p.maxSteps);
  const bar = new Progress({ label: p.label, total: p.maxSteps, unit: 'step', silent: p.silent });

  // the addon's form of pgdStep (same float32 operations, ~10× faster), else the JS one
  const step = net.loops.pgdStep?.bind(net.loops) ?? pgdStep;
  const mode = p.norm === 'linf' ? 0 : 1;
  let forwards = 0;
  let backwards = 0;
  let active = Int32Array.from({ length: n }, (_, i) => i);
  // work arrays from the pool (util/scratch.ts), each written before it is read
  const size = n * dim;
  let x = pool.f32('x', size);
  x.set(p.start ? p.start.subarray(0, size) : xAdv);
  let next = pool.f32('next', size);
  const xOrig = pool.f32('x0', size);
  xOrig.set(xAdv);
  const lab = Int32Array.from(labels.subarray(0, n));
  const tgt = p.targets ? Int32Array.from(p.targets.subarray(0, n)) : null;
  const grad = pool.f32('grad', size);
  const rowLoss = new Float32Array(n);
  const dLogits = new Float32Array(n * k);
  /** Keep rows `keep` of every per-row array; `keep` lists the survivors in order. */
  const retire = (keep: number[]) => {
    compact(x, keep, dim);
    compact(xOrig, keep, dim);
    compact(lab, keep, 1);
    if (tgt) compact(tgt, keep, 1);
    active = Int32Array.from(keep, (r) => active[r]);
  };
  try {
    if (p.start && n > 0) {
      // An input already misclassified is done at x0, 0 steps (as runAttack).
      const z = net.forward(xOrig, n);
      forwards += n;
      const keep: number[] = [];
      for (let r = 0; r < n; r++) {
        if (argmaxRow(z, r, k) !== lab[r]) [success[r], steps[r]] = [1, 0];
        else keep.push(r);
      }
      if (keep.length < n) retire(keep);
    }
    for (let t = 0; active.length > 0; t++) {
      const rows = active.length;
      const last = t === p.maxSteps;
      const logits = net.forward(x, rows);
      forwards += rows;
      const keep: number[] = [];
      for (let r = 0; r < rows; r++) {
        if (argmaxRow(logits, r, k) !== lab[r]) {
          const i = active[r];
          xAdv.set(x.subarray(r * dim, (r + 1) * dim), i * dim);
          success[i] = 1;
          steps[i] = t;
        } else keep.push(r);
      }
      if (!last) {
        if (tgt) {
          // ∂(Σ (onehot(t) − onehot(y))·z)/∂z is that constant, exactly
          dLogits.fill(0, 0, rows * k);
          for (let r = 0; r < rows; r++) {
            dLogits[r * k + tgt[r]] = 1;
            dLogits[r * k + lab[r]] = -1;
          }
        } else softmaxCeRows(logits, lab, rowLoss, dLogits, rows, k);
        net.backwardInput(dLogits, rows, grad);
        backwards += rows;
        step(x, xOrig, grad, next, rows, dim, p.eps, p.stepSize, mode, ROOT_EPS);
        [x, next] = [next, x];
      }
      if (keep.length < rows) retire(keep);
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
