/**
 * Reliability checks of a robustness evaluation, after Carlini et al. 2019 ("On evaluating
 * adversarial robustness", §5–7) and AutoAttack's flags (fra31/auto-attack checks.py). Each
 * check says pass / warn / fail (or skip when it does not apply) with the numbers that decide:
 *
 *   randomised        repeated forward passes on the same inputs differ (AA: 5 passes, max L2
 *                     distance of the L2-normalised outputs > 1e-4, or accuracies differ).
 *                     Fail when the evaluation does not handle randomness (no EOT, one draw).
 *   probabilities     the outputs are a probability distribution (all in [0, 1], rows sum to 1):
 *                     the losses then act on log-probabilities of probabilities, which masks
 *                     gradients. Fail.
 *   zero-gradient     the gradient of the margin (max other logit − true logit) with respect to
 *                     the input is exactly zero at the clean point (a quantiser, a step
 *                     function). The margin, not the CE, so that a saturated softmax does not
 *                     look like masking. Fail above 5% of the points, warn for any.
 *   black-box         Square (no gradients) broke points every white-box attack left robust:
 *                     a sign of gradient masking. Pass 0; warn ≤ 1% of n; fail above.
 *   iterative         an iterative attack must be at least as strong as one FGSM step at the
 *                     same ε, on the same points. Fail if FGSM leaves fewer points robust by
 *                     more than 1% (and > 1 point); warn for a smaller excess.
 *   monotone-eps      robust accuracy must not rise with ε (each ε attacked independently).
 *                     Warn for a rise ≤ 1% (and ≤ 1 point), fail above.
 *   unbounded         at an ε that covers the whole box (L∞ 1, L2 √d) an attack must succeed on
 *                     every point. Pass at 100%, fail otherwise.
 *   budget            doubling the iterations, and separately the restarts, of the attacks must
 *                     change robust accuracy by at most max(1 point, 1%) on a subset; warn up to
 *                     3%, fail above (an unconverged evaluation).
 *   transfer          adversarials crafted on an undefended model must not beat the white-box
 *                     attack on the evaluated one: if they leave fewer points robust (by more
 *                     than max(1 point, 1%)) the white-box gradients are masked. Fail; warn below.
 *
 * Browser-safe: no Node imports.
 */
import * as tf from '@tensorflow/tfjs';
import type { Norm } from '../attacks/norms.js';
import type { Classifier } from '../models/classifier.js';
import { Progress } from '../util/progress.js';
import {
  correctScores,
  evaluateRobustness,
  wilson95,
  type AttackFn,
  type AttackSpec,
  type CurvePoint,
  type RobustEvaluation,
} from './robust-accuracy.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';
export const CHECK_IDS = [
  'randomised',
  'probabilities',
  'zero-gradient',
  'black-box',
  'iterative',
  'monotone-eps',
  'unbounded',
  'budget',
  'transfer',
] as const;
export type CheckId = (typeof CHECK_IDS)[number];

