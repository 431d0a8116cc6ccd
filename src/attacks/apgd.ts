/**
 * Auto-PGD of Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of
 * diverse parameter-free attacks", ICML 2020: PGD with momentum and a step size that halves at
 * checkpoints when the loss stalls, restarting each halving from the best point so far.
 * Distance: L∞ or L2, ε-bounded, box [0, 1]. Untargeted (`apgd`, loss CE or DLR) and targeted
 * (`apgdT`, the targeted DLR loss towards each of the 9 classes ranked highest after the true
 * one, in turn, as AutoAttack's APGD-T); success = misclassified (any class) within ε.
 *
 * Arguments (defaults, those of fra31/auto-attack):
 *   eps       0.3 (L∞) / 2.0 (L2)   the MNIST conventions
 *   norm      'linf'
 *   steps     100                   iterations per run (n_iter)
 *   restarts  1                     random restarts, each only on the points still robust
 *   loss      'ce'                  apgd: 'ce' | 'dlr'
 *   nTargetClasses 9                apgdT
 *   eotIter   1                     draws per iterate, gradient AND loss averaged over them
 *   rho       0.75                  oscillation threshold of checkpoint condition 1
 *   seed      0
 * Schedule: initial step 2ε; momentum 0.75 (none on the first step); checkpoints after
 * p₁ = 0.22·steps iterations, then each interval 0.03·steps shorter down to 0.06·steps; at a
 * checkpoint a row halves its step and restarts from its best point if its loss increased in
 * at most rho of the interval's steps, or if its step was not halved at the last checkpoint
 * and its best loss has not improved since.
 *
 * Faithful to fra31/auto-attack autopgd_base.py (APGDAttack, APGDAttack_targeted), with these
 * differences: (1) each example stops at its first adversarial iterate (the reference runs on
 * and returns its last one; robust accuracy is the same); a failure returns its best-loss
 * point rather than x0; (2) with eotIter > 1 the loss, not only the gradient, is averaged over
 * the draws (the reference keeps the last draw's loss); success is still judged on the last
 * draw's prediction, as there; (3) APGD-T's target ranking is taken once from the clean logits
 * (the reference recomputes them per target, identical for a deterministic model); (4) seeds
 * are derived per run from `seed` (robustlab's generators, so not the reference's random numbers).
 * Kept from the reference: the first checkpoint compares the first iterate's loss with 0 (its
 * loss_steps[-1]), and the condition-1 test is "increases ≤ rho·interval".
 */
import * as tf from '@tensorflow/tfjs';
import { nativeUniformFill } from '../backend/host-kernels.js';
import type { Classifier } from '../models/classifier.js';
import { hostNet } from '../models/host-mlp.js';
import { Progress } from '../util/progress.js';
import { deriveSeed, fillUniform } from '../util/rng.js';
import type { AttackResult, CallerJudges } from './base.js';
import {
  argmaxRow,
  checkBoundedInputs,
  finishResult,
  hostPredict,
  logitLoss,
  MNIST_EPS,
  sortedClasses,
  type LogitLoss,
} from './bounded-common.js';
import { apgdCheckpoint, hostApgdRun } from './fused-apgd.js';
import { projectToBall, steepestDirection, type Norm } from './norms.js';

export interface ApgdOptions extends CallerJudges {
  eps?: number;
  norm?: Norm;
  steps?: number;
  restarts?: number;
  seed?: number;
  silent?: boolean;
  loss?: 'ce' | 'dlr';
  eotIter?: number;
  rho?: number;
  /**
   * Run on the host (fused-apgd.ts) when the native addon is loaded, the model is a plain MLP
   * and eotIter is 1 (default true); false forces the tfjs path. Same results either way.
   */
  fused?: boolean;
  /**
   * The caller has just classified every given point correctly with this very deterministic
   * model (evaluateRobustness does, before each attack): the attack's own clean pass is skipped.
   */
  knownCorrect?: boolean;
}

export interface ApgdTOptions extends Omit<ApgdOptions, 'loss'> {
  nTargetClasses?: number;
}

export const APGD_DEFAULTS = {
  eps: MNIST_EPS,
  norm: 'linf' as Norm,
  steps: 100,
  restarts: 1,
  seed: 0,
  loss: 'ce' as 'ce' | 'dlr',
  nTargetClasses: 9,
  eotIter: 1,
  rho: 0.75,
  momentum: 0.75,
  initialStep: 2, // × ε
  checkpoints: { first: 0.22, min: 0.06, decrease: 0.03 },
} as const;

