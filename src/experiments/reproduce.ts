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
import { RobustlabError } from '../data/errors.js';
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
  /** Run the stages on a BullMQ queue (`robustlab worker`s) instead of local worker threads. */
  queue?: { url: string; attempts?: number };
  /** Run only these stages (names, prefixes or kinds) and their inputs; no report then. */
  only?: string[];
}

/** The stages matching any of `only` (name, prefix or kind) and everything they depend on. */
export function selectStages(stages: Stage[], only: string[]): Stage[] {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const keep = new Set<string>();
  const add = (n: string) => {
    if (keep.has(n)) return;
    keep.add(n);
    byName.get(n)!.deps.forEach(add);
  };
  for (const f of only) {
    const hits = stages.filter((s) => s.name === f || s.name.startsWith(f + '/') || s.kind === f);
    if (!hits.length)
      throw new RobustlabError(
        `--stages: no stage matches '${f}' (stage names look like attack/mnist/image/2L/own-space; kinds: classifier, generator, codes, attack, transfer, svd)`,
      );
    hits.forEach((h) => add(h.name));
  }
  return stages.filter((s) => keep.has(s.name));
}

/** A Redis URL fit to print or store: the password masked. */
export const maskedUrl = (url: string) => url.replace(/\/\/([^@/]*)@/, '//***@');

export async function reproduce(o: ReproduceOptions) {
  const t0 = performance.now();
  // Fail fast on missing data, before any worker starts.
  for (const d of o.datasets) locateDataDir(d, { dataDir: o.dataDir });
  const dataDir = o.dataDir ? resolve(o.dataDir) : undefined;
  const out = resolve(o.out);
  const graph = resolveGraph(buildGraph(o.datasets, o.preset, o.seed), out);
  const stages = o.only?.length ? selectStages(graph, o.only) : graph;
  // One process at a time in a run directory; released on exit, a dead owner's lock is stale.
  const lock = acquireRunLock(out, { log: o.log });
  try {
    return await reproduceLocked(o, out, graph, stages, dataDir, t0);
  } finally {
    lock.release();
  }
}

async function reproduceLocked(
  o: ReproduceOptions,
  out: string,
  graph: Stage[],
  stages: Stage[],
  dataDir: string | undefined,
  t0: number,
) {
  writeJsonAtomic(resolve(out, 'graph.json'), {
    preset: o.preset,
    seed: o.seed,
    datasets: o.datasets,
    // Relative to the run directory, so a copied run reads its own stages.
    stages: graph.map((s) => ({ ...s, dir: relative(out, s.dir) })),
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
  if (stages.length < graph.length)
    return {
      out,
      computed: exec.computed,
      cached: exec.cached,
      seconds: (performance.now() - t0) / 1000,
      ...(exec.queue ? { queue: exec.queue } : {}),
      claims: [],
      report: null,
    };
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