export interface CheckResult {
  id: CheckId;
  status: CheckStatus;
  /** One sentence with the deciding numbers. */
  detail: string;
  numbers: Record<string, number | string | boolean | null | number[]>;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const ci = (p: number, n: number) => {
  const [a, b] = wilson95(p, n);
  return `[${pct(a)}, ${pct(b)}]`;
};

function rows(x: Float32Array, n: number, dim: number): Float32Array {
  return x.subarray(0, n * dim);
}

/** Forward the same batch `passes` times; AutoAttack's randomised-defence test. */
export function checkRandomised(
  clf: Classifier,
  x: Float32Array,
  labels: Int32Array,
  n: number,
  o: { passes?: number; tolerance?: number; handled?: boolean } = {},
): CheckResult {
  const passes = o.passes ?? 5;
  const tol = o.tolerance ?? 1e-4;
  const outs: Float32Array[] = [];
  const correct: number[] = [];
  const xs = tf.tensor2d(rows(x, n, clf.inputDim), [n, clf.inputDim]);
  try {
    for (let p = 0; p < passes; p++) {
      const [z, c] = tf.tidy(() => {
        const l = clf.logits(xs);
        const norm = tf.add(tf.sqrt(tf.sum(tf.square(l), 1, true)), 1e-10);
        const right = tf.sum(
          tf.cast(tf.equal(tf.argMax(l, 1), tf.tensor1d(labels.subarray(0, n), 'int32')), 'int32'),
        );
        return [tf.div(l, norm), right];
      });
      outs.push(z.dataSync() as Float32Array);
      correct.push(c.dataSync()[0]);
      tf.dispose([z, c]);
    }
  } finally {
    xs.dispose();
  }
  const k = clf.numClasses;
  let maxDiff = 0;
  for (let a = 0; a < passes; a++)
    for (let b = a + 1; b < passes; b++)
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = i * k; j < (i + 1) * k; j++) s += (outs[a][j] - outs[b][j]) ** 2;
        maxDiff = Math.max(maxDiff, Math.sqrt(s));
      }
  const accDiffer = correct.some((c) => c !== correct[0]);
  const randomised = maxDiff > tol || accDiffer;
  const numbers = { passes, maxOutputDistance: maxDiff, tolerance: tol, correctPerPass: correct };
  if (!randomised)
    return {
      id: 'randomised',
      status: 'pass',
      detail: `${passes} forward passes agree (max distance of normalised outputs ${maxDiff.toExponential(1)} ≤ ${tol})`,
      numbers,
    };
  return {
    id: 'randomised',
    status: o.handled ? 'warn' : 'fail',
    detail:
      `the model is randomised: ${passes} passes differ (max distance ${maxDiff.toExponential(2)} > ${tol}, correct ${correct.join('/')})` +
      (o.handled
        ? '; evaluated with EOT and several judge draws'
        : '; evaluate with EOT (--attacks autoattack-rand) and several draws, or the robust accuracy is not meaningful'),
    numbers,
  };
}

/** AutoAttack's check_range_output: outputs in [0, 1] with rows summing to 1. */
export function checkProbabilities(
  clf: Classifier,
  x: Float32Array,
  n: number,
  o: { tolerance?: number } = {},
): CheckResult {
  const tol = o.tolerance ?? 1e-5;
  const [mn, mx, dev] = tf.tidy(() => {
    const l = clf.logits(tf.tensor2d(rows(x, n, clf.inputDim), [n, clf.inputDim]));
    return [tf.min(l), tf.max(l), tf.max(tf.abs(tf.sub(tf.sum(l, 1), 1)))].map(
      (t) => t.dataSync()[0],
    );
  });
  const probs = mx < 1 + tol && mn > -tol && dev < tol;
  const numbers = { min: mn, max: mx, maxRowSumDeviation: dev, tolerance: tol };
  return probs
    ? {
        id: 'probabilities',
        status: 'fail',
        detail: `the outputs look like probabilities (all in [${mn.toFixed(3)}, ${mx.toFixed(3)}], rows sum to 1 within ${dev.toExponential(1)}): attacks need logits, losses on probabilities mask gradients`,
        numbers,
      }
    : {
        id: 'probabilities',
        status: 'pass',
        detail: `outputs are logits (range [${mn.toFixed(2)}, ${mx.toFixed(2)}], rows sum to 1 only within ${dev.toFixed(2)})`,
        numbers,
      };
}

/** Per-row L1 norm of ∂(max_{j≠y} z_j − z_y)/∂x at the clean points. */
export function marginGradientNorms(
  clf: Classifier,
  x: Float32Array,
  labels: Int32Array,
  n: number,
): Float32Array {
  return tf.tidy(() => {
    const xs = tf.tensor2d(rows(x, n, clf.inputDim), [n, clf.inputDim]);
    const onehot = tf.oneHot(tf.tensor1d(labels.subarray(0, n), 'int32'), clf.numClasses);
    clf.prepare?.(xs);
    const g = tf.grad((xv: tf.Tensor) => {
      const z = clf.logits(xv as tf.Tensor2D);
      const trueLogit = tf.sum(tf.mul(z, onehot), 1);
      const other = tf.max(tf.sub(z, tf.mul(onehot, 1e9)), 1);
      return tf.sum(tf.sub(other, trueLogit));
    })(xs);
    const norms = tf.sum(tf.abs(g), 1).dataSync() as Float32Array;
    (clf as { release?: () => void }).release?.();
    return norms;
  });
}

