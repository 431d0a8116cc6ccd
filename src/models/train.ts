/**
 * The training loop shared by every model: Adam, seeded shuffling into mini-batches (the last
 * partial batch is kept, as PyTorch's DataLoader does), one tidy scope per step so the number
 * of live tensors stays flat across epochs.
 */
import * as tf from '@tensorflow/tfjs';
import { softmaxCrossEntropyRows } from '../backend/host-kernels.js';
import { Progress } from '../util/progress.js';
import { Rng } from '../util/rng.js';
import { adam } from './adam.js';
import { Mlp } from './mlp.js';
import { fitClassifierNative, nativeFitLoops } from './native-fit.js';
import type { Classifier } from './classifier.js';

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

export type BatchLoss = (xb: tf.Tensor2D, yb: tf.Tensor1D | null) => tf.Scalar;

export function checkFitOptions(o: FitOptions): void {
  const bad = (k: string, v: number) => !Number.isFinite(v) || v <= 0;
  if (!Number.isInteger(o.epochs) || o.epochs < 0)
    throw new RangeError(`epochs must be an integer ≥ 0 (got ${o.epochs})`);
  if (!Number.isInteger(o.batchSize) || bad('batchSize', o.batchSize))
    throw new RangeError(`batch size must be a positive integer (got ${o.batchSize})`);
  if (bad('lr', o.lr))
    throw new RangeError(`learning rate must be a positive number (got ${o.lr})`);
  if (!Number.isFinite(o.seed)) throw new RangeError(`seed must be a number (got ${o.seed})`);
}

/**
 * The epoch loop every trainer shares: seeded permutation per epoch, batches of o.batchSize
 * (the last one partial), progress, mean loss per epoch, divergence check, callbacks.
 * `step(perm, s, e)` trains on rows perm[s..e) and returns their mean loss.
 */
export function epochLoop(
  n: number,
  o: FitOptions,
  step: (perm: Int32Array, s: number, e: number) => number,
): number[] {
  checkFitOptions(o);
  const rng = new Rng(o.seed);
  const bar = new Progress({
    label: o.label ?? 'train',
    total: o.epochs * Math.ceil(n / o.batchSize),
    unit: 'batch',
    silent: o.silent,
  });
  const losses: number[] = [];
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      const perm = rng.permutation(n);
      let sum = 0;
      for (let s = 0; s < n; s += o.batchSize) {
        const e = Math.min(n, s + o.batchSize);
        sum += step(perm, s, e) * (e - s);
        bar.tick(1);
      }
      const mean = sum / n;
      if (!Number.isFinite(mean))
        throw new Error(`training diverged at epoch ${epoch + 1} (loss ${mean})`);
      losses.push(mean);
      bar.info(`epoch ${epoch + 1}/${o.epochs} loss ${mean.toFixed(4)}`);
      o.onEpoch?.(epoch, mean);
      if (o.shouldStop?.()) break;
    }
  } finally {
    bar.finish();
  }
  return losses;
}

/** Minimise `loss` over mini-batches of `data` with Adam. Returns the mean loss per epoch. */
export function fit(vars: tf.Variable[], data: HostData, loss: BatchLoss, o: FitOptions): number[] {
  checkFitOptions(o);
  const optimizer = adam(o.lr);
  const xAll = tf.tensor2d(data.x.subarray(0, data.n * data.dim), [data.n, data.dim]);
  const yAll = data.y ? tf.tensor1d(data.y.subarray(0, data.n), 'int32') : null;
  try {
    return epochLoop(data.n, o, (perm, s, e) => {
      const l = tf.tidy(() => {
        const idx = tf.tensor1d(perm.subarray(s, e), 'int32');
        const xb = tf.gather(xAll, idx) as tf.Tensor2D;
        const yb = yAll ? (tf.gather(yAll, idx) as tf.Tensor1D) : null;
        return optimizer.minimize(() => loss(xb, yb), true, vars)!;
      });
      const v = l.dataSync()[0];
      l.dispose();
      return v;
    });
  } finally {
    xAll.dispose();
    yAll?.dispose();
    optimizer.dispose();
  }
}

/** Mean softmax cross-entropy of logits against integer labels. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.mean(softmaxCrossEntropyRows(logits, labels)));
}

export interface ClassifierTrainOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  label?: string;
  silent?: boolean;
  onEpoch?: (epoch: number, meanLoss: number) => void;
  /**
   * Train an MLP classifier in native BLAS loops when the addon is loaded (native-fit.ts);
   * default true. false: always through tfjs autodiff (the two agree to float32 rounding).
   */
  native?: boolean;
}

export const CLASSIFIER_DEFAULTS = { batchSize: 1000, lr: 1e-3 };

/** Train any classifier whose variables are given, with cross-entropy. */
export function trainClassifier(
  clf: Classifier,
  vars: tf.Variable[],
  data: HostData & { y: Int32Array },
  o: ClassifierTrainOptions & { epochs: number; seed: number },
): number[] {
  const opts = { batchSize: CLASSIFIER_DEFAULTS.batchSize, lr: CLASSIFIER_DEFAULTS.lr, ...o };
  // The native trainer when the model is an MLP classifier trained in all its variables.
  const net = (clf as { net?: unknown }).net;
  if (o.native !== false && net instanceof Mlp) {
    const all = net.variables();
    const loops = nativeFitLoops(net);
    if (loops && vars.length === all.length && all.every((v, i) => v === vars[i]))
      return fitClassifierNative(net, loops, data, opts);
  }
  return fit(vars, data, (xb, yb) => crossEntropy(clf.logits(xb), yb!), opts);
}
