/**
 * Confidence intervals for the study's report (browser-safe, no dependencies): Student's t
 * interval of a mean (over seeds, or over attacked examples), and binomial intervals of a
 * proportion (Wilson score, Clopper–Pearson exact). Special functions: Lanczos log-gamma and the
 * regularised incomplete beta function by Lentz's continued fraction (Numerical Recipes §6.4),
 * quantiles by bisection (monotone CDFs, so bisection is exact to the precision asked).
 */

export interface Interval {
  lo: number;
  hi: number;
}

const LANCZOS = [
  676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = 0.99999999999980993;
  const t = x + 7.5;
  for (let i = 0; i < LANCZOS.length; i++) a += LANCZOS[i] / (x + i + 1);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const TINY = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 500; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b), a, b > 0, x in [0, 1]. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront =
    logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x);
  const front = Math.exp(lnFront);
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry beyond.
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(x, a, b)) / a;
  return 1 - (front * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Smallest x in [lo, hi] with f(x) ≥ p, for a non-decreasing f (bisection). */
function invert(f: (x: number) => number, p: number, lo: number, hi: number): number {
  for (let i = 0; i < 200 && hi - lo > 1e-14 * Math.max(1, Math.abs(hi)); i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** CDF of Student's t distribution with df degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with df degrees of freedom (e.g. p = 0.975, df = 2 → 4.3027). */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) return NaN;
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let hi = 1;
  while (studentTCdf(hi, df) < p) hi *= 2;
  return invert((t) => studentTCdf(t, df), p, 0, hi);
}

/** CDF of the standard normal distribution: erfc by its Taylor series (small |z|) or continued fraction. */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  let erfc: number;
  if (x < 2) {
    // erf by its Taylor series: erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1)).
    let sum = 0;
    let term = x;
    for (let n = 0; n < 100; n++) {
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
      term *= (-x * x) / (n + 1);
    }
    erfc = 1 - (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // Lentz continued fraction: erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + 3/2/(x + …)))).
    let f = x;
    for (let k = 60; k >= 1; k--) f = x + k / 2 / f;
    erfc = Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
  }
  return z >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/** The p-quantile of the standard normal distribution (p = 0.975 → 1.95996). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return NaN;
  if (p === 0.5) return 0;
  if (p < 0.5) return -normalQuantile(1 - p);
  let hi = 1;
  while (normalCdf(hi) < p) hi *= 2;
  return invert(normalCdf, p, 0, hi);
}

export interface MeanInterval extends Interval {
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator). */
  sd: number;
  n: number;
}

/**
 * Student's t interval of the mean of xs at the given level (default 0.95). Fewer than two
 * finite values give lo = hi = NaN (no spread to estimate). NaN values are ignored.
 */
export function tInterval(xs: readonly number[], level = 0.95): MeanInterval {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  const mean = n ? v.reduce((a, b) => a + b, 0) / n : NaN;
  if (n < 2) return { mean, sd: NaN, n, lo: NaN, hi: NaN };
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = (studentTQuantile(1 - (1 - level) / 2, n - 1) * sd) / Math.sqrt(n);
  return { mean, sd, n, lo: mean - half, hi: mean + half };
}

/** The same interval from summary statistics (mean, sample sd, n). */
export function tIntervalFromStats(mean: number, sd: number, n: number, level = 0.95): Interval {
  if (!(n >= 2) || !Number.isFinite(sd)) return { lo: NaN, hi: NaN };
  const half = (studentTQuantile(1 - (1 - level) / 2, n - 1) * sd) / Math.sqrt(n);
  return { lo: mean - half, hi: mean + half };
}

function checkCounts(k: number, n: number): void {
  if (!(Number.isInteger(k) && Number.isInteger(n) && n >= 0 && k >= 0 && k <= n))
    throw new RangeError(`binomial interval: need integers 0 ≤ k ≤ n (got k = ${k}, n = ${n})`);
}

/**
 * Wilson score interval of a proportion k/n (the report's binomial interval: it keeps close to
 * its nominal coverage for small n and for p near 0 or 1, where the Wald interval fails).
 */
export function wilsonInterval(k: number, n: number, level = 0.95): Interval {
  checkCounts(k, n);
  if (n === 0) return { lo: NaN, hi: NaN };
  const z = normalQuantile(1 - (1 - level) / 2);
  const p = k / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n))) / (1 + z2n);
  return { lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}

/** Clopper–Pearson ("exact") interval of k/n: conservative, coverage ≥ the level. */
export function clopperPearsonInterval(k: number, n: number, level = 0.95): Interval {
  checkCounts(k, n);
  if (n === 0) return { lo: NaN, hi: NaN };
  const a = (1 - level) / 2;
  const lo = k === 0 ? 0 : invert((x) => incompleteBeta(x, k, n - k + 1), a, 0, 1);
  const hi = k === n ? 1 : invert((x) => incompleteBeta(x, k + 1, n - k), 1 - a, 0, 1);
  return { lo, hi };
}
