import { describe, expect, it } from 'vitest';
import {
  averageEstimate,
  decideAtLeast,
  decideBest,
  decideGreater,
  decideWithin,
  differenceEstimate,
  formatEstimate,
  meanEstimate,
  proportionEstimate,
} from './estimates.js';

describe('claim rules', () => {
  it('return inconclusive when the intervals overlap', () => {
    // 150/180 vs 140/180: Wilson intervals [0.77, 0.88] and [0.71, 0.83] overlap.
    const a = proportionEstimate([{ k: 150, n: 180 }]);
    const b = proportionEstimate([{ k: 140, n: 180 }]);
    expect(decideGreater(a, b)).toBe('inconclusive');
    expect(decideGreater(b, a)).toBe('inconclusive');
    expect(decideBest(a, [b])).toBe('inconclusive');
  });
  it('decide when the intervals are apart, both ways', () => {
    const a = proportionEstimate([{ k: 170, n: 180 }]);
    const b = proportionEstimate([{ k: 100, n: 180 }]);
    expect(decideGreater(a, b)).toBe('supported');
    expect(decideGreater(b, a)).toBe('not supported');
    expect(decideBest(b, [a])).toBe('not supported');
  });
  it('a margin within the seed spread is inconclusive even with tight sampling intervals', () => {
    // Huge n per seed (tight Wilson), but the three seeds disagree by ±5 points.
    const a = proportionEstimate([
      { k: 9500, n: 10000 },
      { k: 8500, n: 10000 },
      { k: 9000, n: 10000 },
    ]);
    const b = proportionEstimate([
      { k: 8800, n: 10000 },
      { k: 8800, n: 10000 },
      { k: 8800, n: 10000 },
    ]);
    expect(a.sample!.lo).toBeGreaterThan(b.sample!.hi);
    expect(a.seeds!.lo).toBeLessThan(b.value);
    expect(decideGreater(a, b)).toBe('inconclusive');
  });
  it('thresholds and equivalence', () => {
    const boost = proportionEstimate([{ k: 5, n: 180 }]);
    expect(decideAtLeast(boost, 0.2)).toBe('not supported');
    const d = differenceEstimate(
      proportionEstimate([{ k: 9000, n: 10000 }]),
      proportionEstimate([{ k: 8990, n: 10000 }]),
    );
    expect(decideWithin(d, 0.02)).toBe('supported');
    expect(decideWithin(d, 0.001)).toBe('inconclusive');
  });
  it('means over examples and averages over cells', () => {
    const m = meanEstimate([{ mean: 0.4, sd: 0.1, n: 100 }]);
    expect(m.sample!.lo).toBeCloseTo(0.4 - (1.984217 * 0.1) / 10, 4);
    const avg = averageEstimate([m, meanEstimate([{ mean: 0.2, sd: 0.1, n: 100 }])]);
    expect(avg.value).toBeCloseTo(0.3, 12);
    expect(avg.se).toBeCloseTo(Math.sqrt(2 * 0.01 ** 2) / 2, 6);
    expect(formatEstimate(proportionEstimate([{ k: 18, n: 36 }]), { scale: 100 })).toBe(
      '50.0 [34.5, 65.5]',
    );
  });
});
