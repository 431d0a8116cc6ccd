/**
 * `robustlab sweep`: the study's graph once per seed, all in one artifact directory (stage keys
 * include the seed, so a sweep's seed s reuses a `reproduce --seed s` run in the same --out),
 * then one report per seed and a combined table of per-seed numbers with mean ± sd.
 *
 * Every stage takes the seed (initialisations, projections, attacked examples), so no stage is
 * shared between seeds; only the data files are. On a queue all seeds' stages are in flight at
 * once (the workers never wait for one seed's tail); locally the seeds run one after another,
 * each on all worker threads.
 */
import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { locateDataDir } from '../data/node-io.js';
import type { DatasetName } from '../data/datasets.js';
import { markdownTable } from '../report/table.js';
import { writeStudyReport } from '../report/study-report.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { VERSION } from '../version.js';
import { execute } from './executor.js';
import { acquireRunLock } from './run-lock.js';
import type { Preset } from './presets.js';
import { maskedUrl } from './reproduce.js';
import { buildGraph, resolveGraph, stageSeconds } from './stages.js';

export interface SweepOptions {
  datasets: DatasetName[];
  preset: Preset;
  seeds: number[];
  out: string;
  workers?: number;
  backend?: string;
  dataDir?: string;
  log?: (line: string) => void;
  queue?: { url: string; attempts?: number };
}

/** One row of the combined table: a number per seed for one quantity. */
export interface SweepRow {
  dataset: string;
  quantity: string;
  perSeed: (number | null)[];
  mean: number | null;
  sd: number | null;
  n: number;
}

