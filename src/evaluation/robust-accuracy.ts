/**
 * Robust accuracy at a budget ε, the way AutoAttack and RobustBench measure it:
 *
 *   clean accuracy    the model's accuracy on the n test points;
 *   robust accuracy   the fraction of points that are classified correctly AND that no attack
 *                     in the list turned into an adversarial example within ‖δ‖ ≤ ε in [0,1]:
 *                     the worst case per example over every attack run. Each bounded attack
 *                     runs only on the points still robust when its turn comes (AutoAttack's
 *                     cascade); a minimum-norm attack (CW, DeepFool, FAB) runs by default on all
 *                     correctly classified points, so that its distances give a whole curve.
 *   distances         per example the smallest ‖x_adv − x‖ of any adversarial found (by any
 *                     attack: an upper bound on the true minimal distance; 0 if misclassified
 *                     clean, ∞ if none found), and from them robust accuracy as a function of ε.
 *
 * Nothing an attack returns is trusted: every row is projected onto the ε-ball and the box in
 * float64 (rows that needed it beyond rounding are counted as `outOfBudget`, an attack bug) and
 * judged again by the model as it really predicts (`judge`, e.g. the real projection behind a
 * BPDA surrogate, or a stochastic model with fresh draws). For a stochastic judge each point
 * is scored by the fraction of `draws` fresh forward passes that classify it correctly; the
 * point counts as broken when that fraction is below ½, robust accuracy is the mean score
 * (the expected accuracy under a fresh draw), and the per-draw accuracies give its spread.
 *
 * Forward and backward passes are counted in rows (one example through the model once) by
 * wrapping the attacked classifier; time is measured per attack.
 *
 * Browser-safe: no Node imports.
 */
import * as tf from '@tensorflow/tfjs';
import type { AttackResult } from '../attacks/base.js';
import { BOX, type Norm } from '../attacks/norms.js';
import { predict, type Classifier } from '../models/classifier.js';
import { nativeLoops } from '../backend/host-kernels.js';
import { CountingHostMlp, hostNet, withHostLogits, type HostMlp } from '../models/host-mlp.js';
import { Progress } from '../util/progress.js';
import { deriveSeed } from '../util/rng.js';

/** The common signature of every attack in src/attacks (labels = true classes). */
export type AttackFn = (
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o?: any,
) => AttackResult;

export type AttackKind = 'bounded' | 'min-norm';

/** One attack of an evaluation, with the settings it runs with. */
export interface AttackSpec {
  /** Name in tables and records ('apgd-ce', 'apgd-t', 'cw', ...). */
  name: string;
  fn: AttackFn;
  kind: AttackKind;
  /** Options for `fn`; the driver adds eps, norm, seed and silent. */
  options: Record<string, unknown>;
  /** Score-based, no gradients (Square): what the gradient-masking check compares. */
  blackBox?: boolean;
  /** Attack this classifier instead of the evaluated one (an EOT wrapper, a BPDA surrogate). */
  target?: Classifier;
}

export interface EvaluateOptions {
  norm: Norm;
  eps: number;
  attacks: AttackSpec[];
  seed?: number;
  /** The model as it really predicts; default the attacked classifier itself. */
  judge?: Classifier;
  /** Fresh forward passes of the judge per point (>1 for stochastic models). Default 1. */
  draws?: number;
  /** Minimum-norm attacks on every correctly classified point (default) or only the robust. */
  minNormOnAll?: boolean;
  silent?: boolean;
  /** Label of the progress bar. */
  label?: string;
  /** Called after each attack (for a caller's own progress). */
  onAttack?: (rec: AttackRunRecord) => void;
}

export interface AttackRunRecord {
  name: string;
  kind: AttackKind;
  blackBox: boolean;
  settings: Record<string, unknown>;
  /** Points this attack ran on. */
  attacked: number;
  /** Of those, points it broke within ε (as judged). */
  broke: number;
  /** Of those, points no earlier attack had broken: what this stage added to the cascade. */
  newlyBroken: number;
  /** Robust accuracy after this stage (worst case over it and every earlier one). */
  robustAccuracyAfter: number;
  /** Rows the attack returned outside its ε-ball or the box (beyond float32 rounding). */
  outOfBudget: number;
  /** Minimum-norm attacks: median distance over the points it found an adversarial for. */
  medianDistance?: number;
  seconds: number;
  forwards: number;
  backwards: number;
  /** The attack's own query counts, when it reports them. */
  reportedForwards?: number;
  reportedBackwards?: number;
}

