/**
 * The study's report (Node only): gathers every stage's result (every seed) into results.json,
 * draws Figures 1, 4, 5, 6, 7 per dataset (SVG + PNG; means with 95% intervals), decides the
 * study's claims from the numbers and their uncertainty (src/report/estimates.ts), and writes
 * report.md and a self-contained report.html (figures inlined as SVG).
 */
import { join } from 'node:path';
import { loadDataset } from '../data/node-io.js';
import { DATASETS, type DatasetName } from '../data/datasets.js';
import { readAttackDir } from '../experiments/transfer-job.js';
import { standardEvaluation } from './standard-eval.js';
import {
  evaluateStageName,
  seedStageName,
  splitStageName,
  stageRecord,
  stageResult,
  type Stage,
} from '../experiments/stages.js';
import { wilsonInterval } from '../metrics/intervals.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { groupedBarChart, imageGallery } from './svg.js';
import { markdownTable } from './table.js';
import { svdFigureFromEstimates, svdSweepEstimates, type SvdSweepEstimate } from './svd-figure.js';
import { writeFigure } from './render.js';
import { escapeXml } from './svg.js';
import {
  allOf,
  averageEstimate,
  decideAtLeast,
  decideAtMost,
  decideBest,
  decideGreater,
  decideWithin,
  decideWorst,
  decisionInterval,
  differenceEstimate,
  formatEstimate,
  meanEstimate,
  proportionEstimate,
  rateCell,
  type Estimate,
  type Verdict,
} from './estimates.js';

const SPACES = ['image', 'ae-encoding', 'ae-projection', 'vae-encoding', 'vae-projection'];
const LATENT = SPACES.slice(1);
const ARCHS = ['1L', '2L', 'LRL'];
const GOALS = 9;
/**
 * The one rule for a mean perturbation over successful attacks, in every figure, table and
 * claim: it is shown (and used) only where at least half the attacks succeed; a mean over a
 * handful of successes is not a robustness (and a failing attack may be gradient masking).
 */
export const MIN_SUCCESS_SHOWN = 0.5;
/** Below this many examples per cell a figure gets a visible caveat (steps > 1 point). */
const COARSE_BELOW = 100;

export interface Claim {
  dataset: string;
  claim: string;
  verdict: Verdict;
  /** How the verdict follows from the numbers. */
  rule: string;
  evidence: string;
}

/** Figure kinds as the `figure` command names them, and the file tag of each. */
export const FIGURE_KINDS: Record<string, string> = {
  accuracy: 'fig4',
  robustness: 'fig5',
  transfer: 'fig6',
  examples: 'fig1',
  svd: 'fig7',
};

export interface ReportFilter {
  dataset?: string;
  kind?: keyof typeof FIGURE_KINDS;
}

interface Section {
  dataset: string;
  fig: number;
  title: string;
  file?: string;
  svg?: string;
  /** Caveat shown under the figure (coarse sample sizes, hidden points). */
  notes: string[];
  tables: { title: string; md: string }[];
}

const pct = (v: number) => Math.round(v * 1000) / 10;
const fp = (e: Estimate) => formatEstimate(e, { scale: 100, digits: 1 });
const fr = (e: Estimate) => formatEstimate(e, { scale: 1, digits: 3 });
/** "92.5% [91.9, 93.0]": value and the decision interval, for claim evidence. */
function ev(e: Estimate, scale = 100, unit = '%'): string {
  if (!Number.isFinite(e.value)) return 'n/a';
  const d = scale === 100 ? 1 : 3;
  const i = decisionInterval(e);
  const v = (x: number) => (x * scale).toFixed(d);
  return `${v(e.value)}${unit}${i ? ` [${v(i.lo)}, ${v(i.hi)}]` : ''}`;
}
const errBar = (e: Estimate, scale: number) => {
  const i = decisionInterval(e);
  return i ? { lo: i.lo * scale, hi: i.hi * scale } : null;
};

/** Half-width in points of the 95% Wilson interval of a proportion near 50% from n trials. */
function coarseNote(minN: number, what: string): string | null {
  if (!(minN > 0) || minN >= COARSE_BELOW) return null;
  const w = wilsonInterval(Math.round(minN / 2), minN);
  return `Coarse: as few as ${minN} ${what} per cell, so a proportion moves in steps of ${(100 / minN).toFixed(1)} points and its 95% interval near 50% spans ±${(((w.hi - w.lo) / 2) * 100).toFixed(0)} points; differences smaller than that are not decided.`;
}

/** The seeds the stages were run with (sorted); [null] for a run from before seeds. */
function seedsOf(stages: Stage[]): (number | null)[] {
  const s = [...new Set(stages.map((x) => splitStageName(x.name).seed))];
  const nums = s.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return nums.length ? nums : [null];
}

