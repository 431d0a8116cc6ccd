/**
 * Fast Adaptive Boundary attack of Croce & Hein, "Minimally distorted adversarial examples with
 * a fast adaptive boundary attack", ICML 2020: a minimum-norm attack that linearises the
 * classifier at the iterate, projects both the iterate and the original point onto the
 * linearised decision hyperplane (exactly, inside the box [0, 1]), and steps to a convex
 * combination biased towards the original point; once adversarial it steps back towards it.
 * Distance: L∞ or L2. Targeted (FAB-T, default: the boundary towards the 2nd, 3rd, … highest
 * clean logit in turn, as AutoAttack) or untargeted (the nearest linearised boundary among
 * all classes, one Jacobian per step: K× the cost of a targeted step).
 *
 * Arguments (defaults, those of fra31/auto-attack):
 *   eps       Infinity   ∞: minimum-norm mode, every target and restart runs on every point;
 *                        finite: AutoAttack's mode, a point with an adversarial within eps
 *                        is done (it stops, and later runs skip it)
 *   norm      'linf'
 *   steps     100        iterations per run (n_iter)
 *   restarts  1          restart r > 0 starts at a random point of the sphere of radius
 *                        min(eps, best distance so far, 0.3 L∞ / 1.0 L2)/2
 *   targeted  true       nTargetClasses 9
 *   alphaMax  0.1, eta 1.05 (overshoot), beta 0.9 (backward step), seed 0
 * Result: success = misclassified (at any distance: the caller reads it from xAdv and judges
 * it at its ε); xAdv = the smallest adversarial found, else x0.
 *
 * Faithful to fra31/auto-attack fab_base.py / fab_pt.py / fab_projections.py, with these
 * differences: (1) the box-constrained projections onto a hyperplane are computed exactly on
 * the host in float64 (sorted breakpoints of the piecewise-linear constraint, the same
 * solution as the reference's vectorised bisection); (2) in finite-eps mode each example
 * stops once it has an adversarial within eps (robust accuracy is unchanged); (3) with eps = ∞
 * all runs see all points (the reference, given no eps, stops at the first success within its
 * default eps); (4) the smallest adversarial is returned even beyond eps (the reference returns
 * x0 there); (5) targets are ranked once from the clean logits; seeds derived per run;
 * (6) the targets of one restart run as one batch (one row per target × point), not in turn:
 * far fewer kernel dispatches; in finite-eps mode a point's other targets of that batch still
 * run after one broke it (success at eps is the same; its distance may be smaller).
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier } from '../models/classifier.js';
import { hostNet, type HostMlp } from '../models/host-mlp.js';
import { Progress } from '../util/progress.js';
import { deriveSeed, Rng } from '../util/rng.js';
import type { AttackResult, CallerJudges } from './base.js';
import { checkBoundedInputs, finishResult, hostPredict, sortedClasses } from './bounded-common.js';
import type { Norm } from './norms.js';

export interface FabOptions extends CallerJudges {
  eps?: number;
  norm?: Norm;
  steps?: number;
  restarts?: number;
  seed?: number;
  silent?: boolean;
  targeted?: boolean;
  nTargetClasses?: number;
  alphaMax?: number;
  eta?: number;
  beta?: number;
}

export const FAB_DEFAULTS = {
  eps: Infinity,
  norm: 'linf' as Norm,
  steps: 100,
  restarts: 1,
  seed: 0,
  targeted: true,
  nTargetClasses: 9,
  alphaMax: 0.1,
  eta: 1.05,
  beta: 0.9,
  restartRadius: { linf: 0.3, l2: 1.0 } as Record<Norm, number>,
};

/**
 * The minimal-norm δ with w·(t + δ) = b and t + δ ∈ [0, 1]ᵈ (or, if the box cannot reach the
 * hyperplane, the box corner closest to it). With u = −sign(w·t − b)·w, c = |w·t − b| and
 * cap_i the room of t_i in the direction of u_i: L∞ δ_i = sgn(u_i)·min(ρ, cap_i), L2
 * δ_i = sgn(u_i)·min(λ|u_i|, cap_i), with ρ (λ) solving Σ|u_i|·δ_i = c, piecewise linear.
 */
