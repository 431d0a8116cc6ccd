/**
 * One robustness evaluation of a saved classifier, end to end in pixels (the driver behind
 * `robustlab evaluate`, usable from benchmarks): the first n test images, the adaptive target
 * for the model's defence, the attack list or AutoAttack, the reliability checks, an optional
 * security curve, and a RobustBench-like record. Node only (reads model and data files; writes
 * adversarials).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DatasetName } from '../data/datasets.js';
import { RobustlabError } from '../data/errors.js';
import { loadDataset } from '../data/node-io.js';
import type { Norm } from '../attacks/norms.js';
import type { SpectralOptions } from '../defences/spectral.js';
import { adaptiveTarget, type ProjectionAttack } from '../evaluation/adaptive.js';
import { runChecks, type CheckResult } from '../evaluation/checks.js';
import { encodeNpy } from '../evaluation/npy.js';
import { CHECK_ATTACKS, parseAttackList, specsOf } from '../evaluation/registry.js';
import {
  boundedCurve,
  curveFromDistances,
  evaluateRobustness,
  wilson95,
  type AttackRunRecord,
  type CurvePoint,
  type RobustEvaluation,
} from '../evaluation/robust-accuracy.js';
import { encodeGreyPng } from '../report/png-encode.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { VERSION } from '../version.js';
import { loadClassifierDir } from './model-store.js';

/** MNIST conventions: L∞ 0.3 (Madry et al.), L2 2.0 (the weaker ones are 0.1 and 1.0). */
export const DEFAULT_EVAL_EPS: Record<Norm, number> = { linf: 0.3, l2: 2.0 };

export interface EvaluateJob {
  modelDir: string;
  norm?: Norm;
  eps?: number;
  /** 'autoattack' (default), 'autoattack-rand', or comma-separated attack names. */
  attacks?: string;
  n?: number;
  seed?: number;
  /** ε grid for the bounded curve. */
  curve?: number[];
  /**
   * The attacks of the curve (default: the job's own list). The pipeline's curves use APGD-CE
   * alone: one cheap strong attack per ε, so that a curve costs a fraction of the evaluation.
   */
  curveAttacks?: string;
  /** Points of the curve (the first ones of the n; default all n). */
  curveN?: number;
  dataDir?: string;
  projection?: ProjectionAttack;
  eot?: number;
  draws?: number;
  spectral?: SpectralOptions;
  /** An undefended (image-space) classifier directory, for the transfer check. */
  transferFrom?: string;
  /** Points for the checks that attack again (default 100); 0 = no checks. */
  checkSubset?: number;
  saveAdversarials?: string;
  silent?: boolean;
}

export interface EvaluationRecord {
  command: 'evaluate';
  robustlab: string;
  date: string;
  model: string;
  dataset: string;
  space: string;
  arch: string;
  threatModel: 'Linf' | 'L2';
  norm: Norm;
  eps: number;
  n: number;
  seed: number;
  attack: string;
  adaptive: { description: string; settings: Record<string, unknown>; stochastic: boolean };
  cleanAccuracy: number;
  robustAccuracy: number;
  robustAccuracyCi95: [number, number];
  draws: number;
  cleanAccuracyDraws: number[];
  robustAccuracyDraws: number[];
  attacks: AttackRunRecord[];
  checks: CheckResult[];
  curve: {
    bounded: CurvePoint[] | null;
    fromDistances: { eps: number[]; robustAccuracy: number[] } | null;
  };
  /** Per example: smallest adversarial distance found (null = none), first attack to break it. */
  distances: (number | null)[];
  brokenBy: (string | null)[];
  passes: { forwards: number; backwards: number };
  seconds: number;
  adversarials: { dir: string; images: string; labels: string; predicted: string } | null;
}

/** '0:0.05:0.5' → [0, 0.05, …, 0.5] (start:step:stop, stop included). */
export function parseCurve(s: string): number[] {
  const parts = s.split(':').map((v) => v.trim());
  const nums = parts.map(Number);
  if (parts.length !== 3 || nums.some((v) => !Number.isFinite(v)) || parts.some((p) => p === ''))
    throw new RobustlabError(`--curve must be start:step:stop (got '${s}')`);
  const [a, step, b] = nums;
  if (!(a >= 0 && step > 0 && b >= a))
    throw new RobustlabError(`--curve needs 0 ≤ start ≤ stop and step > 0 (got '${s}')`);
  const k = Math.floor((b - a) / step + 1e-9);
  if (k > 200) throw new RobustlabError(`--curve has ${k + 1} points (at most 201)`);
  return Array.from({ length: k + 1 }, (_, i) => Number((a + i * step).toPrecision(12)));
}