export async function writeStudyReport(
  out: string,
  stages: Stage[],
  meta: Record<string, unknown>,
  dataDir?: string,
  only?: ReportFilter,
) {
  const seeds = seedsOf(stages);
  const byName = new Map(stages.map((s) => [s.name, s]));
  const stageOf = (base: string, seed: number | null) =>
    byName.get(seed === null ? base : seedStageName(base, seed));
  const get = (base: string, seed: number | null) => {
    const s = stageOf(base, seed);
    return s ? (stageResult(s) as any) : undefined;
  };
  const perSeed = (base: string) => seeds.map((seed) => get(base, seed));
  const datasets = [...new Set(stages.map((s) => s.name.split('/')[1]))] as DatasetName[];
  const results: Record<string, any> = { ...meta, seeds, datasets: {} };
  const sections: Section[] = [];
  const claims: Claim[] = [];
  const allAcc: Record<string, Estimate[]> = {};

  for (const d of datasets) {
    const testNDefault = (seed: number | null, base: string) =>
      (stageOf(base, seed)?.params.limitTest as number | null) ?? 10000;
    const acc: Record<string, Record<string, Estimate>> = {};
    const trainAcc: Record<string, Record<string, Estimate>> = {};
    const rob: Record<string, Record<string, Record<string, Estimate>>> = {
      'own-space': {},
      'pixel-space': {},
    };
    const success: Record<string, Record<string, Record<string, Estimate>>> = {
      'own-space': {},
      'pixel-space': {},
    };
    for (const sp of SPACES) {
      acc[sp] = {};
      trainAcc[sp] = {};
      for (const a of ARCHS) {
        const base = `classifier/${d}/${sp}/${a}`;
        const rs = perSeed(base);
        acc[sp][a] = proportionEstimate(
          rs.map((r, i) => rateCell(r?.testAccuracy, r?.testN ?? testNDefault(seeds[i], base))),
        );
        trainAcc[sp][a] = proportionEstimate(
          rs.map((r, i) =>
            rateCell(
              r?.trainAccuracy,
              r?.trainN ?? (stageOf(base, seeds[i])?.params.limitTrain as number | null) ?? 60000,
            ),
          ),
        );
        for (const mode of ['own-space', 'pixel-space']) {
          const ss = perSeed(`attack/${d}/${sp}/${a}/${mode}`).map((r) => r?.summary);
          if (!ss.some(Boolean)) continue;
          (rob[mode][sp] ??= {})[a] = meanEstimate(
            ss.map((s) =>
              s && s.successes > 0
                ? { mean: s.robustness, sd: s.robustnessSd ?? null, n: s.successes }
                : null,
            ),
          );
          (success[mode][sp] ??= {})[a] = proportionEstimate(
            ss.map((s) => (s ? { k: s.successes, n: s.n } : null)),
          );
        }
      }
    }
    const shown = (mode: string, sp: string, a: string) =>
      (success[mode][sp]?.[a]?.value ?? 0) >= MIN_SUCCESS_SHOWN &&
      Number.isFinite(rob[mode][sp]?.[a]?.value);
    // Transfer: per seed, the successes of the 3 image classifiers' attacks pooled per target.
    const transfer: Record<string, Record<string, Estimate>> = {};
    let minTransferN = Infinity;
    for (const sp of LATENT) {
      transfer[sp] = {};
      for (const a of ARCHS) {
        const cells = seeds.map((seed) => {
          let k = 0;
          let n = 0;
          for (const src of ARCHS)
            for (const c of get(`transfer/${d}/${src}`, seed)?.cells ?? [])
              if (c.space === sp && c.arch === a && typeof c.accuracy === 'number' && c.n > 0) {
                k += Math.round(c.accuracy * c.n);
                n += c.n;
              }
          if (n) minTransferN = Math.min(minTransferN, n);
          return n ? { k, n } : null;
        });
        transfer[sp][a] = proportionEstimate(cells);
      }
    }
    const svdRaw = { zero: perSeed(`svd/${d}/zero`), scale: perSeed(`svd/${d}/scale`) };
    const svd: Record<string, SvdSweepEstimate[]> = {};
    for (const mode of ['zero', 'scale'] as const) {
      const sweeps = svdRaw[mode]
        .filter(Boolean)
        .map((r: any) => ({ points: r.points, counts: r }));
      if (sweeps.length) svd[mode] = svdSweepEstimates(sweeps);
    }
    // Reconstruction error of the code datasets (test split).
    const recon: Record<string, Record<string, Estimate>> = {};
    for (const m of LATENT) {
      const rs = perSeed(`codes/${d}/${m}`).map((r) => r?.reconstructionL2?.test);
      if (!rs.some(Boolean)) continue;
      const e = (key: string) =>
        meanEstimate(rs.map((r) => (r && Number.isFinite(r[key]) ? { mean: r[key], n: 1 } : null)));
      recon[m] = {
        sse: e('codesSse'),
        encoderSse: e('encoderSse'),
        l2: e('codes'),
        encoderL2: e('encoder'),
      };
    }
    allAcc[d] = SPACES.flatMap((sp) => ARCHS.map((a) => acc[sp][a]));
    results.datasets[d] = {
      testAccuracy: acc,
      trainAccuracy: trainAcc,
      robustness: rob,
      successRate: success,
      transferAccuracy: transfer,
      transferCells: Object.fromEntries(
        ARCHS.map((a) => [a, seeds.map((seed) => get(`transfer/${d}/${a}`, seed)?.cells)]),
      ),
      svd,
      svdPerSeed: svdRaw,
      reconstruction: recon,
    };
    const nSeeds = seeds.length;
    const intervalWord =
      nSeeds > 1
        ? `error bars: 95% interval (hull of the t interval over ${nSeeds} seeds and the sampling interval)`
        : 'error bars: 95% sampling interval (one seed)';

    // Figure 1: gallery from the 2L image classifier's attack (first seed).
    const attackStage = stageOf(`attack/${d}/image/2L/own-space`, seeds[0]);
    if (attackStage && (!only?.kind || only.kind === 'examples')) {
      const { record, xAdv } = readAttackDir(attackStage.dir);
      const ds = await loadDataset(d, { dataDir });
      const names = ds.classNames ?? [...(DATASETS[d]?.classNames ?? [])];
      const label = (c: number) =>
        names[c] && names[c] !== String(c) ? `${c} ${names[c]}` : String(c);
      // One example per attacked image, cycling through the goal classes.
      const perImage = record.success.length / GOALS;
      const rows = Array.from({ length: perImage }, (_, j) => j * GOALS + ((j * 4) % GOALS))
        .filter((i) => record.success[i])
        .slice(0, 6);
      sections.push({
        dataset: d,
        fig: 1,
        title: 'Figure 1: adversarial examples against the 2L image classifier',
        file: `${d}-fig1-examples`,
        notes: [],
        tables: [],
        svg: imageGallery({
          title: `${d}: original, perturbation, adversarial (2L image classifier${seeds[0] === null ? '' : `, seed ${seeds[0]}`})`,
          columns: ['original', 'perturbation (scaled)', 'adversarial'],
          rows: rows.map((i) => {
            const orig = ds.test.images.subarray(
              record.imageIndex[i] * 784,
              record.imageIndex[i] * 784 + 784,
            );
            const adv = xAdv.subarray(i * 784, i * 784 + 784);
            const delta = adv.map((v, j) => v - orig[j]);
            return {
              cells: [
                {
                  pixels: orig,
                  width: 28,
                  height: 28,
                  caption: `true ${label(record.trueLabels[i])}`,
                },
                {
                  pixels: delta,
                  width: 28,
                  height: 28,
                  signed: true,
                  caption: `‖δ‖₂ ${Math.hypot(...delta).toFixed(2)}`,
                },
                {
                  pixels: adv,
                  width: 28,
                  height: 28,
                  caption: `→ ${label(record.goals[i])} (p ${record.goalProb[i].toFixed(2)})`,
                },
              ],
            };
          }),
          scale: 3,
        }),
      });
    }

    // Figure 4: test accuracy.
    const minTestN = Math.min(...allAcc[d].map((e) => (e.n ?? Infinity) / Math.max(1, nSeeds)));
    sections.push({
      dataset: d,
      fig: 4,
      title: 'Figure 4: test accuracy (%)',
      file: `${d}-fig4-accuracy`,
      svg: groupedBarChart({
        title: `${d}: test accuracy by space and architecture`,
        yLabel: 'test accuracy (%)',
        xLabel: intervalWord,
        groups: SPACES,
        series: ARCHS.map((a) => ({
          name: a,
          values: SPACES.map((sp) =>
            Number.isFinite(acc[sp][a].value) ? pct(acc[sp][a].value) : null,
          ),
          errors: SPACES.map((sp) => errBar(acc[sp][a], 100)),
        })),
        yMin: 0,
        yMax: 100,
      }),
      notes: [coarseNote(Math.round(minTestN), 'test images')].filter(Boolean) as string[],
      tables: [
        {
          title: 'Test accuracy (%)',
          md: markdownTable(
            ['space', ...ARCHS],
            SPACES.map((sp) => [sp, ...ARCHS.map((a) => fp(acc[sp][a]))]),
          ),
        },
        {
          title: 'Train accuracy (%)',
          md: markdownTable(
            ['space', ...ARCHS],
            SPACES.map((sp) => [sp, ...ARCHS.map((a) => fp(trainAcc[sp][a]))]),
          ),
        },
      ],
    });
    // Figure 5: robustness, both modes.
    for (const mode of ['own-space', 'pixel-space'] as const) {
      const spaces = mode === 'own-space' ? SPACES : LATENT;
      const hidden = spaces.flatMap((sp) =>
        ARCHS.filter((a) => success[mode][sp]?.[a] && !shown(mode, sp, a)).map((a) => `${sp} ${a}`),
      );
      const attacked = Math.min(
        ...spaces.flatMap((sp) =>
          ARCHS.map((a) => (success[mode][sp]?.[a]?.n ?? Infinity) / nSeeds),
        ),
      );
      sections.push({
        dataset: d,
        fig: 5,
        title: `Figure 5: robustness, ${mode}`,
        file: `${d}-fig5-robustness-${mode}`,
        svg: groupedBarChart({
          title: `${d}: robustness (mean ‖x_adv − x‖₂ / ‖x‖₂), ${mode}`,
          yLabel: 'relative L2 perturbation',
          xLabel: `bars where ≥ ${MIN_SUCCESS_SHOWN * 100}% of attacks succeed; ${intervalWord}`,
          groups: spaces,
          series: ARCHS.map((a) => ({
            name: a,
            values: spaces.map((sp) => (shown(mode, sp, a) ? rob[mode][sp][a].value : null)),
            errors: spaces.map((sp) => (shown(mode, sp, a) ? errBar(rob[mode][sp][a], 1) : null)),
          })),
          yMin: 0,
          valueFormat: (v) => v.toFixed(2),
        }),
        notes: [
          coarseNote(Math.round(attacked), 'attacked examples'),
          hidden.length
            ? `n/a: fewer than ${MIN_SUCCESS_SHOWN * 100}% of the attacks succeed (${hidden.join(', ')}): the mean perturbation over so few successes is left out; read the success rate (a failing attack can be gradient masking, not robustness).`
            : null,
        ].filter(Boolean) as string[],
        tables: [
          {
            title: `Robustness, ${mode}: mean relative L2 over successes, and success rate (%)`,
            md: markdownTable(
              ['space', ...ARCHS.flatMap((a) => [a, `${a} success %`])],
              spaces.map((sp) => [
                sp,
                ...ARCHS.flatMap((a) => [
                  rob[mode][sp]?.[a]
                    ? fr(rob[mode][sp][a]) + (shown(mode, sp, a) ? '' : ' †')
                    : null,
                  success[mode][sp]?.[a] ? fp(success[mode][sp][a]) : null,
                ]),
              ]),
            ),
          },
        ],
      });
    }
    // Figure 6: transfer accuracy.
    sections.push({
      dataset: d,
      fig: 6,
      title: 'Figure 6: adversarial accuracy (transfer from image classifiers)',
      file: `${d}-fig6-transfer`,
      svg: groupedBarChart({
        title: `${d}: adversarial accuracy of latent classifiers (%)`,
        yLabel: 'true label kept (%)',
        xLabel: intervalWord,
        groups: LATENT,
        series: ARCHS.map((a) => ({
          name: a,
          values: LATENT.map((sp) =>
            Number.isFinite(transfer[sp][a].value) ? pct(transfer[sp][a].value) : null,
          ),
          errors: LATENT.map((sp) => errBar(transfer[sp][a], 100)),
        })),
        yMin: 0,
        yMax: 100,
      }),
      notes: [
        coarseNote(
          Number.isFinite(minTransferN) ? minTransferN : 0,
          'transferred adversarial examples',
        ),
      ].filter(Boolean) as string[],
      tables: [
        {
          title:
            'Adversarial accuracy through transfer (%): successful adversarial examples of the 3 image classifiers, pooled',
          md: markdownTable(
            ['space', ...ARCHS],
            LATENT.map((sp) => [sp, ...ARCHS.map((a) => fp(transfer[sp][a]))]),
          ),
        },
      ],
    });
    // Figure 7: SVD sweeps.
    for (const mode of ['zero', 'scale'] as const) {
      const pts = svd[mode];
      if (!pts) continue;
      const fig = svdFigureFromEstimates(
        `${d}: 2L, bottom singular values ${mode === 'zero' ? 'zeroed' : 'scaled by 1/10'}`,
        pts,
        { minSuccessShown: MIN_SUCCESS_SHOWN },
      );
      const advN = Math.min(...svdRaw[mode].filter(Boolean).map((r: any) => r.adversarialExamples));
      const reN = Math.min(
        ...svdRaw[mode]
          .filter(Boolean)
          .flatMap((r: any) => r.points.map((p: any) => p.reattackN ?? Infinity)),
      );
      sections.push({
        dataset: d,
        fig: 7,
        title: `Figure 7: SVD defence (${mode}) on the 2L image classifier`,
        file: `${d}-fig7-svd-${mode}`,
        svg: fig.svg,
        notes: [
          `Bands: ${intervalWord.replace('error bars: ', '')}. The re-attack robustness is drawn where ≥ ${MIN_SUCCESS_SHOWN * 100}% of the re-attacks succeed.`,
          coarseNote(advN, 'adversarial examples (adversarial accuracy)'),
          Number.isFinite(reN) ? coarseNote(reN, 're-attacked examples') : null,
        ].filter(Boolean) as string[],
        tables: [{ title: `SVD sweep (${mode})`, md: fig.md }],
      });
    }
    if (Object.keys(recon).length && !only)
      sections.push({
        dataset: d,
        fig: 8,
        title: 'Reconstruction error of the code datasets (test split)',
        notes: [],
        tables: [
          {
            title:
              'Reconstruction error per image: sum of squared errors ‖D(z) − x‖₂² (pixels in [0, 1]), mean L2 norm ‖D(z) − x‖₂ beside it',
            md: markdownTable(
              ['codes', 'SSE (codes)', 'SSE (encoder)', 'L2 (codes)', 'L2 (encoder)'],
              LATENT.filter((m) => recon[m]).map((m) => [
                m,
                fr(recon[m].sse),
                fr(recon[m].encoderSse),
                fr(recon[m].l2),
                fr(recon[m].encoderL2),
              ]),
            ),
          },
        ],
      });
    claims.push(
      ...checkClaims(d, acc, trainAcc, rob['own-space'], success['own-space'], transfer, svd),
    );
    // Under standard evaluation: AutoAttack robust accuracy, checks, claims re-decided.
    const std = standardEvaluation(d, (space, arch, norm, svdFraction) =>
      perSeed(evaluateStageName(d, space, arch, norm, svdFraction)),
    );
    if (std) {
      results.datasets[d].standardEvaluation = std.results;
      claims.push(...std.claims);
      if (!only)
        sections.push({
          dataset: d,
          fig: 9,
          title: 'Under standard evaluation (AutoAttack, adaptive, end to end in pixels)',
          ...(std.curveSvg ? { file: `${d}-fig9-security-curves`, svg: std.curveSvg } : {}),
          notes: std.notes,
          tables: std.tables,
        });
      if (!only)
        for (const c of std.curveSvgs.slice(1))
          sections.push({
            dataset: d,
            fig: 9,
            title: `Security curves (${c.norm === 'linf' ? 'L∞' : 'L2'})`,
            file: `${d}-fig9-security-curves-${c.norm}`,
            svg: c.svg,
            notes: [],
            tables: [],
          });
    }
  }
  if (datasets.includes('mnist') && datasets.includes('fashion-mnist')) {
    const m = averageEstimate(allAcc['mnist']);
    const f = averageEstimate(allAcc['fashion-mnist']);
    claims.push({
      dataset: 'both',
      claim: 'accuracy on MNIST is higher than on Fashion-MNIST',
      verdict: decideGreater(m, f),
      rule: 'mean test accuracy of the 15 classifiers: MNIST interval wholly above Fashion-MNIST',
      evidence: `${ev(m)} vs ${ev(f)}`,
    });
  }
  results.claims = claims;
  results.timings = Object.fromEntries(stages.map((s) => [s.name, stageRecord(s).seconds]));

  if (only) {
    const tag = only.kind ? FIGURE_KINDS[only.kind] : '';
    const chosen = sections.filter(
      (f) => f.file && (!only.dataset || f.dataset === only.dataset) && f.file.includes(tag),
    );
    const written = [];
    for (const f of chosen) written.push(await writeFigure(join(out, f.file!), f.svg!));
    const md = chosen
      .flatMap((f) => [
        ...f.notes.map((n) => `_${n}_\n`),
        ...f.tables.map((t) => `**${f.dataset}: ${t.title}**\n\n${t.md}\n`),
      ])
      .join('\n');
    writeFileAtomic(join(out, `${only.dataset ?? 'all'}-${only.kind ?? 'all'}.md`), md);
    return { results, claims, figures: written.map((w) => w.svg), markdown: md };
  }
  sections.sort((a, b) => (a.dataset === b.dataset ? a.fig - b.fig : 0));
  for (const f of sections) if (f.file) await writeFigure(join(out, 'figures', f.file), f.svg!);
  const computePaths = summariseCompute(stages);
  results.computePaths = computePaths;
  writeJsonAtomic(join(out, 'results.json'), results);
  const md = renderMarkdown(results, sections, claims, stages);
  writeFileAtomic(join(out, 'report.md'), md);
  writeFileAtomic(join(out, 'report.html'), renderHtml(results, sections, claims, stages));
  return {
    results,
    claims,
    figures: sections.filter((f) => f.file).map((f) => join(out, 'figures', f.file + '.svg')),
    markdown: md,
  };
}