interface RunConfig {
  eps: number;
  norm: Norm;
  steps: number;
  eotIter: number;
  rho: number;
}

interface Counts {
  forwards: number;
  backwards: number;
}

/** [rows, d] uniform in [−1, 1) (fillUniform). */
function uniformTensor(shape: [number, number], seed: number): tf.Tensor2D {
  const u = new Float32Array(shape[0] * shape[1]);
  fillUniform(u, -1, 1, seed, nativeUniformFill());
  return tf.tensor2d(u, shape);
}

/** x0 + ε·t/‖t‖ (t uniform in the cube for L∞, Gaussian for L2), clipped to the box. */
function randomInit(x0: tf.Tensor2D, eps: number, norm: Norm, seed: number): tf.Tensor2D {
  return tf.tidy(() => {
    const shape = x0.shape;
    // L∞: uniform draws from the host generator (fused-apgd.ts's hostInit draws the same)
    const t =
      norm === 'linf' ? uniformTensor(shape, seed) : tf.randomNormal(shape, 0, 1, 'float32', seed);
    const size = norm === 'linf' ? tf.max(tf.abs(t), 1, true) : tf.norm(t, 2, 1, true);
    return tf.clipByValue(tf.add(x0, tf.mul(eps, tf.div(t, tf.add(size, 1e-12)))), 0, 1);
  });
}

/** Loss per row (averaged over eotIter draws), its gradient in x, and the last draw's logits. */
function lossAndGrad(
  clf: Classifier,
  x: tf.Tensor2D,
  kind: LogitLoss,
  y: Int32Array,
  target: Int32Array | undefined,
  eotIter: number,
  counts: Counts,
): { grad: tf.Tensor2D; loss: Float64Array; logits: Float32Array } {
  const [m] = x.shape;
  const k = clf.numClasses;
  clf.prepare?.(x);
  const loss = new Float64Array(m);
  let logits = new Float32Array(0);
  let grad: tf.Tensor2D | null = null;
  for (let e = 0; e < eotIter; e++) {
    const g = tf.tidy(() =>
      tf.grad((xv: tf.Tensor) => {
        const z = clf.logits(xv as tf.Tensor2D);
        logits = Float32Array.from(z.dataSync() as Float32Array);
        const l = logitLoss(kind, logits, m, k, y, target);
        for (let i = 0; i < m; i++) loss[i] += l.loss[i] / eotIter;
        // Σ dz·z has gradient Jᵀdz = ∂loss/∂x: one backward pass, the sort off the tape
        return tf.sum(tf.mul(z, tf.tensor2d(l.dz, [m, k])));
      })(x),
    ) as tf.Tensor2D;
    if (grad) {
      const sum: tf.Tensor2D = tf.add(grad, g);
      tf.dispose([grad, g]);
      grad = sum;
    } else grad = g;
  }
  if (eotIter > 1) {
    const mean = tf.div(grad!, eotIter) as tf.Tensor2D;
    grad!.dispose();
    grad = mean;
  }
  counts.forwards += m * eotIter;
  counts.backwards += m * eotIter;
  return { grad: grad!, loss, logits };
}