export async function runEvaluateJob(job: EvaluateJob): Promise<{
  record: EvaluationRecord;
  evaluation: RobustEvaluation;
  x: Float32Array;
  labels: Int32Array;
}> {
  const norm = job.norm ?? 'linf';
  const eps = job.eps ?? DEFAULT_EVAL_EPS[norm];
  const seed = job.seed ?? 0;
  const list = parseAttackList(job.attacks ?? 'autoattack', norm);
  const t0 = performance.now();
  const { meta, head, generator } = loadClassifierDir(job.modelDir);
  const dataset = meta.dataset as DatasetName;
  const vaeCode = (meta.settings?.codes as { vaeCode?: 'sample' | 'mean' } | undefined)?.vaeCode;
  const target = adaptiveTarget(head, meta.space, generator, {
    seed,
    projection: job.projection,
    eot: job.eot,
    draws: job.draws,
    vaeCode,
    spectral: job.spectral,
  });
  const owned: { dispose(): void }[] = [target, head];
  try {
    const ds = await loadDataset(dataset, { dataDir: job.dataDir });
    const n = Math.min(job.n ?? 1000, ds.test.n);
    if (!(n >= 1)) throw new RobustlabError('--n must be ≥ 1');
    const x = ds.test.images.subarray(0, n * 784);
    const labels = ds.test.labels.subarray(0, n);
    // Stochastic models: AutoAttack's rand version does EOT inside APGD (eotIter: the gradient of
    // the loss averaged over draws) on the raw model; every other attack gets the EOT wrapper
    // (logits averaged over draws) and no EOT of its own. rand on a deterministic model keeps
    // AutoAttack's 20 (wasted, but the reference's behaviour).
    const specOptsOf = (ensemble: string | null) =>
      ensemble === 'rand'
        ? { target: target.raw, eotIter: target.stochastic ? (job.eot ?? 20) : undefined }
        : { target: target.attack, eotIter: target.stochastic ? 1 : undefined };
    const specOpts = specOptsOf(list.ensemble);
    const attacks = specsOf(list, specOpts);
    const common = {
      norm,
      judge: target.judge,
      draws: target.draws,
      seed,
      silent: job.silent,
      minNormOnAll: list.ensemble === null,
    };
    const evaluation = evaluateRobustness(target.attack, x, labels, n, { ...common, eps, attacks });
    let bounded: CurvePoint[] | null = null;
    if (job.curve && job.curve.length > 0) {
      const curveList = job.curveAttacks ? parseAttackList(job.curveAttacks, norm) : list;
      const curveAttacks =
        curveList === list ? attacks : specsOf(curveList, specOptsOf(curveList.ensemble));
      const m = Math.min(job.curveN ?? n, n);
      bounded = boundedCurve(target.attack, x, labels, m, job.curve, {
        ...common,
        minNormOnAll: curveList.ensemble === null,
        attacks: curveAttacks,
      });
    }
    let fromDistances: { eps: number[]; robustAccuracy: number[] } | null = null;
    if (evaluation.hasMinNorm) {
      // (a cascade's FAB-T sees only what is left: its distances say nothing beyond ε)
      const top = Math.max(2 * eps, ...(job.curve ?? [0]));
      const grid = Array.from({ length: 41 }, (_, i) => (top * i) / 40);
      fromDistances = { eps: grid, robustAccuracy: curveFromDistances(evaluation.distance, grid) };
    }
    const subset = Math.min(job.checkSubset ?? 100, n);
    let checks: CheckResult[] = [];
    if (subset > 0) {
      let transferSource;
      if (job.transferFrom) {
        const src = loadClassifierDir(job.transferFrom);
        owned.push(src.head);
        if (src.meta.space !== 'image')
          throw new RobustlabError(
            `--transfer-from: ${job.transferFrom} is not an image-space model`,
          );
        transferSource = src.head;
      }
      checks = runChecks({
        clf: target.attack,
        judge: target.judge,
        draws: target.draws,
        randomnessHandled: target.stochastic,
        x,
        labels,
        norm,
        eps,
        seed,
        evaluation,
        curve: bounded ?? undefined,
        curveN: bounded ? Math.min(job.curveN ?? n, n) : undefined,
        subset,
        fgsm: CHECK_ATTACKS.fgsm,
        iterative: CHECK_ATTACKS.iterative,
        unbounded: CHECK_ATTACKS.unbounded,
        square: CHECK_ATTACKS.square,
        rerun: (budgetScale, restartScale, m) =>
          evaluateRobustness(target.attack, x, labels, m, {
            ...common,
            silent: true,
            eps,
            attacks: specsOf(list, { ...specOpts, budgetScale, restartScale }),
          }),
        transferSource,
        silent: job.silent,
      });
    }
    let adversarials: EvaluationRecord['adversarials'] = null;
    if (job.saveAdversarials)
      adversarials = saveAdversarials(job.saveAdversarials, evaluation, labels);
    const record: EvaluationRecord = {
      command: 'evaluate',
      robustlab: VERSION,
      date: new Date().toISOString(),
      model: job.modelDir,
      dataset,
      space: target.space,
      arch: meta.arch ?? '',
      threatModel: norm === 'linf' ? 'Linf' : 'L2',
      norm,
      eps,
      n,
      seed,
      attack: job.attacks ?? 'autoattack',
      adaptive: {
        description: target.description,
        settings: target.settings,
        stochastic: target.stochastic,
      },
      cleanAccuracy: evaluation.cleanAccuracy,
      robustAccuracy: evaluation.robustAccuracy,
      robustAccuracyCi95: wilson95(evaluation.robustAccuracy, n),
      draws: evaluation.draws,
      cleanAccuracyDraws: evaluation.cleanAccuracyDraws,
      robustAccuracyDraws: evaluation.robustAccuracyDraws,
      attacks: evaluation.attacks,
      checks,
      curve: { bounded, fromDistances },
      distances: Array.from(evaluation.distance, (d) => (Number.isFinite(d) ? d : null)),
      brokenBy: evaluation.brokenBy,
      passes: { forwards: evaluation.forwards, backwards: evaluation.backwards },
      seconds: (performance.now() - t0) / 1000,
      adversarials,
    };
    return { record, evaluation, x, labels };
  } finally {
    for (const o of owned) o.dispose();
  }
}

