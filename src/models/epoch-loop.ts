/**
 * The epoch loop every trainer shares (tfjs autodiff, the native classifier and generator
 * trainers): seeded shuffling into mini-batches (the last partial batch is kept, as PyTorch's
 * DataLoader does), progress, mean loss per epoch, divergence check, callbacks. Its own module
 * so that the trainers and train.ts (which picks a trainer) import it without a cycle.
 */
import { Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';

export interface HostData {
  /** Row-major [n, dim]. */
  x: Float32Array;
  /** Labels, when the loss needs them. */
  y?: Int32Array;
  n: number;
  dim: number;
}

export interface FitOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  label?: string;
  silent?: boolean;
  onEpoch?: (epoch: number, meanLoss: number) => void;
  /** Stop early when this returns true (checked at the end of each epoch). */
  shouldStop?: () => boolean;
}

/** Options of several models trained in one loop: one mean loss per model each epoch. */
export type FitManyOptions = Omit<FitOptions, 'onEpoch'> & {
  onEpoch?: (epoch: number, meanLosses: number[]) => void;
};

export function checkFitOptions(o: FitOptions | FitManyOptions): void {
  const bad = (v: number) => !Number.isFinite(v) || v <= 0;
  if (!Number.isInteger(o.epochs) || o.epochs < 0)
    throw new RangeError(`epochs must be an integer ≥ 0 (got ${o.epochs})`);
  if (!Number.isInteger(o.batchSize) || bad(o.batchSize))
    throw new RangeError(`batch size must be a positive integer (got ${o.batchSize})`);
  if (bad(o.lr)) throw new RangeError(`learning rate must be a positive number (got ${o.lr})`);
  if (!Number.isFinite(o.seed)) throw new RangeError(`seed must be a number (got ${o.seed})`);
}

/**
 * The loop of `models` models trained on the same rows in the same order (one seed, one
 * permutation per epoch): `step(perm, s, e, losses)` trains every model on rows perm[s..e) and
 * writes each one's mean loss on them into losses[k]. Returns each model's mean loss per epoch
 * (losses[k][epoch]). A model that diverges stops them all: each would fail its own run too.
 */
export function epochLoopMany(
  n: number,
  o: FitManyOptions,
  models: number,
  step: (perm: Int32Array, s: number, e: number, losses: Float64Array) => void,
): number[][] {
  checkFitOptions(o);
  const rng = new Rng(o.seed);
  const bar = new Progress({
    label: o.label ?? 'train',
    total: o.epochs * Math.ceil(n / o.batchSize),
    unit: 'batch',
    silent: o.silent,
  });
  const losses: number[][] = Array.from({ length: models }, () => []);
  const batchLoss = new Float64Array(models);
  const sums = new Float64Array(models);
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const perm = rng.permutation(n);
      sums.fill(0);
      for (let s = 0; s < n; s += o.batchSize) {
        const e = Math.min(n, s + o.batchSize);
        step(perm, s, e, batchLoss);
        for (let k = 0; k < models; k++) sums[k] += batchLoss[k] * (e - s);
        bar.tick(1);
      }
      const means = Array.from(sums, (v) => v / n);
      means.forEach((mean, k) => {
        if (!Number.isFinite(mean))
          throw new Error(
            `training diverged at epoch ${epoch + 1} (loss ${mean}${models > 1 ? `, model ${k + 1} of ${models}` : ''})`,
          );
        losses[k].push(mean);
      });
      bar.info(`epoch ${epoch + 1}/${o.epochs} loss ${means.map((m) => m.toFixed(4)).join(' ')}`);
      o.onEpoch?.(epoch, means);
      if (o.shouldStop?.()) break;
    }
  } finally {
    bar.finish();
  }
  return losses;
}

/**
 * The loop of one model: `step(perm, s, e)` trains on rows perm[s..e) and returns their mean
 * loss. Returns the mean loss per epoch.
 */
export function epochLoop(
  n: number,
  o: FitOptions,
  step: (perm: Int32Array, s: number, e: number) => number,
): number[] {
  const { onEpoch, ...rest } = o;
  return epochLoopMany(
    n,
    { ...rest, onEpoch: onEpoch && ((epoch, means) => onEpoch(epoch, means[0])) },
    1,
    (perm, s, e, losses) => {
      losses[0] = step(perm, s, e);
    },
  )[0];
}
