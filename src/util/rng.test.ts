import { beforeAll, describe, expect, it } from 'vitest';
import { nativeUniformFill } from '../backend/host-kernels.js';
import { testBackend } from '../testing/fixtures.js';
import { deriveSeed, fillUniform, Rng } from './rng.js';

beforeAll(testBackend);

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

  it("the addon's sfc32Uniform gives the JS loop's numbers bit for bit", () => {
    const native = nativeUniformFill();
    if (!native) return; // no addon: the JS loop is the only path
    for (const seed of [0, 1, 12345, deriveSeed(9, 'apgd'), 0x7fffffff]) {
      const js = new Float32Array(250_001);
      const nat = new Float32Array(250_001);
      fillUniform(js, -0.3, 0.3, seed);
      fillUniform(nat, -0.3, 0.3, seed, native);
      expect(nat).toEqual(js);
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
