/**
 * The study's three classifier architectures, for any input dimension d:
 *   1L  = d → h → 10            (one linear hidden layer: a linear model)
 *   2L  = d → h → h → 10        (two linear hidden layers: an over-parameterised 1L)
 *   LRL = d → h → h(ReLU) → h → 10  (a ReLU layer between two linear layers)
 * Outputs are logits; softmax/cross-entropy are applied by the loss.
 */
import * as tf from '@tensorflow/tfjs';
import { RobustlabError } from '../data/errors.js';
import { tidyData } from '../util/tidy-data.js';
import { Mlp, type MlpSpec } from './mlp.js';

export const ARCHS = ['1L', '2L', 'LRL'] as const;
export type Arch = (typeof ARCHS)[number];
export const NUM_CLASSES = 10;
export const DEFAULT_HIDDEN = 256;

export function parseArch(s: string): Arch {
  const up = s.toUpperCase();
  if ((ARCHS as readonly string[]).includes(up)) return up as Arch;
  throw new RobustlabError(`unknown architecture '${s}' (expected one of: ${ARCHS.join(', ')})`);
}

export function classifierSpec(arch: Arch, inputDim: number, hidden = DEFAULT_HIDDEN): MlpSpec {
  if (!Number.isInteger(inputDim) || inputDim < 1)
    throw new RobustlabError(`bad input dimension ${inputDim}`);
  if (!Number.isInteger(hidden) || hidden < 1)
    throw new RobustlabError(`bad hidden width ${hidden}`);
  const out = { units: NUM_CLASSES, activation: 'linear' as const };
  const lin = { units: hidden, activation: 'linear' as const };
  switch (arch) {
    case '1L':
      return { inputDim, layers: [lin, out] };
    case '2L':
      return { inputDim, layers: [lin, lin, out] };
    case 'LRL':
      return { inputDim, layers: [lin, { units: hidden, activation: 'relu' }, lin, out] };
  }
}

/** What any classifier looks like to attacks, metrics and the browser: x → logits. */
export interface Classifier {
  readonly inputDim: number;
  readonly numClasses: number;
  /** Differentiable logits for a batch [n, inputDim]. */
  logits(x: tf.Tensor2D): tf.Tensor2D;
  /**
   * Optional: called by iterative attacks with each new iterate before `logits` is used on it
   * (inside or outside a gradient), for models whose forward pass contains an optimisation
   * that must not run under the gradient tape (latent projection). `forwardOnly`: the caller
   * needs only the forward value at x (a query, a success check), no gradient.
   */
  prepare?(x: tf.Tensor2D, o?: { forwardOnly?: boolean }): void;
  /**
   * Optional: logits of the first n rows of host data computed on the host (native addon),
   * equal to `logits`; null when not available. `predict` uses it (src/models/host-mlp.ts).
   */
  hostLogits?(x: Float32Array, n: number): Float32Array | null;
  dispose(): void;
}

/** A classifier that is a single MLP acting on its input space directly. */
export class MlpClassifier implements Classifier {
  constructor(
    readonly arch: Arch,
    readonly net: Mlp,
  ) {}

  static create(
    arch: Arch,
    inputDim: number,
    opts: { hidden?: number; seed: number },
  ): MlpClassifier {
    return new MlpClassifier(
      arch,
      Mlp.create(classifierSpec(arch, inputDim, opts.hidden), opts.seed),
    );
  }

  get inputDim(): number {
    return this.net.spec.inputDim;
  }

  get numClasses(): number {
    return this.net.outputDim;
  }

  get hidden(): number {
    return this.net.spec.layers[0].units;
  }

  logits(x: tf.Tensor2D): tf.Tensor2D {
    return this.net.apply(x);
  }

  dispose(): void {
    this.net.dispose();
  }
}

/** Predicted labels and max-probabilities for host data, in batches. */
export function predict(
  clf: Classifier,
  x: Float32Array,
  n: number,
  batch = 2000,
): { labels: Int32Array; probs: Float32Array } {
  const labels = new Int32Array(n);
  const probs = new Float32Array(n * clf.numClasses);
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const host = clf.hostLogits?.(x.subarray(s * clf.inputDim, e * clf.inputDim), e - s);
    if (host) {
      // the same logits on the host; the first largest (tfjs's ArgMax) and the backend's softmax
      const k = clf.numClasses;
      for (let r = 0; r < e - s; r++) {
        let best = host[r * k];
        let idx = 0;
        for (let j = 1; j < k; j++) {
          if (host[r * k + j] > best) {
            best = host[r * k + j];
            idx = j;
          }
        }
        labels[s + r] = idx;
      }
      const p = tidyData(() => tf.softmax(tf.tensor2d(host, [e - s, k])));
      probs.set(p, s * k);
      continue;
    }
    const [l, p] = tf.tidy(() => {
      const xb = tf.tensor2d(x.subarray(s * clf.inputDim, e * clf.inputDim), [e - s, clf.inputDim]);
      const logits = clf.logits(xb);
      return [tf.argMax(logits, 1), tf.softmax(logits)];
    });
    labels.set(l.dataSync() as Int32Array, s);
    probs.set(p.dataSync() as Float32Array, s * clf.numClasses);
    l.dispose();
    p.dispose();
  }
  return { labels, probs };
}

export interface Evaluation {
  accuracy: number;
  n: number;
  /** confusion[true][predicted] */
  confusion: number[][];
}

export function evaluate(clf: Classifier, x: Float32Array, y: Int32Array, n: number): Evaluation {
  const { labels } = predict(clf, x, n);
  const k = clf.numClasses;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < n; i++) {
    confusion[y[i]][labels[i]]++;
    if (labels[i] === y[i]) correct++;
  }
  return { accuracy: n ? correct / n : NaN, n, confusion };
}