/** Which compute paths the stages ran on (stage.json), e.g. "wasm + native OpenBLAS …: 60 stages". */
function summariseCompute(stages: Stage[]): { path: string; stages: number }[] {
  const count = new Map<string, number>();
  for (const s of stages) {
    const c = stageRecord(s).compute;
    const path = !c
      ? 'not recorded (stage computed by an older robustlab)'
      : `${c.backend}${c.native ? ` + native OpenBLAS matmul/SVD (${c.blas ?? 'OpenBLAS'}), ${c.blasThreads ?? '?'} BLAS thread(s) per worker` : ' (no native addon: tfjs kernels only)'}`;
    count.set(path, (count.get(path) ?? 0) + 1);
  }
  return [...count].map(([path, n]) => ({ path, stages: n }));
}

/** The best architecture of a space by its point value. */
function bestOf(cells: Record<string, Estimate>): { arch: string; e: Estimate } {
  const a = ARCHS.filter((x) => Number.isFinite(cells[x]?.value)).sort(
    (x, y) => cells[y].value - cells[x].value,
  )[0];
  return { arch: a ?? '—', e: a ? cells[a] : cells[ARCHS[0]] };
}

function checkClaims(
  d: string,
  acc: Record<string, Record<string, Estimate>>,
  trainAcc: Record<string, Record<string, Estimate>>,
  rob: Record<string, Record<string, Estimate>>,
  success: Record<string, Record<string, Estimate>>,
  transfer: Record<string, Record<string, Estimate>>,
  svd: Record<string, SvdSweepEstimate[]>,
): Claim[] {
  const c: Claim[] = [];
  const push = (claim: string, verdict: Verdict, rule: string, evidence: string) =>
    c.push({ dataset: d, claim, verdict, rule, evidence });
  const ABOVE = 'interval wholly above';

  const bestImage = bestOf(acc.image);
  const bestLatent = LATENT.map((sp) => ({ sp, ...bestOf(acc[sp]) }));
  push(
    'image-space classifiers achieve the highest test accuracy',
    decideBest(
      bestImage.e,
      bestLatent.map((b) => b.e),
    ),
    `best image classifier's ${ABOVE} the best of each latent space`,
    `image ${bestImage.arch} ${ev(bestImage.e)}; ` +
      bestLatent.map((b) => `${b.sp} ${b.arch} ${ev(b.e)}`).join('; '),
  );
  const latentCells = LATENT.flatMap((sp) =>
    ARCHS.map((a) => ({ k: `${sp} ${a}`, e: acc[sp][a] })),
  );
  const target = acc['ae-encoding'].LRL;
  const rivals = latentCells.filter((x) => x.k !== 'ae-encoding LRL');
  const topRival = [...rivals].sort((x, y) => y.e.value - x.e.value)[0];
  push(
    'among latent classifiers, AE-ENCODING+LRL performs best',
    decideBest(
      target,
      rivals.map((r) => r.e),
    ),
    `its test accuracy ${ABOVE} each of the 11 other latent classifiers`,
    `ae-encoding LRL ${ev(target)}; next best ${topRival?.k} ${topRival ? ev(topRival.e) : 'n/a'}`,
  );
  const lrl = SPACES.map((sp) => decideBest(acc[sp].LRL, [acc[sp]['1L'], acc[sp]['2L']]));
  push(
    'LRL is more accurate than 1L and 2L in every space',
    allOf(lrl),
    `in each space LRL's ${ABOVE} both 1L and 2L`,
    SPACES.map((sp, i) => `${sp}: ${lrl[i]}`).join('; '),
  );
  // "On par": our equivalence margin (the study gives none): within 2 points of the best.
  const bestAll = SPACES.map((sp) => ({ sp, ...bestOf(acc[sp]) })).sort(
    (x, y) => y.e.value - x.e.value,
  )[0];
  const bestVae = bestOf(acc['vae-encoding']);
  const gap = bestAll.sp === 'vae-encoding' ? null : differenceEstimate(bestAll.e, bestVae.e);
  push(
    'VAE-ENCODING models are on par with the best classifiers',
    gap ? decideAtMost(gap, 0.02) : 'supported',
    'on par = the best VAE-encoding classifier is at most 2 points below the best classifier: gap interval ≤ 2 points → supported, wholly above 2 → not supported',
    gap
      ? `best ${bestAll.sp} ${bestAll.arch} ${ev(bestAll.e)} − vae-encoding ${bestVae.arch} ${ev(bestVae.e)} = ${ev(gap, 100, '')} points`
      : `the best classifier is VAE-encoding ${bestVae.arch} ${ev(bestVae.e)}`,
  );

  // Robustness per space: mean over the architectures whose attacks mostly succeed.
  const robSpace = Object.fromEntries(
    SPACES.map((sp) => [
      sp,
      averageEstimate(
        ARCHS.filter((a) => (success[sp]?.[a]?.value ?? 0) >= MIN_SUCCESS_SHOWN)
          .map((a) => rob[sp]?.[a])
          .filter((e): e is Estimate => !!e),
      ),
    ]),
  );
  const robEv = SPACES.map((sp) => `${sp} ${ev(robSpace[sp], 1, '')}`).join('; ');
  const others = (sp: string, m: Record<string, Estimate>, list = SPACES) =>
    list.filter((x) => x !== sp).map((x) => m[x]);
  const robBest = decideBest(robSpace['vae-encoding'], others('vae-encoding', robSpace));
  push(
    'VAE-ENCODING models are the most robust (own-space)',
    robBest,
    `robustness of a space = mean over its architectures (where ≥ ${MIN_SUCCESS_SHOWN * 100}% of attacks succeed); VAE-encoding's ${ABOVE} every other space's`,
    robEv,
  );
  const rest = SPACES.filter((sp) => sp !== 'image' && sp !== 'ae-encoding');
  push(
    'AE-ENCODING and image-space models are the least robust (own-space)',
    allOf(
      ['image', 'ae-encoding'].flatMap((low) =>
        rest.map((hi) => decideGreater(robSpace[hi], robSpace[low])),
      ),
    ),
    `each of the other 3 spaces' robustness ${ABOVE} both image and AE-encoding`,
    robEv,
  );
  const tSpace = Object.fromEntries(
    LATENT.map((sp) => [sp, averageEstimate(ARCHS.map((a) => transfer[sp][a]))]),
  );
  const tEv = LATENT.map((sp) => `${sp} ${ev(tSpace[sp])}`).join('; ');
  const tBest = decideBest(tSpace['vae-encoding'], others('vae-encoding', tSpace, LATENT));
  push(
    'VAE-ENCODING models have the highest adversarial accuracy (transfer)',
    tBest,
    `adversarial accuracy of a space = mean over its 3 architectures; VAE-encoding's ${ABOVE} every other latent space's`,
    tEv,
  );
  push(
    'AE-ENCODING models have the lowest adversarial accuracy (transfer)',
    decideWorst(tSpace['ae-encoding'], others('ae-encoding', tSpace, LATENT)),
    `every other latent space's ${ABOVE} AE-encoding's`,
    tEv,
  );
  push(
    'VAE-ENCODING is the clear winner in robustness and adversarial accuracy together',
    allOf([robBest, tBest]),
    'both of the claims above (most robust; highest adversarial accuracy) supported',
    `most robust: ${robBest}; highest adversarial accuracy: ${tBest}`,
  );

  const at = (mode: string, f: number) => svd[mode]?.find((p) => Math.abs(p.fraction - f) < 1e-6);
  for (const mode of ['scale', 'zero'] as const) {
    const verb = mode === 'scale' ? 'scaled down' : 'zeroed';
    const p0 = at(mode, 0);
    const p40 = at(mode, 0.4);
    if (p0 && p40) {
      const boost = differenceEstimate(p40.adversarial, p0.adversarial);
      const drop = differenceEstimate(p0.test, p40.test);
      push(
        `40% of bottom singular values ${verb}: high boost in adversarial accuracy, weak drop in test accuracy`,
        allOf([decideAtLeast(boost, 0.2), decideAtMost(drop, 0.02)]),
        'boost (40% − 0%) interval ≥ 20 points and test drop interval ≤ 2 points; not supported if either is wholly on the wrong side',
        `adversarial ${ev(p0.adversarial)} → ${ev(p40.adversarial)} (boost ${ev(boost, 100, '')} points); test ${ev(p0.test)} → ${ev(p40.test)} (drop ${ev(drop, 100, '')} points)`,
      );
      const re = decideGreater(p40.reattackRobustness, p0.reattackRobustness);
      const reOk =
        p0.reattackSuccess.value >= MIN_SUCCESS_SHOWN &&
        p40.reattackSuccess.value >= MIN_SUCCESS_SHOWN;
      push(
        `SVD truncation (40% ${verb}) increases robustness (white-box re-attack of the defended model)`,
        Number.isFinite(p0.reattackRobustness.value) &&
          Number.isFinite(p40.reattackRobustness.value) &&
          reOk
          ? re
          : 'inconclusive',
        `relative L2 of a fresh attack on the defended model at 40%: interval wholly above the undefended (0%) one; needs ≥ ${MIN_SUCCESS_SHOWN * 100}% re-attack success at both`,
        Number.isFinite(p0.reattackRobustness.value)
          ? `${ev(p0.reattackRobustness, 1, '')} → ${ev(p40.reattackRobustness, 1, '')} (re-attack success ${ev(p0.reattackSuccess)} → ${ev(p40.reattackSuccess)})`
          : 'no re-attack in this preset',
      );
    }
    const small =
      svd[mode]?.filter((p) => p.fraction >= 0.05 - 1e-9 && p.fraction <= 0.15 + 1e-9) ?? [];
    if (p0 && small.length) {
      for (const which of ['test', 'train'] as const) {
        const best = [...small].sort((x, y) => y[which].value - x[which].value)[0];
        push(
          `slight ${which}-accuracy gain with 5–15% of bottom singular values ${verb}`,
          decideGreater(best[which], p0[which]),
          `the best of 5–15%: its ${which} accuracy ${ABOVE} the undefended model's`,
          `${which} ${ev(p0[which])} at 0% vs ${ev(best[which])} at ${pct(best.fraction)}%`,
        );
      }
    }
  }
  if (svd.zero && svd.scale) {
    // The study's "matching results": our margin, 5 points, on the fractions up to 40% (0% is
    // the same model in both sweeps). Differences are treated as independent, which is
    // conservative: both sweeps are evaluated on the same examples.
    const fr = svd.zero
      .map((p) => p.fraction)
      .filter((f) => f > 1e-9 && f <= 0.4 + 1e-9 && at('scale', f));
    const diffs = fr.flatMap((f) =>
      (['test', 'adversarial'] as const).map((k) => ({
        f,
        k,
        d: differenceEstimate(at('zero', f)![k], at('scale', f)![k]),
      })),
    );
    const worst = [...diffs].sort((x, y) => Math.abs(y.d.value) - Math.abs(x.d.value))[0];
    push(
      'scaling and zeroing give matching results',
      allOf(diffs.map((x) => decideWithin(x.d, 0.05))),
      'at every fraction in (0, 40%], the zero − scale difference in test and in adversarial accuracy lies within ±5 points (not supported if one lies wholly outside)',
      worst
        ? `largest difference: ${worst.k} accuracy at ${pct(worst.f)}%: ${ev(worst.d, 100, '')} points (${diffs.length} comparisons)`
        : 'no common fractions',
    );
  }
  return c;
}