/** One APGD run on `rows` examples; rows stop at their first misclassified iterate. */
function apgdRun(
  clf: Classifier,
  x0: Float32Array,
  y: Int32Array,
  target: Int32Array | undefined,
  kind: LogitLoss,
  c: RunConfig,
  seed: number,
  counts: Counts,
  bar: { tick(k: number): void },
) {
  const rows = y.length;
  const d = clf.inputDim;
  const k = clf.numClasses;
  const { eps, norm, steps } = c;
  const found = new Uint8Array(rows);
  const xOut = new Float32Array(rows * d);
  const iters = new Int32Array(rows).fill(steps);
  const lossBest = new Float64Array(rows);
  const lossSteps = new Float64Array(rows * steps); // zeros: the reference's loss_steps[-1]
  const stepSize = new Float64Array(rows).fill(APGD_DEFAULTS.initialStep * eps);
  const lossBestLast = new Float64Array(rows);
  const reducedLast = new Uint8Array(rows).fill(1);
  const schedule = { steps, lossSteps, lossBest, lossBestLast, reducedLast, stepSize };
  const cp = APGD_DEFAULTS.checkpoints;
  const nIterMin = Math.max(Math.floor(cp.min * steps), 1);
  const sizeDecr = Math.max(Math.floor(cp.decrease * steps), 1);
  let period = Math.max(Math.floor(cp.first * steps), 1);
  let counter = 0;

  let active = Int32Array.from({ length: rows }, (_, i) => i);
  let xt0 = tf.tensor2d(x0, [rows, d]);
  let x = randomInit(xt0, eps, norm, seed);
  let { grad, loss, logits } = lossAndGrad(clf, x, kind, y, target, c.eotIter, counts);
  let xOld = tf.clone(x);
  let xBest = tf.clone(x);
  let gradBest = tf.clone(grad);
  lossBest.set(loss);
  lossBestLast.set(loss);
  const sub = (a: Int32Array | undefined) => a && Int32Array.from(active, (r) => a[r]);
  const where = (mask: boolean[], a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() => tf.where(tf.tensor2d(mask, [mask.length, 1], 'bool'), a, b));
  const replace = (old: tf.Tensor2D, next: tf.Tensor2D) => (old.dispose(), next);

  /** Rows misclassified at the current iterate (after i updates) are done: drop them. */
  const settle = (i: number) => {
    const keep: number[] = [];
    const done: number[] = [];
    active.forEach((r, j) => (argmaxRow(logits, j, k) !== y[r] ? done : keep).push(j));
    if (done.length === 0) return;
    const xs = x.dataSync() as Float32Array;
    for (const j of done) {
      const r = active[j];
      found[r] = 1;
      iters[r] = i;
      xOut.set(xs.subarray(j * d, (j + 1) * d), r * d);
    }
    const idx = tf.tensor1d(keep, 'int32');
    [x, xOld, xBest, grad, gradBest, xt0] = [x, xOld, xBest, grad, gradBest, xt0].map((t) => {
      const g = tf.gather(t, idx) as tf.Tensor2D;
      t.dispose();
      return g;
    });
    idx.dispose();
    loss = Float64Array.from(keep, (j) => loss[j]);
    active = Int32Array.from(keep, (j) => active[j]);
  };

  try {
    settle(0);
    for (let i = 0; i < steps && active.length > 0; i++) {
      // Momentum step: z = P(x + η·dir(∇)), x ← P(x + a(z − x) + (1 − a)(x − x_prev)).
      const a = i > 0 ? APGD_DEFAULTS.momentum : 1;
      const eta = tf.tensor2d(
        Float32Array.from(active, (r) => stepSize[r]),
        [active.length, 1],
      );
      const xNew = tf.tidy(() => {
        const z = projectToBall(
          tf.add(x, tf.mul(eta, steepestDirection(grad, norm))),
          xt0,
          eps,
          norm,
        );
        const mom = tf.add(tf.add(x, tf.mul(a, tf.sub(z, x))), tf.mul(1 - a, tf.sub(x, xOld)));
        return projectToBall(mom as tf.Tensor2D, xt0, eps, norm);
      });
      eta.dispose();
      xOld.dispose();
      xOld = x;
      x = xNew;
      grad.dispose();
      ({ grad, loss, logits } = lossAndGrad(clf, x, kind, sub(y)!, sub(target), c.eotIter, counts));
      bar.tick(1);
      settle(i + 1);
      if (active.length === 0) break;

      const improved = Array.from(active, (r, j) => {
        lossSteps[r * steps + i] = loss[j];
        if (!(loss[j] > lossBest[r])) return false;
        lossBest[r] = loss[j];
        return true;
      });
      if (improved.some(Boolean)) {
        xBest = replace(xBest, where(improved, x, xBest));
        gradBest = replace(gradBest, where(improved, grad, gradBest));
      }
      if (++counter === period) {
        const halve = Array.from(active, (r) => apgdCheckpoint(schedule, r, i, period, c.rho));
        if (halve.some(Boolean)) {
          x = replace(x, where(halve, xBest, x));
          grad = replace(grad, where(halve, gradBest, grad));
        }
        period = Math.max(period - sizeDecr, nIterMin);
        counter = 0;
      }
    }
    // Failures: their best-loss point.
    if (active.length) {
      const xb = xBest.dataSync() as Float32Array;
      active.forEach((r, j) => xOut.set(xb.subarray(j * d, (j + 1) * d), r * d));
    }
  } finally {
    tf.dispose([x, xOld, xBest, grad, gradBest, xt0]);
  }
  return { found, xOut, iters, lossBest };
}

