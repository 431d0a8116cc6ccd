/** `robustlab reproduce`: the whole study as a resumable stage graph, then the report. */
import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { DATASET_NAMES, type DatasetName } from '../data/datasets.js';
import { locateDataDir } from '../data/node-io.js';
import { VERSION } from '../version.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { writeStudyReport } from '../report/study-report.js';
import { execute } from './executor.js';
import type { Preset } from './presets.js';
import { buildGraph, resolveGraph, stageSeconds } from './stages.js';

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
  /** Run the stages on a BullMQ queue (`robustlab worker`s) instead of local worker threads. */
  queue?: { url: string; attempts?: number };
}

/** A Redis URL fit to print or store: the password masked. */
export const maskedUrl = (url: string) => url.replace(/\/\/([^@/]*)@/, '//***@');

export async function reproduce(o: ReproduceOptions) {
  const t0 = performance.now();
  // Fail fast on missing data, before any worker starts.
  for (const d of o.datasets) locateDataDir(d, { dataDir: o.dataDir });
  const dataDir = o.dataDir ? resolve(o.dataDir) : undefined;
  const out = resolve(o.out);
  const stages = resolveGraph(buildGraph(o.datasets, o.preset, o.seed), out);
  writeJsonAtomic(resolve(out, 'graph.json'), {
    preset: o.preset,
    seed: o.seed,
    datasets: o.datasets,
    stages,
  });
  const workers = o.workers ?? Math.max(1, availableParallelism());
  const exec = await execute(stages, {
    workers,
    backend: o.backend,
    ctx: { dataDir, seed: o.seed },
    force: o.force,
    log: o.log,
    live: o.live,
    queue: o.queue && { ...o.queue, root: out },
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
      ...(o.queue ? { queue: maskedUrl(o.queue.url) } : {}),
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
    ...(exec.queue ? { queue: exec.queue } : {}),
    claims: report.claims,
    report: resolve(out, 'report.html'),
  };
}

export { DATASET_NAMES };