export function checkZeroGradient(
  clf: Classifier,
  x: Float32Array,
  labels: Int32Array,
  n: number,
): CheckResult {
  const g = marginGradientNorms(clf, x, labels, n);
  let zero = 0;
  for (const v of g) if (v === 0) zero++;
  const frac = n ? zero / n : 0;
  const sorted = Array.from(g).sort((a, b) => a - b);
  const numbers = {
    points: n,
    zeroGradient: zero,
    fraction: frac,
    medianL1: sorted[n >> 1] ?? NaN,
  };
  const status: CheckStatus = zero === 0 ? 'pass' : frac > 0.05 ? 'fail' : 'warn';
  return {
    id: 'zero-gradient',
    status,
    detail:
      zero === 0
        ? `no zero input gradient at the ${n} clean points (median ‖∇margin‖₁ ${numbers.medianL1.toExponential(2)})`
        : `${zero}/${n} points (${pct(frac)}) have an exactly zero input gradient: gradient attacks cannot move there (a quantiser or step function masks gradients; use BPDA or a black-box attack)`,
    numbers,
  };
}

/** From the evaluation's cascade: what the black-box stages added after the white-box ones. */
export function checkBlackBox(ev: RobustEvaluation): CheckResult {
  const hasWhite = ev.attacks.some((a) => !a.blackBox);
  const black = ev.attacks.filter((a) => a.blackBox);
  if (!hasWhite || black.length === 0)
    return {
      id: 'black-box',
      status: 'skip',
      detail: 'needs a white-box and a black-box (Square) stage',
      numbers: {},
    };
  // Points broken by a black-box stage that no earlier white-box stage broke.
  const firstBlack = ev.attacks.findIndex((a) => a.blackBox);
  const whiteAfter = ev.attacks.slice(firstBlack).some((a) => !a.blackBox);
  const k = black.reduce((s, a) => s + a.newlyBroken, 0);
  const frac = ev.n ? k / ev.n : 0;
  const numbers = {
    n: ev.n,
    brokenOnlyByBlackBox: k,
    fraction: frac,
    attackedByBlackBox: black.reduce((s, a) => s + a.attacked, 0),
    whiteBoxAfterBlackBox: whiteAfter,
  };
  const status: CheckStatus = k === 0 ? 'pass' : frac <= 0.01 ? 'warn' : 'fail';
  return {
    id: 'black-box',
    status,
    detail:
      k === 0
        ? numbers.attackedByBlackBox === 0
          ? 'the white-box attacks left no point robust: nothing for Square to add'
          : `Square broke none of the ${numbers.attackedByBlackBox} points the white-box attacks left robust`
        : `Square broke ${k} point(s) (${pct(frac)} of n = ${ev.n}) that every white-box attack left robust: possible gradient masking${status === 'warn' ? ' (small, may be chance)' : ''}`,
    numbers,
  };
}

export interface AttackCall {
  name: string;
  fn: AttackFn;
  options?: Record<string, unknown>;
}

function boundedSpec(a: AttackCall, blackBox = false, target?: Classifier): AttackSpec {
  return {
    name: a.name,
    fn: a.fn,
    kind: 'bounded',
    options: a.options ?? {},
    blackBox,
    target,
  };
}

interface SubsetContext {
  clf: Classifier;
  judge: Classifier;
  draws: number;
  x: Float32Array;
  labels: Int32Array;
  n: number;
  norm: Norm;
  eps: number;
  seed: number;
}

function robustOn(ctx: SubsetContext, attacks: AttackSpec[], eps = ctx.eps): RobustEvaluation {
  return evaluateRobustness(ctx.clf, ctx.x, ctx.labels, ctx.n, {
    norm: ctx.norm,
    eps,
    attacks,
    judge: ctx.judge,
    draws: ctx.draws,
    seed: ctx.seed,
    silent: true,
  });
}

/** Paired comparison on the same points: how much `a` leaves more robust than `b`. */
function excess(a: RobustEvaluation, b: RobustEvaluation): { diff: number; points: number } {
  return {
    diff: a.robustAccuracy - b.robustAccuracy,
    points: Math.round((a.robustAccuracy - b.robustAccuracy) * a.n),
  };
}