const VERDICT_MARK: Record<Verdict, string> = {
  supported: '✅ supported',
  'not supported': '❌ not supported',
  inconclusive: '❔ inconclusive',
};
const VERDICT_COLOUR: Record<Verdict, string> = {
  supported: '#d8f0d8',
  'not supported': '#f6d6d6',
  inconclusive: '#eeeeee',
};

function verdictCounts(claims: Claim[]): string {
  const n = (v: Verdict) => claims.filter((c) => c.verdict === v).length;
  return `${n('supported')} supported, ${n('not supported')} not supported, ${n('inconclusive')} inconclusive (of ${claims.length})`;
}

/** The claims as a markdown table; `marks` prefixes each verdict with a symbol (markdown only: HTML colours the cell). */
function claimsTable(claims: Claim[], marks = true): string {
  return markdownTable(
    ['dataset', 'claim of the study', 'this run', 'numbers that decide', 'rule'],
    claims.map((c) => [
      c.dataset,
      c.claim,
      marks ? VERDICT_MARK[c.verdict] : c.verdict,
      c.evidence,
      c.rule,
    ]),
  );
}

function describeFractions(fs: number[]): string {
  if (fs.length > 2) {
    const step = fs[1] - fs[0];
    if (fs.every((f, i) => Math.abs(f - (fs[0] + i * step)) < 1e-6))
      return `${pct(fs[0])}–${pct(fs.at(-1)!)}% in steps of ${pct(step)}%`;
  }
  return fs.map((f) => `${pct(f)}%`).join(', ');
}

