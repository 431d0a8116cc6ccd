/**
 * Square Attack of Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient
 * black-box adversarial attack via random search", ECCV 2020. Score-based: it only queries
 * the logits (no gradients) and keeps a random square-shaped update of the perturbation when
 * it lowers the margin z_y − max_{j≠y} z_j. Distance: L∞ (squares of ±2ε on the current
 * point, projected) or L2 (a pair of windows whose mass is moved into a new window with the
 * paper's centred pattern, rescaled to keep ‖δ‖₂ = ε). Untargeted, box [0, 1].
 *
 * Arguments (defaults, AutoAttack's standard version):
 *   eps       0.3 (L∞) / 2.0 (L2)
 *   norm      'linf'
 *   steps     5000      queries per restart (n_queries); `queries` is accepted as an alias
 *   restarts  1
 *   pInit     0.8       initial fraction of pixels in a square; halved at queries 10, 50,
 *                       200, 500, 1000, 2000, 4000, 6000, 8000 (p_selection)
 *   rescaleSchedule false  true: the schedule is stretched to `steps` (AutoAttack sets false)
 *   imageShape [1, √d, √d]  channels, height, width of the flat (CHW) input
 *   seed      0
 * Result: steps = the queries each example used (its first query is the initial point);
 * forwards = all rows × passes, queries included.
 *
 * Faithful to fra31/auto-attack square.py (SquareAttack, margin loss), with these differences:
 * (1) each example draws its own square positions, signs and pattern orientation from its
 * own seeded stream (the reference draws one position per iteration for the whole batch; the
 * paper draws per image), so an example's result does not depend on the rest of the batch;
 * (2) for L2 the initial grid of windows skips a window that would not fit (never, for 28×28).
 * Kept from the reference: positions are drawn from [0, h − s) (the last row/column offset
 * h − s is never used), and a misclassified candidate is always accepted.
 */
import type { Classifier } from '../models/classifier.js';
import { hostNet } from '../models/host-mlp.js';
import { Progress } from '../util/progress.js';
import { deriveSeed, Rng } from '../util/rng.js';
import type { AttackResult, CallerJudges } from './base.js';
import { checkBoundedInputs, finishResult, hostPredict, MNIST_EPS } from './bounded-common.js';
import type { Norm } from './norms.js';
import { ScratchPool } from '../util/scratch.js';

export interface SquareOptions extends CallerJudges {
  eps?: number;
  norm?: Norm;
  steps?: number;
  restarts?: number;
  seed?: number;
  silent?: boolean;
  pInit?: number;
  rescaleSchedule?: boolean;
  imageShape?: [number, number, number];
  /** Alias of steps. */
  queries?: number;
}

export const SQUARE_DEFAULTS = {
  eps: MNIST_EPS,
  norm: 'linf' as Norm,
  steps: 5000,
  restarts: 1,
  seed: 0,
  pInit: 0.8,
  rescaleSchedule: false,
};

/** The reference's p_selection: the square's pixel fraction at query `it`. */
export function squareP(it: number, pInit: number, nQueries: number, rescale: boolean): number {
  const i = rescale ? Math.trunc((it / nQueries) * 10000) : it;
  const cuts = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let q = 0;
  while (q < cuts.length && i > cuts[q]) q++;
  return pInit / 2 ** q;
}

/** The reference's eta_rectangles: a centred pattern of nested rectangles, unit L2 norm. */
function etaRectangles(x: number, y: number): Float64Array {
  const delta = new Float64Array(x * y);
  const [xc, yc] = [Math.floor(x / 2) + 1, Math.floor(y / 2) + 1];
  let [c0, c1] = [xc - 1, yc - 1];
  for (let counter = 0; counter < Math.max(xc, yc); counter++) {
    for (let i = Math.max(c0, 0); i < Math.min(c0 + 2 * counter + 1, x); i++)
      for (let j = Math.max(c1, 0); j < Math.min(c1 + 2 * counter + 1, y); j++)
        delta[i * y + j] += 1 / (counter + 1) ** 2;
    c0--;
    c1--;
  }
  return unit(delta);
}

function unit(v: Float64Array): Float64Array {
  let s = 0;
  for (const a of v) s += a * a;
  const k = 1 / Math.sqrt(s || 1);
  return v.map((a) => a * k);
}