export function checkIterative(
  ctx: SubsetContext,
  fgsm: AttackCall,
  iterative: AttackCall,
): CheckResult {
  const one = robustOn(ctx, [boundedSpec(fgsm)]);
  const it = robustOn(ctx, [boundedSpec(iterative)]);
  const { diff, points } = excess(it, one);
  const numbers = {
    subset: ctx.n,
    fgsm: one.robustAccuracy,
    [iterative.name]: it.robustAccuracy,
    excessPoints: points,
  };
  const status: CheckStatus = diff <= 0 ? 'pass' : diff <= 0.01 || points <= 1 ? 'warn' : 'fail';
  return {
    id: 'iterative',
    status,
    detail:
      `on ${ctx.n} points: ${iterative.name} leaves ${pct(it.robustAccuracy)} robust ${ci(it.robustAccuracy, ctx.n)}, FGSM ${pct(one.robustAccuracy)} ${ci(one.robustAccuracy, ctx.n)}` +
      (status === 'pass'
        ? ''
        : `: the single step is stronger by ${points} point(s) (the iterative attack is stuck: masked or badly tuned)`),
    numbers,
  };
}

/** From a curve (each ε attacked independently). */
export function checkMonotone(
  curve: { eps: number; robustAccuracy: number }[],
  n: number,
): CheckResult {
  if (curve.length < 2)
    return { id: 'monotone-eps', status: 'skip', detail: 'needs ≥ 2 budgets', numbers: {} };
  const c = [...curve].sort((a, b) => a.eps - b.eps);
  let rise = 0;
  let at = c[0].eps;
  for (let i = 1; i < c.length; i++) {
    const d = c[i].robustAccuracy - c[i - 1].robustAccuracy;
    if (d > rise) {
      rise = d;
      at = c[i].eps;
    }
  }
  const points = Math.round(rise * n);
  const status: CheckStatus = points <= 0 ? 'pass' : rise <= 0.01 && points <= 1 ? 'warn' : 'fail';
  return {
    id: 'monotone-eps',
    status,
    detail:
      status === 'pass'
        ? `robust accuracy does not rise over ε ∈ {${c.map((p) => p.eps).join(', ')}} (${c.map((p) => pct(p.robustAccuracy)).join(' → ')})`
        : `robust accuracy rises by ${points} point(s) (${pct(rise)}) at ε = ${at}: a larger ball cannot be safer, the attack is not finding what it should`,
    numbers: {
      n,
      eps: c.map((p) => p.eps),
      robustAccuracy: c.map((p) => p.robustAccuracy),
      maxRise: rise,
    },
  };
}

/** The ε whose ball around any x in [0,1]^d covers the whole box. */
export function unboundedEps(norm: Norm, dim: number): number {
  return norm === 'linf' ? 1 : Math.sqrt(dim);
}

export function checkUnbounded(ctx: SubsetContext, attack: AttackCall): CheckResult {
  const eps = unboundedEps(ctx.norm, ctx.clf.inputDim);
  const r = robustOn(ctx, [boundedSpec(attack)], eps);
  let correct = 0;
  for (const s of r.cleanScore) if (s >= 0.5) correct++;
  const robust = Math.round(r.robustAccuracy * ctx.n);
  const numbers = {
    subset: ctx.n,
    eps,
    cleanCorrect: correct,
    stillRobust: robust,
    successRate: correct ? 1 - robust / correct : NaN,
  };
  return {
    id: 'unbounded',
    status: robust === 0 ? 'pass' : 'fail',
    detail:
      robust === 0
        ? `${attack.name} at ε = ${eps.toFixed(2)} (the whole box) broke all ${correct} correctly classified points`
        : `${attack.name} at ε = ${eps.toFixed(2)} (the whole box) left ${robust}/${correct} points robust: an unbounded attack must reach 100%; the attack is broken or the gradients are masked`,
    numbers,
  };
}

/**
 * `rerun(budgetScale, restartScale)` runs the evaluation's own attacks with scaled budgets on
 * the subset; `base` is the same attacks at 1× on the same points.
 */
export function checkBudget(
  base: RobustEvaluation,
  rerun: (budgetScale: number, restartScale: number) => RobustEvaluation,
): CheckResult {
  const steps2 = rerun(2, 1);
  const restarts2 = rerun(1, 2);
  const n = base.n;
  const dSteps = base.robustAccuracy - steps2.robustAccuracy;
  const dRestarts = base.robustAccuracy - restarts2.robustAccuracy;
  const worst = Math.max(Math.abs(dSteps), Math.abs(dRestarts));
  const allowed = Math.max(1 / n, 0.01);
  const status: CheckStatus = worst <= allowed + 1e-12 ? 'pass' : worst <= 0.03 ? 'warn' : 'fail';
  return {
    id: 'budget',
    status,
    detail:
      `on ${n} points: robust ${pct(base.robustAccuracy)} at 1×, ${pct(steps2.robustAccuracy)} with 2× iterations, ${pct(restarts2.robustAccuracy)} with 2× restarts` +
      (status === 'pass'
        ? ` (changes within ${pct(allowed)})`
        : `: the evaluation has not converged, use more iterations/restarts`),
    numbers: {
      subset: n,
      base: base.robustAccuracy,
      doubleIterations: steps2.robustAccuracy,
      doubleRestarts: restarts2.robustAccuracy,
      threshold: allowed,
    },
  };
}