function settingsRows(s: any): (string | number)[][] {
  if (!s) return [];
  const all = (v: number | undefined, full: string) => (v ? String(v) : `all (${full})`);
  return [
    ['preset', s.name],
    ['seeds', (s.seeds ?? []).join(', ')],
    ['training images', all(s.limitTrain, '60,000')],
    ['test images', all(s.limitTest, '10,000')],
    [
      'epochs: image classifiers / latent classifiers / AE, VAE',
      `${s.imageEpochs} / ${s.latentEpochs} / ${s.generatorEpochs}`,
    ],
    ['hidden units', s.hidden],
    ['projection steps (L2, Adam)', s.projectionSteps],
    [
      'attacked examples per classifier',
      `${s.attackCount} images × ${GOALS} goals = ${s.attackCount * GOALS}`,
    ],
    ['attack: max steps (to p(goal) ≥ 0.95)', s.attackMaxSteps],
    ['attack: optimiser', s.attackOptimizer ?? 'ngd (normalised gradient descent)'],
    ['SVD fractions', describeFractions(s.fractions ?? [])],
    [
      'SVD re-attack examples per fraction',
      `${s.reattackCount} images × ${GOALS} goals = ${s.reattackCount * GOALS}`,
    ],
  ];
}

/** What the run's sample sizes allow, in words (the quick preset's are small on purpose). */
function sampleSizeNotes(results: any): string[] {
  const s = results.settings;
  if (!s) return [];
  const seeds = (results.seeds ?? []).length;
  const nAtt = s.attackCount * GOALS;
  const w = wilsonInterval(Math.round(nAtt / 2), nAtt);
  const nTest = s.limitTest ?? 10000;
  const wt = wilsonInterval(Math.round(nTest * 0.9), nTest);
  const lines = [
    `Each attacked cell rests on ${nAtt} examples per seed: a success rate or an adversarial accuracy moves in steps of ${(100 / nAtt).toFixed(1)} points, and its 95% Wilson interval near 50% spans ±${(((w.hi - w.lo) / 2) * 100).toFixed(1)} points.`,
    `Test accuracy is counted on ${nTest} images: near 90% its 95% interval spans ±${(((wt.hi - wt.lo) / 2) * 100).toFixed(1)} points.`,
    seeds > 1
      ? `${seeds} seeds: every number is the mean over seeds; the t interval over ${seeds} seeds uses t(0.975, ${seeds - 1}) = ${seeds === 2 ? '12.71' : seeds === 3 ? '4.30' : 'see tables'}, so a claim needs a margin beyond both the sampling and the seed-to-seed spread.`
      : 'One seed: there is no seed-to-seed spread to measure; claims are decided on the sampling intervals alone, which understate the uncertainty (the paper preset runs 3 seeds).',
    s.reattackCount > 0
      ? `Re-attack of the SVD-defended model: ${s.reattackCount * GOALS} examples per fraction${s.reattackCount * GOALS < COARSE_BELOW ? ' (coarse: its robustness claims are rarely decided)' : ''}.`
      : 'No re-attack of the SVD-defended model in this preset: the claim that SVD increases robustness cannot be decided.',
  ];
  return lines;
}

