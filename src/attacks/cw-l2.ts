/**
 * Carlini & Wagner's L2 attack, "Towards Evaluating the Robustness of Neural Networks"
 * (IEEE S&P 2017), untargeted, minimum-norm. With x = (tanh(w) + 1)/2 (the box [0,1] built in):
 *
 *   minimise_w  ‖x − x0‖₂² + c·max(z_y(x) − max_{j≠y} z_j(x), −κ)
 *
 * by Adam on w from w0 = atanh(2x0 − 1), and a binary search over c per example: a success
 * (argmax of z + κ·e_y is not y) at c lowers the upper bound, a failure raises the lower bound
 * (×10 while no success is known). Every binary-search step restarts from x0 with fresh Adam
 * state (as the reference code). Early abort: every ⌈steps/10⌉ iterations an example stops its
 * current search step if its loss fell by less than 0.01%. The result per example is its
 * smallest-L2 success over the whole search, or x0 if none. Success: misclassified at all
 * (`eps` is not used); deterministic (`seed` is accepted and unused).
 *
 * Arguments (defaults):
 *   steps              1000   Adam iterations per search step (paper: 10000; see design.md)
 *   binarySearchSteps  9      the paper's
 *   initialConst       1e-2   c0 (paper/Foolbox 1e-3; one fewer wasted ×10 step on MNIST)
 *   kappa              0      the paper's confidence κ, in logits
 *   learningRate       1e-2   the paper's
 *   abortEarly         true
 *
 * Cost per Adam iteration: one forward and one backward pass of the network; the hinge, its
 * logit gradient, the success test and the best-point bookkeeping run on the host on the
 * [rows, 10] logits (in float32, exactly as the tensor ops computed them), and Adam is one
 * fused kernel: ~35 kernels an iteration instead of ~140, same results (cw-l2.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../models/classifier.js';
import { Progress } from '../util/progress.js';
import { ADAM_KERNEL, hasFusedAdam, type AdamAttrs } from '../backend/host-kernels.js';
import {
  rejudge,
  checkAttackInputs,
  recheckUntargeted,
  threatModel,
  type AttackResult,
  type StandardAttackOptions,
} from './base.js';

export interface CwL2Options extends StandardAttackOptions {
  binarySearchSteps?: number;
  initialConst?: number;
  kappa?: number;
  learningRate?: number;
  abortEarly?: boolean;
  /**
   * Adam as one fused kernel where the backend has it (default), else as tf ops; the two agree
   * to float32 rounding order (false reproduces the tf-ops arithmetic exactly, for tests).
   */
  fusedAdam?: boolean;
}

export const CW_L2_DEFAULTS = {
  steps: 1000,
  binarySearchSteps: 9,
  initialConst: 1e-2,
  kappa: 0,
  learningRate: 1e-2,
  abortEarly: true,
};

const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
const NO_UPPER = 1e10;

