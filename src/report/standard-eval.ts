/**
 * The report's "Under standard evaluation" section (browser-safe): robust accuracy under
 * AutoAttack (end to end in pixels, adaptive targets) of every space × architecture at both
 * budgets and of the SVD-defended 2L image models, with Wilson intervals (pooled over seeds,
 * hull with the t interval over seeds when there are several); the reliability checks; and the
 * study's robustness claims re-decided on robust accuracy.
 */
import { wilsonInterval } from '../metrics/intervals.js';
import { lineChart } from './svg.js';
import { markdownTable } from './table.js';
import {
  averageEstimate,
  decideBest,
  decideGreater,
  decideWorst,
  decisionInterval,
  formatEstimate,
  proportionEstimate,
  rateCell,
  type Estimate,
  type Verdict,
} from './estimates.js';

const SPACES = ['image', 'ae-encoding', 'ae-projection', 'vae-encoding', 'vae-projection'];
const ARCHS = ['1L', '2L', 'LRL'];
export const STANDARD_BUDGETS = [
  { norm: 'linf', eps: 0.1, label: 'L∞ ε = 0.1' },
  { norm: 'l2', eps: 1.0, label: 'L2 ε = 1.0' },
] as const;
export const SVD_FRACTIONS = [0, 0.15, 0.4];

/** The part of an evaluate stage's result this section reads. */
export interface EvaluateResult {
  norm: string;
  eps: number;
  n: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  checks: { id: string; status: string; detail: string }[];
  curve?: {
    bounded: { eps: number; robustAccuracy: number }[] | null;
    fromDistances: { eps: number[]; robustAccuracy: number[] } | null;
  };
}

export interface StandardClaim {
  dataset: string;
  claim: string;
  verdict: Verdict;
  rule: string;
  evidence: string;
}

export interface StandardEvaluation {
  /** For results.json: estimates per norm → row → arch, and the per-seed check counts. */
  results: Record<string, unknown>;
  tables: { title: string; md: string }[];
  notes: string[];
  claims: StandardClaim[];
  /** The first security-curve figure for the dataset, when the evaluate stages returned curves. */
  curveSvg: string | null;
  /** Every security-curve figure (one per norm). */
  curveSvgs: { norm: string; svg: string }[];
}

const fp = (e: Estimate) => formatEstimate(e, { scale: 100, digits: 1 });
function ev(e: Estimate): string {
  if (!Number.isFinite(e.value)) return 'n/a';
  const i = decisionInterval(e);
  const v = (x: number) => (x * 100).toFixed(1);
  return `${v(e.value)}%${i ? ` [${v(i.lo)}, ${v(i.hi)}]` : ''}`;
}

/**
 * `get(space, arch, norm, svdFraction?)` returns the evaluate result of each seed (undefined
 * where the stage is missing). Returns null when no evaluate stage ran for this dataset.
 */