function runLine(results: any): string {
  const paths = (results.computePaths ?? []) as { path: string; stages: number }[];
  const wall = results.wallSeconds;
  const runs = (results.wallClockRuns ?? []) as { finished?: boolean }[];
  const cut = runs.filter((r) => r.finished === false).length;
  const interrupted = cut
    ? ` (${cut} of them interrupted, counted up to their last finished stage)`
    : '';
  return [
    `Preset **${results.preset}**, seeds ${(results.seeds ?? []).join(', ')}, robustlab ${results.robustlab}, node ${results.node}, tfjs ${results.tfjs}, ${results.workers} worker(s).`,
    `Compute path of the stages: ${paths.map((p) => `${p.path} (${p.stages} stages)`).join('; ') || 'not recorded'}.`,
    `Total stage time ${results.totalStageSeconds?.toFixed(0)} s; wall time ${typeof wall === 'number' && runs.length ? `${wall.toFixed(0)} s over the ${runs.length} invocation(s) that computed stages${interrupted}` : 'not recorded'}; peak resident memory ${results.peakRssMiB ? `${results.peakRssMiB} MiB` : 'not recorded'}${results.computedStages === 0 ? ` (this invocation reused every stage and took ${Math.round(results.thisInvocationWallSeconds ?? 0)} s)` : ''}.`,
  ].join(' ');
}