/** The reference's eta(s): + pattern on the top half, − on the bottom; [pattern, transposed]. */
function etaPatterns(s: number): [Float64Array, Float64Array] {
  const h = Math.floor(s / 2);
  const top = etaRectangles(h, s);
  const bottom = etaRectangles(s - h, s);
  const p = new Float64Array(s * s);
  p.set(top, 0);
  for (let i = 0; i < bottom.length; i++) p[h * s + i] = -bottom[i];
  const u = unit(p);
  const t = new Float64Array(s * s);
  for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) t[j * s + i] = u[i * s + j];
  return [u, t];
}

/** Margins z_y − max_{j≠y} z_j of host points (one query each). */
type Margins = (x: Float32Array, m: number, y: Int32Array) => Float64Array;

/**
 * The margin function of a classifier: on the host MLP when the addon runs it (the same sgemm
 * calls, so the same logits as tfjs's, without a tensor upload per query batch), else tfjs.
 */
function marginsOf(clf: Classifier): Margins {
  const k = clf.numClasses;
  const host = hostNet(clf);
  return (x, m, y) => {
    const { logits: z } = hostPredict(clf, x, m, host);
    const out = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let other = -Infinity;
      for (let j = 0; j < k; j++) if (j !== y[i]) other = Math.max(other, z[i * k + j]);
      out[i] = z[i * k + y[i]] - other;
    }
    return out;
  };
}

/** Python's round(): half to even (the reference sizes squares with it). */
const roundHalfEven = (v: number) => {
  const f = Math.floor(v);
  const r = v - f;
  return r > 0.5 || (r === 0.5 && f % 2 !== 0) ? f + 1 : f;
};

interface RunConfig {
  eps: number;
  norm: Norm;
  steps: number;
  pInit: number;
  rescale: boolean;
  shape: [number, number, number];
}

/** squareRun's query batch, reused from query to query and call to call. */
const pool = new ScratchPool();

