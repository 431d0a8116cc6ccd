/** Figure 7 of the study for one sweep: the line chart (SVG) and its markdown table. Browser-safe. */
import { lineChart } from './svg.js';
import { markdownTable } from './table.js';

export interface SvdSweepPoint {
  fraction: number;
  trainAccuracy: number;
  testAccuracy: number;
  adversarialAccuracy: number;
  reattackRobustness: number | null;
  reattackSuccessRate: number | null;
}

const pct = (v: number | null) =>
  v === null || Number.isNaN(v) ? null : Math.round(v * 1000) / 10;

export function svdFigure(title: string, points: SvdSweepPoint[]): { svg: string; md: string } {
  const x = points.map((p) => p.fraction * 100);
  const hasRe = points.some((p) => p.reattackRobustness !== null);
  const svg = lineChart({
    title,
    xLabel: 'bottom singular values modified (%)',
    yLabel: 'accuracy (%)',
    yMin: 0,
    yMax: 100,
    series: [
      { name: 'train accuracy', x, y: points.map((p) => pct(p.trainAccuracy)) },
      { name: 'test accuracy', x, y: points.map((p) => pct(p.testAccuracy)) },
      { name: 'adversarial accuracy', x, y: points.map((p) => pct(p.adversarialAccuracy)) },
      ...(hasRe
        ? [
            {
              name: 're-attack robustness',
              x,
              y: points.map((p) => p.reattackRobustness),
              dashed: true,
              axis: 'right' as const,
            },
          ]
        : []),
    ],
    ...(hasRe ? { y2Label: 'relative L2 of a fresh attack', y2Min: 0 } : {}),
  });
  const md = markdownTable(
    [
      'fraction %',
      'train %',
      'test %',
      'adversarial %',
      're-attack robustness',
      're-attack success %',
    ],
    points.map((p) => [
      Math.round(p.fraction * 100),
      pct(p.trainAccuracy),
      pct(p.testAccuracy),
      pct(p.adversarialAccuracy),
      p.reattackRobustness === null ? null : p.reattackRobustness.toFixed(3),
      pct(p.reattackSuccessRate),
    ]),
    { digits: 1 },
  );
  return { svg, md };
}
