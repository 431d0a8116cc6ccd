/** `robustlab reproduce`: the whole study as a resumable stage graph, then the report. */
import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import { relative, resolve } from 'node:path';
import { acquireRunLock } from './run-lock.js';
import { DATASET_NAMES, type DatasetName } from '../data/datasets.js';
import { locateDataDir } from '../data/node-io.js';
import { VERSION } from '../version.js';
import { existsSync, readFileSync } from 'node:fs';
import { writeJsonAtomic } from '../util/atomic.js';
import { redactUrl } from '../util/redact-url.js';
import { writeStudyReport } from '../report/study-report.js';
import { execute } from './executor.js';
import type { Preset } from './presets.js';
import { RobustlabError } from '../data/errors.js';
import { buildGraph, computePath, resolveGraph, stageSeconds, type Stage } from './stages.js';

/** One invocation of reproduce that computed stages: its wall time and peak memory. */
export interface RunRecord {
  startedAt: string;
  wallSeconds: number;
  peakRssMiB: number;
  computedStages: number;
  reusedStages: number;
  workers: number;
  /**
   * false while the invocation runs: the record is rewritten after every stage it computes, so
   * an interrupted invocation keeps its wall time up to its last finished stage. Absent in
   * records written before this field existed (those were all finished).
   */
  finished?: boolean;
}

/**
 * The invocations that computed this run's stages (runs.json). A rerun that computes nothing
 * adds nothing, so the report keeps the wall time and memory of the runs that did the work.
 */
export function readRunRecords(out: string): RunRecord[] {
  const p = resolve(out, 'runs.json');
  if (!existsSync(p)) return [];
  try {
    const j = JSON.parse(readFileSync(p, 'utf8'));
    return Array.isArray(j.runs) ? j.runs : [];
  } catch {
    return [];
  }
}

export interface ReproduceOptions {
  datasets: DatasetName[];
  preset: Preset;
  out: string;
  /** Seeds of the seed-dependent stages (default: the preset's). */
  seeds?: number[];
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
  /** Called once the run directory is locked, before any stage runs (the CLI's banner). */
  onStart?: () => void;
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

/** A Redis URL fit to print or store: the credentials masked. */
export const maskedUrl = redactUrl;

export async function reproduce(o: ReproduceOptions) {
  const t0 = performance.now();
  // Fail fast on missing data, before any worker starts.
  for (const d of o.datasets) locateDataDir(d, { dataDir: o.dataDir });
  const dataDir = o.dataDir ? resolve(o.dataDir) : undefined;
  const out = resolve(o.out);
  const seeds = o.seeds ?? o.preset.seeds;
  const graph = resolveGraph(buildGraph(o.datasets, o.preset, seeds), out);
  const stages = o.only?.length ? selectStages(graph, o.only) : graph;
  // One process at a time in a run directory; released on exit, a dead owner's lock is stale.
  const lock = acquireRunLock(out, { log: o.log });
  try {
    o.onStart?.();
    return await reproduceLocked(o, out, graph, stages, seeds, dataDir, t0);
  } finally {
    lock.release();
  }
}

async function reproduceLocked(
  o: ReproduceOptions,
  out: string,
  graph: Stage[],
  stages: Stage[],
  seeds: number[],
  dataDir: string | undefined,
  t0: number,
) {
  const startedAt = new Date(Date.now() - (performance.now() - t0)).toISOString();
  writeJsonAtomic(resolve(out, 'graph.json'), {
    preset: o.preset,
    seeds,
    datasets: o.datasets,
    // Where the data was read from (robustlab lab shows the test images from there).
    dataDir: dataDir ?? null,
    // Relative to the run directory, so a copied run reads its own stages.
    stages: graph.map((s) => ({ ...s, dir: relative(out, s.dir) })),
  });
  const workers = o.workers ?? Math.max(1, availableParallelism());
  const earlierRuns = readRunRecords(out);
  const record = (computed: number, reused: number, finished: boolean): RunRecord => ({
    startedAt,
    wallSeconds: (performance.now() - t0) / 1000,
    // Peak resident memory of this process (all worker threads included), in MiB.
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    computedStages: computed,
    reusedStages: reused,
    workers,
    finished,
  });
  const saveRuns = (runs: RunRecord[]) => writeJsonAtomic(resolve(out, 'runs.json'), { runs });
  const exec = await execute(stages, {
    workers,
    backend: o.backend,
    ctx: { dataDir, seed: seeds[0] },
    force: o.force,
    log: o.log,
    live: o.live,
    queue: o.queue && { ...o.queue, root: out },
    onStageDone: ({ computed, reused }) =>
      saveRuns([...earlierRuns, record(computed, reused, false)]),
  });
  const thisRun = record(exec.computed.length, exec.cached.length, true);
  const runs = exec.computed.length ? [...earlierRuns, thisRun] : earlierRuns;
  if (exec.computed.length) saveRuns(runs);
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
      seeds,
      workers,
      ...(o.queue ? { queue: maskedUrl(o.queue.url) } : {}),
      settings: { ...o.preset, seeds },
      reportCompute: computePath(),
      // Wall time and peak memory of the invocations that computed the stages (runs.json),
      // not of this one when it only reused them.
      wallSeconds: runs.reduce((a, r) => a + r.wallSeconds, 0),
      peakRssMiB: Math.max(0, ...runs.map((r) => r.peakRssMiB)),
      wallClockRuns: runs,
      thisInvocationWallSeconds: thisRun.wallSeconds,
      totalStageSeconds,
      computedStages: exec.computed.length,
      reusedStages: exec.cached.length,
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