export interface RobustEvaluation {
  n: number;
  norm: Norm;
  eps: number;
  draws: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  /** Per draw of the judge: clean and robust accuracy (length `draws`). */
  cleanAccuracyDraws: number[];
  robustAccuracyDraws: number[];
  attacks: AttackRunRecord[];
  /** Per example: clean score (fraction of draws correct), final score, who broke it. */
  cleanScore: Float32Array;
  robustScore: Float32Array;
  brokenBy: (string | null)[];
  /** Upper bound on the minimal adversarial distance (0: misclassified clean; ∞: none found). */
  distance: Float64Array;
  /**
   * True when a minimum-norm attack ran on every correctly classified point, so `distance`
   * means something beyond ε (not so in a cascade, where FAB-T sees only the leftovers).
   */
  hasMinNorm: boolean;
  /** Per example the worst adversarial found within ε (x itself when none), row-major [n, d]. */
  xAdv: Float32Array;
  /** The judge's label at xAdv (first draw). */
  advLabel: Int32Array;
  seconds: number;
  forwards: number;
  backwards: number;
}

/** Float32 slack of a budget check: an ε-ball point stored in float32 may exceed ε by ulps. */
export function budgetTolerance(eps: number, norm: Norm, dim: number): number {
  const ulp = 2 ** -23;
  return norm === 'linf' ? 4 * ulp * Math.max(1, eps) : 4 * ulp * Math.sqrt(dim) + 1e-6 * eps;
}

/**
 * Counts rows through the forward pass and through the backward pass (an identity with a
 * custom gradient on the logits: it runs exactly when something differentiates them).
 * `prepare` and `release` pass through, so latent pipelines keep working.
 */
export class CountingClassifier implements Classifier {
  forwards = 0;
  backwards = 0;
  private readonly countBackward: (a: tf.Tensor) => tf.Tensor;

  private readonly passes: number;
  private host: HostMlp | null | undefined;
  private readonly innerHost: HostMlp | null | undefined;

  /**
   * `host`: inner's host form when the caller has it already (evaluateRobustness shares its
   * judge's, one weight copy and one set of buffers per evaluation); else asked of inner.
   */
  constructor(
    readonly inner: Classifier,
    host?: HostMlp | null,
  ) {
    this.passes = (inner as { draws?: number }).draws ?? 1;
    this.innerHost = host;
    this.countBackward = tf.customGrad(((a: tf.Tensor) => ({
      value: tf.clone(a),
      gradFunc: (dy: tf.Tensor) => {
        this.backwards += (dy.shape[0] ?? 0) * this.passes;
        return dy;
      },
    })) as never) as unknown as (a: tf.Tensor) => tf.Tensor;
  }

  get inputDim(): number {
    return this.inner.inputDim;
  }

  get numClasses(): number {
    return this.inner.numClasses;
  }

  logits(x: tf.Tensor2D): tf.Tensor2D {
    // an EOT wrapper runs `draws` passes per call
    this.forwards += x.shape[0] * this.passes;
    return tf.tidy(() => this.countBackward(this.inner.logits(x)) as tf.Tensor2D);
  }

  prepare(x: tf.Tensor2D, o?: { forwardOnly?: boolean }): void {
    this.inner.prepare?.(x, o);
  }

  release(): void {
    (this.inner as { release?: () => void }).release?.();
  }

  /**
   * The inner model's host form (HostMlp), counting its passes here, so that an attack with a
   * fused host path keeps it under evaluation; null for anything but a plain MLP (or EOT).
   */
  hostNet(): HostMlp | null {
    if (this.host === undefined) {
      const h = this.passes === 1 ? (this.innerHost ?? hostNet(this.inner)) : null;
      this.host = h
        ? new CountingHostMlp(h, (kind, rows) => {
            if (kind === 'forward') this.forwards += rows;
            else this.backwards += rows;
          })
        : null;
    }
    return this.host;
  }

