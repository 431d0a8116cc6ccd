/**
 * Shared bookkeeping for batched, iterative attacks (in the spirit of Foolbox 3's base attack):
 * the whole batch is attacked at once, each example stops on its own as soon as it succeeds,
 * and an attack file only has to say how one step moves x.
 *
 * Success: targeted, p(goal | x) ≥ confidence; untargeted, argmax ≠ the true label.
 * A finished example is dropped from the working batch, so its x is frozen (and no longer
 * costs any compute); its step count is the number of updates it took (0 = already adversarial).
 *
 * ε-bounded attacks pass `ball`: every update is projected onto the ε-ball around x0
 * intersected with the box (Foolbox-style), and may pass `start` (a random start in the ball),
 * in which case x0 itself is checked first. Untargeted successes are re-checked on the returned
 * xAdv (label changed and, with a ball, ‖xAdv − x0‖ ≤ ε): a success is only what a user of
 * xAdv will see.
 */
import * as tf from '@tensorflow/tfjs';
import { predict, type Classifier } from '../models/classifier.js';
import { withHostLogits } from '../models/host-mlp.js';
import { Progress } from '../util/progress.js';
import { softmaxCrossEntropyRows } from '../backend/host-kernels.js';
import { hostRowNorms, NORMS, projectToBall, type Norm } from './norms.js';

export interface AttackOptions {
  /** true: reach `labels` (goal classes); false: leave `labels` (true classes). */
  targeted: boolean;
  /** Box constraint applied after every step; undefined = that side is not clamped. */
  clampMin?: number;
  clampMax?: number;
  maxSteps: number;
  /** Targeted success threshold on p(goal). */
  confidence: number;
  silent?: boolean;
  label?: string;
  /** ε-bounded threat model: project every iterate onto {‖x − x0‖ ≤ ε} ∩ box. */
  ball?: { eps: number; norm: Norm };
  /** The first iterate, row-major [n, dim] (e.g. a random start); default x0. */
  start?: Float32Array;
  /**
   * Per-row state for the first step, each row-major [n, w] (e.g. a target class one-hot); the
   * step sees them as `slots` and must return them (cloned) or their successors.
   */
  initialSlots?: Float32Array[];
}

export const DEFAULT_CONFIDENCE = 0.95;

/**
 * Default budgets of the ε-bounded attacks, the MNIST conventions (Madry et al. 2018 for L∞,
 * Croce & Hein 2020 / RobustBench-style for L2). Callers evaluating a model should pass ε.
 */
export const DEFAULT_EPS: Record<Norm, number> = { linf: 0.3, l2: 2.0 };

/** The [0, 1] image box as clamp options. */
export const BOX_RANGE = { clampMin: 0, clampMax: 1 } as const;

/** The options every standard (untargeted) attack takes. */
/**
 * For a caller that judges the returned points itself (evaluateRobustness judges every
 * attack's output on its judge, after the ε-projection): the attack skips its own final
 * re-evaluation pass and the in-budget recheck of its successes. finalLabel is then -1 and
 * goalProb NaN for every row, and `success` is the attack's own, unverified, verdict.
 */
export interface CallerJudges {
  callerJudges?: boolean;
}

/** finalLabel and goalProb of a result whose caller judges it (CallerJudges). */
export function unjudged(n: number): { finalLabel: Int32Array; goalProb: Float32Array } {
  return { finalLabel: new Int32Array(n).fill(-1), goalProb: new Float32Array(n).fill(NaN) };
}

export interface StandardAttackOptions extends CallerJudges {
  eps?: number;
  norm?: Norm;
  steps?: number;
  seed?: number;
  silent?: boolean;
}

/** ε and norm of a bounded attack's options, checked; ε defaults per norm (DEFAULT_EPS). */
export function threatModel(o: { eps?: number; norm?: Norm }, norms: readonly Norm[] = NORMS) {
  const norm = o.norm ?? 'linf';
  if (!norms.includes(norm))
    throw new RangeError(`norm must be one of ${norms.join(', ')} (got '${norm}')`);
  const eps = o.eps ?? DEFAULT_EPS[norm];
  if (!(eps >= 0 && Number.isFinite(eps)))
    throw new RangeError(`eps must be a finite number ≥ 0 (got ${eps})`);
  return { eps, norm };
}

