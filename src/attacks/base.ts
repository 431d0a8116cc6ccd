/**
 * Shared bookkeeping for batched, iterative attacks (in the spirit of Foolbox 3's base attack):
 * the whole batch is attacked at once, each example stops on its own as soon as it succeeds,
 * and an attack file only has to say how one step moves x.
 *
 * Success: targeted, p(goal | x) ≥ confidence; untargeted, argmax ≠ the true label.
 * A finished example is dropped from the working batch, so its x is frozen (and no longer
 * costs any compute); its step count is the number of updates it took (0 = already adversarial).
 */
import * as tf from '@tensorflow/tfjs';
import { predict, type Classifier } from '../models/classifier.js';
import { Progress } from '../util/progress.js';

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
}

export const DEFAULT_CONFIDENCE = 0.95;

/** The rows still being attacked; tensors belong to the caller (do not dispose). */
export interface StepInput {
  x: tf.Tensor2D;
  x0: tf.Tensor2D;
  /** Goal classes (targeted) or true classes (untargeted), int32. */
  labels: tf.Tensor1D;
  /** Per-row state returned by the previous step ([] at the first step). */
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
}

/** Called inside tf.tidy: intermediate tensors are freed automatically. */
export type StepFn = (s: StepInput) => StepOutput;

export interface AttackResult {
  /** Row-major [n, dim]: the final (success) or last (failure) iterate. */
  xAdv: Float32Array;
  success: Uint8Array;
  /** Updates taken: at success, or maxSteps for a failure. */
  steps: Int32Array;
  /** p(labels[i]) at xAdv, re-evaluated: p(goal) when targeted, p(true) when not. */
  goalProb: Float32Array;
  finalLabel: Int32Array;
  n: number;
  dim: number;
  /** Optional query counts (rows × passes): forward passes and backward (gradient) passes. */
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

  // Working batch: original indices of the active rows and their tensors.
  let active = Int32Array.from({ length: n }, (_, i) => i);
  let x = tf.tensor2d(xAdv, [n, dim]);
  let xOrig = tf.tensor2d(xAdv, [n, dim]);
  let lab = tf.tensor1d(labels.subarray(0, n), 'int32');
  let slots: tf.Tensor2D[] = [];
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
    for (let t = 0; active.length > 0; t++) {
      clf.prepare?.(x);
      // Check the current iterate, so an example's steps = updates it needed. The check uses
      // the logits of the step's own forward pass at x when the step returns them (one
      // forward per step instead of two); the update is then dropped for rows that succeeded.
      const last = t === o.maxSteps;
      const out = tf.tidy(() => {
        if (last) return [clf.logits(x)];
        const s = step({ x, x0: xOrig, labels: lab, slots, t: t + 1 });
        return [s.logits ?? clf.logits(x), clamp(tf.add(x, s.update), o), ...s.slots];
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
  const { labels: finalLabel, probs } = predict(clf, xAdv, n);
  const goalProb = Float32Array.from(
    { length: n },
    (_, i) => probs[i * clf.numClasses + labels[i]],
  );
  return { xAdv, success, steps, goalProb, finalLabel, n, dim };
}