/** One Square run; rows stop at their first misclassified query. */
function squareRun(
  margins: Margins,
  x0: Float32Array,
  y: Int32Array,
  rngs: Rng[],
  c: RunConfig,
  counts: { forwards: number },
  bar: Progress,
) {
  const [C, H, W] = c.shape;
  const d = C * H * W;
  const m = y.length;
  const { eps } = c;
  const clip01 = (v: number) => Math.min(1, Math.max(0, v));
  const sign = (rng: Rng) => (rng.next() < 0.5 ? -1 : 1);
  const xBest = new Float32Array(m * d);
  const delta = new Float64Array(d);
  /** Row `o` of x0 plus ε·δ/‖δ‖₂, clipped to the box, into out[on…]. */
  const placeL2 = (o: number, out: Float32Array, on: number) => {
    let s = 0;
    for (let p = 0; p < d; p++) s += delta[p] * delta[p];
    const k = eps / (Math.sqrt(s) + 1e-12);
    for (let p = 0; p < d; p++) out[on + p] = clip01(x0[o + p] + delta[p] * k);
  };
  const patterns = new Map<number, [Float64Array, Float64Array]>();
  const pattern = (s: number, rng: Rng) => {
    if (!patterns.has(s)) patterns.set(s, etaPatterns(s));
    return patterns.get(s)![rng.next() > 0.5 ? 1 : 0];
  };

  // Initial point. L∞: vertical stripes of ±ε; L2: a grid of ±patterns, scaled to ‖δ‖₂ = ε.
  for (let r = 0; r < m; r++) {
    const o = r * d;
    if (c.norm === 'linf') {
      for (let ch = 0; ch < C; ch++)
        for (let col = 0; col < W; col++) {
          const sg = sign(rngs[r]);
          for (let row = 0; row < H; row++) {
            const p = o + (ch * H + row) * W + col;
            xBest[p] = clip01(x0[p] + eps * sg);
          }
        }
      continue;
    }
    delta.fill(0);
    const s0 = Math.floor(H / 5);
    const sp = Math.floor((H - 5 * s0) / 2);
    for (let a = 0; a < Math.floor(H / s0); a++)
      for (let b = 0; b < Math.floor(W / s0); b++) {
        const [vh, vw] = [sp + a * s0, sp + b * s0];
        if (vh + s0 > H || vw + s0 > W) continue;
        const pat = pattern(s0, rngs[r]);
        for (let ch = 0; ch < C; ch++) {
          const sg = sign(rngs[r]);
          for (let i = 0; i < s0; i++)
            for (let j = 0; j < s0; j++)
              delta[(ch * H + vh + i) * W + vw + j] += pat[i * s0 + j] * sg;
        }
      }
    placeL2(o, xBest, o);
  }
  const marginMin = margins(xBest, m, y);
  counts.forwards += m;
  const lossMin = Float64Array.from(marginMin);
  const queries = new Int32Array(m).fill(1);
  let active = Array.from({ length: m }, (_, r) => r).filter((r) => marginMin[r] > 0);

  for (let it = 0; it < c.steps && active.length > 0; it++) {
    const p = squareP(it, c.pInit, c.steps, c.rescale);
    let s = roundHalfEven(Math.sqrt((p * d) / C));
    if (c.norm === 'linf') s = Math.max(s, 1);
    else {
      s = Math.max(s, 3);
      if (s % 2 === 0) s++;
    }
    s = Math.min(s, H, W);
    const ma = active.length;
    // every row of xNew is written below before the query reads it
    const xNew = pool.f32('xNew', ma * d);
    active.forEach((r, j) => {
      const rng = rngs[r];
      const o = r * d;
      const on = j * d;
      const vh = Math.floor(rng.next() * (H - s));
      const vw = Math.floor(rng.next() * (W - s));
      if (c.norm === 'linf') {
        xNew.set(xBest.subarray(o, o + d), on);
        for (let ch = 0; ch < C; ch++) {
          const step = 2 * eps * sign(rng);
          // min(max(x + step, x0 − ε), x0 + ε), then the box: ternaries in float64, as the
          // Math.min/max form computes (no NaN here), ~3× faster in V8
          for (let i = 0; i < s; i++) {
            const row = o + (ch * H + vh + i) * W + vw;
            const rowNew = on - o + row;
            for (let q = 0; q < s; q++) {
              const a = x0[row + q];
              const lo = a - eps;
              const hi = a + eps;
              let v = xBest[row + q] + step;
              v = v > lo ? v : lo;
              v = v < hi ? v : hi;
              xNew[rowNew + q] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
          }
        }
        return;
      }
      // L2: move the mass of windows 1 and 2 into a new pattern on window 1
      const vh2 = Math.floor(rng.next() * (H - s));
      const vw2 = Math.floor(rng.next() * (W - s));
      let image = 0;
      for (let q = 0; q < d; q++) {
        delta[q] = xBest[o + q] - x0[o + q];
        image += delta[q] * delta[q];
      }
      const pat = pattern(s, rng);
      const in1 = (i: number, q: number) => i >= vh && i < vh + s && q >= vw && q < vw + s;
      const in2 = (i: number, q: number) => i >= vh2 && i < vh2 + s && q >= vw2 && q < vw2 + s;
      for (let ch = 0; ch < C; ch++) {
        let w1 = 0;
        let both = 0;
        for (let i = 0; i < H; i++)
          for (let q = 0; q < W; q++) {
            const v = delta[(ch * H + i) * W + q];
            if (in1(i, q)) w1 += v * v;
            if (in1(i, q) || in2(i, q)) both += v * v;
          }
        const nw1 = Math.sqrt(w1);
        const sg = sign(rng);
        const fresh = new Float64Array(s * s);
        let fn = 0;
        for (let i = 0; i < s; i++)
          for (let q = 0; q < s; q++) {
            const v = pat[i * s + q] * sg + delta[(ch * H + vh + i) * W + vw + q] / (1e-12 + nw1);
            fresh[i * s + q] = v;
            fn += v * v;
          }
        const scale =
          Math.sqrt(Math.max(eps * eps - image, 0) / C + both) / (1e-12 + Math.sqrt(fn));
        for (let i = 0; i < s; i++)
          for (let q = 0; q < s; q++) delta[(ch * H + vh2 + i) * W + vw2 + q] = 0;
        for (let i = 0; i < s; i++)
          for (let q = 0; q < s; q++)
            delta[(ch * H + vh + i) * W + vw + q] = fresh[i * s + q] * scale;
      }
      placeL2(o, xNew, on);
    });
    const margin = margins(
      xNew,
      ma,
      Int32Array.from(active, (r) => y[r]),
    );
    counts.forwards += ma;
    active.forEach((r, j) => {
      queries[r]++;
      const improved = margin[j] < lossMin[r];
      if (improved) lossMin[r] = margin[j];
      if (improved || margin[j] <= 0) {
        marginMin[r] = margin[j];
        xBest.set(xNew.subarray(j * d, (j + 1) * d), r * d);
      }
    });
    active = active.filter((r) => marginMin[r] > 0);
    bar.tick(1);
  }
  return { xBest, marginMin, queries };
}

/** Square attack (untargeted, margin loss), score-based: logits only, no gradients. */
export function square(
  clf: Classifier,
  x0: Float32Array,
  n: number,
  labels: Int32Array,
  o: SquareOptions = {},
): AttackResult {
  const D = SQUARE_DEFAULTS;
  const norm = o.norm ?? D.norm;
  const d = clf.inputDim;
  const side = Math.round(Math.sqrt(d));
  const shape = o.imageShape ?? (side * side === d ? [1, side, side] : undefined);
  if (
    !shape ||
    shape.some((v) => !Number.isInteger(v) || v < 1) ||
    shape[0] * shape[1] * shape[2] !== d
  )
    throw new RangeError(`imageShape [c, h, w] must multiply to the input dimension ${d}`);
  const c: RunConfig & { restarts: number } = {
    eps: o.eps ?? D.eps[norm] ?? NaN,
    norm,
    steps: o.steps ?? o.queries ?? D.steps,
    pInit: o.pInit ?? D.pInit,
    rescale: o.rescaleSchedule ?? D.rescaleSchedule,
    shape,
    restarts: o.restarts ?? D.restarts,
  };
  if (o.steps !== undefined && o.queries !== undefined && o.steps !== o.queries)
    throw new RangeError(`steps (${o.steps}) and queries (${o.queries}) disagree`);
  checkBoundedInputs(clf, x0, n, labels, c);
  if (!Number.isFinite(c.eps)) throw new RangeError(`eps must be finite (got ${c.eps})`);
  if (!(c.pInit > 0 && c.pInit <= 1))
    throw new RangeError(`pInit must be in (0, 1] (got ${c.pInit})`);
  const seed = o.seed ?? D.seed;
  const counts = { forwards: n };
  const margins = marginsOf(clf);
  const clean = margins(x0, n, labels);
  const xAdv = Float32Array.from(x0.subarray(0, n * d));
  const success = Uint8Array.from(clean, (mg) => (mg <= 0 ? 1 : 0));
  const steps = new Int32Array(n);
  const bestMargin = new Float64Array(n).fill(Infinity);
  const bar = new Progress({
    label: 'square',
    total: c.restarts * c.steps,
    unit: 'query',
    silent: o.silent,
  });
  try {
    for (let r = 0; r < c.restarts; r++) {
      const idx = Array.from({ length: n }, (_, i) => i).filter((i) => !success[i]);
      if (idx.length === 0) break;
      const xs = new Float32Array(idx.length * d);
      idx.forEach((i, j) => xs.set(x0.subarray(i * d, (i + 1) * d), j * d));
      // one stream per example: its squares do not depend on the rest of the batch
      const rngs = idx.map((i) => new Rng(deriveSeed(seed, `square:${r}:${i}`)));
      const out = squareRun(
        margins,
        xs,
        Int32Array.from(idx, (i) => labels[i]),
        rngs,
        c,
        counts,
        bar,
      );
      idx.forEach((i, j) => {
        steps[i] += out.queries[j];
        // failures keep their lowest-margin point (within ε), successes their first adversarial
        if (out.marginMin[j] < bestMargin[i]) {
          bestMargin[i] = out.marginMin[j];
          xAdv.set(out.xBest.subarray(j * d, (j + 1) * d), i * d);
        }
        if (out.marginMin[j] <= 0) success[i] = 1;
      });
      bar.set((r + 1) * c.steps);
    }
  } finally {
    bar.finish();
  }
  return finishResult(clf, xAdv, n, labels, success, steps, counts, o.callerJudges);
}