export const ATTACK_LOSSES = ['ce', 'margin'] as const;
/** 'ce': cross-entropy of the true label; 'margin': max_{j≠y} z_j − z_y (Carlini–Wagner's f6). */
export type AttackLoss = (typeof ATTACK_LOSSES)[number];

/** Per-row max_{j≠y} z_j − z_y (> 0 iff misclassified, up to ties). */
export function marginRows(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const onehot = tf.oneHot(labels, logits.shape[1]);
    const zy = tf.sum(tf.mul(logits, onehot), 1);
    const others = tf.max(tf.sub(logits, tf.mul(onehot, 1e9)), 1);
    return tf.sub(others, zy);
  });
}

/**
 * ∇x Σ_rows loss(labels, logits(x)) (CE by default), each row's own gradient, with the logits of the same forward
 * (kept past tf.grad's scope, for the base's success check). Call inside tf.tidy.
 */
export function ceGradient(
  clf: Classifier,
  x: tf.Tensor2D,
  labels: tf.Tensor1D,
  loss: AttackLoss = 'ce',
): { grad: tf.Tensor2D; logits: tf.Tensor2D } {
  let logits: tf.Tensor2D | undefined;
  const grad = tf.grad((xv: tf.Tensor) => {
    logits = tf.keep(clf.logits(xv as tf.Tensor2D));
    const rows =
      loss === 'ce' ? softmaxCrossEntropyRows(logits, labels) : marginRows(logits, labels);
    return tf.sum(rows);
  })(x) as tf.Tensor2D;
  return { grad, logits: logits! };
}

/** Relative slack on ‖δ‖ ≤ ε in the final check (float32 rounding of x0 + δ). */
export const EPS_TOLERANCE = 1e-5;

/** The rows still being attacked; tensors belong to the caller (do not dispose). */
export interface StepInput {
  x: tf.Tensor2D;
  x0: tf.Tensor2D;
  /** Goal classes (targeted) or true classes (untargeted), int32. */
  labels: tf.Tensor1D;
  /** Per-row state returned by the previous step (at the first step: `initialSlots`, or []). */
  slots: tf.Tensor2D[];
  /** Step number, from 1. */
  t: number;
}

/** The update to add to x (before clamping) and the new per-row state, for the same rows. */
export interface StepOutput {
  update: tf.Tensor2D;
  slots: tf.Tensor2D[];
  /**
   * Optional: the classifier's logits at x, from the step's own forward pass, for the success
   * check (else the base runs a separate forward). Created with tf.keep if inside tf.grad.
   */
  logits?: tf.Tensor2D;
  /** Passes per row this step ran, for the query counts; default one gradient (1 + 1). */
  passes?: { forwards: number; backwards: number };
}

/** Called inside tf.tidy: intermediate tensors are freed automatically. */
export type StepFn = (s: StepInput) => StepOutput;

export interface AttackResult {
  /** Row-major [n, dim]: the final (success) or last (failure) iterate. */
  xAdv: Float32Array;
  success: Uint8Array;
  /** Updates taken: at success, or maxSteps for a failure. */
  steps: Int32Array;
  /**
   * p(labels[i]) at xAdv, re-evaluated: p(goal) when targeted, p(true) when not (NaN when the
   * caller judges: CallerJudges).
   */
  goalProb: Float32Array;
  /** The label of xAdv, re-evaluated (-1 when the caller judges: CallerJudges). */
  finalLabel: Int32Array;
  n: number;
  dim: number;
  /**
   * Optional query counts (rows × passes): forward passes and backward (gradient) passes the
   * algorithm ran (the final re-evaluation of xAdv is not counted).
   */
  forwards?: number;
  backwards?: number;
}

