/**
 * One APGD run (apgd.ts's apgdRun) on a host MLP: the forward and input-gradient sgemm calls of
 * HostMlp, the loss and its logit gradient on the host (logitLoss, as the tfjs path computes
 * them), and the momentum step with its two ε-ball projections in one pass over the rows,
 * instead of ~25 tfjs kernels and a tf.grad tape per iteration. At L∞ ε = 0.3 on 1000 MNIST
 * points the tfjs path's dispatch, not arithmetic, was most of APGD-CE's time and so of the
 * AutoAttack cascade's.
 *
 * Same iterates as the tfjs path, bit for bit: every float32 operation is the one the tfjs ops
 * of apgdRun perform, in their order (exactSign or g/‖g‖ with row sums sequential, as the wasm
 * backend's Sum; projectToBall's clip or scale, then ClipByValue to the box; the momentum
 * mix), and the matmuls are the same sgemm calls; fused-apgd.test.ts checks adversarials,
 * iteration counts and best losses against the tfjs path on real MNIST models, L∞ and L2, CE,
 * DLR and targeted DLR. Deterministic models only (eotIter 1): EOT keeps the tfjs path.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeUniformFill, type NativeElementwise } from '../backend/host-kernels.js';
import type { HostMlp } from '../models/host-mlp.js';
import { fillUniform } from '../util/rng.js';
import { ScratchPool } from '../util/scratch.js';
import { tidyData } from '../util/tidy-data.js';
import { argmaxRow, logitLoss, type LogitLoss } from './bounded-common.js';
import { compact } from './fused-ce-l2.js';
import type { Norm } from './norms.js';

const f = Math.fround;
/** The ε under the square roots of steepestDirection and projectToBall (norms.ts). */
export const ROOT_EPS = f(1e-24);
/** The ε added to randomInit's row size. */
export const INIT_EPS = f(1e-12);

export interface HostApgdConfig {
  eps: number;
  norm: Norm;
  steps: number;
  rho: number;
  momentum: number;
  initialStep: number;
  checkpoints: { first: number; min: number; decrease: number };
}

/**
 * randomInit of apgd.ts on the host, into `t`: for L∞ x0 + ε·t/(max|t| + 1e-12), t uniform in
 * [−1, 1], clipped to [0, 1]; L2 goes through `tfInit` (its norm is the backend's).
 */
function hostInit(
  t: Float32Array,
  x0: Float32Array,
  rows: number,
  d: number,
  eps: number,
  norm: Norm,
  seed: number,
  tfInit: (x: tf.Tensor2D) => tf.Tensor2D,
  loops: NativeElementwise | null,
): void {
  if (norm !== 'linf') return t.set(tidyData(() => tfInit(tf.tensor2d(x0, [rows, d]))));
  fillUniform(t, -1, 1, seed, nativeUniformFill());
  (loops?.apgdInit ?? apgdInitJs)(x0, t, rows, d, eps, INIT_EPS);
}

/** hostApgdRun's iterate arrays, reused from call to call (util/scratch.ts). */
const pool = new ScratchPool();

/**
 * t ← clip01(x0 + ε·t/(max_row|t| + initEps)) per row, in place: randomInit's arithmetic after
 * its uniform draws (the JS form of the addon's apgdInit).
 */
export const apgdInitJs: NonNullable<NativeElementwise['apgdInit']> = (
  x0,
  t,
  rows,
  d,
  eps,
  initEps,
) => {
  const e = f(eps);
  const ie = f(initEps);
  for (let i = 0; i < rows; i++) {
    const o = i * d;
    let size = 0;
    for (let j = o; j < o + d; j++) {
      const a = Math.abs(t[j]);
      if (a > size) size = a;
    }
    const s = f(size + ie);
    for (let j = o; j < o + d; j++) {
      const v = f(x0[j] + f(e * f(t[j] / s)));
      t[j] = v > 1 ? 1 : v < 0 ? 0 : v;
    }
  }
};

/**
 * APGD's momentum step for `rows` rows (the JS form of the addon's apgdStep): per row r with
 * step η_r, z = P(x + η_r·dir(g)), next = P(x + a(z − x) + b(x − xOld)), P the projection onto
 * the ε-ball around x0 (mode 0 L∞ clip, 1 L2 scale) then [0, 1], dir = sign or g/‖g‖₂.
 */