export function standardEvaluation(
  d: string,
  get: (
    space: string,
    arch: string,
    norm: string,
    svdFraction?: number,
  ) => (EvaluateResult | undefined)[],
): StandardEvaluation | null {
  const rows: { label: string; space: string; arch: string; svd?: number }[] = [
    ...SPACES.flatMap((space) => ARCHS.map((arch) => ({ label: space, space, arch }))),
    ...SVD_FRACTIONS.map((f) => ({
      label: `image + SVD zero ${Math.round(f * 100)}%`,
      space: 'image',
      arch: '2L',
      svd: f,
    })),
  ];
  const robust: Record<string, Estimate> = {};
  const clean: Record<string, Estimate> = {};
  const counts = { pass: 0, warn: 0, fail: 0, skip: 0 } as Record<string, number>;
  const flagged: string[][] = [];
  // Rows (spaces, SVD rows) with a failed reliability check: their robust accuracy is an upper
  // bound (masking, an unconverged or broken attack), so no claim is decided on them.
  const failed = new Set<string>();
  let any = false;
  let minN = Infinity;
  let seedsRun = 0;
  let evaluated = 0;
  const perNorm: Record<string, number> = {};
  let checked = 0;
  let seedsEvaluated = 0;
  for (const { norm } of STANDARD_BUDGETS)
    for (const r of rows) {
      const key = `${norm}|${r.label}|${r.arch}`;
      const rs = get(r.space, r.arch, norm, r.svd);
      seedsRun = Math.max(seedsRun, rs.length);
      if (!rs.some(Boolean)) continue;
      any = true;
      perNorm[norm] = (perNorm[norm] ?? 0) + 1;
      seedsEvaluated = Math.max(seedsEvaluated, rs.filter(Boolean).length);
      robust[key] = proportionEstimate(rs.map((x) => rateCell(x?.robustAccuracy, x?.n)));
      clean[key] = proportionEstimate(rs.map((x) => rateCell(x?.cleanAccuracy, x?.n)));
      rs.forEach((x, seedIdx) => {
        if (!x) return;
        evaluated++;
        if (x.checks.length) checked++;
        minN = Math.min(minN, x.n);
        for (const c of x.checks) {
          counts[c.status] = (counts[c.status] ?? 0) + 1;
          if (c.status === 'fail') failed.add(r.label);
          if (c.status === 'warn' || c.status === 'fail')
            flagged.push([`${r.label} ${r.arch}`, norm, String(seedIdx), c.id, c.status, c.detail]);
        }
      });
    }
  if (!any) return null;
  const at = (norm: string, label: string, arch: string) =>
    robust[`${norm}|${label}|${arch}`] ?? proportionEstimate([]);
  const cleanAt = (norm: string, label: string, arch: string) =>
    clean[`${norm}|${label}|${arch}`] ?? proportionEstimate([]);

  // A budget no model was evaluated at (the preset's evaluation.norms) has no table and no claims.
  const budgets = STANDARD_BUDGETS.filter((b) => (perNorm[b.norm] ?? 0) > 0);
  const tables = budgets.map(({ norm, label: budget }) => ({
    title: `Robust accuracy (%) under AutoAttack, ${budget}: value ± seed half-width [95% Wilson interval]; clean accuracy on the same points`,
    md: markdownTable(
      ['model', ...ARCHS.map((a) => `${a} robust`), ...ARCHS.map((a) => `${a} clean`)],
      rows
        .filter((r) => r.svd === undefined && r.arch === '1L')
        .map((r) => [
          r.label,
          ...ARCHS.map((a) => fp(at(norm, r.label, a))),
          ...ARCHS.map((a) => fp(cleanAt(norm, r.label, a))),
        ])
        .concat(
          rows
            .filter((r) => r.svd !== undefined)
            .map((r) => [
              `${r.label} (2L)`,
              '—',
              fp(at(norm, r.label, '2L')),
              '—',
              '—',
              fp(cleanAt(norm, r.label, '2L')),
              '—',
            ]),
        ),
    ),
  }));
  tables.push({
    title: `Reliability checks: ${counts.pass} pass, ${counts.warn} warn, ${counts.fail} fail, ${counts.skip} skipped`,
    md: flagged.length
      ? markdownTable(['model', 'norm', 'seed #', 'check', 'status', 'numbers'], flagged)
      : 'No check warned or failed.',
  });

  // Claims re-decided on robust accuracy (higher = more robust), per budget.
  const claims: StandardClaim[] = [];
  const RULE =
    'robust accuracy of a space = mean over its evaluated architectures; decided only when the 95% intervals (Wilson, hull with the seed interval) do not overlap, else inconclusive';
  const guarded = (v: Verdict, compared: string[]) => {
    const bad = compared.filter((s) => failed.has(s));
    return bad.length && v !== 'inconclusive'
      ? {
          verdict: 'inconclusive' as Verdict,
          why: ` — would be ${v}, but a reliability check failed on ${bad.join(', ')} (robust accuracy there is an upper bound)`,
        }
      : { verdict: v, why: '' };
  };
  const GUARD = '; inconclusive when a reliability check failed on a space it compares';
  for (const { norm, label } of budgets) {
    // (one architecture measured: its own Wilson interval, not a normal approximation of it)
    const space = (s: string) => {
      const parts = ARCHS.map((a) => at(norm, s, a)).filter((e) => Number.isFinite(e.value));
      return parts.length === 1 ? parts[0] : averageEstimate(parts);
    };
    const bySpace = Object.fromEntries(SPACES.map((s) => [s, space(s)]));
    const others = SPACES.filter((s) => s !== 'vae-encoding').map((s) => bySpace[s]);
    const best = guarded(decideBest(bySpace['vae-encoding'], others), SPACES);
    claims.push({
      dataset: d,
      claim: `VAE-ENCODING models are the most robust (AutoAttack robust accuracy, ${label})`,
      verdict: best.verdict,
      rule: `${RULE}; VAE-encoding's interval wholly above every other space's${GUARD}`,
      evidence: SPACES.map((s) => `${s} ${ev(bySpace[s])}`).join('; ') + best.why,
    });
    const rest = ['ae-projection', 'vae-encoding', 'vae-projection'];
    const worst0 = allVerdicts(
      ['image', 'ae-encoding'].map((w) =>
        decideWorst(
          bySpace[w],
          rest.map((s) => bySpace[s]),
        ),
      ),
    );
    const worst = guarded(worst0, SPACES);
    claims.push({
      dataset: d,
      claim: `AE-ENCODING and image-space models are the least robust (AutoAttack robust accuracy, ${label})`,
      verdict: worst.verdict,
      rule: `${RULE}; each of the other 3 spaces wholly above both image and AE-encoding${GUARD}`,
      evidence:
        ['image', 'ae-encoding', ...rest].map((s) => `${s} ${ev(bySpace[s])}`).join('; ') +
        worst.why,
    });
    const s0 = at(norm, 'image + SVD zero 0%', '2L');
    const s40 = at(norm, 'image + SVD zero 40%', '2L');
    const svd = guarded(decideGreater(s40, s0), ['image + SVD zero 0%', 'image + SVD zero 40%']);
    claims.push({
      dataset: d,
      claim: `SVD truncation (40% zeroed) increases robustness (AutoAttack robust accuracy of the defended 2L, ${label})`,
      verdict: svd.verdict,
      rule: `40% interval wholly above the undefended (0%) interval: supported; wholly below: not supported; else inconclusive${GUARD}`,
      evidence: `40% ${ev(s40)} vs 0% ${ev(s0)}${svd.why}`,
    });
  }

  const notes: string[] = [
    'AutoAttack (standard version; rand version with EOT on the stochastic VAE encoding) run end to end in pixels on the deployed model: through the encoder for encoding spaces, with the projection’s implicit gradient for projection spaces (every iterate projected), on the modified weights for the SVD-defended models. Every adversarial is re-judged by the real model.',
  ];
  const skipped = STANDARD_BUDGETS.filter((b) => !budgets.includes(b));
  if (skipped.length)
    notes.push(
      `Not evaluated at ${skipped.map((b) => b.label).join(' or ')} (the preset's evaluation.norms): no table or claims for ${skipped.length > 1 ? 'those budgets' : 'that budget'}.`,
    );
  const missing = budgets.filter((b) => (perNorm[b.norm] ?? 0) < rows.length);
  if (missing.length)
    notes.push(
      `Not every model was evaluated at every budget (${budgets.map((b) => `${b.label}: ${perNorm[b.norm]} of ${rows.length}`).join('; ')}; the preset's evaluation.spaces / archs / l2Archs); "—" marks the others, and a space's mean is then over the architectures evaluated.`,
    );
  if (checked < evaluated)
    notes.push(
      `The reliability checks ran on ${checked} of the ${evaluated} evaluations (the preset's evaluation.checkNorms / checkArchs, to fit its time budget); the others have robust accuracy without checks.`,
    );
  if (seedsEvaluated < seedsRun)
    notes.push(
      `Evaluated on ${seedsEvaluated} of the run's ${seedsRun} seeds (the preset's evaluation.seeds, to fit its time budget): the intervals here are binomial (Wilson) over the test points and do not include seed-to-seed variation.`,
    );
  if (Number.isFinite(minN) && minN < 500) {
    // what the smallest sample allows: the interval's half-width at a typical 10% robust accuracy
    const w = wilsonInterval(Math.round(minN / 10), minN);
    notes.push(
      `Coarse: as few as ${minN} points per model, so robust accuracy moves in steps of ${(100 / minN).toFixed(1)} points and its 95% interval near 10% spans ${(w.lo * 100).toFixed(1)}–${(w.hi * 100).toFixed(1)}%; differences smaller than that are not decided.`,
    );
  }

  // Security curves: robust accuracy against ε for the 2L models, when the stages recorded
  // any; the mean over the seeds that have the same grid (bounded curves), one figure per norm.
  const curveSvgs: { norm: string; svg: string }[] = [];
  for (const { norm } of STANDARD_BUDGETS) {
    let seedsShown = 0;
    const series = SPACES.flatMap((s) => {
      const rs = get(s, '2L', norm).filter(Boolean) as EvaluateResult[];
      const bounded = rs.map((r) => r.curve?.bounded).filter((c) => c?.length) as {
        eps: number;
        robustAccuracy: number;
      }[][];
      const grid = bounded[0]?.map((p) => p.eps).join(',');
      const same = bounded.filter((c) => c.map((p) => p.eps).join(',') === grid);
      if (same.length) {
        seedsShown = Math.max(seedsShown, same.length);
        const y = same[0].map(
          (_, i) => (same.reduce((a, c) => a + c[i].robustAccuracy, 0) / same.length) * 100,
        );
        return [{ name: s, x: same[0].map((p) => p.eps), y }];
      }
      const c = rs[0]?.curve?.fromDistances;
      return c ? [{ name: s, x: c.eps, y: c.robustAccuracy.map((v) => v * 100) }] : [];
    });
    if (series.length)
      curveSvgs.push({
        norm,
        svg: lineChart({
          title: `${d}: security curves of the 2L models (${norm === 'linf' ? 'L∞' : 'L2'}, APGD-CE${seedsShown > 1 ? `, mean of ${seedsShown} seeds` : ''})`,
          xLabel: `ε (${norm === 'linf' ? 'L∞' : 'L2'})`,
          yLabel: 'robust accuracy (%)',
          yMin: 0,
          yMax: 100,
          series,
          layered: true,
        }),
      });
  }
  const curveSvg = curveSvgs[0]?.svg ?? null;
  if (!curveSvg)
    notes.push(
      'No security curve: the evaluate stages ran at the two budgets only and returned no curve points (robustlab evaluate --curve draws one for a single model).',
    );
  else
    notes.push(
      'Security curves: APGD-CE alone at each ε (a single attack, so an upper bound on robust accuracy at every ε, above the AutoAttack numbers at the two budgets).',
    );

  const resultRows: Record<string, Record<string, Record<string, Estimate>>> = {};
  for (const { norm } of STANDARD_BUDGETS) {
    resultRows[norm] = {};
    for (const r of rows) (resultRows[norm][r.label] ??= {})[r.arch] = at(norm, r.label, r.arch);
  }
  return {
    results: { robustAccuracy: resultRows, checks: counts, flaggedChecks: flagged },
    tables,
    notes,
    claims,
    curveSvg,
    curveSvgs,
  };
}

function allVerdicts(vs: Verdict[]): Verdict {
  if (vs.includes('not supported')) return 'not supported';
  return vs.every((v) => v === 'supported') ? 'supported' : 'inconclusive';
}
