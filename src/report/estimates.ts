/**
 * A reported number with its uncertainty (browser-safe), and the rules that decide the study's
 * claims from such numbers.
 *
 * An Estimate carries two 95% intervals:
 *   seeds   Student's t interval over the per-seed values (null with one seed);
 *   sample  the sampling interval of the attacked / evaluated examples, pooled over seeds:
 *           Wilson score interval for a proportion, t interval over examples for a mean
 *           (e.g. relative L2 over successful attacks), normal approximation (z · combined
 *           standard error) for averages and differences of estimates.
 * A claim compares estimates through their decision interval, the hull of the two: a verdict is
 * `supported` / `not supported` only when the intervals do not overlap, i.e. when the margin
 * exceeds both the sampling uncertainty and the seed-to-seed spread; else `inconclusive`.
 */
import {
  normalQuantile,
  tInterval,
  tIntervalFromStats,
  wilsonInterval,
  type Interval,
} from '../metrics/intervals.js';

export type Verdict = 'supported' | 'not supported' | 'inconclusive';

export interface Estimate {
  /** Mean over seeds of the per-seed values. */
  value: number;
  perSeed: number[];
  /** 95% t interval over seeds; null with fewer than 2 seeds. */
  seeds: Interval | null;
  /** 95% sampling interval (see the module comment); null when it cannot be computed. */
  sample: Interval | null;
  /** Standard error of the sampling, for combining estimates (NaN when unknown). */
  se: number;
  /** Pooled counts over seeds (proportions only). */
  k?: number;
  n?: number;
}

const Z95 = normalQuantile(0.975);
const finite = (v: number | null | undefined): v is number =>
  typeof v === 'number' && Number.isFinite(v);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function seedInterval(perSeed: number[]): Interval | null {
  if (perSeed.filter(finite).length < 2) return null;
  const t = tInterval(perSeed);
  return { lo: t.lo, hi: t.hi };
}

const NONE: Estimate = { value: NaN, perSeed: [], seeds: null, sample: null, se: NaN };

/** A proportion measured once per seed as k successes of n trials. */
export function proportionEstimate(
  cells: ({ k: number; n: number } | null | undefined)[],
): Estimate {
  const ok = cells.filter((c): c is { k: number; n: number } => !!c && c.n > 0);
  if (!ok.length) return { ...NONE };
  const perSeed = ok.map((c) => c.k / c.n);
  const k = ok.reduce((a, c) => a + c.k, 0);
  const n = ok.reduce((a, c) => a + c.n, 0);
  // Agresti–Coull's adjusted p keeps the standard error positive at 0/n and n/n.
  const pAdj = (k + 2) / (n + 4);
  return {
    value: mean(perSeed),
    perSeed,
    seeds: seedInterval(perSeed),
    sample: wilsonInterval(k, n),
    se: Math.sqrt((pAdj * (1 - pAdj)) / n),
    k,
    n,
  };
}

/** A proportion stored as a rate and its n (k = round(rate · n)). */
export function rateCell(rate: number | null | undefined, n: number | null | undefined) {
  return finite(rate) && finite(n) && n > 0 ? { k: Math.round(rate * n), n } : null;
}

/** A mean over examples, measured once per seed (mean, sample sd, number of examples). */
export function meanEstimate(
  cells: ({ mean: number; sd?: number | null; n: number } | null | undefined)[],
): Estimate {
  const ok = cells.filter(
    (c): c is { mean: number; sd?: number; n: number } => !!c && c.n > 0 && finite(c.mean),
  );
  if (!ok.length) return { ...NONE };
  const perSeed = ok.map((c) => c.mean);
  const N = ok.reduce((a, c) => a + c.n, 0);
  const pooledMean = ok.reduce((a, c) => a + c.mean * c.n, 0) / N;
  let sample: Interval | null = null;
  let se = NaN;
  if (ok.every((c) => finite(c.sd) || c.n === 1) && N >= 2) {
    // Pooled sample variance of all examples: within-seed sums of squares plus the seed offsets.
    const ss = ok.reduce(
      (a, c) => a + (c.n - 1) * (finite(c.sd) ? c.sd : 0) ** 2 + c.n * (c.mean - pooledMean) ** 2,
      0,
    );
    const sd = Math.sqrt(ss / (N - 1));
    sample = tIntervalFromStats(pooledMean, sd, N);
    se = sd / Math.sqrt(N);
  }
  return { value: mean(perSeed), perSeed, seeds: seedInterval(perSeed), sample, se };
}

