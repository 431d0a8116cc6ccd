/**
 * Train one classifier (any architecture, any space) on a dataset, evaluate it and save it.
 * Used by `robustlab train classifier` and by the reproduce pipeline.
 */
import type { DatasetName } from '../data/datasets.js';
import { type Arch, evaluate, MlpClassifier, DEFAULT_HIDDEN } from '../models/classifier.js';
import { saveModel, type ModelMeta } from '../models/io.js';
import { trainClassifier } from '../models/train.js';
import { loadSpaceData, type SpaceDataOptions } from './spaces.js';

export interface TrainClassifierJob extends SpaceDataOptions {
  dataset: DatasetName;
  arch: Arch;
  space: string;
  epochs: number;
  seed: number;
  hidden?: number;
  out?: string;
  silent?: boolean;
}

export interface TrainClassifierResult {
  out?: string;
  dataset: string;
  space: string;
  arch: Arch;
  epochs: number;
  seed: number;
  hidden: number;
  trainAccuracy: number;
  testAccuracy: number;
  /** Examples the accuracies are counted on (for their binomial intervals). */
  trainN?: number;
  testN?: number;
  seconds: number;
  secondsPerEpoch: number;
  losses: number[];
}

export async function runTrainClassifier(job: TrainClassifierJob): Promise<TrainClassifierResult> {
  const data = await loadSpaceData(job.dataset, job.space, job);
  const hidden = job.hidden ?? DEFAULT_HIDDEN;
  const clf = MlpClassifier.create(job.arch, data.dim, { hidden, seed: job.seed });
  try {
    const t0 = performance.now();
    const losses = trainClassifier(
      clf,
      clf.net.variables(),
      { x: data.train.x, y: data.train.y, n: data.train.n, dim: data.dim },
      {
        epochs: job.epochs,
        seed: job.seed,
        label: `${job.dataset}/${job.space}/${job.arch}`,
        silent: job.silent,
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    const train = evaluate(clf, data.train.x, data.train.y, data.train.n);
    const test = evaluate(clf, data.test.x, data.test.y, data.test.n);
    const result: TrainClassifierResult = {
      out: job.out,
      dataset: job.dataset,
      space: job.space,
      arch: job.arch,
      epochs: job.epochs,
      seed: job.seed,
      hidden,
      trainAccuracy: train.accuracy,
      testAccuracy: test.accuracy,
      trainN: data.train.n,
      testN: data.test.n,
      seconds,
      secondsPerEpoch: job.epochs ? seconds / job.epochs : 0,
      losses,
    };
    if (job.out) {
      const meta: ModelMeta = {
        kind: 'classifier',
        dataset: job.dataset,
        space: job.space,
        arch: job.arch,
        hidden,
        seed: job.seed,
        epochs: job.epochs,
        accuracy: { train: train.accuracy, test: test.accuracy },
        trainSeconds: seconds,
        settings: {
          ...data.provenance,
          limitTrain: job.limitTrain ?? null,
          limitTest: job.limitTest ?? null,
        },
      };
      saveModel(job.out, { model: clf.net, ...data.generatorParts() }, meta);
    }
    return result;
  } finally {
    clf.dispose();
    data.dispose();
  }
}
