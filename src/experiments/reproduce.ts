/** `robustlab reproduce`: the whole study as a resumable stage graph, then the report. */
import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import { relative, resolve } from 'node:path';
import { acquireRunLock } from './run-lock.js';
import { DATASET_NAMES, type DatasetName } from '../data/datasets.js';
import { locateDataDir } from '../data/node-io.js';
import { VERSION } from '../version.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { writeStudyReport } from '../report/study-report.js';
import { execute } from './executor.js';
import type { Preset } from './presets.js';
import { buildGraph, resolveGraph, stageSeconds, type Stage } from './stages.js';

export interface ReproduceOptions {
  datasets: DatasetName[];
  preset: Preset;
  out: string;
  seed: number;
  workers?: number;
  backend?: string;
  dataDir?: string;
  force?: string[];
  log?: (line: string) => void;
  /** Redraw per-stage bars in place (stderr is a terminal). */
  live?: boolean;
  /** Called once the run directory is locked, before any stage runs (the CLI's banner). */
  onStart?: () => void;
}

export async function reproduce(o: ReproduceOptions) {
  const t0 = performance.now();
  // Fail fast on missing data, before any worker starts.
  for (const d of o.datasets) locateDataDir(d, { dataDir: o.dataDir });
  const dataDir = o.dataDir ? resolve(o.dataDir) : undefined;
  const out = resolve(o.out);
  const stages = resolveGraph(buildGraph(o.datasets, o.preset, o.seed), out);
  // One process at a time in a run directory; released on exit, a dead owner's lock is stale.
  const lock = acquireRunLock(out, { log: o.log });
  try {
    o.onStart?.();
    return await reproduceLocked(o, out, stages, dataDir, t0);
  } finally {
    lock.release();
  }
}

async function reproduceLocked(
  o: ReproduceOptions,
  out: string,
  stages: Stage[],
  dataDir: string | undefined,
  t0: number,
) {
  writeJsonAtomic(resolve(out, 'graph.json'), {
    preset: o.preset,
    seed: o.seed,
    datasets: o.datasets,
    // Relative to the run directory, so a copied run reads its own stages.
    stages: stages.map((s) => ({ ...s, dir: relative(out, s.dir) })),
  });
  const workers = o.workers ?? Math.max(1, availableParallelism());
  const exec = await execute(stages, {
    workers,
    backend: o.backend,
    ctx: { dataDir, seed: o.seed },
    force: o.force,
    log: o.log,
    live: o.live,
  });
  o.log?.('writing report');
  const totalStageSeconds = stages.reduce((s, st) => s + stageSeconds(st), 0);
  const report = await writeStudyReport(
    out,
    stages,
    {
      robustlab: VERSION,
      node: process.version,
      tfjs: tf.version.tfjs,
      backend: tf.getBackend(),
      preset: o.preset.name,
      seed: o.seed,
      workers,
      settings: o.preset,
      wallSeconds: (performance.now() - t0) / 1000,
      totalStageSeconds,
      computedStages: exec.computed.length,
      reusedStages: exec.cached.length,
      // Peak resident memory of this process (all worker threads included), in MiB.
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    },
    dataDir,
  );
  return {
    out,
    computed: exec.computed,
    cached: exec.cached,
    seconds: (performance.now() - t0) / 1000,
    claims: report.claims,
    report: resolve(out, 'report.html'),
  };
}

export { DATASET_NAMES };