export function boxedHyperplaneProjection(
  t: ArrayLike<number>,
  w: ArrayLike<number>,
  b: number,
  norm: Norm,
  out: Float64Array,
): void {
  const d = out.length;
  let wt = 0;
  for (let i = 0; i < d; i++) wt += w[i] * t[i];
  const c = Math.abs(wt - b);
  const s = wt - b > 0 ? -1 : 1;
  out.fill(0);
  if (c === 0) return;
  // Per coordinate: its breakpoint key (ρ or λ at which it saturates), its saturated gain
  // |u_i|·cap_i and its gain rate while active (|u_i| for L∞, u_i² for L2).
  const key = new Float64Array(d);
  const satGain = new Float64Array(d);
  const rate = new Float64Array(d);
  const au = new Float64Array(d);
  let nKeys = 0;
  for (let i = 0; i < d; i++) {
    const u = s * w[i];
    const a = Math.abs(u);
    const cap = u > 0 ? 1 - t[i] : t[i];
    au[i] = a;
    if (a === 0) {
      key[i] = Infinity; // never moves, contributes nothing
      continue;
    }
    key[i] = norm === 'linf' ? cap : cap / a;
    satGain[i] = a * cap;
    rate[i] = norm === 'linf' ? a : a * a;
    nKeys++;
  }
  // Find r with g(r) = Σ_{key ≤ r} satGain + r·Σ_{key > r} rate = c (g is continuous and
  // non-decreasing) by quickselect on the keys: expected O(d), no sort.
  const idx = new Int32Array(nKeys);
  let total = 0;
  for (let i = 0, q = 0; i < d; i++)
    if (key[i] !== Infinity) {
      idx[q++] = i;
      total += satGain[i];
    }
  let r = Infinity; // unreachable: the full move towards the hyperplane
  if (total >= c) {
    let satAcc = 0;
    let actAcc = 0;
    let rHi = Infinity;
    let lo = 0;
    let hi = nKeys;
    while (lo < hi) {
      const p = key[idx[(lo + hi) >> 1]];
      // three-way partition of idx[lo, hi): < p | = p | > p
      let lt = lo;
      let gt = hi;
      for (let j = lo; j < gt;) {
        const v = idx[j];
        const kj = key[v];
        if (kj < p) {
          idx[j++] = idx[lt];
          idx[lt++] = v;
        } else if (kj > p) {
          idx[j] = idx[--gt];
          idx[gt] = v;
        } else j++;
      }
      let sLess = 0;
      let sEq = 0;
      let aEq = 0;
      let aGreater = 0;
      for (let j = lo; j < lt; j++) sLess += satGain[idx[j]];
      for (let j = lt; j < gt; j++) {
        sEq += satGain[idx[j]];
        aEq += rate[idx[j]];
      }
      for (let j = gt; j < hi; j++) aGreater += rate[idx[j]];
      if (satAcc + sLess + sEq + p * (actAcc + aGreater) >= c) {
        rHi = p; // root ≤ p: keys ≥ p are active there (at key = p both readings agree)
        actAcc += aEq + aGreater;
        hi = lt;
      } else {
        satAcc += sLess + sEq; // root > p: keys ≤ p are saturated
        lo = gt;
      }
    }
    r = actAcc > 0 ? Math.min((c - satAcc) / actAcc, rHi) : rHi;
  }
  for (let i = 0; i < d; i++) {
    if (au[i] === 0) continue;
    const cap = s * w[i] > 0 ? 1 - t[i] : t[i];
    const mag = Math.min(norm === 'linf' ? r : r * au[i], cap);
    out[i] = s * w[i] > 0 ? mag : -mag;
  }
}

