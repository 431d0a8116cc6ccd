/**
 * Projected Gradient Descent of Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep Learning
 * Models Resistant to Adversarial Attacks" (ICLR 2018): from a uniformly random point of the
 * ε-ball, ascend the cross-entropy of the true label by steepest-ascent steps and project back
 * onto the ε-ball ∩ [0,1] after each one:
 *
 *   x ← Π_{B(x0, ε) ∩ [0,1]}( x + α·sign(∇x CE) )        (L∞)
 *   x ← Π_{B(x0, ε) ∩ [0,1]}( x + α·∇x CE / ‖∇x CE‖₂ )   (L2)
 *
 * Untargeted. Each example stops at its first misclassified iterate (enough for robust accuracy
 * at ε, and cheaper than running every step); the still-robust examples are attacked again from
 * a fresh random start, up to `restarts` times, and the first success is kept. An example that
 * never succeeds returns the iterate with the lowest p(true) over its restarts.
 * Success: misclassified and ‖x_adv − x0‖ ≤ ε (re-checked on the returned x_adv).
 *
 * Arguments (defaults):
 *   eps          0.3 (L∞) / 2.0 (L2)   MNIST conventions (DEFAULT_EPS)
 *   norm         'linf'
 *   steps        40                    Madry et al.'s MNIST training attack (they evaluate with 100)
 *   stepSize     2.5·ε/steps           Madry-lab's rule (robustness library): the walk can cross
 *                                      the ball 1.25 times, so it reaches the far side from any start
 *   restarts     1                     ≥ 1 runs; more only help with randomStart
 *   randomStart  true
 *   seed         0                     restart r starts from deriveSeed(seed, 'pgd:r')
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../models/classifier.js';
import { deriveSeed } from '../util/rng.js';
import {
  BOX_RANGE,
  ATTACK_LOSSES,
  ceGradient,
  DEFAULT_EPS,
  runAttack,
  threatModel,
  type AttackLoss,
  type AttackResult,
  type StandardAttackOptions,
  type StepFn,
} from './base.js';
import { randomStart, steepestDirection, type Norm } from './norms.js';

export interface PgdOptions extends StandardAttackOptions {
  /** α in input units per step; default stepSizeFactor·ε/steps. */
  stepSize?: number;
  restarts?: number;
  randomStart?: boolean;
  /** The loss ascended: 'ce' (Madry et al.) or 'margin' (the CW loss, "PGD-CW"). */
  loss?: AttackLoss;
}

export const PGD_DEFAULTS = {
  eps: DEFAULT_EPS,
  norm: 'linf' as Norm,
  steps: 40,
  stepSizeFactor: 2.5,
  restarts: 1,
  randomStart: true,
  loss: 'ce' as AttackLoss,
  seed: 0,
};

export function pgd(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: PgdOptions = {},
): AttackResult {
  const D = PGD_DEFAULTS;
  const { eps, norm } = threatModel(o);
  const steps = o.steps ?? D.steps;
  const alpha = o.stepSize ?? (D.stepSizeFactor * eps) / Math.max(steps, 1);
  const random = o.randomStart ?? D.randomStart;
  // without a random start every restart would repeat the first exactly
  const restarts = random ? (o.restarts ?? D.restarts) : 1;
  const seed = o.seed ?? D.seed;
  const loss = o.loss ?? D.loss;
  if (!ATTACK_LOSSES.includes(loss)) throw new RangeError(`unknown loss '${loss}'`);
  if (!(alpha >= 0)) throw new RangeError(`stepSize must be ≥ 0 (got ${alpha})`);
  if (!Number.isInteger(restarts) || restarts < 1)
    throw new RangeError(`restarts must be an integer ≥ 1 (got ${restarts})`);

  const dim = clf.inputDim;
  const step: StepFn = ({ x, labels: y }) => {
    const { grad, logits } = ceGradient(clf, x, y, loss);
    return { update: tf.mul(steepestDirection(grad, norm), alpha), slots: [], logits };
  };
  let out: AttackResult | null = null;
  let todo = Int32Array.from({ length: n }, (_, i) => i); // rows still robust
  for (let r = 0; r < restarts && (r === 0 || todo.length > 0); r++) {
    const m = todo.length;
    const xs = new Float32Array(m * dim);
    todo.forEach((i, k) => xs.set(x0.subarray(i * dim, (i + 1) * dim), k * dim));
    const ys = Int32Array.from(todo, (i) => labels[i]);
    let start: Float32Array | undefined;
    if (random) {
      start = tf.tidy(() => {
        const t = randomStart(tf.tensor2d(xs, [m, dim]), eps, norm, deriveSeed(seed, `pgd:${r}`));
        return t.dataSync() as Float32Array;
      });
    }
    const res = runAttack(clf, xs, m, ys, step, {
      targeted: false,
      ...BOX_RANGE,
      maxSteps: steps,
      confidence: 1,
      ball: { eps, norm },
      start,
      silent: o.silent,
      label: restarts > 1 ? `pgd ${r + 1}/${restarts}` : 'pgd',
    });
    if (!out) {
      out = res;
    } else {
      const acc: AttackResult = out;
      acc.forwards! += res.forwards!;
      acc.backwards! += res.backwards!;
      todo.forEach((i, k) => {
        acc.steps[i] = r * steps + res.steps[k];
        // a success replaces the failure; among failures keep the lowest p(true)
        if (!res.success[k] && res.goalProb[k] >= acc.goalProb[i]) return;
        acc.xAdv.set(res.xAdv.subarray(k * dim, (k + 1) * dim), i * dim);
        acc.success[i] = res.success[k];
        acc.goalProb[i] = res.goalProb[k];
        acc.finalLabel[i] = res.finalLabel[k];
      });
    }
    const left = out.success;
    todo = todo.filter((i) => !left[i]);
  }
  return out!;
}