export function cwL2(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: CwL2Options = {},
): AttackResult {
  const D = CW_L2_DEFAULTS;
  threatModel({ norm: o.norm ?? 'l2' }, ['l2']);
  const steps = o.steps ?? D.steps;
  const searchSteps = o.binarySearchSteps ?? D.binarySearchSteps;
  const kappa = o.kappa ?? D.kappa;
  const lr = o.learningRate ?? D.learningRate;
  const c0 = o.initialConst ?? D.initialConst;
  const abortEarly = o.abortEarly ?? D.abortEarly;
  checkAttackInputs(clf, x0, n, labels, { targeted: false, maxSteps: steps, confidence: 1 });
  if (steps < 1) throw new RangeError(`steps must be ≥ 1 (got ${steps})`);
  if (!Number.isInteger(searchSteps) || searchSteps < 1)
    throw new RangeError(`binarySearchSteps must be an integer ≥ 1 (got ${searchSteps})`);
  if (!(kappa >= 0) || !(lr > 0) || !(c0 > 0))
    throw new RangeError('kappa must be ≥ 0, learningRate and initialConst > 0');

  const dim = clf.inputDim;
  const C = clf.numClasses;
  const bestX = Float32Array.from(x0.subarray(0, n * dim));
  const bestL2 = new Float64Array(n).fill(Infinity);
  const [c, lo, hi] = [new Float64Array(n).fill(c0), new Float64Array(n), new Float64Array(n)];
  hi.fill(NO_UPPER);
  const iters = new Int32Array(n);
  let passes = 0;
  const every = Math.max(1, Math.ceil(steps / 10));
  const bar = new Progress({
    label: 'cw-l2',
    total: searchSteps,
    unit: 'search step',
    silent: o.silent,
  });

  const fusedAdam = (o.fusedAdam ?? true) && hasFusedAdam();
  for (let s = 0; s < searchSteps && n > 0; s++) {
    const found = new Uint8Array(n);
    // the best L2 this search step must beat (float32, as a tensor of it would hold)
    const curL2 = Float32Array.from(bestL2, (d) => Math.min(d, NO_UPPER));
    let active = Int32Array.from({ length: n }, (_, i) => i);
    let y = Int32Array.from(labels.subarray(0, n));
    let c32 = Float32Array.from(c);
    const xo = tf.tensor2d(x0.subarray(0, n * dim), [n, dim]);
    // device state per active row: x0, w, Adam m and v
    let st = {
      xo,
      w: tf.tidy(() => tf.atanh(tf.mul(tf.sub(tf.mul(xo, 2), 1), 1 - 1e-6))),
      m: tf.zeros([n, dim]),
      v: tf.zeros([n, dim]),
    } as Record<string, tf.Tensor>;
    /** Keep the rows not done. */
    const retire = (done: Uint8Array) => {
      const keep: number[] = [];
      done.forEach((d, r) => void (d || keep.push(r)));
      const idx = tf.tensor1d(keep, 'int32');
      const old = st;
      st = Object.fromEntries(Object.entries(old).map(([k, t]) => [k, tf.gather(t, idx)]));
      tf.dispose([idx, ...Object.values(old)]);
      active = Int32Array.from(keep, (r) => active[r]);
      y = Int32Array.from(keep, (r) => y[r]);
      c32 = Float32Array.from(keep, (r) => c32[r]);
    };
    let prev = new Float64Array(n).fill(Infinity);
    for (let t = 1; active.length > 0; t++) {
      const rows = active.length;
      const x = tf.tidy(() => tf.div(tf.add(tf.tanh(st.w), 1), 2)) as tf.Tensor2D;
      clf.prepare?.(x);
      // the hinge c·max(z_y − max_{j≠y} z_j, −κ), its gradient in the logits and the success
      // test on the host (float32, as the tensor ops computed them); the network's part of ∇x
      // is then one backward pass of Σ dz·z
      const f = new Float32Array(rows);
      const succ = new Uint8Array(rows);
      const next = tf.tidy(() => {
        const gLogits = tf.grad((xv: tf.Tensor) => {
          const z = clf.logits(xv as tf.Tensor2D);
          const dz = hinge(z.dataSync() as Float32Array, rows, C, y, c32, kappa, f, succ);
          return tf.sum(tf.mul(z, tf.tensor2d(dz, [rows, C])));
        })(x);
        const d = tf.sub(x, st.xo);
        const l2sq = tf.sum(tf.square(d), 1);
        // ∇x(‖x − x0‖² + c·f) and, with dx/dw = (1 − tanh²(w))/2 = 2x(1 − x), ∇w
        const gx = tf.add(gLogits, tf.mul(d, 2));
        const gw = tf.mul(gx, tf.mul(tf.mul(x, tf.sub(1, x)), 2));
        return { l2sq, adam: adamStep(st.w, st.m, st.v, gw, t, lr, fusedAdam) };
      });
      passes += rows;
      active.forEach((i) => iters[i]++);
      const l2sq = next.l2sq.dataSync() as Float32Array;
      next.l2sq.dispose();
      const loss = new Float64Array(rows);
      let xs: Float32Array | null = null;
      for (let r = 0; r < rows; r++) {
        const i = active[r];
        loss[r] = Math.fround(l2sq[r] + Math.fround(c32[r] * f[r]));
        if (!succ[r]) continue;
        found[i] = 1;
        const l2 = Math.fround(Math.sqrt(l2sq[r]));
        if (!(l2 < curL2[i])) continue;
        curL2[i] = l2;
        bestL2[i] = l2;
        xs ??= x.dataSync() as Float32Array;
        bestX.set(xs.subarray(r * dim, (r + 1) * dim), i * dim);
      }
      x.dispose();
      tf.dispose([st.w, st.m, st.v]);
      [st.w, st.m, st.v] = next.adam;
      const done = new Uint8Array(rows);
      if (abortEarly && t % every === 0) {
        done.forEach((_, r) => (done[r] = loss[r] > 0.9999 * prev[r] ? 1 : 0));
        prev = loss;
      }
      if (t === steps) done.fill(1);
      if (done.some((d) => d)) {
        retire(done);
        prev = prev.filter((_, r) => !done[r]);
      }
    }
    tf.dispose(Object.values(st));
    for (let i = 0; i < n; i++) {
      if (found[i]) hi[i] = Math.min(hi[i], c[i]);
      else lo[i] = Math.max(lo[i], c[i]);
      c[i] = hi[i] < NO_UPPER ? (lo[i] + hi[i]) / 2 : c[i] * 10;
    }
    bar.tick(1, `succeeded ${bestL2.filter((d) => d < Infinity).length}/${n}`);
  }
  bar.finish(`succeeded ${bestL2.filter((d) => d < Infinity).length}/${n}`);

  const success = Uint8Array.from(bestL2, (d) => (d < Infinity ? 1 : 0));
  const { finalLabel, goalProb } = rejudge(clf, bestX, n, labels);
  const r = { xAdv: bestX, success, steps: iters, goalProb, finalLabel, n, dim };
  recheckUntargeted(x0, r, labels);
  return { ...r, forwards: passes, backwards: passes };
}