export const apgdStepJs: NonNullable<NativeElementwise['apgdStep']> = (
  x,
  xOld,
  g,
  x0,
  eta,
  next,
  rows,
  d,
  a,
  b,
  eps,
  mode,
  rootEps,
) => {
  const norm: Norm = mode === 0 ? 'linf' : 'l2';
  const e = f(eps);
  const fa = f(a);
  const fb = f(b);
  const re = f(rootEps);
  for (let j = 0; j < rows; j++) {
    const o = j * d;
    const et = eta[j];
    if (mode === 0) {
      for (let q = o; q < o + d; q++) {
        const s = (g[q] > 0 ? 1 : 0) - (g[q] < 0 ? 1 : 0);
        next[q] = f(x[q] + f(et * s));
      }
    } else {
      let gs = 0;
      for (let q = o; q < o + d; q++) gs = f(gs + f(g[q] * g[q]));
      const gn = f(Math.sqrt(f(gs + re)));
      for (let q = o; q < o + d; q++) next[q] = f(x[q] + f(et * f(g[q] / gn)));
    }
    projectRowInPlace(next, x0, o, d, e, norm, re);
    for (let q = o; q < o + d; q++) {
      const z = next[q];
      next[q] = f(f(x[q] + f(fa * f(z - x[q]))) + f(fb * f(x[q] - xOld[q])));
    }
    projectRowInPlace(next, x0, o, d, e, norm, re);
  }
};

/** projectToBall (norms.ts, box [0, 1]) of row i of `y` around row i of `x0`, in place. */
function projectRowInPlace(
  y: Float32Array,
  x0: Float32Array,
  o: number,
  d: number,
  e: number,
  norm: Norm,
  rootEps: number,
) {
  if (norm === 'linf') {
    for (let j = o; j < o + d; j++) {
      let dl = f(y[j] - x0[j]);
      dl = dl < -e ? -e : dl > e ? e : dl;
      const v = f(x0[j] + dl);
      y[j] = v > 1 ? 1 : v < 0 ? 0 : v;
    }
    return;
  }
  let s = 0;
  for (let j = o; j < o + d; j++) {
    const dl = f(y[j] - x0[j]);
    y[j] = dl; // δ for now
    s = f(s + f(dl * dl));
  }
  const q = f(e / f(Math.sqrt(f(s + rootEps))));
  const scale = q < 1 ? q : 1;
  for (let j = o; j < o + d; j++) {
    const v = f(x0[j] + f(y[j] * scale));
    y[j] = v > 1 ? 1 : v < 0 ? 0 : v;
  }
}

/** Per-row state of APGD's step-size schedule (indexed by the run's original row). */
export interface ApgdSchedule {
  steps: number;
  /** loss after each iteration, [rows, steps] (zeros: the reference's loss_steps[-1]) */
  lossSteps: Float64Array;
  lossBest: Float64Array;
  lossBestLast: Float64Array;
  reducedLast: Uint8Array;
  stepSize: Float64Array;
}

/**
 * The reference's checkpoint test for row r after iteration i: halve its step when the loss
 * rose in at most ρ·period of the last `period` iterations (oscillating) or its best loss did
 * not improve since the last checkpoint without a halving there (stalled). Updates the row's
 * schedule; true when the step was halved (the caller restarts the row from its best point).
 * Shared by the tfjs and host runs.
 */
export function apgdCheckpoint(
  s: ApgdSchedule,
  r: number,
  i: number,
  period: number,
  rho: number,
): boolean {
  let ups = 0;
  for (let c5 = 0; c5 < period; c5++) {
    const cur = i - c5;
    const prev = (cur - 1 + s.steps) % s.steps; // -1 wraps to the (still zero) last slot
    if (s.lossSteps[r * s.steps + cur] > s.lossSteps[r * s.steps + prev]) ups++;
  }
  const oscillating = ups <= period * rho;
  const stalled = !s.reducedLast[r] && s.lossBestLast[r] >= s.lossBest[r];
  const flag = oscillating || stalled;
  s.reducedLast[r] = flag ? 1 : 0;
  s.lossBestLast[r] = s.lossBest[r];
  if (flag) s.stepSize[r] /= 2;
  return flag;
}

/** The result of one run, as apgdRun returns it. */
export interface ApgdRunResult {
  found: Uint8Array;
  xOut: Float32Array;
  iters: Int32Array;
  lossBest: Float64Array;
}