export function checkAttackInputs(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: AttackOptions,
): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be an integer ≥ 0 (got ${n})`);
  if (x0.length < n * clf.inputDim)
    throw new RangeError(`x0 holds ${x0.length} values, need ${n}×${clf.inputDim}`);
  if (labels.length < n) throw new RangeError(`need ${n} labels, got ${labels.length}`);
  for (let i = 0; i < n; i++) {
    if (!(labels[i] >= 0 && labels[i] < clf.numClasses))
      throw new RangeError(`label ${labels[i]} at ${i} is not a class`);
  }
  if (!Number.isInteger(o.maxSteps) || o.maxSteps < 0)
    throw new RangeError(`maxSteps must be an integer ≥ 0 (got ${o.maxSteps})`);
  if (!(o.confidence > 0 && o.confidence <= 1))
    throw new RangeError(`confidence must be in (0, 1] (got ${o.confidence})`);
  if (o.clampMin !== undefined && o.clampMax !== undefined && !(o.clampMin <= o.clampMax)) {
    throw new RangeError(`empty clamp range [${o.clampMin}, ${o.clampMax}]`);
  }
  if (o.ball && !(o.ball.eps >= 0 && Number.isFinite(o.ball.eps)))
    throw new RangeError(`eps must be a finite number ≥ 0 (got ${o.ball.eps})`);
  if (o.start && o.start.length < n * clf.inputDim)
    throw new RangeError(`start holds ${o.start.length} values, need ${n}×${clf.inputDim}`);
  for (const s of o.initialSlots ?? []) {
    if (n > 0 && (s.length === 0 || s.length % n !== 0))
      throw new RangeError(`an initial slot holds ${s.length} values, not a multiple of ${n} rows`);
  }
}

/** The threat model's feasible set: the box, and the ε-ball when bounded. */
function feasible(x: tf.Tensor2D, x0: tf.Tensor2D, o: AttackOptions): tf.Tensor2D {
  if (!o.ball) return clamp(x, o);
  return clamp(projectToBall(x, x0, o.ball.eps, o.ball.norm, null), o);
}

function clamp(x: tf.Tensor2D, o: AttackOptions): tf.Tensor2D {
  // one ClipByValue pass (wasm's Maximum/Minimum with a scalar take ~0.5 ms each on 180×784)
  if (o.clampMin !== undefined && o.clampMax !== undefined)
    return tf.clipByValue(x, o.clampMin, o.clampMax);
  let y = x;
  if (o.clampMin !== undefined) y = tf.maximum(y, o.clampMin);
  if (o.clampMax !== undefined) y = tf.minimum(y, o.clampMax);
  return y;
}

export function runAttack(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  step: StepFn,
  o: AttackOptions,
): AttackResult {
  checkAttackInputs(clf, x0, n, labels, o);
  const dim = clf.inputDim;
  const xAdv = Float32Array.from(x0.subarray(0, n * dim));
  const success = new Uint8Array(n);
  const steps = new Int32Array(n).fill(o.maxSteps);
  const bar = new Progress({
    label: o.label ?? 'attack',
    total: o.maxSteps,
    unit: 'step',
    silent: o.silent,
  });

  let forwards = 0;
  let backwards = 0;

  // Working batch: original indices of the active rows and their tensors.
  let active = Int32Array.from({ length: n }, (_, i) => i);
  let x = o.start
    ? tf.tensor2d(o.start.subarray(0, n * dim), [n, dim])
    : tf.tensor2d(xAdv, [n, dim]);
  let xOrig = tf.tensor2d(xAdv, [n, dim]);
  let lab = tf.tensor1d(labels.subarray(0, n), 'int32');
  let slots: tf.Tensor2D[] =
    n > 0 ? (o.initialSlots ?? []).map((s) => tf.tensor2d(s, [n, s.length / n])) : [];
  const keepRows = (keep: number[]) => {
    const idx = tf.tensor1d(keep, 'int32');
    const old = [x, xOrig, lab, ...slots];
    [x, xOrig, lab, ...slots] = old.map((t) => tf.gather(t, idx)) as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor1D,
      ...tf.Tensor2D[],
    ];
    tf.dispose([idx, ...old]);
    active = Int32Array.from(keep, (r) => active[r]);
  };
  /** 1 where the row has succeeded at the iterate these logits came from. */
  const successOf = (logits: tf.Tensor2D): tf.Tensor =>
    tf.tidy(() => {
      if (!o.targeted) return tf.notEqual(tf.argMax(logits, 1), lab);
      const p = tf.sum(tf.mul(tf.softmax(logits), tf.oneHot(lab, clf.numClasses)), 1);
      return tf.greaterEqual(p, o.confidence);
    });
  try {
    if (o.start && n > 0) {
      // A start away from x0: an input that is already adversarial is done at x0, 0 steps.
      clf.prepare?.(xOrig);
      const hit = tf.tidy(() => successOf(clf.logits(xOrig)));
      const done = hit.dataSync();
      hit.dispose();
      forwards += active.length;
      const keep: number[] = [];
      done.forEach((d, r) => {
        if (d) [success[r], steps[r]] = [1, 0];
        else keep.push(r);
      });
      if (keep.length < n) keepRows(keep);
    }
    for (let t = 0; active.length > 0; t++) {
      clf.prepare?.(x);
      // Check the current iterate, so an example's steps = updates it needed. The check uses
      // the logits of the step's own forward pass at x when the step returns them (one
      // forward per step instead of two); the update is then dropped for rows that succeeded.
      const last = t === o.maxSteps;
      const rows = active.length;
      const out = tf.tidy(() => {
        if (last) {
          forwards += rows;
          return [clf.logits(x)];
        }
        const s = step({ x, x0: xOrig, labels: lab, slots, t: t + 1 });
        forwards += rows * ((s.passes?.forwards ?? 1) + (s.logits ? 0 : 1));
        backwards += rows * (s.passes?.backwards ?? 1);
        return [s.logits ?? clf.logits(x), feasible(tf.add(x, s.update), xOrig, o), ...s.slots];
      }) as tf.Tensor2D[];
      const [logits, ...next] = out;
      const hit = successOf(logits);
      const done = hit.dataSync();
      tf.dispose([hit, logits]);
      const keep: number[] = [];
      const finished: number[] = [];
      done.forEach((d, r) => (d ? finished : keep).push(r));
      if (finished.length > 0) {
        const xs = x.dataSync() as Float32Array;
        for (const r of finished) {
          const i = active[r];
          xAdv.set(xs.subarray(r * dim, (r + 1) * dim), i * dim);
          success[i] = 1;
          steps[i] = t;
        }
      }
      if (last) {
        if (finished.length > 0) keepRows(keep); // failures below keep their last iterate
        break;
      }
      tf.dispose([x, ...slots]);
      [x, ...slots] = next;
      if (finished.length > 0) keepRows(keep);
      if (active.length > 0) bar.tick(1, `succeeded ${n - active.length}/${n}`);
    }
    // Failures keep their last iterate.
    const xs = x.dataSync() as Float32Array;
    active.forEach((i, r) => xAdv.set(xs.subarray(r * dim, (r + 1) * dim), i * dim));
  } finally {
    tf.dispose([x, xOrig, lab, ...slots]);
    bar.finish(`succeeded ${success.reduce((s, v) => s + v, 0)}/${n}`);
  }

  // Re-evaluate from the host copy: what a user of xAdv will see.
  const { finalLabel, goalProb } = rejudge(clf, xAdv, n, labels);
  if (!o.targeted) recheckUntargeted(x0, { xAdv, success, finalLabel, n, dim }, labels, o.ball);
  return { xAdv, success, steps, goalProb, finalLabel, n, dim, forwards, backwards };
}

/**
 * The labels a classifier gives the first n rows of xAdv and each row's probability of
 * `labels[i]` (the goal, or the true class for an untargeted attack): re-evaluated from the
 * host copy, what a user of xAdv will see.
 */
export function rejudge(
  clf: Classifier,
  xAdv: Float32Array,
  n: number,
  labels: Int32Array,
): { finalLabel: Int32Array; goalProb: Float32Array } {
  // on the host when the model allows (the same labels and probabilities, bit for bit)
  const { labels: finalLabel, probs } = predict(withHostLogits(clf), xAdv, n);
  const k = clf.numClasses;
  const goalProb = Float32Array.from({ length: n }, (_, i) => probs[i * k + labels[i]]);
  return { finalLabel, goalProb };
}

/**
 * Keep an untargeted success only if the returned xAdv is misclassified (re-evaluated) and, for
 * a bounded attack, within ε: the attack's own check ran on device iterates, the user gets xAdv.
 */
export function recheckUntargeted(
  x0: Float32Array,
  r: Pick<AttackResult, 'xAdv' | 'success' | 'finalLabel' | 'n' | 'dim'>,
  labels: Int32Array,
  ball?: { eps: number; norm: Norm },
): void {
  const dist = ball ? hostRowNorms(r.xAdv, x0, r.n, r.dim, ball.norm) : null;
  for (let i = 0; i < r.n; i++) {
    if (r.finalLabel[i] === labels[i]) r.success[i] = 0;
    if (dist && ball && dist[i] > ball.eps * (1 + EPS_TOLERANCE)) r.success[i] = 0;
  }
}