function combine(parts: Estimate[], weights: number[]): Estimate {
  if (!parts.length || parts.some((p) => !finite(p.value))) return { ...NONE };
  const S = Math.min(...parts.map((p) => p.perSeed.length));
  const perSeed = Array.from({ length: S }, (_, s) =>
    parts.reduce((a, p, i) => a + weights[i] * p.perSeed[s], 0),
  );
  const value = parts.reduce((a, p, i) => a + weights[i] * p.value, 0);
  const se = Math.sqrt(parts.reduce((a, p, i) => a + (weights[i] * p.se) ** 2, 0));
  return {
    value,
    perSeed,
    seeds: seedInterval(perSeed),
    sample: finite(se) ? { lo: value - Z95 * se, hi: value + Z95 * se } : null,
    se,
  };
}

/** The average of independent estimates (e.g. over architectures). Missing parts are left out. */
export function averageEstimate(parts: Estimate[]): Estimate {
  const ok = parts.filter((p) => finite(p.value));
  return combine(
    ok,
    ok.map(() => 1 / ok.length),
  );
}

/** a − b (treated as independent: conservative when the two share examples). */
export function differenceEstimate(a: Estimate, b: Estimate): Estimate {
  return combine([a, b], [1, -1]);
}

/** The interval a claim is decided on: the hull of the sampling and the seed intervals. */
export function decisionInterval(e: Estimate): Interval | null {
  const ivs = [e.sample, e.seeds].filter((i): i is Interval => !!i && finite(i.lo) && finite(i.hi));
  if (!finite(e.value)) return null;
  if (!ivs.length) return null;
  return { lo: Math.min(...ivs.map((i) => i.lo)), hi: Math.max(...ivs.map((i) => i.hi)) };
}

/** Rule: a > b is supported when a's interval lies wholly above b's, not supported when wholly below. */
export function decideGreater(a: Estimate, b: Estimate): Verdict {
  const ia = decisionInterval(a);
  const ib = decisionInterval(b);
  if (!ia || !ib) return 'inconclusive';
  if (ia.lo > ib.hi) return 'supported';
  if (ib.lo > ia.hi) return 'not supported';
  return 'inconclusive';
}

/** Rule: `best` exceeds every other: supported if above each, not supported if one is above it. */
export function decideBest(best: Estimate, others: Estimate[]): Verdict {
  const v = others.map((o) => decideGreater(best, o));
  if (!others.length) return 'inconclusive';
  if (v.includes('not supported')) return 'not supported';
  return v.every((x) => x === 'supported') ? 'supported' : 'inconclusive';
}

/** Rule: `worst` is below every other. */
export function decideWorst(worst: Estimate, others: Estimate[]): Verdict {
  const v = others.map((o) => decideGreater(o, worst));
  if (!others.length) return 'inconclusive';
  if (v.includes('not supported')) return 'not supported';
  return v.every((x) => x === 'supported') ? 'supported' : 'inconclusive';
}

/** Rule: e ≥ threshold (supported when the interval is above it, not supported when below). */
export function decideAtLeast(e: Estimate, threshold: number): Verdict {
  const i = decisionInterval(e);
  if (!i) return 'inconclusive';
  if (i.lo >= threshold) return 'supported';
  if (i.hi < threshold) return 'not supported';
  return 'inconclusive';
}

/** Rule: e ≤ threshold. */
export function decideAtMost(e: Estimate, threshold: number): Verdict {
  const i = decisionInterval(e);
  if (!i) return 'inconclusive';
  if (i.hi <= threshold) return 'supported';
  if (i.lo > threshold) return 'not supported';
  return 'inconclusive';
}

/** Rule: |e| ≤ margin (equivalence): supported when the interval lies within ±margin. */
export function decideWithin(e: Estimate, margin: number): Verdict {
  const i = decisionInterval(e);
  if (!i) return 'inconclusive';
  if (i.lo >= -margin && i.hi <= margin) return 'supported';
  if (i.lo > margin || i.hi < -margin) return 'not supported';
  return 'inconclusive';
}

/** Every part must hold: any `not supported` decides; all `supported` decides; else inconclusive. */
export function allOf(vs: Verdict[]): Verdict {
  if (!vs.length) return 'inconclusive';
  if (vs.includes('not supported')) return 'not supported';
  return vs.every((v) => v === 'supported') ? 'supported' : 'inconclusive';
}

/** Formats an estimate: value, ± seed half-width, [sampling interval], scaled (e.g. ×100 for %). */
export function formatEstimate(e: Estimate, o: { scale?: number; digits?: number } = {}): string {
  const s = o.scale ?? 1;
  const d = o.digits ?? 1;
  if (!finite(e.value)) return '—';
  let out = (e.value * s).toFixed(d);
  if (e.seeds && finite(e.seeds.lo))
    out += ` ± ${(((e.seeds.hi - e.seeds.lo) / 2) * s).toFixed(d)}`;
  if (e.sample && finite(e.sample.lo))
    out += ` [${(e.sample.lo * s).toFixed(d)}, ${(e.sample.hi * s).toFixed(d)}]`;
  return out;
}