/** apgdRun on the host: same arguments, same result (see the header). */
export function hostApgdRun(
  net: HostMlp,
  x0In: Float32Array,
  y: Int32Array,
  target: Int32Array | undefined,
  kind: LogitLoss,
  c: HostApgdConfig,
  seed: number,
  counts: { forwards: number; backwards: number },
  bar: { tick(k: number): void },
  tfInit: (x: tf.Tensor2D) => tf.Tensor2D,
): ApgdRunResult {
  const rows = y.length;
  const d = net.inputDim;
  const k = net.numClasses;
  const { eps, norm, steps } = c;
  const mode = norm === 'linf' ? 0 : 1;
  // the addon's forms of the step and the init (same float32 operations), else the JS ones
  const step = net.loops.apgdStep?.bind(net.loops) ?? apgdStepJs;
  const found = new Uint8Array(rows);
  const xOut = new Float32Array(rows * d);
  const iters = new Int32Array(rows).fill(steps);
  const lossBest = new Float64Array(rows);
  const lossSteps = new Float64Array(rows * steps);
  const stepSize = new Float64Array(rows).fill(c.initialStep * eps);
  const lossBestLast = new Float64Array(rows);
  const reducedLast = new Uint8Array(rows).fill(1);
  const schedule = { steps, lossSteps, lossBest, lossBestLast, reducedLast, stepSize };
  const cp = c.checkpoints;
  const nIterMin = Math.max(Math.floor(cp.min * steps), 1);
  const sizeDecr = Math.max(Math.floor(cp.decrease * steps), 1);
  let period = Math.max(Math.floor(cp.first * steps), 1);
  let counter = 0;

  let active = Int32Array.from({ length: rows }, (_, i) => i);
  // Work arrays from the pool: each is written before it is read (xOld: its first use is
  // scaled by 1 − a = 0, so it only has to be finite, and it is x's copy as in the tfjs path).
  const size = rows * d;
  const xt0 = pool.f32('x0', size);
  xt0.set(x0In.subarray(0, size));
  let x = pool.f32('x', size);
  hostInit(x, xt0, rows, d, eps, norm, seed, tfInit, net.loops);
  let xOld = pool.f32('xOld', size);
  xOld.set(x);
  const xBest = pool.f32('xBest', size);
  xBest.set(x);
  let next = pool.f32('next', size);
  const grad = pool.f32('grad', size);
  const gradBest = pool.f32('gradBest', size);
  const yA = Int32Array.from(y);
  const tA = target ? Int32Array.from(target) : undefined;
  let logits = new Float32Array(0);

  /** Loss and gradient at x for the active rows (the tfjs path's lossAndGrad, eotIter 1). */
  const lossAndGrad = (): Float64Array => {
    const m = active.length;
    logits = Float32Array.from(net.forward(x, m));
    const l = logitLoss(kind, logits, m, k, yA, tA);
    net.backwardInput(l.dz, m, grad);
    counts.forwards += m;
    counts.backwards += m;
    return l.loss;
  };
  let loss = lossAndGrad();
  gradBest.set(grad.subarray(0, rows * d));
  lossBest.set(loss);
  lossBestLast.set(loss);

  /** Rows misclassified at the current iterate (after i updates) are done: drop them. */
  const settle = (i: number) => {
    const keep: number[] = [];
    let dropped = false;
    active.forEach((r, j) => {
      if (argmaxRow(logits, j, k) !== yA[j]) {
        found[r] = 1;
        iters[r] = i;
        xOut.set(x.subarray(j * d, (j + 1) * d), r * d);
        dropped = true;
      } else keep.push(j);
    });
    if (!dropped) return;
    for (const a of [x, xOld, xBest, grad, gradBest, xt0]) compact(a, keep, d);
    compact(yA, keep, 1);
    if (tA) compact(tA, keep, 1);
    loss = Float64Array.from(keep, (j) => loss[j]);
    active = Int32Array.from(keep, (j) => active[j]);
  };
  const copyRow = (dst: Float32Array, src: Float32Array, j: number) =>
    dst.set(src.subarray(j * d, (j + 1) * d), j * d);

  settle(0);
  for (let i = 0; i < steps && active.length > 0; i++) {
    // Momentum step: z = P(x + η·dir(∇)), x ← P(x + a(z − x) + (1 − a)(x − x_prev)).
    const a = i > 0 ? c.momentum : 1;
    const m = active.length;
    const eta = Float32Array.from(active, (r) => stepSize[r]);
    step(x, xOld, grad, xt0, eta, next, m, d, a, 1 - a, eps, mode, ROOT_EPS);
    [xOld, x, next] = [x, next, xOld];
    loss = lossAndGrad();
    bar.tick(1);
    settle(i + 1);
    if (active.length === 0) break;

    active.forEach((r, j) => {
      lossSteps[r * steps + i] = loss[j];
      if (!(loss[j] > lossBest[r])) return;
      lossBest[r] = loss[j];
      copyRow(xBest, x, j);
      copyRow(gradBest, grad, j);
    });
    if (++counter === period) {
      active.forEach((r, j) => {
        if (!apgdCheckpoint(schedule, r, i, period, c.rho)) return;
        copyRow(x, xBest, j);
        copyRow(grad, gradBest, j);
      });
      period = Math.max(period - sizeDecr, nIterMin);
      counter = 0;
    }
  }
  // Failures: their best-loss point.
  active.forEach((r, j) => xOut.set(xBest.subarray(j * d, (j + 1) * d), r * d));
  return { found, xOut, iters, lossBest };
}