/**
 * Transfer: craft with `attack` on the undefended `source` (white box), judge on the evaluated
 * model; compare with the white-box result `white` on the same points.
 */
export function checkTransfer(
  ctx: SubsetContext,
  source: Classifier,
  attack: AttackCall,
  white: RobustEvaluation,
): CheckResult {
  const transferred = evaluateRobustness(source, ctx.x, ctx.labels, ctx.n, {
    norm: ctx.norm,
    eps: ctx.eps,
    attacks: [boundedSpec(attack, false, source)],
    seed: ctx.seed,
    silent: true,
  });
  // Judge the source's adversarials on the evaluated model; a point stays robust if the target
  // classifies it correctly both clean and at the transferred input.
  const onTarget = correctScores(ctx.judge, transferred.xAdv, ctx.labels, ctx.n, ctx.draws).score;
  const clean = white.cleanScore;
  let rob = 0;
  for (let i = 0; i < ctx.n; i++)
    if (clean[i] >= 0.5) rob += Math.min(onTarget[i], white.cleanScore[i]);
  const transferRa = ctx.n ? rob / ctx.n : NaN;
  const d = white.robustAccuracy - transferRa; // > 0: transfer is stronger
  const points = Math.round(d * ctx.n);
  const allowed = Math.max(1 / ctx.n, 0.01);
  const status: CheckStatus = d <= 0 ? 'pass' : d <= allowed + 1e-12 ? 'warn' : 'fail';
  return {
    id: 'transfer',
    status,
    detail:
      `on ${ctx.n} points: transfer from the undefended model leaves ${pct(transferRa)} robust, white box ${pct(white.robustAccuracy)}` +
      (status === 'pass'
        ? ''
        : `: transfer is stronger by ${points} point(s), the white-box gradients are masked`),
    numbers: {
      subset: ctx.n,
      transfer: transferRa,
      whiteBox: white.robustAccuracy,
      excessPoints: points,
    },
  };
}

export interface CheckSuiteOptions {
  /** The classifier the attacks differentiate (may be an EOT wrapper/surrogate). */
  clf: Classifier;
  /** The model as deployed. */
  judge: Classifier;
  draws: number;
  /** True when the evaluation handles randomness (EOT attacks and several judge draws). */
  randomnessHandled: boolean;
  x: Float32Array;
  labels: Int32Array;
  norm: Norm;
  eps: number;
  seed: number;
  /** The main evaluation on all points. */
  evaluation: RobustEvaluation;
  /** The bounded curve, when one was run; else a 3-point curve on the subset is run. */
  curve?: CurvePoint[];
  /** Points the curve was run on (default: the evaluation's n). */
  curveN?: number;
  /** Points for the checks that attack again (the first `subset` of the evaluation's). */
  subset?: number;
  fgsm: AttackCall;
  /** The iterative attack for the iterative, monotone and unbounded checks (PGD, APGD-CE). */
  iterative: AttackCall;
  /**
   * The attack of the unbounded check (default `iterative`): best a margin loss from x itself,
   * as a CE gradient underflows to exactly 0 where the softmax saturates (e.g. on a random
   * start anywhere in the box), which would fail the check for the attack's sake.
   */
  unbounded?: AttackCall;
  /** Square, when the evaluation ran no black-box stage: run on the subset's robust points. */
  square?: AttackCall;
  /** Re-run the evaluation's attacks with scaled budgets on the first `subset` points. */
  rerun?: (budgetScale: number, restartScale: number, subset: number) => RobustEvaluation;
  /** An undefended model of the same task, for the transfer check. */
  transferSource?: Classifier;
  /** Which checks to run (default all). */
  only?: CheckId[];
  silent?: boolean;
}