function normOf(v: ArrayLike<number>, norm: Norm, from = 0, len = v.length): number {
  let s = 0;
  for (let i = from; i < from + len; i++)
    s = norm === 'linf' ? Math.max(s, Math.abs(v[i])) : s + v[i] * v[i];
  return norm === 'linf' ? s : Math.sqrt(s);
}

/** Per row: f_j − f_y and ∇(f_j − f_y) of the chosen boundary (targeted: j = target). */
function linearise(
  clf: Classifier,
  x: Float32Array,
  m: number,
  y: Int32Array,
  target: Int32Array | undefined,
  norm: Norm,
  counts: { forwards: number; backwards: number },
): { df: Float64Array; w: Float32Array } {
  const d = clf.inputDim;
  const k = clf.numClasses;
  const reps = target ? 1 : k; // untargeted: one copy of the batch per class, one backward
  const xt = tf.tidy(
    () => tf.tile(tf.tensor2d(x.subarray(0, m * d), [m, d]), [reps, 1]) as tf.Tensor2D,
  );
  clf.prepare?.(xt);
  let z = new Float32Array(0);
  const g = tf.tidy(() =>
    tf.grad((xv: tf.Tensor) => {
      const logits = clf.logits(xv as tf.Tensor2D);
      z = Float32Array.from(logits.dataSync() as Float32Array);
      const dz = new Float32Array(reps * m * k);
      for (let q = 0; q < reps; q++)
        for (let i = 0; i < m; i++) {
          const row = q * m + i;
          if (target) {
            dz[row * k + target[i]] += 1;
            dz[row * k + y[i]] -= 1;
          } else dz[row * k + q] = 1;
        }
      return tf.sum(tf.mul(logits, tf.tensor2d(dz, [reps * m, k])));
    })(xt),
  );
  const gs = g.dataSync() as Float32Array;
  tf.dispose([g, xt]);
  counts.forwards += reps * m;
  counts.backwards += reps * m;
  const df = new Float64Array(m);
  const w = new Float32Array(m * d);
  for (let i = 0; i < m; i++) {
    let j = target?.[i] ?? -1;
    if (!target) {
      // the nearest linearised boundary: argmin_j |f_j − f_y| / ‖∇(f_j − f_y)‖_dual
      let best = Infinity;
      for (let q = 0; q < k; q++) {
        if (q === y[i]) continue;
        let dual = 0;
        for (let p = 0; p < d; p++) {
          const v = gs[(q * m + i) * d + p] - gs[(y[i] * m + i) * d + p];
          dual = norm === 'linf' ? dual + Math.abs(v) : dual + v * v;
        }
        const dist =
          Math.abs(z[i * k + q] - z[i * k + y[i]]) /
          (1e-12 + (norm === 'linf' ? dual : Math.sqrt(dual)));
        if (dist < best) [best, j] = [dist, q];
      }
    }
    df[i] = z[i * k + j] - z[i * k + y[i]];
    for (let p = 0; p < d; p++)
      w[i * d + p] = target ? gs[i * d + p] : gs[(j * m + i) * d + p] - gs[(y[i] * m + i) * d + p];
  }
  return { df, w };
}

interface RunConfig {
  eps: number;
  norm: Norm;
  steps: number;
  alphaMax: number;
  eta: number;
  beta: number;
}

