/**
 * Robustness of one saved classifier under the study's targeted attack (Figure 5), in two modes:
 *   own-space    attack the classifier in its own input space (the study's definition): pixels
 *                for image classifiers, the 32-d code (no clamping) for latent ones.
 *   pixel-space  attack image → code → class in pixels, clamped to [0,1]. Encoding spaces are
 *                differentiated end to end (VAE sample: fresh noise every step, so gradients
 *                average over samples). Projection spaces (`pixelProjection`):
 *                  'implicit' (default): every iterate is projected (50 Adam steps from E(x),
 *                  then 10 warm-started from the previous z⋆) and the gradient is the
 *                  projection's Gauss–Newton implicit gradient J(JᵀJ)⁻¹ (J = ∂D/∂z at z⋆);
 *                  'encoder': the encoder stands in for the projection in both passes (BPDA);
 *                  cheap, but the real projection undoes almost all of it.
 *                Either way success is re-checked with the real 500-step projection from a
 *                random start: only examples that fool the projection-based classifier count.
 * Examples: `count` correctly classified test points (judged in the model's own space) × the
 * 9 other classes, seeded.
 */
import { join } from 'node:path';
import type { DatasetName } from '../data/datasets.js';
import { loadDataset } from '../data/node-io.js';
import { type AttackResult } from '../attacks/base.js';
import { PIXEL_RANGE, targetedCeL2, type TargetedCeL2Options } from '../attacks/targeted-ce-l2.js';
import { isProjection, type LatentMethod } from '../latent/codes.js';
import { Generator } from '../latent/generators.js';
import { LatentPipelineClassifier } from '../latent/pipeline.js';
import { writeCodeFile } from '../latent/store.js';
import { type Classifier, predict } from '../models/classifier.js';
import {
  robustnessSummary,
  selectAttackExamples,
  type RobustnessSummary,
} from '../metrics/robustness.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { loadClassifierDir } from './model-store.js';
import { loadSpaceData } from './spaces.js';

export const ATTACK_MODES = ['own-space', 'pixel-space'] as const;
export type AttackMode = (typeof ATTACK_MODES)[number];

export interface AttackJob {
  modelDir: string;
  mode: AttackMode;
  count?: number;
  seed: number;
  dataDir?: string;
  latentDir?: string;
  attack?: TargetedCeL2Options;
  /** Pixel-space attack on a projection space: implicit gradient (default) or encoder surrogate. */
  pixelProjection?: 'implicit' | 'encoder';
  /** Directory for summary.json and adversarial.rlc. */
  out?: string;
  silent?: boolean;
}

export interface AttackRecord {
  dataset: string;
  space: string;
  arch: string;
  mode: AttackMode;
  summary: RobustnessSummary;
  seconds: number;
  /** Per example (row k): test index, true label, goal, success, steps, p(goal). */
  imageIndex: number[];
  trueLabels: number[];
  goals: number[];
  success: number[];
  steps: number[];
  goalProb: number[];
  settings: Record<string, unknown>;
}

export async function runAttackJob(
  job: AttackJob,
): Promise<{ record: AttackRecord; xAdv: Float32Array; x0: Float32Array }> {
  const { meta, head, generator } = loadClassifierDir(job.modelDir);
  const space = meta.space;
  const latent = space !== 'image';
  const dataset = meta.dataset as DatasetName;
  const mode: AttackMode = latent ? job.mode : 'own-space'; // the two modes coincide in image space
  const owned: { dispose(): void }[] = [head];
  try {
    // Select examples on the model's own-space test data (codes for latent models).
    const data = await loadSpaceData(dataset, space, {
      dataDir: job.dataDir,
      latentDir: job.latentDir,
    });
    const ex = selectAttackExamples(head, data.test.x, data.test.y, data.test.n, {
      count: job.count,
      seed: job.seed,
    });
    let clf: Classifier = head;
    let x0 = ex.x0;
    let range: { clampMin?: number; clampMax?: number } = latent ? {} : PIXEL_RANGE;
    let verify: Classifier | null = null;
    if (mode === 'pixel-space') {
      const ds = await loadDataset(dataset, { dataDir: job.dataDir });
      x0 = new Float32Array(ex.n * 784);
      ex.imageIndex.forEach((i, r) =>
        x0.set(ds.test.images.subarray(i * 784, (i + 1) * 784), r * 784),
      );
      const kind = space.startsWith('vae') ? 'vae' : 'ae';
      const gen = Generator.fromParts(kind, generator);
      const method = space as LatentMethod;
      const pipeline = new LatentPipelineClassifier(head, gen, method, { seed: job.seed });
      owned.length = 0;
      owned.push(pipeline);
      const surrogate = job.pixelProjection ?? 'implicit';
      clf = !isProjection(method)
        ? pipeline
        : surrogate === 'implicit'
          ? new LatentPipelineClassifier(head, gen, method, {
              seed: job.seed,
              projectionGradient: 'implicit',
            })
          : new LatentPipelineClassifier(head, gen, `${kind}-encoding`, { vaeCode: 'mean' });
      if (isProjection(method)) verify = pipeline;
      range = PIXEL_RANGE;
    }
    const t0 = performance.now();
    const r: AttackResult = targetedCeL2(clf, x0, ex.n, ex.goals, {
      ...range,
      ...job.attack,
      silent: job.silent,
    });
    if (clf instanceof LatentPipelineClassifier) clf.release();
    if (verify) recheck(verify, r, ex.goals, job.attack?.confidence ?? 0.95);
    const seconds = (performance.now() - t0) / 1000;
    const record: AttackRecord = {
      dataset,
      space,
      arch: meta.arch ?? '',
      mode,
      summary: robustnessSummary(x0, r),
      seconds,
      imageIndex: Array.from(ex.imageIndex),
      trueLabels: Array.from(ex.trueLabels),
      goals: Array.from(ex.goals),
      success: Array.from(r.success),
      steps: Array.from(r.steps),
      goalProb: Array.from(r.goalProb),
      settings: {
        count: job.count ?? 20,
        seed: job.seed,
        ...job.attack,
        ...range,
        surrogate: verify
          ? `${job.pixelProjection ?? 'implicit'} gradient, re-checked by a full projection`
          : null,
      },
    };
    if (job.out) {
      writeCodeFile(join(job.out, 'adversarial.rlc'), {
        header: {
          n: r.n,
          dim: r.dim,
          key: `${job.modelDir}:${mode}`,
          provenance: {
            dataset,
            space,
            arch: meta.arch,
            mode,
            content: 'xAdv rows; labels = goals',
          },
        },
        codes: r.xAdv,
        labels: ex.goals,
      });
      writeJsonAtomic(join(job.out, 'summary.json'), record);
    }
    return { record, xAdv: r.xAdv, x0 };
  } finally {
    for (const o of owned) o.dispose();
  }
}

/** Re-evaluate successes with the real classifier: a success must hold there too. */
function recheck(clf: Classifier, r: AttackResult, goals: Int32Array, confidence: number): void {
  const { probs, labels } = predict(clf, r.xAdv, r.n);
  for (let i = 0; i < r.n; i++) {
    r.goalProb[i] = probs[i * clf.numClasses + goals[i]];
    r.finalLabel[i] = labels[i];
    if (r.success[i] && r.goalProb[i] < confidence) r.success[i] = 0;
  }
}
