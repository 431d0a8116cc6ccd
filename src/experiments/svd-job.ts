/**
 * The spectral-defence sweep (Figure 7) on a saved image-space classifier: for each fraction,
 * train / test accuracy of the modified model, its adversarial accuracy on the original
 * model's successful adversarial examples (share labelled with the true class), and, beyond
 * the study, the robustness of the modified model under a fresh white-box attack.
 * The SVD of each weight matrix is computed once and reused across the sweep; each fraction's
 * weights stay host arrays (SpectralSweep): with the native addon its accuracy passes and the
 * re-attack run on the host, so no tfjs model is built per fraction (same results).
 */
import { loadDataset } from '../data/node-io.js';
import type { DatasetName } from '../data/datasets.js';
import { computeSpectra, SpectralSweep, type SpectralMode } from '../defences/spectral.js';
import { PIXEL_RANGE, targetedCeL2, type TargetedCeL2Options } from '../attacks/targeted-ce-l2.js';
import { evaluate, predict } from '../models/classifier.js';
import { robustnessSummary, selectAttackExamples } from '../metrics/robustness.js';
import { Progress } from '../util/progress.js';
import { loadClassifierDir } from './model-store.js';
import { readAttackDir } from './transfer-job.js';
import { RobustlabError } from '../data/errors.js';

export interface SvdPoint {
  fraction: number;
  trainAccuracy: number;
  testAccuracy: number;
  adversarialAccuracy: number;
  /** White-box re-attack of the modified model (null when re-attack is off). */
  reattackRobustness: number | null;
  reattackSuccessRate: number | null;
  /** Sample sd of the re-attack's relative L2 over its successes, and its counts. */
  reattackRobustnessSd?: number | null;
  reattackSuccesses?: number | null;
  reattackN?: number | null;
}

export interface SvdJob {
  modelDir: string;
  /** Directory of the original model's attack (summary.json + adversarial.rlc). */
  attackDir: string;
  mode: SpectralMode;
  fractions: number[];
  factor?: number;
  /** Inputs for the re-attack (× 9 goals); 0 turns re-attack off. */
  reattackCount?: number;
  seed: number;
  dataDir?: string;
  limitTrain?: number;
  limitTest?: number;
  attack?: TargetedCeL2Options;
  silent?: boolean;
}

export function parseFractions(s: string): number[] {
  const parts = s.split(':').map(Number);
  let out: number[];
  if (parts.length === 3) {
    const [a, step, b] = parts;
    if (!(step > 0) || !(a <= b))
      throw new RobustlabError(`bad fraction range '${s}' (use start:step:end, e.g. 0:0.05:0.95)`);
    out = [];
    for (let k = 0; a + k * step <= b + 1e-9; k++) out.push(Math.round((a + k * step) * 1e6) / 1e6);
  } else {
    out = s.split(',').map(Number);
  }
  if (!out.length || out.some((f) => !(f >= 0 && f <= 1)))
    throw new RobustlabError(`fractions must be numbers in [0, 1] (got '${s}')`);
  return out;
}

export async function runSvdJob(job: SvdJob) {
  const { meta, head } = loadClassifierDir(job.modelDir);
  if (meta.space !== 'image')
    throw new RobustlabError(
      `the spectral sweep takes an image-space classifier (${job.modelDir} is ${meta.space})`,
    );
  const ds = await loadDataset(meta.dataset as DatasetName, {
    dataDir: job.dataDir,
    limitTrain: job.limitTrain,
    limitTest: job.limitTest,
  });
  const { record, xAdv } = readAttackDir(job.attackDir, true);
  if (record.dataset !== meta.dataset)
    throw new RobustlabError(
      `${job.attackDir}: holds adversarial examples of ${record.dataset}, the model is a ${meta.dataset} classifier`,
    );
  const advRows = record.success.map((s, i) => (s ? i : -1)).filter((i) => i >= 0);
  const adv = new Float32Array(advRows.length * 784);
  advRows.forEach((i, k) => adv.set(xAdv.subarray(i * 784, (i + 1) * 784), k * 784));
  const t0 = performance.now();
  const sweep = new SpectralSweep(head, computeSpectra(head.net));
  const svdSeconds = (performance.now() - t0) / 1000;
  const points: SvdPoint[] = [];
  const bar = new Progress({
    label: `svd ${job.mode}`,
    total: job.fractions.length,
    unit: 'fraction',
    silent: job.silent,
  });
  try {
    for (const fraction of job.fractions) {
      const m = sweep.classifierAt({ mode: job.mode, fraction, factor: job.factor });
      try {
        const { labels } = predict(m, adv, advRows.length);
        let correct = 0;
        advRows.forEach((i, k) => (correct += labels[k] === record.trueLabels[i] ? 1 : 0));
        let reattackRobustness: number | null = null;
        let reattackSuccessRate: number | null = null;
        let reattackRobustnessSd: number | null = null;
        let reattackSuccesses: number | null = null;
        let reattackN: number | null = null;
        if ((job.reattackCount ?? 20) > 0) {
          const ex = selectAttackExamples(m, ds.test.images, ds.test.labels, ds.test.n, {
            count: job.reattackCount ?? 20,
            seed: job.seed,
          });
          const r = targetedCeL2(m, ex.x0, ex.n, ex.goals, {
            ...PIXEL_RANGE,
            ...job.attack,
            silent: true,
          });
          const s = robustnessSummary(ex.x0, r);
          reattackRobustness = s.robustness;
          reattackSuccessRate = s.successRate;
          reattackRobustnessSd = s.robustnessSd;
          reattackSuccesses = s.successes;
          reattackN = s.n;
        }
        points.push({
          fraction,
          trainAccuracy: evaluate(m, ds.train.images, ds.train.labels, ds.train.n).accuracy,
          testAccuracy: evaluate(m, ds.test.images, ds.test.labels, ds.test.n).accuracy,
          adversarialAccuracy: advRows.length ? correct / advRows.length : NaN,
          reattackRobustness,
          reattackSuccessRate,
          reattackRobustnessSd,
          reattackSuccesses,
          reattackN,
        });
      } finally {
        m.dispose();
      }
      bar.tick();
    }
  } finally {
    bar.finish();
    head.dispose();
  }
  return {
    dataset: meta.dataset,
    arch: meta.arch,
    model: job.modelDir,
    mode: job.mode,
    factor: job.mode === 'scale' ? (job.factor ?? 0.1) : null,
    adversarialExamples: advRows.length,
    trainN: ds.train.n,
    testN: ds.test.n,
    svdSeconds,
    seconds: (performance.now() - t0) / 1000,
    points,
  };
}
export type SvdResult = Awaited<ReturnType<typeof runSvdJob>>;
