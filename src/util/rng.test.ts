import { describe, expect, it } from 'vitest';
import { deriveSeed, fillUniform, Rng } from './rng.js';

describe('fillUniform', () => {
  it("is Rng(seed).next()'s stream scaled to [min, max), rounded to float32", () => {
    for (const [seed, lo, hi] of [
      [0, 0, 1],
      [7, -1, 1],
      [deriveSeed(3, 'pgd:0'), -0.3, 0.3],
    ]) {
      const out = new Float32Array(100_003);
      fillUniform(out, lo, hi, seed);
      const rng = new Rng(seed);
      const want = Float32Array.from({ length: out.length }, () => lo + (hi - lo) * rng.next());
      expect(out).toEqual(want);
      expect(out.every((v) => v >= lo && v <= hi)).toBe(true);
    }
  });

  it('gives other numbers for another seed, and uniform ones (mean, spread)', () => {
    const a = new Float32Array(50_000);
    const b = new Float32Array(50_000);
    fillUniform(a, -1, 1, 1);
    fillUniform(b, -1, 1, 2);
    expect(a).not.toEqual(b);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const varc = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.02); // σ/√n ≈ 0.0026
    expect(Math.abs(varc - 1 / 3)).toBeLessThan(0.01);
  });
});
