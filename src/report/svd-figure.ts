/**
 * Figure 7 of the study for one sweep: the line chart (SVG, 95% bands) and its markdown table.
 * Browser-safe.
 */
import { lineChart } from './svg.js';
import { markdownTable } from './table.js';
import {
  decisionInterval,
  formatEstimate,
  meanEstimate,
  proportionEstimate,
  rateCell,
  type Estimate,
} from './estimates.js';

export interface SvdSweepPoint {
  fraction: number;
  trainAccuracy: number;
  testAccuracy: number;
  adversarialAccuracy: number;
  reattackRobustness: number | null;
  reattackSuccessRate: number | null;
  reattackRobustnessSd?: number | null;
  reattackSuccesses?: number | null;
  reattackN?: number | null;
}

/** One fraction of a sweep over one or more seeds. */
export interface SvdSweepEstimate {
  fraction: number;
  train: Estimate;
  test: Estimate;
  adversarial: Estimate;
  reattackRobustness: Estimate;
  reattackSuccess: Estimate;
}

/** Example counts behind a sweep's proportions (for their binomial intervals). */
export interface SvdCounts {
  trainN?: number;
  testN?: number;
  adversarialExamples?: number;
}

/** Rates with their counts; without counts (an old result) the mean alone, no interval. */
function proportion(rates: (number | undefined)[], ns: (number | undefined)[]): Estimate {
  if (ns.every((n) => typeof n === 'number'))
    return proportionEstimate(rates.map((r, i) => rateCell(r, ns[i])));
  const v = rates.filter((r): r is number => typeof r === 'number' && Number.isFinite(r));
  return {
    value: v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN,
    perSeed: v,
    seeds: null,
    sample: null,
    se: NaN,
  };
}

/** Per-seed sweeps (same fractions) → one estimate per fraction. */
export function svdSweepEstimates(
  sweeps: { points: SvdSweepPoint[]; counts: SvdCounts }[],
): SvdSweepEstimate[] {
  if (!sweeps.length) return [];
  return sweeps[0].points.map((p0) => {
    const at = sweeps.map((s) => s.points.find((p) => Math.abs(p.fraction - p0.fraction) < 1e-9));
    return {
      fraction: p0.fraction,
      train: proportion(
        at.map((p) => p?.trainAccuracy),
        sweeps.map((s) => s.counts.trainN),
      ),
      test: proportion(
        at.map((p) => p?.testAccuracy),
        sweeps.map((s) => s.counts.testN),
      ),
      adversarial: proportion(
        at.map((p) => p?.adversarialAccuracy),
        sweeps.map((s) => s.counts.adversarialExamples),
      ),
      reattackRobustness: meanEstimate(
        at.map((p) =>
          p && p.reattackRobustness !== null && Number.isFinite(p.reattackRobustness)
            ? {
                mean: p.reattackRobustness,
                sd: p.reattackRobustnessSd ?? null,
                n: p.reattackSuccesses ?? 1,
              }
            : null,
        ),
      ),
      reattackSuccess: proportionEstimate(
        at.map((p) => (p && p.reattackN ? { k: p.reattackSuccesses ?? 0, n: p.reattackN } : null)),
      ),
    };
  });
}

const pct = (v: number | null) =>
  v === null || !Number.isFinite(v) ? null : Math.round(v * 1000) / 10;

export interface SvdFigureOptions {
  /** Smallest re-attack success rate at which its mean perturbation is drawn (default 0.5). */
  minSuccessShown?: number;
}

/** The figure and table from per-fraction estimates (bands: 95% decision intervals). */
export function svdFigureFromEstimates(
  title: string,
  pts: SvdSweepEstimate[],
  o: SvdFigureOptions = {},
): { svg: string; md: string } {
  const minShown = o.minSuccessShown ?? 0.5;
  const x = pts.map((p) => p.fraction * 100);
  const shownRe = (p: SvdSweepEstimate) =>
    Number.isFinite(p.reattackRobustness.value) && p.reattackSuccess.value >= minShown;
  const hasRe = pts.some(shownRe);
  const band = (
    get: (p: SvdSweepEstimate) => Estimate,
    scale: number,
    keep = (_: SvdSweepEstimate) => true,
  ) => {
    const iv = pts.map((p) => (keep(p) ? decisionInterval(get(p)) : null));
    return {
      lo: iv.map((i) => (i ? i.lo * scale : null)),
      hi: iv.map((i) => (i ? i.hi * scale : null)),
    };
  };
  const svg = lineChart({
    title,
    xLabel: 'bottom singular values modified (%)',
    yLabel: 'accuracy (%)',
    yMin: 0,
    yMax: 100,
    layered: true,
    series: [
      {
        name: 'train accuracy',
        x,
        y: pts.map((p) => pct(p.train.value)),
        band: band((p) => p.train, 100),
      },
      {
        name: 'test accuracy',
        x,
        y: pts.map((p) => pct(p.test.value)),
        band: band((p) => p.test, 100),
      },
      {
        name: 'adversarial accuracy',
        x,
        y: pts.map((p) => pct(p.adversarial.value)),
        band: band((p) => p.adversarial, 100),
      },
      ...(hasRe
        ? [
            {
              name: 're-attack robustness',
              x,
              y: pts.map((p) => (shownRe(p) ? p.reattackRobustness.value : null)),
              band: band((p) => p.reattackRobustness, 1, shownRe),
              dashed: true,
              axis: 'right' as const,
            },
          ]
        : []),
    ],
    ...(hasRe ? { y2Label: 'relative L2 of a fresh attack', y2Min: 0 } : {}),
  });
  const f = (e: Estimate, scale = 100, digits = 1) => formatEstimate(e, { scale, digits });
  const md = markdownTable(
    [
      'fraction %',
      'train %',
      'test %',
      'adversarial %',
      're-attack robustness',
      're-attack success %',
    ],
    pts.map((p) => [
      Math.round(p.fraction * 100),
      f(p.train),
      f(p.test),
      f(p.adversarial),
      // † = fewer re-attacks succeed than the figure's rule needs (not drawn, not used in claims).
      f(p.reattackRobustness, 1, 3) +
        (Number.isFinite(p.reattackRobustness.value) && !shownRe(p) ? ' †' : ''),
      f(p.reattackSuccess),
    ]),
    { digits: 1 },
  );
  return { svg, md };
}

/** One sweep (one seed), as the `svd` command draws it. */
export function svdFigure(
  title: string,
  points: SvdSweepPoint[],
  counts: SvdCounts = {},
): { svg: string; md: string } {
  return svdFigureFromEstimates(title, svdSweepEstimates([{ points, counts }]));
}
