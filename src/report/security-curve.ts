/**
 * The security curve of an evaluation: robust accuracy against the budget ε, from the bounded
 * attacks run at each ε (and their worst-case envelope) and from the per-example minimal
 * distances of the minimum-norm attacks. Browser-safe (a string of SVG).
 */
import { lineChart, type LineSeries } from './svg.js';

export interface SecurityCurveInput {
  title: string;
  norm: 'linf' | 'l2';
  /** The evaluation's own point. */
  eps: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  bounded?: { eps: number; robustAccuracy: number; envelope: number }[];
  fromDistances?: { eps: number[]; robustAccuracy: number[] };
}

export function securityCurveSvg(c: SecurityCurveInput): string {
  const series: LineSeries[] = [];
  if (c.bounded && c.bounded.length > 0) {
    series.push({
      name: 'bounded attacks at each ε',
      x: c.bounded.map((p) => p.eps),
      y: c.bounded.map((p) => 100 * p.robustAccuracy),
    });
    series.push({
      name: 'worst case over smaller ε',
      x: c.bounded.map((p) => p.eps),
      y: c.bounded.map((p) => 100 * p.envelope),
      dashed: true,
    });
  }
  if (c.fromDistances && c.fromDistances.eps.length > 0) {
    series.push({
      name: 'from minimal distances (min-norm attacks)',
      x: c.fromDistances.eps,
      y: c.fromDistances.robustAccuracy.map((v) => 100 * v),
      dashed: !c.bounded,
    });
  }
  series.push({
    name: `evaluation at ε = ${c.eps}`,
    // markers only (a null between them): the evaluation says nothing about ε in between
    x: [0, c.eps / 2, c.eps],
    y: [100 * c.cleanAccuracy, null, 100 * c.robustAccuracy],
  });
  const xs = series.flatMap((s) => s.x);
  return lineChart({
    title: c.title,
    xLabel: c.norm === 'linf' ? 'ε (L∞)' : 'ε (L2)',
    yLabel: 'robust accuracy (%)',
    series,
    yMin: 0,
    yMax: 100,
    xMin: 0,
    xMax: Math.max(...xs, c.eps) || 1,
  });
}
