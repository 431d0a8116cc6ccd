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
 * `targets: K` makes it MultiTargeted PGD (Gowal, Uesato, Qin, Huang, Mann & Kohli, "An
 * Alternative Surrogate Loss for PGD-based Adversarial Testing", 2019): for each of the K
 * classes ranked highest at x0 after the true one, in turn, the same PGD ascends the margin
 * z_t − z_y instead of `loss`, on the points still robust; success is still any misclassification.
 * Why: CE and the untargeted margin are convex in x on a linear model, so their ascent over the
 * ball can settle at a non-adversarial vertex; z_t − z_y is linear there, its maximum over the
 * ball ∩ box is the optimum towards t, and one of the K targets is the nearest boundary's class
 * (docs/design.md, "PGD's soundness on a linear model").
 *
 * Arguments (defaults):
 *   eps          0.3 (L∞) / 2.0 (L2)   MNIST conventions (DEFAULT_EPS)
 *   norm         'linf'
 *   steps        40                    Madry et al.'s MNIST training attack (they evaluate with 100)
 *   stepSize     2.5·ε/steps           Madry-lab's rule (robustness library): the walk can cross
 *                                      the ball 1.25 times, so it reaches the far side from any start
 *   restarts     1                     ≥ 1 runs; more only help with randomStart
 *   randomStart  true
 *   loss         'ce'                  untargeted runs only
 *   targets      0                     0 = untargeted; K = MultiTargeted over K classes (9 = all)
 *   seed         0                     restart r starts from deriveSeed(seed, 'pgd:r')
 *                                      (target rank q: deriveSeed(seed, 'pgd:tq:r'))
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../models/classifier.js';
import { hostNet } from '../models/host-mlp.js';
import { deriveSeed } from '../util/rng.js';
import { tidyData } from '../util/tidy-data.js';
import {
  rejudge,
  BOX_RANGE,
  ATTACK_LOSSES,
  ceGradient,
  checkAttackInputs,
  DEFAULT_EPS,
  recheckUntargeted,
  runAttack,
  threatModel,
  type AttackLoss,
  type AttackResult,
  type StandardAttackOptions,
  type StepFn,
  unjudged,
} from './base.js';
import { hostPredict, sortedClasses } from './bounded-common.js';
import { fusedPgd } from './fused-pgd.js';
import { hostRandomStartLinf, randomStart, steepestDirection, type Norm } from './norms.js';

export interface PgdOptions extends StandardAttackOptions {
  /** α in input units per step; default stepSizeFactor·ε/steps. */
  stepSize?: number;
  restarts?: number;
  randomStart?: boolean;
  /** The loss ascended: 'ce' (Madry et al.) or 'margin' (the CW loss, "PGD-CW"). */
  loss?: AttackLoss;
  /**
   * 0: untargeted. K ≥ 1: MultiTargeted, the margin z_t − z_y towards each of the K classes
   * ranked highest at x0 after the true one, in turn (≤ numClasses − 1).
   */
  targets?: number;
  /** false: always the tfjs path (default: the fused host path where it applies, fused-pgd.ts). */
  fused?: boolean;
}

export const PGD_DEFAULTS = {
  eps: DEFAULT_EPS,
  norm: 'linf' as Norm,
  steps: 40,
  stepSizeFactor: 2.5,
  restarts: 1,
  randomStart: true,
  loss: 'ce' as AttackLoss,
  targets: 0,
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

  const targets = o.targets ?? D.targets;
  if (!Number.isInteger(targets) || targets < 0 || targets > clf.numClasses - 1)
    throw new RangeError(`targets must be an integer in 0..${clf.numClasses - 1} (got ${targets})`);

  const dim = clf.inputDim;
  const k = clf.numClasses;
  const step: StepFn = ({ x, labels: y }) => {
    const { grad, logits } = ceGradient(clf, x, y, loss);
    return { update: tf.mul(steepestDirection(grad, norm), alpha), slots: [], logits };
  };
  // targeted: slots[0] is the target's one-hot; ascend Σ (onehot(t) − onehot(y))·z = z_t − z_y
  const targetedStep: StepFn = ({ x, labels: y, slots }) => {
    const [goal] = slots;
    let logits: tf.Tensor2D | undefined;
    const grad = tf.grad((xv: tf.Tensor) => {
      logits = tf.keep(clf.logits(xv as tf.Tensor2D));
      return tf.sum(tf.mul(logits, tf.sub(goal, tf.oneHot(y, k))));
    })(x) as tf.Tensor2D;
    const update = tf.mul(steepestDirection(grad, norm), alpha) as tf.Tensor2D;
    return { update, slots: [tf.clone(goal)], logits: logits! };
  };
  // each target rank in turn (or the one untargeted run), restarts within it
  let ranking: number[][] | null = null;
  let rankForwards = 0;
  const net = hostNet(clf); // once: a plain MLP's weights are copied to the host per call
  if (targets > 0 && n > 0) {
    const { logits } = hostPredict(clf, x0, n, net);
    rankForwards = n;
    ranking = Array.from({ length: n }, (_, i) =>
      sortedClasses(logits, i, k).filter((j) => j !== labels[i]),
    );
  }
  const runs = Math.max(targets, 1) * restarts;
  // CE (untargeted) and the target margin have a fused host step; 'margin' keeps tfjs
  const host = o.fused !== false && (ranking || loss === 'ce') ? net : null;
  let out: AttackResult | null = null;
  let todo = Int32Array.from({ length: n }, (_, i) => i); // rows still robust
  for (let q = 0; q < runs && (q === 0 || todo.length > 0); q++) {
    const [rank, r] = [Math.floor(q / restarts), q % restarts];
    const m = todo.length;
    // every row (the first run): x0 itself, which the attack only reads
    const xs = m === n ? x0.subarray(0, n * dim) : new Float32Array(m * dim);
    if (m < n) todo.forEach((i, j) => xs.set(x0.subarray(i * dim, (i + 1) * dim), j * dim));
    const ys = Int32Array.from(todo, (i) => labels[i]);
    const runSeed = deriveSeed(seed, ranking ? `pgd:t${rank}:${r}` : `pgd:${r}`);
    let start: Float32Array | undefined;
    if (random) {
      // L∞ on the host (the same draws and float32 sums; tfjs's JS generator plus 3 kernels
      // cost ~10 ms per 1000 images), L2 through tfjs (its pow and norms are the backend's)
      start =
        norm === 'linf'
          ? hostRandomStartLinf(xs, m, dim, eps, runSeed)
          : tidyData(() => randomStart(tf.tensor2d(xs, [m, dim]), eps, norm, runSeed));
    }
    let initialSlots: Float32Array[] | undefined;
    if (ranking) {
      const goal = new Float32Array(m * k);
      todo.forEach((i, j) => (goal[j * k + ranking![i][rank]] = 1));
      initialSlots = [goal];
    }
    const what = ranking ? `pgd t${rank + 1}/${targets}` : 'pgd';
    const label = restarts > 1 ? `${what} ${r + 1}/${restarts}` : what;
    const opts = {
      targeted: false,
      ...BOX_RANGE,
      maxSteps: steps,
      confidence: 1,
      ball: { eps, norm },
      start,
      initialSlots,
      silent: o.silent,
      label,
    };
    let res: AttackResult;
    // one run and a caller that judges: nothing reads the re-evaluation (more runs compare
    // their results by it)
    const judged = runs === 1 && !!o.callerJudges;
    if (host) {
      // the same iterates as runAttack below, without the per-step tfjs kernels
      checkAttackInputs(clf, xs, m, ys, opts);
      const targetOf = ranking && Int32Array.from(todo, (i) => ranking![i][rank]);
      const fr = fusedPgd(host, xs, m, ys, {
        eps,
        norm,
        stepSize: alpha,
        maxSteps: steps,
        start,
        targets: targetOf || undefined,
        silent: o.silent,
        label,
      });
      res = { ...fr, ...(judged ? unjudged(m) : rejudge(clf, fr.xAdv, m, ys)), n: m, dim };
      if (!judged) recheckUntargeted(xs, res, ys, opts.ball);
    } else {
      res = runAttack(clf, xs, m, ys, ranking ? targetedStep : step, opts);
      // the tfjs loop re-evaluates on its own; the result says the same as the host path's
      if (judged) Object.assign(res, unjudged(m));
    }
    if (!out) {
      out = res;
      out.forwards! += rankForwards;
    } else {
      const acc: AttackResult = out;
      acc.forwards! += res.forwards!;
      acc.backwards! += res.backwards!;
      todo.forEach((i, j) => {
        acc.steps[i] = q * steps + res.steps[j];
        // a success replaces the failure; among failures keep the lowest p(true)
        if (!res.success[j] && res.goalProb[j] >= acc.goalProb[i]) return;
        acc.xAdv.set(res.xAdv.subarray(j * dim, (j + 1) * dim), i * dim);
        acc.success[i] = res.success[j];
        acc.goalProb[i] = res.goalProb[j];
        acc.finalLabel[i] = res.finalLabel[j];
      });
    }
    const left = out.success;
    todo = todo.filter((i) => !left[i]);
  }
  return out!;
}