/** adversarials.npy (float32 [n, 28, 28]), labels.npy and predicted.npy (int32 [n]), PNGs. */
function saveAdversarials(
  dir: string,
  ev: RobustEvaluation,
  labels: Int32Array,
): NonNullable<EvaluationRecord['adversarials']> {
  const side = Math.round(Math.sqrt(ev.xAdv.length / ev.n));
  if (side * side * ev.n !== ev.xAdv.length)
    throw new RobustlabError('adversarials are not square images');
  mkdirSync(join(dir, 'png'), { recursive: true });
  const images = join(dir, 'adversarials.npy');
  const lab = join(dir, 'labels.npy');
  const pred = join(dir, 'predicted.npy');
  writeFileAtomic(images, encodeNpy(ev.xAdv, [ev.n, side, side]));
  writeFileAtomic(lab, encodeNpy(Int32Array.from(labels.subarray(0, ev.n)), [ev.n]));
  writeFileAtomic(pred, encodeNpy(Int32Array.from(ev.advLabel), [ev.n]));
  const d = side * side;
  for (let i = 0; i < ev.n; i++) {
    const name = `${String(i).padStart(5, '0')}-true${labels[i]}-pred${ev.advLabel[i]}.png`;
    writeFileAtomic(
      join(dir, 'png', name),
      encodeGreyPng(ev.xAdv.subarray(i * d, (i + 1) * d), side, side, [0, 1]),
    );
  }
  writeJsonAtomic(join(dir, 'index.json'), {
    content: 'per example the worst adversarial found within ε (the clean image when none)',
    n: ev.n,
    norm: ev.norm,
    eps: ev.eps,
    images: 'adversarials.npy',
    labels: 'labels.npy',
    predicted: 'predicted.npy',
    brokenBy: ev.brokenBy,
  });
  return { dir, images, labels: lab, predicted: pred };
}
