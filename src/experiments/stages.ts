/**
 * The study as a graph of stages. A stage is plain data (kind + params + dependencies), so a
 * worker thread can run it from its description alone. Its key hashes its kind, params and its
 * dependencies' keys: change one setting and only what depends on it gets a new key.
 */
import { createHash } from 'node:crypto';
import { cpSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { relativeToRun, stageStatus } from './stage-record.js';
import type { DatasetName } from '../data/datasets.js';
import { ARCHS } from '../models/classifier.js';
import { LATENT_METHODS, methodGenerator, type LatentMethod } from '../latent/codes.js';
import { buildLatentDataset, runTrainGenerator } from '../latent/jobs.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { runTrainClassifier } from './classifier-job.js';
import { runAttackJob } from './attack-job.js';
import { transferAccuracy } from './transfer-job.js';
import { runSvdJob } from './svd-job.js';
import { runEvaluateJob } from './evaluate-job.js';
import type { Preset } from './presets.js';
import * as tf from '@tensorflow/tfjs';
import { nativeMatmulStatus } from '../backend/native-matmul.js';
import { RobustlabError } from '../data/errors.js';
import { TARGETED_CE_L2_DEFAULTS, type TargetedCeL2Options } from '../attacks/targeted-ce-l2.js';

/** The default step size, whether the defaults give one number or one per optimiser. */
function stepSizeOf(optimizer: string, stepSize: number | Record<string, number>): number {
  return typeof stepSize === 'number' ? stepSize : stepSize[optimizer];
}

export type StageKind =
  'classifier' | 'generator' | 'codes' | 'attack' | 'transfer' | 'svd' | 'evaluate';

/** The standard evaluation's threat models: the weaker MNIST budgets (L∞ 0.1, L2 1.0). */
export const STANDARD_EVAL_BUDGETS = [
  { norm: 'linf', eps: 0.1 },
  { norm: 'l2', eps: 1.0 },
] as const;
/** SVD-defended 2L image models evaluated (zero mode), as fractions of singular values. */
export const STANDARD_EVAL_SVD_FRACTIONS = [0, 0.15, 0.4];
/**
 * Security curves of the 2L models (every space): APGD-CE alone at each ε, on the first
 * `evaluation.curveN` points; the grid brackets both standard budgets.
 */
export const STANDARD_EVAL_CURVES: Record<'linf' | 'l2', number[]> = {
  linf: [0.02, 0.05, 0.1, 0.15, 0.2, 0.3],
  l2: [0.25, 0.5, 1, 1.5, 2, 3],
};

/** Name of an evaluate stage (without the seed suffix); svdFraction set for the defended 2L. */
export function evaluateStageName(
  d: string,
  space: string,
  arch: string,
  norm: string,
  svdFraction?: number,
): string {
  return svdFraction === undefined
    ? `evaluate/${d}/${space}/${arch}/${norm}`
    : `evaluate/${d}/image-svd${Math.round(svdFraction * 100)}/${arch}/${norm}`;
}

export interface StageDef {
  name: string;
  kind: StageKind;
  params: Record<string, unknown>;
  deps: string[];
}

export interface Stage extends StageDef {
  key: string;
  dir: string;
}

export interface RunContext {
  dataDir?: string;
  seed: number;
}

/** The name of a stage of one seed: every stage of the study is trained or sampled per seed. */
export function seedStageName(base: string, seed: number): string {
  return `${base}/seed${seed}`;
}

/** A stage name without its seed suffix, and the seed (null when the name has none). */
export function splitStageName(name: string): { base: string; seed: number | null } {
  const m = /^(.*)\/seed(\d+)$/.exec(name);
  return m ? { base: m[1], seed: Number(m[2]) } : { base: name, seed: null };
}

/**
 * The study's graph for every seed. The datasets (fixed splits) are the same for all seeds and
 * loaded by each stage; every stage that trains or samples (generators, projections' random
 * starts, classifiers, attack example choice, re-attacks) runs once per seed, under a name and
 * key that carry the seed.
 */
export function buildGraph(
  datasets: DatasetName[],
  p: Preset,
  seeds: number | number[],
): StageDef[] {
  const all = typeof seeds === 'number' ? [seeds] : seeds;
  const evaluated = p.evaluation?.seeds ?? all.length;
  return all.flatMap((seed, i) =>
    buildSeedGraph(datasets, i < evaluated ? p : { ...p, evaluation: undefined }, seed).map(
      (d) => ({
        ...d,
        name: seedStageName(d.name, seed),
        deps: d.deps.map((x) => seedStageName(x, seed)),
      }),
    ),
  );
}

function buildSeedGraph(datasets: DatasetName[], p: Preset, seed: number): StageDef[] {
  const g: StageDef[] = [];
  const data = { limitTrain: p.limitTrain ?? null, limitTest: p.limitTest ?? null };
  // The attack's settings are part of the key: changing a default recomputes the attacks and
  // everything downstream of them (transfer, SVD).
  const { lambda, stepSize, confidence } = TARGETED_CE_L2_DEFAULTS;
  const optimizer = p.attackOptimizer ?? TARGETED_CE_L2_DEFAULTS.optimizer;
  const attack = {
    count: p.attackCount,
    maxSteps: p.attackMaxSteps,
    lambda,
    optimizer,
    stepSize: stepSizeOf(optimizer, stepSize),
    confidence,
  };
  for (const d of datasets) {
    for (const arch of ARCHS) {
      g.push({
        name: `classifier/${d}/image/${arch}`,
        kind: 'classifier',
        params: {
          dataset: d,
          space: 'image',
          arch,
          epochs: p.imageEpochs,
          hidden: p.hidden,
          seed,
          ...data,
        },
        deps: [],
      });
    }
    for (const kind of ['ae', 'vae'] as const) {
      g.push({
        name: `generator/${d}/${kind}`,
        kind: 'generator',
        params: { dataset: d, kind, epochs: p.generatorEpochs, seed, ...data },
        deps: [],
      });
    }
    for (const m of LATENT_METHODS) {
      g.push({
        name: `codes/${d}/${m}`,
        kind: 'codes',
        params: { dataset: d, method: m, steps: p.projectionSteps, seed, ...data },
        deps: [`generator/${d}/${methodGenerator(m)}`],
      });
      for (const arch of ARCHS) {
        g.push({
          name: `classifier/${d}/${m}/${arch}`,
          kind: 'classifier',
          params: {
            dataset: d,
            space: m,
            arch,
            epochs: p.latentEpochs,
            hidden: p.hidden,
            seed,
            ...data,
          },
          deps: [`codes/${d}/${m}`],
        });
      }
    }
    for (const space of ['image', ...LATENT_METHODS]) {
      for (const arch of ARCHS) {
        const modes = space === 'image' ? ['own-space'] : ['own-space', 'pixel-space'];
        for (const mode of modes) {
          g.push({
            name: `attack/${d}/${space}/${arch}/${mode}`,
            kind: 'attack',
            params: {
              mode,
              seed,
              ...attack,
              // Pixel-space attacks on projection spaces go through the projection's implicit gradient.
              ...(mode === 'pixel-space' && space.endsWith('projection')
                ? { pixelProjection: 'implicit' }
                : {}),
            },
            deps: [
              `classifier/${d}/${space}/${arch}`,
              ...(space === 'image' ? [] : [`codes/${d}/${space}`]),
            ],
          });
        }
      }
    }
    for (const arch of ARCHS) {
      g.push({
        name: `transfer/${d}/${arch}`,
        kind: 'transfer',
        params: { seed },
        deps: [
          `attack/${d}/image/${arch}/own-space`,
          ...LATENT_METHODS.flatMap((m) => ARCHS.map((a) => `classifier/${d}/${m}/${a}`)),
        ],
      });
    }
    for (const mode of ['zero', 'scale'] as const) {
      g.push({
        name: `svd/${d}/${mode}`,
        kind: 'svd',
        params: {
          mode,
          fractions: p.fractions,
          reattackCount: p.reattackCount,
          seed,
          ...attack,
          ...data,
        },
        deps: [`classifier/${d}/image/2L`, `attack/${d}/image/2L/own-space`],
      });
    }
    if (p.evaluation) g.push(...evaluateStages(d, p.evaluation, seed));
  }
  return g;
}

/**
 * AutoAttack end to end in pixels (adaptive target per space: EOT for the VAE's stochastic code,
 * implicit projection gradient for projections, through the encoder for encodings) on every
 * classifier at both budgets, and on the 2L image model SVD-defended (zero mode) at 0/15/40%.
 * The transfer check attacks from the image classifier of the same architecture.
 */
function evaluateStages(d: string, e: NonNullable<Preset['evaluation']>, seed: number): StageDef[] {
  const g: StageDef[] = [];
  const checked = (norm: 'linf' | 'l2', arch: string) =>
    (!e.checkNorms || e.checkNorms.includes(norm)) &&
    (!e.checkArchs || e.checkArchs.includes(arch));
  const pointsOf = (space: string, norm: 'linf' | 'l2', arch: string) =>
    !space.endsWith('projection')
      ? e.n
      : checked(norm, arch)
        ? e.projectionN
        : (e.projectionNUnchecked ?? e.projectionN);
  const common = (space: string, norm: 'linf' | 'l2', arch: string) => ({
    // AutoAttack's rand version (APGD-CE/DLR with EOT inside) for the stochastic VAE code, as
    // its authors prescribe for randomised defences; the standard version elsewhere.
    attacks: space === 'vae-encoding' ? 'autoattack-rand' : 'autoattack',
    n: pointsOf(space, norm, arch),
    checkSubset: checked(norm, arch) ? e.checkSubset : 0,
    seed,
  });
  for (const { norm, eps } of STANDARD_EVAL_BUDGETS.filter(
    (b) => !e.norms || e.norms.includes(b.norm),
  )) {
    for (const space of ['image', ...LATENT_METHODS].filter(
      (sp) => !e.spaces || e.spaces.includes(sp),
    ))
      for (const arch of ARCHS.filter(
        (a) =>
          (!e.archs || e.archs.includes(a)) &&
          (norm === 'linf' || !e.l2Archs || e.l2Archs.includes(a)),
      ))
        g.push({
          name: evaluateStageName(d, space, arch, norm),
          kind: 'evaluate',
          params: {
            ...common(space, norm, arch),
            norm,
            eps,
            ...(space.endsWith('projection') ? { projection: 'implicit' } : {}),
            spectral: null,
            ...(arch === '2L' && e.curveN
              ? {
                  curve: STANDARD_EVAL_CURVES[norm],
                  curveAttacks: 'apgd-ce',
                  curveN: Math.min(e.curveN, pointsOf(space, norm, arch)),
                }
              : {}),
          },
          deps: [
            `classifier/${d}/${space}/${arch}`,
            ...(space === 'image' ? [] : [`classifier/${d}/image/${arch}`]),
          ],
        });
    for (const fraction of STANDARD_EVAL_SVD_FRACTIONS)
      g.push({
        name: evaluateStageName(d, 'image', '2L', norm, fraction),
        kind: 'evaluate',
        params: { ...common('image', norm, '2L'), norm, eps, spectral: { mode: 'zero', fraction } },
        deps: [`classifier/${d}/image/2L`],
      });
  }
  return g;
}

/** A stage's content address: its name, kind, params and its dependencies' keys. */
export function stageKey(d: StageDef, depKeys: string[]): string {
  return createHash('sha256')
    .update(JSON.stringify({ name: d.name, kind: d.kind, params: d.params, depKeys }))
    .digest('hex')
    .slice(0, 16);
}

/** Where a stage's output lives under a run (artifact) directory. */
export function stageDir(root: string, name: string, key: string): string {
  return join(root, 'stages', `${name.replaceAll('/', '_')}-${key}`);
}

export function resolveGraph(defs: StageDef[], root: string): Stage[] {
  const byName = new Map<string, Stage>();
  for (const d of defs) {
    const depKeys = d.deps.map((n) => {
      const s = byName.get(n);
      if (!s) throw new Error(`stage ${d.name} depends on unknown or later stage ${n}`);
      return s.key;
    });
    const key = stageKey(d, depKeys);
    const stage = { ...d, key, dir: stageDir(root, d.name, key) };
    byName.set(d.name, stage);
  }
  return [...byName.values()];
}

const DONE = 'stage.json';

/** The attack settings stored in a stage's params (see buildGraph). */
function attackSettings(p: Record<string, any>): TargetedCeL2Options {
  const { maxSteps, lambda, optimizer, stepSize, confidence } = p;
  return { maxSteps, lambda, optimizer, stepSize, confidence };
}

/** Is the stage finished, with a valid record (see stage-record.ts)? */
export function stageDone(s: Stage): boolean {
  return stageStatus(s).done;
}

function validRecord(s: Stage) {
  const st = stageStatus(s);
  if (!st.done)
    throw new RobustlabError(
      `stage ${s.name} is not finished${st.problem ? ` (${st.problem})` : ''}; run robustlab reproduce again`,
    );
  return st.record;
}

export function stageResult(s: Stage): Record<string, unknown> {
  return validRecord(s).result;
}

/** Run one stage. `dirs` maps dependency names to their directories. Writes stage.json last. */
export async function runStage(
  s: Stage,
  dirs: Record<string, string>,
  ctx: RunContext,
): Promise<Record<string, unknown>> {
  const p = s.params as Record<string, any>;
  const t0 = performance.now();
  const limits = {
    limitTrain: p.limitTrain ?? undefined,
    limitTest: p.limitTest ?? undefined,
    dataDir: ctx.dataDir,
  };
  rmSync(join(s.dir, DONE), { recursive: true, force: true });
  let result: Record<string, unknown>;
  switch (s.kind) {
    case 'classifier': {
      const latentDir = p.space === 'image' ? undefined : dirs[s.deps[0]];
      const r = await runTrainClassifier({
        dataset: p.dataset,
        arch: p.arch,
        space: p.space,
        epochs: p.epochs,
        hidden: p.hidden,
        seed: p.seed,
        out: join(s.dir, 'model'),
        latentDir,
        silent: true,
        ...limits,
      });
      result = { ...r, out: join(s.dir, 'model') };
      break;
    }
    case 'generator':
      result = await runTrainGenerator({
        dataset: p.dataset,
        kind: p.kind,
        epochs: p.epochs,
        seed: p.seed,
        out: join(s.dir, p.kind),
        silent: true,
        ...limits,
      });
      break;
    case 'codes': {
      const kind = methodGenerator(p.method as LatentMethod);
      cpSync(join(dirs[s.deps[0]], kind), join(s.dir, kind), { recursive: true });
      result = await buildLatentDataset({
        dataset: p.dataset,
        method: p.method,
        steps: p.steps,
        seed: p.seed,
        latentDir: s.dir,
        silent: true,
        ...limits,
      });
      break;
    }
    case 'attack': {
      const r = await runAttackJob({
        modelDir: join(dirs[s.deps[0]], 'model'),
        latentDir: s.deps[1] ? dirs[s.deps[1]] : undefined,
        mode: p.mode,
        pixelProjection: p.pixelProjection,
        count: p.count,
        seed: p.seed,
        dataDir: ctx.dataDir,
        attack: attackSettings(p),
        out: s.dir,
        silent: true,
      });
      result = {
        ...r.record,
        imageIndex: undefined,
        trueLabels: undefined,
        goals: undefined,
        success: undefined,
        steps: undefined,
        goalProb: undefined,
      };
      break;
    }
    case 'transfer': {
      const [attackName, ...targets] = s.deps;
      result = {
        cells: targets.map((t) =>
          transferAccuracy(dirs[attackName], join(dirs[t], 'model'), p.seed),
        ),
      };
      break;
    }
    case 'evaluate': {
      const { record } = await runEvaluateJob({
        modelDir: join(dirs[s.deps[0]], 'model'),
        norm: p.norm,
        eps: p.eps,
        attacks: p.attacks,
        n: p.n,
        seed: p.seed,
        projection: p.projection,
        spectral: p.spectral ?? undefined,
        curve: p.curve,
        curveAttacks: p.curveAttacks,
        curveN: p.curveN,
        transferFrom: s.deps[1] ? join(dirs[s.deps[1]], 'model') : undefined,
        checkSubset: p.checkSubset,
        dataDir: ctx.dataDir,
        silent: true,
      });
      // The per-example arrays stay out of the record the report reads (n up to 1000).
      const { distances, brokenBy, ...rest } = record;
      result = {
        ...rest,
        broken: brokenBy.filter((b) => b !== null).length,
        minDistances: distances.filter((v) => v !== null).length,
      };
      break;
    }
    case 'svd':
      result = await runSvdJob({
        modelDir: join(dirs[s.deps[0]], 'model'),
        attackDir: dirs[s.deps[1]],
        mode: p.mode,
        fractions: p.fractions,
        reattackCount: p.reattackCount,
        seed: p.seed,
        attack: attackSettings(p),
        silent: true,
        ...limits,
      });
      break;
  }
  const seconds = (performance.now() - t0) / 1000;
  writeJsonAtomic(join(s.dir, DONE), {
    name: s.name,
    key: s.key,
    params: s.params,
    seconds,
    finishedAt: new Date().toISOString(),
    compute: computePath(),
    // Peak resident memory of the process that ran the stage (all its threads), MiB.
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    // Paths inside the run are stored relative to it: a copied run directory stays valid.
    result: relativeToRun(result, dirname(dirname(s.dir))),
  });
  return result;
}

/** The compute path this thread runs on: tensor backend, native OpenBLAS matmul, BLAS threads. */
export function computePath(): {
  backend: string;
  native: boolean;
  blas: string | null;
  blasThreads: number | null;
} {
  const backend = tf.getBackend();
  const st = nativeMatmulStatus(backend);
  return {
    backend,
    native: st.installed,
    blas: st.installed ? (st.blas ?? null) : null,
    blasThreads: st.installed ? (st.threads ?? null) : null,
  };
}

/** What stage.json recorded about the run that computed the stage. */
export function stageRecord(s: Stage): {
  seconds: number;
  finishedAt?: string;
  compute?: ReturnType<typeof computePath>;
  peakRssMiB?: number;
} {
  const j = validRecord(s) as unknown as Record<string, any>;
  return {
    seconds: j.seconds,
    finishedAt: j.finishedAt,
    compute: j.compute,
    peakRssMiB: j.peakRssMiB,
  };
}

export function stageSeconds(s: Stage): number {
  return validRecord(s).seconds;
}

/**
 * A rough cost of a stage in seconds on one core (measured on the paper preset, scaled by its
 * epochs and steps), only to order the work: see criticalPathPriority.
 */
export function estimatedCost(s: StageDef): number {
  const p = s.params;
  const epochs = Number(p.epochs ?? 0);
  switch (s.kind) {
    case 'classifier': {
      const perEpoch: Record<string, number> =
        p.space === 'image'
          ? { '1L': 0.5, '2L': 0.7, LRL: 0.9 }
          : { '1L': 0.06, '2L': 0.27, LRL: 0.47 };
      return epochs * (perEpoch[String(p.arch)] ?? 0.5);
    }
    case 'generator':
      return epochs * (p.kind === 'vae' ? 1.2 : 0.4);
    case 'codes': {
      const m = String(p.method);
      if (!m.endsWith('projection')) return 1;
      return (Number(p.steps ?? 500) / 500) * (m.startsWith('vae') ? 230 : 65);
    }
    case 'attack':
      return p.pixelProjection ? 20 : 1;
    case 'transfer':
      return 4;
    case 'svd':
      return 15;
    case 'evaluate': {
      // Measured on 2 cores (quick models, docs/design.md): the cascade costs ~20-60 s per
      // model, mostly per-iteration overhead on the points left robust, so nearly flat in n;
      // the checks add about twice that; projections (every iterate projected) ~3× more.
      const space = String(s.name.split('/')[2] ?? '');
      const base = Number(p.checkSubset ?? 0) > 0 ? 90 : 30;
      return space.endsWith('projection') ? 3 * base : base;
    }
  }
}

/**
 * Priority of each stage: its cost plus the costliest chain of stages that depend on it (the
 * critical path from it to the end). Starting the highest first keeps the long chains
 * (VAE → VAE projection → latent classifiers → attacks) from being left for last with the
 * other worker idle.
 */
export function criticalPathPriority(stages: StageDef[]): Map<string, number> {
  const dependents = new Map<string, StageDef[]>();
  for (const s of stages)
    for (const d of s.deps) dependents.set(d, [...(dependents.get(d) ?? []), s]);
  const memo = new Map<string, number>();
  const prio = (s: StageDef): number => {
    const known = memo.get(s.name);
    if (known !== undefined) return known;
    const after = Math.max(0, ...(dependents.get(s.name) ?? []).map(prio));
    const v = estimatedCost(s) + after;
    memo.set(s.name, v);
    return v;
  };
  for (const s of stages) prio(s);
  return memo;
}