  /** The wrapper owns nothing. */
  dispose(): void {}
}

/** Per example the fraction of `draws` forward passes that classify it correctly; and per draw. */
export function correctScores(
  judge: Classifier,
  x: Float32Array,
  labels: Int32Array,
  n: number,
  draws = 1,
): { score: Float32Array; perDraw: Uint8Array[]; predicted: Int32Array } {
  const score = new Float32Array(n);
  const perDraw: Uint8Array[] = [];
  let predicted: Int32Array = new Int32Array(n);
  for (let d = 0; d < draws; d++) {
    const { labels: pred } = predict(judge, x, n);
    if (d === 0) predicted = pred;
    const ok = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      ok[i] = pred[i] === labels[i] ? 1 : 0;
      score[i] += ok[i] / draws;
    }
    perDraw.push(ok);
  }
  return { score, perDraw, predicted };
}

/**
 * Project row i of `adv` onto {‖δ‖ ≤ ε} ∩ [0,1] around row i of `x0` in float64 (ε = ∞: box
 * only); returns the distance after projection and whether the row had to move (beyond `tol`).
 */
/** projectRow's work row (float64), grown as needed: one allocation, not one per row. */
let scratch = new Float64Array(0);

export function projectRow(
  adv: Float32Array,
  x0: Float32Array,
  i: number,
  dim: number,
  eps: number,
  norm: Norm,
  tol: number,
): { dist: number; moved: boolean } {
  const o = i * dim;
  const lo = BOX.min;
  const hi = BOX.max;
  // The common case first, in one read-only pass: a bounded attack's point is already in the
  // box and the ball, up to the tolerance that float32 iterates need (x0 + ε in float32 lies a
  // hair beyond ε in float64). Such a point is in budget and judged as returned: projecting it
  // would only move its last bits.
  {
    const linf = norm === 'linf';
    let inside = true;
    let m = 0;
    for (let j = o; j < o + dim; j++) {
      const v = adv[j];
      if (!(v >= lo && v <= hi)) {
        inside = false; // also NaN
        break;
      }
      const e = v - x0[j];
      if (linf) {
        const a = e < 0 ? -e : e;
        m = a > m ? a : m;
      } else m += e * e;
    }
    const dist = linf ? m : Math.sqrt(m);
    if (inside && dist <= eps + tol) return { dist, moved: false };
  }
  if (scratch.length < dim) scratch = new Float64Array(dim);
  const delta = scratch;
  // Written for V8: ternaries instead of Math.min/max, the norm tested outside the loops, no
  // per-element calls (a non-finite value is the only case v !== v or |v| = ∞): ~5× faster
  // on the 1000 × 784 rows of each attack, the same values.
  let moved = false;
  for (let j = 0; j < dim; j++) {
    let v = adv[o + j];
    if (v !== v || v === Infinity || v === -Infinity) {
      v = x0[o + j];
      moved = true;
    }
    const c = v < lo ? lo : v > hi ? hi : v;
    const off = c - v;
    if (off > tol || -off > tol) moved = true;
    delta[j] = c - x0[o + j];
  }
  if (eps !== Infinity) {
    if (norm === 'linf') {
      const ne = -eps;
      for (let j = 0; j < dim; j++) {
        const dj = delta[j];
        const c = dj < ne ? ne : dj > eps ? eps : dj;
        const off = c - dj;
        if (off > tol || -off > tol) moved = true;
        delta[j] = c;
      }
    } else {
      let s = 0;
      for (let j = 0; j < dim; j++) s += delta[j] * delta[j];
      const r = Math.sqrt(s);
      if (r > eps) {
        if (r - eps > tol) moved = true;
        // a hair inside, so that float32 rounding cannot push it back out
        const f = (eps * (1 - 1e-6)) / r;
        for (let j = 0; j < dim; j++) delta[j] *= f;
      }
    }
  }
  let d = 0;
  if (norm === 'linf') {
    for (let j = 0; j < dim; j++) {
      const t = x0[o + j] + delta[j];
      const v = Math.fround(t < lo ? lo : t > hi ? hi : t);
      adv[o + j] = v;
      const e = v - x0[o + j];
      const a = e < 0 ? -e : e;
      if (a > d) d = a;
    }
    return { dist: d, moved };
  }
  for (let j = 0; j < dim; j++) {
    const t = x0[o + j] + delta[j];
    const v = Math.fround(t < lo ? lo : t > hi ? hi : t);
    adv[o + j] = v;
    const e = v - x0[o + j];
    d += e * e;
  }
  return { dist: Math.sqrt(d), moved };
}

