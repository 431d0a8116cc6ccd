/** The "Under standard evaluation" section on synthetic evaluate results. */
import { describe, expect, it } from 'vitest';
import { standardEvaluation, type EvaluateResult } from './standard-eval.js';

const N = 1000;
function result(
  norm: string,
  robust: number,
  checks: EvaluateResult['checks'] = [],
): EvaluateResult {
  return {
    norm,
    eps: norm === 'linf' ? 0.1 : 1,
    n: N,
    cleanAccuracy: 0.98,
    robustAccuracy: robust,
    checks,
  };
}
const pass = [{ id: 'fgsm', status: 'pass', detail: 'ok' }];

describe('standard evaluation section', () => {
  // VAE-encoding clearly most robust; image & AE-encoding clearly least (1000 points: ±3 points).
  const robustBySpace: Record<string, number> = {
    image: 0.05,
    'ae-encoding': 0.06,
    'ae-projection': 0.3,
    'vae-encoding': 0.6,
    'vae-projection': 0.31,
  };
  const svdBy: Record<number, number> = { 0: 0.05, 0.15: 0.06, 0.4: 0.07 };
  const s = standardEvaluation('mnist', (space, arch, norm, f) => {
    if (f !== undefined) return [result(norm, svdBy[f], pass)];
    const checks =
      space === 'vae-projection' && arch === '2L' && norm === 'l2'
        ? [{ id: 'unbounded', status: 'warn', detail: 'unbounded attack reaches only 40.0%' }]
        : pass;
    return [result(norm, robustBySpace[space], checks)];
  })!;

  it('has robust accuracy of every space × architecture and the SVD rows, with Wilson intervals', () => {
    const linf = s.tables[0].md;
    for (const sp of Object.keys(robustBySpace)) expect(linf).toContain(`| ${sp} `);
    // Wilson interval of 600/1000: [57.0, 63.0]
    expect(linf).toContain('60.0 [56.9, 63.0]');
    expect(linf).toContain('image + SVD zero 40% (2L)');
    const ra = (s.results.robustAccuracy as any).l2['image + SVD zero 15%']['2L'];
    expect(ra.value).toBeCloseTo(0.06, 9);
    expect(ra.sample.lo).toBeLessThan(0.06);
  });

  it('counts the checks and lists each warn/fail with its numbers', () => {
    const t = s.tables[2];
    // 15 models × 2 norms + 3 SVD × 2 norms, one check each, one of them a warning (a failure would hold every claim back: below)
    expect(t.title).toContain('35 pass, 1 warn, 0 fail');
    expect(t.md).toContain('unbounded attack reaches only 40.0%');
    expect(t.md).toContain('vae-projection 2L');
  });

  it('re-decides the robustness claims on robust accuracy, inconclusive when intervals overlap', () => {
    const v = (frag: string, norm: string) =>
      s.claims.find((c) => c.claim.includes(frag) && c.claim.includes(norm))!.verdict;
    expect(v('most robust', 'L∞')).toBe('supported');
    expect(v('least robust', 'L2')).toBe('supported');
    // 7% vs 5% of 1000: the Wilson intervals overlap
    expect(v('SVD truncation', 'L∞')).toBe('inconclusive');
    expect(s.claims.every((c) => c.rule.length > 0)).toBe(true);
  });

  it('says so when there are no curve points, and is null without evaluate stages', () => {
    expect(s.curveSvg).toBeNull();
    expect(s.notes.join(' ')).toContain('No security curve');
    expect(standardEvaluation('mnist', () => [undefined])).toBeNull();
  });

  it('a budget no model was evaluated at gets no table and no claims, and a note says why', () => {
    // as the quick preset: only the 2L models of three spaces, only at L∞
    const only = ['image', 'ae-encoding', 'vae-encoding'];
    const q = standardEvaluation('mnist', (space, arch, norm, f) =>
      norm === 'linf' && arch === '2L' && (f !== undefined || only.includes(space))
        ? [result(norm, f !== undefined ? svdBy[f] : robustBySpace[space], pass)]
        : [undefined],
    )!;
    expect(q.tables.map((t) => t.title).filter((t) => t.includes('L2'))).toEqual([]);
    expect(q.tables[0].title).toContain('L∞');
    expect(q.claims.length).toBeGreaterThan(0);
    expect(q.claims.every((c) => c.claim.includes('L∞'))).toBe(true);
    const notes = q.notes.join(' ');
    expect(notes).toContain('Not evaluated at L2 ε = 1.0');
    expect(notes).toMatch(/L∞ ε = 0\.1: 6 of 18/);
    // 1000 points: no coarse note; what 100 would allow is below
    // the unevaluated projection spaces are n/a, so "most robust" cannot be decided
    const best = q.claims.find((c) => c.claim.includes('most robust'))!;
    expect(best.verdict).toBe('inconclusive');
    expect(best.evidence).toContain('ae-projection n/a');
  });

  it('says what a small sample allows: step size and the interval near 10%', () => {
    const small = standardEvaluation('mnist', (_sp, _a, norm) => [{ ...result(norm, 0.1), n: 100 }])!;
    // Wilson 95% interval of 10/100: [5.5, 17.4]
    expect(small.notes.join(' ')).toContain(
      'as few as 100 points per model, so robust accuracy moves in steps of 1.0 points and its 95% interval near 10% spans 5.5–17.4%',
    );
    expect(s.notes.join(' ')).not.toContain('Coarse');
  });

  it('draws the security curves when the stages return them', () => {
    const withCurve = standardEvaluation('mnist', (_sp, _a, norm) => [
      {
        ...result(norm, 0.5),
        curve: {
          bounded: null,
          fromDistances: { eps: [0, 0.1, 0.2], robustAccuracy: [0.98, 0.5, 0.1] },
        },
      },
    ])!;
    expect(withCurve.curveSvg).toContain('<svg');
    expect(withCurve.curveSvg).toContain('vae-encoding');
  });

  it('averages bounded curves over seeds, one figure per norm', () => {
    const bounded = (ys: number[]) => ys.map((y, i) => ({ eps: 0.1 * (i + 1), robustAccuracy: y }));
    const std = standardEvaluation('mnist', (_sp, arch, norm) =>
      arch === '2L'
        ? [
            { ...result(norm, 0.5), curve: { bounded: bounded([0.8, 0.4]), fromDistances: null } },
            { ...result(norm, 0.5), curve: { bounded: bounded([0.6, 0.2]), fromDistances: null } },
          ]
        : [result(norm, 0.5), result(norm, 0.5)],
    )!;
    expect(std.curveSvgs.map((c) => c.norm)).toEqual(['linf', 'l2']);
    expect(std.curveSvgs[0].svg).toContain('mean of 2 seeds');
    expect(std.curveSvg).toBe(std.curveSvgs[0].svg);
    expect(std.notes.join(' ')).toContain('APGD-CE alone');
  });

  it('decides no claim on a space whose reliability checks failed (an upper bound)', () => {
    const robust: Record<string, number> = {
      image: 0.0,
      'ae-encoding': 0.01,
      'ae-projection': 0.1,
      'vae-encoding': 0.6,
      'vae-projection': 0.1,
    };
    const mk = (failOn: string | null) =>
      standardEvaluation('mnist', (space, _a, norm, svd) => [
        {
          ...result(norm, svd === undefined ? robust[space] : 0),
          n: 1000,
          checks:
            space === failOn && svd === undefined
              ? [{ id: 'unbounded', status: 'fail', detail: 'left robust' }]
              : [],
        },
      ])!;
    const best = (s: ReturnType<typeof mk>) =>
      s.claims.find((c) => c.claim.startsWith('VAE-ENCODING models are the most robust'))!;
    expect(best(mk(null)).verdict).toBe('supported');
    const flagged = best(mk('ae-projection'));
    expect(flagged.verdict).toBe('inconclusive');
    expect(flagged.evidence).toContain('would be supported');
    expect(flagged.evidence).toContain('ae-projection');
  });
});