function resolve(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: ApgdTOptions,
) {
  const D = APGD_DEFAULTS;
  const norm = o.norm ?? D.norm;
  const c: RunConfig & { restarts: number; seed: number; fused: boolean } = {
    eps: o.eps ?? D.eps[norm] ?? NaN,
    norm,
    steps: o.steps ?? D.steps,
    eotIter: o.eotIter ?? D.eotIter,
    rho: o.rho ?? D.rho,
    restarts: o.restarts ?? D.restarts,
    seed: o.seed ?? D.seed,
    fused: o.fused ?? true,
  };
  checkBoundedInputs(clf, x0, n, labels, c);
  if (!Number.isFinite(c.eps)) throw new RangeError(`eps must be finite (got ${c.eps})`);
  if (!Number.isInteger(c.eotIter) || c.eotIter < 1)
    throw new RangeError(`eotIter must be an integer ≥ 1 (got ${c.eotIter})`);
  if (!(c.rho >= 0 && c.rho <= 1)) throw new RangeError(`rho must be in [0, 1] (got ${c.rho})`);
  return c;
}

/** Rows of one batched APGD run at most (targets × points), to bound memory. */
const MAX_BATCH_ROWS = 4096;

/**
 * Shared driver: runs `groups` in turn, each group on the examples still robust; the runs of a
 * group (APGD-T's target classes of one restart) go through one batched APGD run, one row per
 * (run, example), so that 9 targets cost ~1/9 of the kernel dispatches. Per example the
 * result is what running the group's runs one after another would keep: the first run (in
 * order) that finds an adversarial, else the highest-loss point. Rows are independent, so
 * batching changes only which random start each row draws.
 */
function drive(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  c: ReturnType<typeof resolve>,
  kind: LogitLoss,
  groups: { tag: string; runs: { target?: (i: number) => number }[] }[],
  label: string,
  o: { silent?: boolean; callerJudges?: boolean; knownCorrect?: boolean },
  cleanLabels?: Int32Array,
  host = hostNet(clf),
): AttackResult {
  const d = clf.inputDim;
  const counts: Counts = { forwards: 0, backwards: 0 };
  // the clean labels: the caller's (apgdT ranks targets by the clean logits), or a pass here
  // unless every point is known to be classified correctly
  let clean = cleanLabels ?? (o.knownCorrect ? labels : null);
  if (!clean) {
    clean = hostPredict(clf, x0, n, host).labels;
    counts.forwards += n;
  }
  const fusedNet = c.fused && c.eotIter === 1 ? host : null;
  const hostConfig = {
    ...c,
    momentum: APGD_DEFAULTS.momentum,
    initialStep: APGD_DEFAULTS.initialStep,
    checkpoints: APGD_DEFAULTS.checkpoints,
  };
  const xAdv = x0.slice(0, n * d);
  const success = Uint8Array.from({ length: n }, (_, i) => (clean[i] !== labels[i] ? 1 : 0));
  const steps = new Int32Array(n);
  const bestLoss = new Float64Array(n).fill(-Infinity);
  const total = groups.reduce((a, g) => a + g.runs.length, 0) * c.steps;
  const bar = new Progress({ label, total, unit: 'step', silent: o.silent });
  let done = 0;
  try {
    for (const group of groups) {
      const idx = Array.from({ length: n }, (_, i) => i).filter((i) => !success[i]);
      done += group.runs.length * c.steps;
      if (idx.length === 0) continue;
      // rows: (run q, example idx[j]) in run-major order, in chunks of at most MAX_BATCH_ROWS
      const rows = group.runs.flatMap((_, q) => idx.map((i) => [q, i] as const));
      const chunk = Math.max(1, Math.floor(MAX_BATCH_ROWS / group.runs.length)) * group.runs.length;
      const sub = Math.max(1, Math.ceil(rows.length / chunk));
      // one chunk: its run's own result arrays serve as the group's (no copy)
      let found: Uint8Array = new Uint8Array(sub > 1 ? rows.length : 0);
      let lossBest: Float64Array = new Float64Array(sub > 1 ? rows.length : 0);
      let xOut: Float32Array = new Float32Array(sub > 1 ? rows.length * d : 0);
      // one tick of the batched run is one step of each of its runs (per chunk)
      const runBar = { tick: (k: number) => bar.tick((k * group.runs.length) / sub) };
      for (let s0 = 0, part = 0; s0 < rows.length; s0 += chunk, part++) {
        const part_ = rows.slice(s0, s0 + chunk);
        // every example, once: x0 itself (the run copies what it modifies)
        const whole = part_.length === n && group.runs.length === 1;
        const xs = whole ? x0.subarray(0, n * d) : new Float32Array(part_.length * d);
        if (!whole) part_.forEach(([, i], j) => xs.set(x0.subarray(i * d, (i + 1) * d), j * d));
        const y = Int32Array.from(part_, ([, i]) => labels[i]);
        const target = group.runs[0].target
          ? Int32Array.from(part_, ([q, i]) => group.runs[q].target!(i))
          : undefined;
        const tag = sub > 1 ? `${group.tag}:part${part}` : group.tag;
        const seed = deriveSeed(c.seed, `${label}:${tag}`);
        const out = fusedNet
          ? hostApgdRun(fusedNet, xs, y, target, kind, hostConfig, seed, counts, runBar, (xt) =>
              randomInit(xt, c.eps, c.norm, seed),
            )
          : apgdRun(clf, xs, y, target, kind, c, seed, counts, runBar);
        if (sub === 1) ({ found, lossBest, xOut } = out);
        else {
          found.set(out.found, s0);
          lossBest.set(out.lossBest, s0);
          xOut.set(out.xOut, s0 * d);
        }
        rows.slice(s0, s0 + part_.length).forEach(([, i], j) => (steps[i] += out.iters[j]));
      }
      rows.forEach(([, i], j) => {
        if (success[i]) return;
        if (found[j] || lossBest[j] > bestLoss[i]) {
          xAdv.set(xOut.subarray(j * d, (j + 1) * d), i * d);
          bestLoss[i] = lossBest[j];
          success[i] = found[j];
        }
      });
      bar.set(done, `robust ${n - success.reduce((s, v) => s + v, 0)}/${n}`);
    }
  } finally {
    bar.finish();
  }
  return finishResult(clf, xAdv, n, labels, success, steps, counts, o.callerJudges);
}