/**
 * projectRow's read-only first pass for all rows at once, in the addon (same float64 values):
 * per row NaN when outside the box, else its distance; null without the addon.
 */
function boxBallDistances(
  adv: Float32Array,
  x0: Float32Array,
  rows: number,
  dim: number,
  norm: Norm,
): Float64Array | null {
  const loops = nativeLoops();
  if (!loops?.boxBallDistances) return null;
  const out = new Float64Array(rows);
  loops.boxBallDistances(adv, x0, rows, dim, norm === 'linf' ? 0 : 1, out);
  return out;
}

function gatherRows(x: Float32Array, idx: ArrayLike<number>, dim: number): Float32Array {
  const out = new Float32Array(idx.length * dim);
  for (let r = 0; r < idx.length; r++)
    out.set(x.subarray(idx[r] * dim, (idx[r] + 1) * dim), r * dim);
  return out;
}

function gatherLabels(y: Int32Array, idx: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: idx.length }, (_, r) => y[idx[r]]);
}

export function median(v: number[]): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Run the attacks of `o` on the first n points of (x, labels) and measure robust accuracy. */
export function evaluateRobustness(
  clf: Classifier,
  x: Float32Array,
  labels: Int32Array,
  n: number,
  o: EvaluateOptions,
): RobustEvaluation {
  const dim = clf.inputDim;
  if (!(o.eps >= 0)) throw new RangeError(`eps must be ≥ 0 (got ${o.eps})`);
  if (x.length < n * dim) throw new RangeError(`x holds ${x.length} values, need ${n}×${dim}`);
  const draws = o.draws ?? 1;
  if (!Number.isInteger(draws) || draws < 1) throw new RangeError(`draws must be ≥ 1`);
  // host predictions for a plain MLP judge (bit-equal to the tfjs ones)
  // one host copy of the evaluated model, for its judging and the attacks on it
  const evalHost = hostNet(clf);
  const judge = o.judge ? withHostLogits(o.judge) : withHostLogits(clf, evalHost);
  const seed = o.seed ?? 0;
  const minNormOnAll = o.minNormOnAll ?? true;
  const tol = budgetTolerance(o.eps, o.norm, dim);
  const t0 = performance.now();

  const x0 = x.subarray(0, n * dim);
  const clean = correctScores(judge, x0, labels, n, draws);
  const cleanScore = clean.score;
  const robustScore = Float32Array.from(cleanScore);
  const perDraw = clean.perDraw.map((a) => Uint8Array.from(a));
  const advLabel = Int32Array.from(clean.predicted);
  const brokenBy: (string | null)[] = Array.from({ length: n }, (_, i) =>
    cleanScore[i] < 0.5 ? 'clean' : null,
  );
  const distance = new Float64Array(n).fill(Infinity);
  for (let i = 0; i < n; i++) if (cleanScore[i] < 0.5) distance[i] = 0;
  const xAdv = x0.slice();
  const robust = (i: number) => robustScore[i] >= 0.5;
  const meanScore = () => (n ? robustScore.reduce((s, v) => s + v, 0) / n : NaN);

  const bar = new Progress({
    label: o.label ?? `evaluate ${o.norm} ε=${o.eps}`,
    total: o.attacks.length,
    unit: 'attack',
    silent: o.silent,
  });
  const records: AttackRunRecord[] = [];
  let forwards = n * draws;
  let backwards = 0;
  for (const [k, spec] of o.attacks.entries()) {
    const onAll = spec.kind === 'min-norm' && minNormOnAll;
    const idx: number[] = [];
    // ε = 0: the ball is x itself, nothing for a bounded attack to do (attacks reject ε = 0)
    const skip = o.eps === 0 && spec.kind === 'bounded';
    for (let i = 0; i < n && !skip; i++) if (onAll ? cleanScore[i] >= 0.5 : robust(i)) idx.push(i);
    const counter = new CountingClassifier(spec.target ?? clf, spec.target ? undefined : evalHost);
    const ownEps = spec.options.eps as number | undefined;
    const settings = {
      ...spec.options,
      norm: o.norm,
      // JSON has no ∞: a minimum-norm attack run unbounded says so
      eps: ownEps === undefined ? o.eps : Number.isFinite(ownEps) ? ownEps : 'unbounded',
    };
    const ts = performance.now();
    let broke = 0;
    let newlyBroken = 0;
    let outOfBudget = 0;
    const found: number[] = [];
    let reported: { f?: number; b?: number } = {};
    if (idx.length > 0) {
      const xs = gatherRows(x0, idx, dim);
      const ys = gatherLabels(labels, idx);
      const r = spec.fn(counter, xs, idx.length, ys, {
        ...spec.options,
        eps: ownEps ?? o.eps,
        norm: o.norm,
        seed: deriveSeed(seed, `${spec.name}:${k}`),
        silent: true,
        // judged below, on the returned points: the attack's own final pass would repeat it
        callerJudges: true,
        // every point given was just judged correct by this very deterministic model
        knownCorrect: !spec.target && !o.judge && draws === 1 && counter.hostNet() !== null,
      });
      counter.release();
      reported = { f: r.forwards, b: r.backwards };
      const m = idx.length;
      // the result is ours: projected in place (a copy only where the raw point is kept too)
      const adv = r.xAdv.subarray(0, m * dim);
      // Minimum-norm attacks: the point itself (in the box) is an adversarial at its own
      // distance; its projection onto the ε-ball is what is judged at ε.
      const minNorm = spec.kind === 'min-norm';
      const advInBall = minNorm ? adv.slice() : adv;
      const rawDist = new Float64Array(m);
      const pre = boxBallDistances(adv, xs, m, dim, o.norm);
      for (let r2 = 0; r2 < m; r2++) {
        const own = minNorm ? Infinity : o.eps;
        const dp = pre ? pre[r2] : NaN;
        // in the box and the ball (up to tol): projectRow would return it as it is
        const p =
          dp <= own + tol
            ? { dist: dp, moved: false }
            : projectRow(adv, xs, r2, dim, own, o.norm, tol);
        if (p.moved) outOfBudget++;
        rawDist[r2] = p.dist;
        if (minNorm && !(dp <= o.eps + tol)) projectRow(advInBall, xs, r2, dim, o.eps, o.norm, tol);
      }
      const judged = correctScores(judge, advInBall, ys, idx.length, draws);
      forwards += idx.length * draws;
      const judgedRaw =
        spec.kind === 'min-norm' ? correctScores(judge, adv, ys, idx.length, draws) : judged;
      if (spec.kind === 'min-norm') forwards += idx.length * draws;
      for (let r2 = 0; r2 < idx.length; r2++) {
        const i = idx[r2];
        if (judgedRaw.score[r2] < 0.5) {
          found.push(rawDist[r2]);
          distance[i] = Math.min(distance[i], rawDist[r2]);
        }
        const s = judged.score[r2];
        if (s < 0.5) {
          broke++;
          if (robust(i)) newlyBroken++;
          if (spec.kind !== 'min-norm') distance[i] = Math.min(distance[i], rawDist[r2]);
        }
        // Worst case per example: keep the adversarial with the lowest score.
        if (s < robustScore[i] && (s < 0.5 || robust(i))) {
          if (robust(i) && s < 0.5) brokenBy[i] = spec.name;
          robustScore[i] = s;
          xAdv.set(advInBall.subarray(r2 * dim, (r2 + 1) * dim), i * dim);
          advLabel[i] = judged.predicted[r2];
          for (let d = 0; d < draws; d++) perDraw[d][i] = judged.perDraw[d][r2];
        }
      }
    }
    const rec: AttackRunRecord = {
      name: spec.name,
      kind: spec.kind,
      blackBox: !!spec.blackBox,
      settings,
      attacked: idx.length,
      broke,
      newlyBroken,
      robustAccuracyAfter: meanScore(),
      outOfBudget,
      ...(spec.kind === 'min-norm' ? { medianDistance: median(found) } : {}),
      seconds: (performance.now() - ts) / 1000,
      forwards: counter.forwards,
      backwards: counter.backwards,
      ...(reported.f !== undefined ? { reportedForwards: reported.f } : {}),
      ...(reported.b !== undefined ? { reportedBackwards: reported.b } : {}),
    };
    forwards += counter.forwards;
    backwards += counter.backwards;
    records.push(rec);
    o.onAttack?.(rec);
    bar.tick(1, `${spec.name}: robust ${(rec.robustAccuracyAfter * 100).toFixed(1)}%`);
  }
  bar.finish();
  const accOf = (a: Uint8Array) => (n ? a.reduce((s, v) => s + v, 0) / n : NaN);
  return {
    n,
    norm: o.norm,
    eps: o.eps,
    draws,
    cleanAccuracy: n ? cleanScore.reduce((s, v) => s + v, 0) / n : NaN,
    robustAccuracy: meanScore(),
    cleanAccuracyDraws: clean.perDraw.map(accOf),
    robustAccuracyDraws: perDraw.map(accOf),
    attacks: records,
    cleanScore,
    robustScore,
    brokenBy,
    distance,
    // distances beyond ε exist only where a min-norm attack saw every correct point
    hasMinNorm: minNormOnAll && o.attacks.some((a) => a.kind === 'min-norm'),
    xAdv,
    advLabel,
    seconds: (performance.now() - t0) / 1000,
    forwards,
    backwards,
  };
}