/** One FAB run from `start` (default x0); returns each row's smallest adversarial found. */
function fabRun(
  clf: Classifier,
  x0: Float32Array,
  y: Int32Array,
  target: Int32Array | undefined,
  start: Float32Array | null,
  c: RunConfig,
  counts: { forwards: number; backwards: number },
  bar: { tick(k: number): void },
  host: HostMlp | null, // the per-iteration success check on the host when it can
) {
  const m = y.length;
  const d = clf.inputDim;
  const x1 = Float32Array.from(start ?? x0);
  const res = new Float64Array(m).fill(Infinity);
  const adv = new Float32Array(m * d);
  const iters = new Int32Array(m);
  const d1 = new Float64Array(d);
  const d2 = new Float64Array(d);
  let active = Array.from({ length: m }, (_, i) => i);
  for (let it = 0; it < c.steps && active.length > 0; it++) {
    const ma = active.length;
    const xa = new Float32Array(ma * d);
    active.forEach((r, j) => xa.set(x1.subarray(r * d, (r + 1) * d), j * d));
    const ya = Int32Array.from(active, (r) => y[r]);
    const ta = target && Int32Array.from(active, (r) => target[r]);
    const { df, w } = linearise(clf, xa, ma, ya, ta, c.norm, counts);
    active.forEach((r, j) => {
      // the linearised boundary {z : w·z = b} with b = w·x1 − (f_j − f_y)(x1)
      const wr = w.subarray(j * d, (j + 1) * d);
      const p1 = x1.subarray(r * d, (r + 1) * d);
      const p0 = x0.subarray(r * d, (r + 1) * d);
      let b = -df[j];
      for (let p = 0; p < d; p++) b += wr[p] * p1[p];
      boxedHyperplaneProjection(p1, wr, b, c.norm, d1);
      boxedHyperplaneProjection(p0, wr, b, c.norm, d2);
      const a1 = Math.max(normOf(d1, c.norm), 1e-8);
      const a2 = Math.max(normOf(d2, c.norm), 1e-8);
      const alpha = Math.min(Math.max(a1 / (a1 + a2), 0), c.alphaMax);
      for (let p = 0; p < d; p++) {
        const v = (p1[p] + c.eta * d1[p]) * (1 - alpha) + (p0[p] + c.eta * d2[p]) * alpha;
        p1[p] = Math.min(1, Math.max(0, v));
      }
      iters[r]++;
    });
    active.forEach((r, j) => xa.set(x1.subarray(r * d, (r + 1) * d), j * d));
    const pred = hostPredict(clf, xa, ma, host).labels;
    counts.forwards += ma;
    active.forEach((r, j) => {
      if (pred[j] === y[r]) return;
      const p1 = x1.subarray(r * d, (r + 1) * d);
      const p0 = x0.subarray(r * d, (r + 1) * d);
      let t = 0;
      for (let p = 0; p < d; p++) {
        const v = Math.abs(p1[p] - p0[p]);
        t = c.norm === 'linf' ? Math.max(t, v) : t + v * v;
      }
      if (c.norm === 'l2') t = Math.sqrt(t);
      if (t < res[r]) {
        res[r] = t;
        adv.set(p1, r * d);
      }
      for (let p = 0; p < d; p++) p1[p] = p0[p] + (p1[p] - p0[p]) * c.beta;
    });
    // AutoAttack mode: a row with an adversarial within eps is done
    if (Number.isFinite(c.eps)) active = active.filter((r) => !(res[r] <= c.eps));
    bar.tick(1);
  }
  return { res, adv, iters };
}