/** APGD-CE (default) or APGD-DLR, untargeted. */
export function apgd(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: ApgdOptions = {},
): AttackResult {
  const c = resolve(clf, x0, n, labels, o);
  const kind = o.loss ?? APGD_DEFAULTS.loss;
  if (kind !== 'ce' && kind !== 'dlr') throw new RangeError(`unknown APGD loss '${kind}'`);
  if (kind === 'dlr' && clf.numClasses < 3) throw new RangeError('the DLR loss needs ≥ 3 classes');
  // Restarts in turn, each on the points still robust (the reference's order).
  const groups = Array.from({ length: c.restarts }, (_, r) => ({ tag: `restart${r}`, runs: [{}] }));
  return drive(clf, x0, n, labels, c, kind, groups, `apgd-${kind}`, o);
}

/** APGD-T: targeted DLR towards the 2nd, 3rd, … highest clean logit in turn. */
export function apgdT(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: ApgdTOptions = {},
): AttackResult {
  const c = resolve(clf, x0, n, labels, o);
  const nT = o.nTargetClasses ?? APGD_DEFAULTS.nTargetClasses;
  const k = clf.numClasses;
  if (k < 4) throw new RangeError('the targeted DLR loss needs ≥ 4 classes');
  if (!Number.isInteger(nT) || nT < 1 || nT > k - 1)
    throw new RangeError(`nTargetClasses must be an integer in [1, ${k - 1}] (got ${nT})`);
  const host = hostNet(clf); // once: the driver runs on the same copy
  const clean = hostPredict(clf, x0, n, host).logits;
  const ranked = Array.from({ length: n }, (_, i) => sortedClasses(clean, i, k));
  const cleanLabels = Int32Array.from({ length: n }, (_, i) => argmaxRow(clean, i, k));
  // Per restart, the nT targets of every still-robust point in one batch (the reference runs
  // them one after another; per point the kept result is the same rule: first target that
  // succeeds, else the highest loss).
  const groups = Array.from({ length: c.restarts }, (_, r) => ({
    tag: `targets:restart${r}`,
    runs: Array.from({ length: nT }, (_, q) => ({ target: (i: number) => ranked[i][q + 1] })),
  }));
  const res = drive(clf, x0, n, labels, c, 'dlr-targeted', groups, 'apgd-t', o, cleanLabels, host);
  res.forwards = (res.forwards ?? 0) + n;
  return res;
}

/** @internal The EOT loss-and-gradient step, exported for its test. */
export const lossAndGradForTest = lossAndGrad;
