import { describe, expect, it } from 'vitest';
import {
  clopperPearsonInterval,
  incompleteBeta,
  normalCdf,
  normalQuantile,
  studentTQuantile,
  tInterval,
  wilsonInterval,
} from './intervals.js';

describe('special functions', () => {
  it('Student t quantiles match the tables', () => {
    // R: qt(0.975, c(1, 2, 4, 10, 30))
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.706205, 5);
    expect(studentTQuantile(0.975, 2)).toBeCloseTo(4.302653, 5);
    expect(studentTQuantile(0.975, 4)).toBeCloseTo(2.776445, 5);
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.228139, 5);
    expect(studentTQuantile(0.975, 30)).toBeCloseTo(2.042272, 5);
    expect(studentTQuantile(0.025, 2)).toBeCloseTo(-4.302653, 5);
  });
  it('normal quantile and CDF', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
    expect(normalQuantile(0.995)).toBeCloseTo(2.575829, 6);
    expect(normalCdf(1)).toBeCloseTo(0.8413447, 7);
    expect(normalCdf(-3)).toBeCloseTo(0.001349898, 8);
  });
  it('incomplete beta: I_x(1,1) = x, I_x(2,3) closed form', () => {
    expect(incompleteBeta(0.3, 1, 1)).toBeCloseTo(0.3, 12);
    // I_x(2,3) = 6x²/2 − 8x³/3·... : pbeta(0.4, 2, 3) = 0.5248
    expect(incompleteBeta(0.4, 2, 3)).toBeCloseTo(0.5248, 10);
  });
});

describe('intervals', () => {
  it('t interval of three seeds', () => {
    // mean 2, sd 1, n 3: 2 ± 4.302653 / √3
    const r = tInterval([1, 2, 3]);
    expect(r.mean).toBe(2);
    expect(r.sd).toBeCloseTo(1, 12);
    expect(r.lo).toBeCloseTo(2 - 2.484138, 5);
    expect(r.hi).toBeCloseTo(2 + 2.484138, 5);
  });
  it('t interval of one value has no spread', () => {
    const r = tInterval([0.9]);
    expect(r.mean).toBe(0.9);
    expect(r.lo).toBeNaN();
  });
  it('Wilson interval matches known values', () => {
    // binom::binom.confint(8, 10, method = "wilson"): 0.4901625 0.9433178
    const w = wilsonInterval(8, 10);
    expect(w.lo).toBeCloseTo(0.4901625, 6);
    expect(w.hi).toBeCloseTo(0.9433178, 6);
    // 0/36 (a quick-preset cell where nothing succeeded): upper 0.0964
    expect(wilsonInterval(0, 36).lo).toBe(0);
    expect(wilsonInterval(0, 36).hi).toBeCloseTo(0.09641, 4);
  });
  it('Clopper–Pearson interval matches known values', () => {
    // binom.test(8, 10)$conf.int: 0.4439045 0.9747893
    const c = clopperPearsonInterval(8, 10);
    expect(c.lo).toBeCloseTo(0.4439045, 6);
    expect(c.hi).toBeCloseTo(0.9747893, 6);
    // binom.test(0, 10): 0 0.3084971; k = n: lower = (α/2)^(1/n) exactly
    expect(clopperPearsonInterval(0, 10).hi).toBeCloseTo(0.3084971, 6);
    expect(clopperPearsonInterval(180, 180).lo).toBeCloseTo(0.025 ** (1 / 180), 10);
    // Exact is never narrower than Wilson here.
    expect(c.hi - c.lo).toBeGreaterThan(wilsonInterval(8, 10).hi - wilsonInterval(8, 10).lo);
  });
  it('rejects impossible counts', () => {
    expect(() => wilsonInterval(5, 3)).toThrow(RangeError);
  });
});