/** FAB-T (default) or untargeted FAB; minimum-norm unless eps is finite. */
export function fab(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: FabOptions = {},
): AttackResult {
  const D = FAB_DEFAULTS;
  const norm = o.norm ?? D.norm;
  const c: RunConfig & { restarts: number } = {
    eps: o.eps ?? D.eps,
    norm,
    steps: o.steps ?? D.steps,
    alphaMax: o.alphaMax ?? D.alphaMax,
    eta: o.eta ?? D.eta,
    beta: o.beta ?? D.beta,
    restarts: o.restarts ?? D.restarts,
  };
  checkBoundedInputs(clf, x0, n, labels, c);
  if (!(c.alphaMax >= 0 && c.alphaMax <= 1)) throw new RangeError(`alphaMax must be in [0, 1]`);
  if (!(c.eta >= 1)) throw new RangeError(`eta must be ≥ 1 (got ${c.eta})`);
  if (!(c.beta > 0 && c.beta <= 1)) throw new RangeError(`beta must be in (0, 1] (got ${c.beta})`);
  const targeted = o.targeted ?? D.targeted;
  const k = clf.numClasses;
  const nT = o.nTargetClasses ?? D.nTargetClasses;
  if (targeted && (!Number.isInteger(nT) || nT < 1 || nT > k - 1))
    throw new RangeError(`nTargetClasses must be an integer in [1, ${k - 1}] (got ${nT})`);
  const seed = o.seed ?? D.seed;
  const d = clf.inputDim;
  const counts = { forwards: n, backwards: 0 };
  const host = hostNet(clf);
  const clean = hostPredict(clf, x0, n, host);
  const correct = Array.from({ length: n }, (_, i) => clean.labels[i] === labels[i]);
  const xAdv = Float32Array.from(x0.subarray(0, n * d));
  const best = Float64Array.from(correct, (ok) => (ok ? Infinity : 0));
  const steps = new Int32Array(n);
  // Per restart, every target of every point still to attack in one batched run, one row per
  // (target, point): ~1/nT of the kernel dispatches of running the targets one after another
  // (the reference's order). Per point the kept result is the smallest distance over its rows,
  // as there; in AutoAttack mode (finite ε) the reference stops attacking a point once a target
  // broke it within ε, here the later targets of that batch still run (a smaller distance may
  // be kept; success at ε is the same).
  const ranks = targeted ? Array.from({ length: nT }, (_, q) => q + 2) : [undefined];
  const bar = new Progress({
    label: targeted ? 'fab-t' : 'fab',
    total: ranks.length * c.restarts * c.steps,
    unit: 'step',
    silent: o.silent,
  });
  const sorted = targeted
    ? Array.from({ length: n }, (_, i) => sortedClasses(clean.logits, i, k))
    : [];
  try {
    for (let r = 0; r < c.restarts; r++) {
      const idx = Array.from({ length: n }, (_, i) => i).filter(
        (i) => correct[i] && !(Number.isFinite(c.eps) && best[i] <= c.eps),
      );
      if (idx.length === 0) continue;
      const rows = ranks.flatMap((rank) => idx.map((i) => [rank, i] as const));
      const xs = new Float32Array(rows.length * d);
      rows.forEach(([, i], j) => xs.set(x0.subarray(i * d, (i + 1) * d), j * d));
      const y = Int32Array.from(rows, ([, i]) => labels[i]);
      const target = targeted
        ? Int32Array.from(rows, ([rank, i]) => sorted[i][rank! - 1])
        : undefined;
      let start: Float32Array | null = null;
      if (r > 0) {
        // a random point of the sphere of radius ρ/2 around x0, in the box
        const rng = new Rng(deriveSeed(seed, `fab:targets:r${r}`));
        start = new Float32Array(xs.length);
        const dir = new Float64Array(d);
        rows.forEach(([, i], j) => {
          const rho = Number.isFinite(c.eps) ? c.eps : Math.min(best[i], D.restartRadius[norm]);
          for (let p = 0; p < d; p++)
            dir[p] =
              norm === 'linf'
                ? 2 * rng.next() - 1
                : Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
          const size = normOf(dir, norm);
          for (let p = 0; p < d; p++)
            start![j * d + p] = Math.min(
              1,
              Math.max(0, xs[j * d + p] + (0.5 * rho * dir[p]) / size),
            );
        });
      }
      const runBar = { tick: (t: number) => bar.tick(t * ranks.length) };
      const out = fabRun(clf, xs, y, target, start, c, counts, runBar, host);
      rows.forEach(([, i], j) => {
        steps[i] += out.iters[j];
        if (out.res[j] < best[i]) {
          best[i] = out.res[j];
          xAdv.set(out.adv.subarray(j * d, (j + 1) * d), i * d);
        }
      });
      bar.set((r + 1) * ranks.length * c.steps);
    }
  } finally {
    bar.finish();
  }
  // success = misclassified at xAdv, at whatever distance: the caller judges it at its ε
  const success = Uint8Array.from(best, (b) => (b < Infinity ? 1 : 0));
  return finishResult(clf, xAdv, n, labels, success, steps, counts, o.callerJudges);
}
