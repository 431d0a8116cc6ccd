/**
 * Fast Gradient Sign Method of Goodfellow, Shlens & Szegedy, "Explaining and Harnessing
 * Adversarial Examples" (ICLR 2015): one step of size ε along the sign of the loss gradient,
 *
 *   x_adv = clip_[0,1]( x + ε·sign(∇x CE(y, C(x))) )
 *
 * untargeted (ascends the cross-entropy of the true label). Distance: L∞ (the paper's);
 * `norm: 'l2'` gives the L2 fast gradient method, x + ε·∇/‖∇‖₂ (Kurakin et al.'s FGM).
 * Success: misclassified and ‖x_adv − x‖ ≤ ε. An input already misclassified is returned as is.
 * Deterministic (no random choice; `seed` is accepted for a uniform interface and unused).
 *
 * Arguments (defaults):
 *   eps    0.3 (L∞) / 2.0 (L2)   the MNIST conventions (DEFAULT_EPS)
 *   norm   'linf'
 *   steps  1                     single-step by definition (any other value is an error)
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../models/classifier.js';
import {
  BOX_RANGE,
  ceGradient,
  DEFAULT_EPS,
  runAttack,
  threatModel,
  type AttackResult,
  type StandardAttackOptions,
  type StepFn,
} from './base.js';
import { steepestDirection, type Norm } from './norms.js';

export type FgsmOptions = StandardAttackOptions;

export const FGSM_DEFAULTS = { eps: DEFAULT_EPS, norm: 'linf' as Norm, steps: 1 };

export function fgsm(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: FgsmOptions = {},
): AttackResult {
  const { eps, norm } = threatModel({ norm: FGSM_DEFAULTS.norm, ...o });
  if (o.steps !== undefined && o.steps !== 1)
    throw new RangeError(`FGSM is a single-step attack (steps must be 1, got ${o.steps}); use PGD`);
  const step: StepFn = ({ x, labels: y }) => {
    const { grad, logits } = ceGradient(clf, x, y);
    return { update: tf.mul(steepestDirection(grad, norm), eps), slots: [], logits };
  };
  return runAttack(clf, x0, n, labels, step, {
    targeted: false,
    ...BOX_RANGE,
    maxSteps: 1,
    confidence: 1,
    ball: { eps, norm },
    silent: o.silent,
    label: 'fgsm',
  });
}