/** Robust accuracy at each ε from per-example distances: the fraction with distance > ε. */
export function curveFromDistances(distance: Float64Array, grid: number[]): number[] {
  const n = distance.length;
  return grid.map((e) => (n ? distance.reduce((s, d) => s + (d > e ? 1 : 0), 0) / n : NaN));
}

export interface CurvePoint {
  eps: number;
  /** The attacks run at this ε alone. */
  robustAccuracy: number;
  /** Worst case over this ε and every smaller one (an adversarial in a smaller ball counts). */
  envelope: number;
  seconds: number;
}

/**
 * Robust accuracy against ε from bounded attacks run at each grid point on all n points (each ε
 * independently, so the "does not rise with ε" check sees what the attack really does); the
 * envelope then takes the worst case across smaller budgets.
 */
export function boundedCurve(
  clf: Classifier,
  x: Float32Array,
  labels: Int32Array,
  n: number,
  grid: number[],
  o: Omit<EvaluateOptions, 'eps'>,
): CurvePoint[] {
  const sorted = [...grid].sort((a, b) => a - b);
  const brokenSoFar = new Uint8Array(n);
  const out: CurvePoint[] = [];
  const bar = new Progress({
    label: `curve ${o.norm}`,
    total: sorted.length,
    unit: 'ε',
    silent: o.silent,
  });
  for (const eps of sorted) {
    const r = evaluateRobustness(clf, x, labels, n, {
      ...o,
      eps,
      attacks: o.attacks.filter((a) => a.kind === 'bounded'),
      silent: true,
    });
    let env = 0;
    for (let i = 0; i < n; i++) {
      if (r.robustScore[i] < 0.5) brokenSoFar[i] = 1;
      if (!brokenSoFar[i]) env += r.robustScore[i];
    }
    out.push({
      eps,
      robustAccuracy: r.robustAccuracy,
      envelope: n ? env / n : NaN,
      seconds: r.seconds,
    });
    bar.tick(1, `ε=${eps}: ${(r.robustAccuracy * 100).toFixed(1)}%`);
  }
  bar.finish();
  return out;
}

/** Wilson 95% interval of a proportion p over n trials, for "numbers with their uncertainty". */
export function wilson95(p: number, n: number): [number, number] {
  if (!(n > 0)) return [NaN, NaN];
  const z = 1.96;
  const den = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / den;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / den;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}
