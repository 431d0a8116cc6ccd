/**
 * Bookkeeping shared by APGD, FAB and Square (the AutoAttack attacks): option checks, the
 * conventional MNIST budgets, host-side logit losses with their gradients, and the final
 * re-evaluation that fills an AttackResult.
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../models/classifier.js';
import type { HostMlp } from '../models/host-mlp.js';
import { checkAttackInputs, rejudge, unjudged, type AttackResult } from './base.js';
import { NORMS, type Norm } from './norms.js';

/** Conventional MNIST budgets (Madry et al. 2018; Croce & Hein 2020): L∞ 0.3, L2 2.0. */
export const MNIST_EPS: Readonly<Record<Norm, number>> = { linf: 0.3, l2: 2.0 };

export function checkBoundedInputs(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: { eps: number; norm: Norm; steps: number; restarts: number; minEps?: number },
): void {
  checkAttackInputs(clf, x0, n, labels, { targeted: false, maxSteps: o.steps, confidence: 1 });
  if (!NORMS.includes(o.norm)) throw new RangeError(`unknown norm '${o.norm}'`);
  if (!(o.eps > (o.minEps ?? 0))) throw new RangeError(`eps must be > 0 (got ${o.eps})`);
  if (!Number.isInteger(o.restarts) || o.restarts < 1)
    throw new RangeError(`restarts must be an integer ≥ 1 (got ${o.restarts})`);
  const len = n * clf.inputDim; // once: a wrapper's inputDim is a getter chain
  for (let i = 0; i < len; i++) {
    if (!(x0[i] >= 0 && x0[i] <= 1)) throw new RangeError(`x0[${i}] = ${x0[i]} is outside [0, 1]`);
  }
}

/**
 * Labels and logits at host points, with the forward passes they cost. `host`: the classifier's
 * host MLP (hostNet), for a caller that queries often; the same logits without tensors.
 */
export function hostPredict(
  clf: Classifier,
  x: Float32Array,
  n: number,
  host: HostMlp | null = null,
): { labels: Int32Array; logits: Float32Array } {
  const k = clf.numClasses;
  const d = clf.inputDim;
  const logits = new Float32Array(n * k);
  const labels = new Int32Array(n);
  for (let s = 0; s < n; s += 1000) {
    const e = Math.min(n, s + 1000);
    if (host) {
      logits.set(host.forward(x.subarray(s * d, e * d), e - s), s * k);
      continue;
    }
    // prepare outside any tidy: what it keeps must outlive the scope
    const xb = tf.tensor2d(x.subarray(s * d, e * d), [e - s, d]);
    clf.prepare?.(xb, { forwardOnly: true });
    const z = tf.tidy(() => clf.logits(xb));
    logits.set(z.dataSync() as Float32Array, s * k);
    tf.dispose([z, xb]);
  }
  for (let i = 0; i < n; i++) labels[i] = argmaxRow(logits, i, k);
  return { labels, logits };
}

export function argmaxRow(z: ArrayLike<number>, i: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (z[i * k + j] > z[i * k + best]) best = j;
  return best;
}

/** Class indices of row i ordered by decreasing logit (ties: lower index first). */
export function sortedClasses(z: ArrayLike<number>, i: number, k: number): number[] {
  return Array.from({ length: k }, (_, j) => j).sort(
    (a, b) => z[i * k + b] - z[i * k + a] || a - b,
  );
}

export type LogitLoss = 'ce' | 'dlr' | 'dlr-targeted';

/**
 * Per-row loss (to be maximised) and its gradient in the logits, in float64, as
 * fra31/auto-attack defines them:
 *   ce            CE(z, y) = logsumexp(z) − z_y
 *   dlr           −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12)
 *   dlr-targeted  −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12)
 * with z_π1 ≥ z_π2 ≥ … the sorted logits. The gradient is exact (one backward pass of
 * Σ dz·z then gives ∂loss/∂x), and lets the sort stay off the tape.
 */
export function logitLoss(
  kind: LogitLoss,
  z: ArrayLike<number>,
  rows: number,
  k: number,
  y: ArrayLike<number>,
  target?: ArrayLike<number>,
): { loss: Float64Array; dz: Float32Array } {
  const loss = new Float64Array(rows);
  const dz = new Float32Array(rows * k);
  for (let i = 0; i < rows; i++) {
    const o = i * k;
    const yi = y[i];
    if (kind === 'ce') {
      let m = -Infinity;
      for (let j = 0; j < k; j++) m = Math.max(m, z[o + j]);
      let s = 0;
      for (let j = 0; j < k; j++) s += Math.exp(z[o + j] - m);
      loss[i] = m + Math.log(s) - z[o + yi];
      for (let j = 0; j < k; j++) dz[o + j] = Math.exp(z[o + j] - m) / s - (j === yi ? 1 : 0);
      continue;
    }
    const p = sortedClasses(z, i, k);
    let other: number;
    let den: number;
    const dden: [number, number][] = [];
    if (kind === 'dlr') {
      other = p[0] === yi ? p[1] : p[0];
      den = z[o + p[0]] - z[o + p[2]] + 1e-12;
      dden.push([p[0], 1], [p[2], -1]);
    } else {
      other = target![i];
      den = z[o + p[0]] - 0.5 * (z[o + p[2]] + z[o + p[3]]) + 1e-12;
      dden.push([p[0], 1], [p[2], -0.5], [p[3], -0.5]);
    }
    const num = z[o + yi] - z[o + other];
    loss[i] = -num / den;
    dz[o + yi] += -1 / den;
    dz[o + other] += 1 / den;
    for (const [j, c] of dden) dz[o + j] += (num / (den * den)) * c;
  }
  return { loss, dz };
}

/**
 * Fill an AttackResult from the attack's points: labels and p(true) re-evaluated at xAdv (unless
 * the caller judges them: CallerJudges).
 */
export function finishResult(
  clf: Classifier,
  xAdv: Float32Array,
  n: number,
  labels: Int32Array,
  success: Uint8Array,
  steps: Int32Array,
  counts: { forwards: number; backwards?: number },
  callerJudges = false,
): AttackResult {
  const { forwards, backwards = 0 } = counts;
  const { finalLabel, goalProb } = callerJudges ? unjudged(n) : rejudge(clf, xAdv, n, labels);
  return {
    xAdv,
    success,
    steps,
    goalProb,
    finalLabel,
    n,
    dim: clf.inputDim,
    forwards: forwards + (callerJudges ? 0 : n),
    backwards,
  };
}