/**
 * Per row r: f[r] = max(z_y − max_{j≠y} z_j, −κ) and succ[r] = argmax(z + κ·e_y) ≠ y, in
 * float32 as tf ops compute them (max_{j≠y} as max_j(z_j − 1e9·[j = y]), ties to the first
 * index), and returns dz = c·∂f/∂z: +c at y and −c at every maximiser of the others where the
 * hinge is active (tf.maximum passes the gradient to its first argument on ≥, tf.max to all
 * ties), so the backward pass sees exactly the values the tensor formulation gave it.
 */
function hinge(
  z: Float32Array,
  rows: number,
  k: number,
  y: Int32Array,
  c: Float32Array,
  kappa: number,
  f: Float32Array,
  succ: Uint8Array,
): Float32Array {
  const dz = new Float32Array(rows * k);
  const negKappa = Math.fround(-kappa);
  const kappa32 = Math.fround(kappa);
  for (let r = 0; r < rows; r++) {
    const o = r * k;
    const yr = y[r];
    let other = -Infinity;
    for (let j = 0; j < k; j++) {
      const v = j === yr ? Math.fround(z[o + j] - 1e9) : z[o + j];
      if (v > other) other = v;
    }
    const a = -Math.fround(other - z[o + yr]);
    f[r] = a >= negKappa ? a : negKappa;
    if (a >= negKappa) {
      dz[o + yr] = c[r];
      for (let j = 0; j < k; j++) if (j !== yr && z[o + j] === other) dz[o + j] = -c[r];
    }
    let best = 0;
    for (let j = 1; j < k; j++) {
      const v = j === yr ? Math.fround(z[o + j] + kappa32) : z[o + j];
      const b = best === yr ? Math.fround(z[o + best] + kappa32) : z[o + best];
      if (v > b) best = j;
    }
    succ[r] = best !== yr ? 1 : 0;
  }
  return dz;
}

/**
 * One Adam step of w on gradient g (t from 1): the fused kernel where the backend has it (one
 * pass; equal to the tf ops up to float32 rounding order), else the ops of tf.train.adam.
 */
function adamStep(
  w: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  g: tf.Tensor,
  t: number,
  lr: number,
  fused: boolean,
): tf.Tensor[] {
  const c1 = Math.fround(1 - ADAM.beta1 ** t);
  const c2 = Math.fround(1 - ADAM.beta2 ** t);
  if (fused) {
    const attrs: AdamAttrs = {
      lr,
      beta1: ADAM.beta1,
      beta2: ADAM.beta2,
      epsilon: ADAM.eps,
      c1,
      c2,
    };
    return tf
      .engine()
      .runKernel(
        ADAM_KERNEL,
        { p: w, m, v, g },
        attrs as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
  }
  const m1 = tf.add(tf.mul(m, ADAM.beta1), tf.mul(g, 1 - ADAM.beta1));
  const v1 = tf.add(tf.mul(v, ADAM.beta2), tf.mul(tf.square(g), 1 - ADAM.beta2));
  const step = tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(v1, c2)), ADAM.eps));
  return [tf.sub(w, tf.mul(step, lr)), m1, v1];
}