const CELL_LEGEND =
  'Cells: mean over seeds ± half-width of the 95% t interval over seeds (shown with ≥ 2 seeds), then [95% sampling interval]: Wilson score interval for proportions (counts pooled over seeds), t interval over examples for mean perturbations. † = fewer than half of the attacks succeed (not used in figures or claims).';

function timingRows(stages: Stage[], results: any): (string | number)[][] {
  return stages.map((s) => [s.name, Math.round((results.timings[s.name] ?? 0) * 10) / 10]);
}

function renderMarkdown(
  results: any,
  sections: Section[],
  claims: Claim[],
  stages: Stage[],
): string {
  const lines = [
    `# robustlab reproduction of "Making Neural Nets Robust Again"`,
    '',
    runLine(results),
    '',
    '## What the sample sizes allow',
    '',
    ...sampleSizeNotes(results).map((l) => `- ${l}`),
    '',
    '## Claims',
    '',
    `**${verdictCounts(claims)}.** A claim is supported or not supported only when the 95% intervals that decide it do not overlap (interval = hull of the sampling interval and the t interval over seeds); otherwise inconclusive.`,
    '',
    claimsTable(claims),
    '',
    CELL_LEGEND,
    '',
  ];
  for (const d of [...new Set(sections.map((f) => f.dataset))]) {
    lines.push(`## ${d}`, '');
    for (const f of sections.filter((x) => x.dataset === d)) {
      lines.push(`### ${f.title}`, '');
      if (f.file) lines.push(`![${f.title}](figures/${f.file}.png)`, '');
      for (const n of f.notes) lines.push(`> ${n}`, '');
      for (const t of f.tables) lines.push(`**${t.title}**`, '', t.md, '');
    }
  }
  lines.push(
    '## Settings',
    '',
    markdownTable(['setting', 'value'], settingsRows(results.settings)),
    '',
    '<details><summary>Stage timings (s)</summary>',
    '',
    markdownTable(['stage', 'seconds'], timingRows(stages, results), { digits: 1 }),
    '',
    '</details>',
    '',
  );
  return lines.join('\n');
}