/** Parse `0..9`, `3` or `0,2,5` (and mixes: `0..2,7`) into distinct non-negative seeds. */
export function parseSeeds(spec: string): number[] {
  const seeds: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new RangeError(`--seeds: '${spec}' is not a seed list (e.g. 0..9 or 0,3,7)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new RangeError(`--seeds: empty range '${part.trim()}'`);
    if (b - a > 999) throw new RangeError(`--seeds: range '${part.trim()}' too long`);
    for (let s = a; s <= b; s++) if (!seeds.includes(s)) seeds.push(s);
  }
  return seeds;
}

/** Sample mean and standard deviation (n − 1) of the numbers present. */
export function meanSd(xs: (number | null)[]): {
  mean: number | null;
  sd: number | null;
  n: number;
} {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  if (!v.length) return { mean: null, sd: null, n: 0 };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd =
    v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : null;
  return { mean, sd, n: v.length };
}

/**
 * The quantities gathered per seed from each results.json: test accuracy of every classifier,
 * own- and pixel-space robustness (mean L2 of successful attacks) and success rate, and the SVD
 * sweep's adversarial accuracy at each fraction.
 */
export function sweepQuantities(
  results: any,
): { dataset: string; quantity: string; value: number | null }[] {
  const rows: { dataset: string; quantity: string; value: number | null }[] = [];
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  for (const [d, r] of Object.entries<any>(results.datasets ?? {})) {
    for (const [space, archs] of Object.entries<any>(r.testAccuracy ?? {}))
      for (const [arch, acc] of Object.entries(archs ?? {}))
        rows.push({ dataset: d, quantity: `test accuracy ${space} ${arch}`, value: num(acc) });
    for (const [mode, spaces] of Object.entries<any>(r.robustness ?? {}))
      for (const [space, archs] of Object.entries<any>(spaces ?? {}))
        for (const [arch, s] of Object.entries<any>(archs ?? {})) {
          rows.push({
            dataset: d,
            quantity: `robustness ${mode} ${space} ${arch}`,
            value: num(s?.robustness),
          });
          rows.push({
            dataset: d,
            quantity: `attack success ${mode} ${space} ${arch}`,
            value: num(s?.successRate),
          });
        }
    for (const [mode, sweep] of Object.entries<any>(r.svd ?? {}))
      for (const p of sweep?.points ?? [])
        rows.push({
          dataset: d,
          quantity: `svd ${mode} adversarial accuracy @${p.fraction}`,
          value: num(p.adversarialAccuracy),
        });
  }
  return rows;
}

export function gatherSweep(seeds: number[], perSeed: unknown[]): SweepRow[] {
  const table = new Map<string, SweepRow>();
  perSeed.forEach((results, k) => {
    for (const q of sweepQuantities(results)) {
      const id = `${q.dataset}\u0000${q.quantity}`;
      let row = table.get(id);
      if (!row) {
        row = {
          dataset: q.dataset,
          quantity: q.quantity,
          perSeed: seeds.map(() => null),
          mean: null,
          sd: null,
          n: 0,
        };
        table.set(id, row);
      }
      row.perSeed[k] = q.value;
    }
  });
  for (const row of table.values()) Object.assign(row, meanSd(row.perSeed));
  return [...table.values()];
}

const fmt = (v: number | null) =>
  v === null ? '–' : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3);

export async function sweep(o: SweepOptions) {
  const t0 = performance.now();
  for (const d of o.datasets) locateDataDir(d, { dataDir: o.dataDir });
  const dataDir = o.dataDir ? resolve(o.dataDir) : undefined;
  const out = resolve(o.out);
  // One process at a time in a run directory (see run-lock.ts).
  const lock = acquireRunLock(out, { log: o.log });
  try {
    return await sweepLocked(o, out, dataDir, t0);
  } finally {
    lock.release();
  }
}

async function sweepLocked(o: SweepOptions, out: string, dataDir: string | undefined, t0: number) {
  const graphs = o.seeds.map((seed) => ({
    seed,
    stages: resolveGraph(buildGraph(o.datasets, o.preset, seed), out),
  }));
  writeJsonAtomic(join(out, 'sweep-graph.json'), {
    preset: o.preset,
    seeds: o.seeds,
    datasets: o.datasets,
    stages: graphs.flatMap((g) => g.stages),
  });
  const workers = o.workers ?? Math.max(1, availableParallelism());
  const run = (g: (typeof graphs)[number]) =>
    execute(g.stages, {
      workers,
      backend: o.backend,
      ctx: { dataDir, seed: g.seed },
      log: o.log && ((l) => o.log!(`seed ${g.seed} ${l}`)),
      queue: o.queue && { ...o.queue, root: out },
    });
  const execs = o.queue
    ? await Promise.all(graphs.map(run))
    : await graphs.reduce(
        async (acc, g) => [...(await acc), await run(g)],
        Promise.resolve([] as Awaited<ReturnType<typeof execute>>[]),
      );
  const perSeed: unknown[] = [];
  for (const [k, g] of graphs.entries()) {
    o.log?.(`writing the report of seed ${g.seed}`);
    const r = await writeStudyReport(
      join(out, `seed-${g.seed}`),
      g.stages,
      {
        robustlab: VERSION,
        node: process.version,
        tfjs: tf.version.tfjs,
        backend: tf.getBackend(),
        preset: o.preset.name,
        seed: g.seed,
        workers,
        ...(o.queue ? { queue: maskedUrl(o.queue.url) } : {}),
        settings: o.preset,
        totalStageSeconds: g.stages.reduce((s, st) => s + stageSeconds(st), 0),
        computedStages: execs[k].computed.length,
        reusedStages: execs[k].cached.length,
      },
      dataDir,
    );
    perSeed.push(r.results);
  }
  const rows = gatherSweep(o.seeds, perSeed);
  const summary = {
    robustlab: VERSION,
    preset: o.preset.name,
    seeds: o.seeds,
    datasets: o.datasets,
    wallSeconds: (performance.now() - t0) / 1000,
    computedStages: execs.reduce((s, e) => s + e.computed.length, 0),
    reusedStages: execs.reduce((s, e) => s + e.cached.length, 0),
    reports: o.seeds.map((s) => join(out, `seed-${s}`, 'report.html')),
    rows,
  };
  writeJsonAtomic(join(out, 'sweep.json'), summary);
  const md = [
    `# Seed sweep: ${o.preset.name} preset, seeds ${o.seeds.join(', ')}`,
    '',
    'Per-seed numbers and mean ± sample sd over the seeds that have one (n). Accuracies and',
    'success rates are fractions; robustness is the mean L2 distance of successful attacks.',
    'Per-seed reports: ' + o.seeds.map((s) => `[seed ${s}](seed-${s}/report.html)`).join(', '),
    '',
    markdownTable(
      ['dataset', 'quantity', ...o.seeds.map((s) => `seed ${s}`), 'mean ± sd', 'n'],
      rows.map((r) => [
        r.dataset,
        r.quantity,
        ...r.perSeed.map(fmt),
        r.mean === null ? '–' : `${fmt(r.mean)} ± ${r.sd === null ? '–' : fmt(r.sd)}`,
        String(r.n),
      ]),
    ),
    '',
  ].join('\n');
  writeFileAtomic(join(out, 'sweep.md'), md);
  return { out, ...summary, rows: rows.length, table: join(out, 'sweep.md') };
}
