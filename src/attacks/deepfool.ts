/**
 * DeepFool of Moosavi-Dezfooli, Fawzi & Frossard, "DeepFool: a simple and accurate method to
 * fool deep neural networks" (CVPR 2016), minimum-norm, untargeted. At each iterate x it
 * linearises the classifier around x and takes the smallest step onto the nearest linearised
 * boundary among the candidate classes k:
 *
 *   d_k = |z_k − z_y| / ‖∇(z_k − z_y)‖_q   (q = 2 for L2, q = 1 (dual of ∞) for L∞)
 *   r   = (d_k̂ + 1e-4)·∇/‖∇‖₂   (L2)   or   (d_k̂ + 1e-4)·sign(∇)   (L∞),  k̂ = argmin d_k
 *
 * accumulates r_total += r and moves to x = clip_[0,1](x0 + (1 + overshoot)·r_total), as in the
 * paper and Foolbox 3 (the 1e-4 is Foolbox's numerical margin). Each example stops at its first
 * misclassified iterate. Success: misclassified at all (a minimum-norm attack: the distance
 * ‖x_adv − x0‖ is the result; `eps` is not used). Deterministic; `seed` is accepted and unused.
 *
 * Arguments (defaults):
 *   norm        'l2'      'l2' | 'linf'
 *   steps       50        the paper's and Foolbox's maximum iterations
 *   overshoot   0.02      the paper's
 *   candidates  10        the other classes tried are the candidates − 1 with the largest
 *                         logits at x0 (10 = every class of MNIST, as the paper's num_classes)
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../models/classifier.js';
import {
  runAttack,
  threatModel,
  type AttackResult,
  type StandardAttackOptions,
  type StepFn,
} from './base.js';
import { exactSign, type Norm } from './norms.js';

export interface DeepFoolOptions extends StandardAttackOptions {
  overshoot?: number;
  candidates?: number;
}

export const DEEPFOOL_DEFAULTS = {
  norm: 'l2' as Norm,
  steps: 50,
  overshoot: 0.02,
  candidates: 10,
};

export function deepFool(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: DeepFoolOptions = {},
): AttackResult {
  const D = DEEPFOOL_DEFAULTS;
  const { norm } = threatModel({ norm: o.norm ?? D.norm });
  const overshoot = o.overshoot ?? D.overshoot;
  const K = Math.min(o.candidates ?? D.candidates, clf.numClasses);
  if (!(overshoot >= 0)) throw new RangeError(`overshoot must be ≥ 0 (got ${overshoot})`);
  if (!Number.isInteger(K) || K < 2) throw new RangeError(`candidates must be an integer ≥ 2`);
  const C = clf.numClasses;

  const step: StepFn = ({ x, x0: xo, labels: y, slots }) => {
    const yHot = tf.oneHot(y, C);
    let logits: tf.Tensor2D | undefined;
    /** ∇x Σ_rows (z_{c_r} − z_{y_r}) for one candidate class per row, and its value per row. */
    const diff = (cHot: tf.Tensor2D) => {
      let value: tf.Tensor1D | undefined;
      const grad = tf.grad((xv: tf.Tensor) => {
        const z = clf.logits(xv as tf.Tensor2D);
        if (!logits) logits = tf.keep(z);
        value = tf.keep(tf.sum(tf.mul(z, tf.sub(cHot, yHot)), 1));
        return tf.sum(value);
      })(x) as tf.Tensor2D;
      return { grad, value: value! };
    };
    // The candidates: the K − 1 other classes with the largest logits at x0 (the first step
    // runs at x = x0), kept per row as a slot.
    // (a clone: the base disposes the old slots after the step)
    let cand = slots[1] ? tf.clone(slots[1]) : undefined;
    if (!cand) {
      const z0 = tf.sub(clf.logits(x), tf.mul(yHot, 1e9)); // the true class last
      cand = tf.cast(tf.topk(z0, K - 1).indices, 'float32') as tf.Tensor2D;
    }
    const idx = tf.cast(cand, 'int32');
    const diffs = Array.from({ length: K - 1 }, (_, k) =>
      diff(tf.oneHot(tf.squeeze(tf.slice(idx, [0, k], [-1, 1]), [1]), C) as tf.Tensor2D),
    );
    const values = tf.stack(
      diffs.map((d) => d.value),
      1,
    ); // [m, K−1], < 0 while correct
    const grads = tf.stack(
      diffs.map((d) => d.grad),
      1,
    ); // [m, K−1, dim]
    tf.dispose(diffs.map((d) => d.value));
    const dual = norm === 'l2' ? tf.norm(grads, 2, 2) : tf.sum(tf.abs(grads), 2);
    const dist = tf.div(tf.abs(values), tf.add(dual, 1e-8)); // [m, K−1]
    const best = K > 2 ? tf.oneHot(tf.argMin(dist, 1), K - 1) : tf.onesLike(dist); // [m, K−1]
    const g = tf.sum(tf.mul(grads, tf.expandDims(best, 2)), 1) as tf.Tensor2D; // [m, dim]
    const d = tf.add(tf.sum(tf.mul(dist, best), 1, true), 1e-4); // [m, 1]
    const rStep =
      norm === 'l2'
        ? tf.mul(tf.div(d, tf.add(tf.norm(g, 2, 1, true), 1e-8)), g)
        : tf.mul(d, exactSign(g));
    const rTotal = slots[0] ? tf.add(slots[0], rStep) : rStep;
    const next = tf.clipByValue(tf.add(xo, tf.mul(rTotal, 1 + overshoot)), 0, 1);
    return {
      update: tf.sub(next, x),
      slots: [rTotal as tf.Tensor2D, cand],
      logits,
      passes: { forwards: K - 1 + (slots[1] ? 0 : 1), backwards: K - 1 },
    };
  };
  return runAttack(clf, x0, n, labels, step, {
    targeted: false,
    clampMin: 0,
    clampMax: 1,
    maxSteps: o.steps ?? D.steps,
    confidence: 1,
    silent: o.silent,
    label: `deepfool-${norm}`,
  });
}
