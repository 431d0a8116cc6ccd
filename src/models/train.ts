/**
 * The training loop shared by every model: Adam, seeded shuffling into mini-batches (the last
 * partial batch is kept, as PyTorch's DataLoader does), one tidy scope per step so the number
 * of live tensors stays flat across epochs.
 */
import * as tf from '@tensorflow/tfjs';
import { softmaxCrossEntropyRows } from '../backend/host-kernels.js';
import { adam } from './adam.js';
import { Mlp } from './mlp.js';
import { checkFitOptions, epochLoop, type FitOptions, type HostData } from './epoch-loop.js';
import { fitClassifierNative, fitClassifiersNative, nativeFitLoops } from './native-fit.js';
import type { Classifier, MlpClassifier } from './classifier.js';

export { checkFitOptions, epochLoop, type FitOptions, type HostData } from './epoch-loop.js';

export type BatchLoss = (xb: tf.Tensor2D, yb: tf.Tensor1D | null) => tf.Scalar;

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

/**
 * Train several MLP classifiers (each in all its variables) on the same data with one seed and
 * options; returns each one's mean loss per epoch. With the native addon they train together
 * (native-fit.ts, fitClassifiersNative: one gather per mini-batch, each model's arithmetic
 * unchanged), otherwise one after the other; either way each model ends exactly as
 * trainClassifier would leave it.
 */
export function trainClassifiers(
  clfs: MlpClassifier[],
  data: HostData & { y: Int32Array },
  o: Omit<ClassifierTrainOptions, 'onEpoch'> & { epochs: number; seed: number },
): number[][] {
  const opts = { batchSize: CLASSIFIER_DEFAULTS.batchSize, lr: CLASSIFIER_DEFAULTS.lr, ...o };
  const loops = o.native === false ? [] : clfs.map((c) => nativeFitLoops(c.net));
  if (clfs.length && loops.length === clfs.length && loops.every((l) => l !== null))
    return fitClassifiersNative(
      clfs.map((c) => c.net),
      loops[0]!,
      data,
      opts,
    );
  return clfs.map((c) => trainClassifier(c, c.net.variables(), data, opts));
}