/** Restrict an evaluation's per-example results to its first m points. */
export function headOf(ev: RobustEvaluation, m: number): RobustEvaluation {
  const mean = (a: Float32Array) => (m ? a.subarray(0, m).reduce((s, v) => s + v, 0) / m : NaN);
  return {
    ...ev,
    n: m,
    cleanScore: ev.cleanScore.subarray(0, m),
    robustScore: ev.robustScore.subarray(0, m),
    cleanAccuracy: mean(ev.cleanScore),
    robustAccuracy: mean(ev.robustScore),
    brokenBy: ev.brokenBy.slice(0, m),
    distance: ev.distance.subarray(0, m),
  };
}

/** Every check, in CHECK_IDS order. */
export function runChecks(o: CheckSuiteOptions): CheckResult[] {
  const bar = new Progress({
    label: 'checks',
    total: o.only?.length ?? CHECK_IDS.length,
    unit: 'check',
    silent: o.silent ?? true,
  });
  const want = (id: CheckId) => {
    const yes = !o.only || o.only.includes(id);
    if (yes) bar.tick(1, id);
    return yes;
  };
  const m = Math.min(o.subset ?? 100, o.evaluation.n);
  const ctx: SubsetContext = {
    clf: o.clf,
    judge: o.judge,
    draws: o.draws,
    x: o.x,
    labels: o.labels,
    n: m,
    norm: o.norm,
    eps: o.eps,
    seed: o.seed,
  };
  const base = headOf(o.evaluation, m);
  const out: CheckResult[] = [];
  if (want('randomised'))
    out.push(
      checkRandomised(o.judge, o.x, o.labels, Math.min(m, 250), { handled: o.randomnessHandled }),
    );
  if (want('probabilities')) out.push(checkProbabilities(o.judge, o.x, Math.min(m, 250)));
  if (want('zero-gradient')) out.push(checkZeroGradient(o.clf, o.x, o.labels, m));
  if (want('black-box')) {
    let r = checkBlackBox(o.evaluation);
    if (r.status === 'skip' && o.square) {
      // No black-box stage: run Square after the white-box cascade's result, on the subset.
      const sq = evaluateRobustness(o.clf, o.x, o.labels, m, {
        norm: o.norm,
        eps: o.eps,
        judge: o.judge,
        draws: o.draws,
        seed: o.seed,
        silent: true,
        attacks: [boundedSpec(o.square, true)],
      });
      let k = 0;
      for (let i = 0; i < m; i++) if (base.robustScore[i] >= 0.5 && sq.robustScore[i] < 0.5) k++;
      const frac = k / m;
      r = {
        id: 'black-box',
        status: k === 0 ? 'pass' : frac <= 0.01 ? 'warn' : 'fail',
        detail:
          k === 0
            ? `Square on ${m} points broke none that the white-box attacks left robust`
            : `Square on ${m} points broke ${k} (${pct(frac)}) that every white-box attack left robust: possible gradient masking`,
        numbers: {
          subset: m,
          brokenOnlyByBlackBox: k,
          fraction: frac,
          square: sq.robustAccuracy,
          whiteBox: base.robustAccuracy,
        },
      };
    }
    out.push(r);
  }
  if (want('iterative')) out.push(checkIterative(ctx, o.fgsm, o.iterative));
  if (want('monotone-eps')) {
    if (o.curve && o.curve.length >= 2) out.push(checkMonotone(o.curve, o.curveN ?? o.evaluation.n));
    else {
      const grid = [o.eps / 2, o.eps, 2 * o.eps];
      const c = grid.map((eps) => ({
        eps,
        robustAccuracy: robustOn(ctx, [boundedSpec(o.iterative)], eps).robustAccuracy,
      }));
      const r = checkMonotone(c, m);
      r.detail = `(${o.iterative.name} on ${m} points) ${r.detail}`;
      out.push(r);
    }
  }
  if (want('unbounded')) out.push(checkUnbounded(ctx, o.unbounded ?? o.iterative));
  if (want('budget')) {
    out.push(
      o.rerun
        ? checkBudget(base, (b, r) => o.rerun!(b, r, m))
        : { id: 'budget', status: 'skip', detail: 'no re-run given', numbers: {} },
    );
  }
  if (want('transfer')) {
    out.push(
      o.transferSource
        ? checkTransfer(ctx, o.transferSource, o.iterative, base)
        : {
            id: 'transfer',
            status: 'skip',
            detail: 'no undefended source model given (--transfer-from DIR)',
            numbers: {},
          },
    );
  }
  bar.finish();
  return out;
}