/** A markdown table as HTML, keeping its column alignment (numbers right-aligned). */
function mdTableToHtml(
  md: string,
  cellStyle?: (row: number, col: number, text: string) => string,
): string {
  const lines = md.trim().split('\n');
  const align = lines[1]
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((c) => (c.trim().endsWith(':') ? 'right' : 'left'));
  const rows = lines
    .filter((_, i) => i !== 1)
    .map((l) =>
      l
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((c) => c.trim().replace(/\\\|/g, '|')),
    );
  const td = (tag: string, r: number, c: number, text: string) => {
    const style = [align[c] === 'right' ? 'text-align:right' : '', cellStyle?.(r, c, text) ?? '']
      .filter(Boolean)
      .join(';');
    return `<${tag}${style ? ` style="${style}"` : ''}>${escapeXml(text)}</${tag}>`;
  };
  return `<table><thead><tr>${rows[0].map((c, j) => td('th', 0, j, c)).join('')}</tr></thead><tbody>${rows
    .slice(1)
    .map((r, i) => `<tr>${r.map((c, j) => td('td', i + 1, j, c)).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function renderHtml(results: any, sections: Section[], claims: Claim[], stages: Stage[]): string {
  const n = (v: Verdict) => claims.filter((c) => c.verdict === v).length;
  const badge = (v: Verdict) =>
    `<span style="background:${VERDICT_COLOUR[v]};padding:2px 8px;border-radius:3px;margin-right:6px"><b>${n(v)}</b> ${v}</span>`;
  const mdInline = (s: string) => escapeXml(s).replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>');
  const parts = [
    `<!doctype html><html><head><meta charset="utf-8"><title>robustlab report</title><style>body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;vertical-align:top}figure{margin:1.5em 0}svg{max-width:100%;height:auto}.note{background:#fff6dd;border-left:4px solid #e0b040;padding:6px 10px;font-size:14px}.legend{font-size:13px;color:#555}</style></head><body>`,
    `<h1>robustlab reproduction of “Making Neural Nets Robust Again”</h1>`,
    `<p>${mdInline(runLine(results))}</p>`,
    '<h2>What the sample sizes allow</h2>',
    `<ul>${sampleSizeNotes(results)
      .map((l) => `<li>${escapeXml(l)}</li>`)
      .join('')}</ul>`,
    '<h2>Claims</h2>',
    `<p>${badge('supported')}${badge('not supported')}${badge('inconclusive')}</p>`,
    '<p class="legend">A claim is supported or not supported only when the 95% intervals that decide it do not overlap (interval = hull of the sampling interval and the t interval over seeds); otherwise inconclusive.</p>',
    mdTableToHtml(claimsTable(claims, false), (r, c) => {
      if (r === 0 || c !== 2) return '';
      return `background:${VERDICT_COLOUR[claims[r - 1].verdict]};white-space:nowrap`;
    }),
    `<p class="legend">${escapeXml(CELL_LEGEND)}</p>`,
  ];
  for (const d of [...new Set(sections.map((f) => f.dataset))]) {
    parts.push(`<h2>${escapeXml(d)}</h2>`);
    for (const f of sections.filter((x) => x.dataset === d)) {
      if (f.svg)
        parts.push(
          `<figure>${f.svg.replace(/^<\?xml[^>]*>/, '')}<figcaption>${escapeXml(f.title)}</figcaption></figure>`,
        );
      else parts.push(`<h3>${escapeXml(f.title)}</h3>`);
      for (const note of f.notes) parts.push(`<p class="note">${escapeXml(note)}</p>`);
      for (const t of f.tables) parts.push(`<h3>${escapeXml(t.title)}</h3>`, mdTableToHtml(t.md));
    }
  }
  parts.push(
    '<h2>Settings</h2>',
    mdTableToHtml(markdownTable(['setting', 'value'], settingsRows(results.settings))),
    '<details><summary><b>Stage timings (s)</b></summary>',
    mdTableToHtml(markdownTable(['stage', 'seconds'], timingRows(stages, results), { digits: 1 })),
    '</details>',
    '</body></html>',
  );
  return parts.join('\n');
}
