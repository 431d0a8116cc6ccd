/**
 * The study's adversarial robustness (§3.4): the mean over successful adversarial examples of
 * the relative perturbation ‖x_adv − x‖₂ / ‖x‖₂, normalised so that image and 32-d latent
 * classifiers can be compared, computed on 180 (x̄, y_true, y_goal) triples: 20 correctly
 * classified test points, each paired with the 9 other classes.
 */
import { predict, type Classifier } from '../models/classifier.js';
import type { AttackResult } from '../attacks/base.js';
import { Rng } from '../util/rng.js';

export interface RobustnessSummary {
  n: number;
  successes: number;
  successRate: number;
  /** Mean over successes of ‖x_adv − x‖₂ / ‖x‖₂ (NaN when nothing succeeded). */
  robustness: number;
  /** Sample standard deviation of the relative L2 over successes (NaN below 2 successes). */
  robustnessSd: number;
  /** Mean over successes of ‖x_adv − x‖₂. */
  meanL2: number;
  /** Mean over successes of the steps taken. */
  meanSteps: number;
}

export function robustnessSummary(x0: Float32Array, r: AttackResult): RobustnessSummary {
  let successes = 0;
  let rel = 0;
  let rel2 = 0;
  let abs = 0;
  let steps = 0;
  for (let i = 0; i < r.n; i++) {
    if (!r.success[i]) continue;
    let d2 = 0;
    let x2 = 0;
    for (let j = i * r.dim; j < (i + 1) * r.dim; j++) {
      d2 += (r.xAdv[j] - x0[j]) ** 2;
      x2 += x0[j] ** 2;
    }
    successes++;
    abs += Math.sqrt(d2);
    rel += Math.sqrt(d2 / x2);
    rel2 += d2 / x2;
    steps += r.steps[i];
  }
  const mean = (s: number) => (successes ? s / successes : NaN);
  return {
    n: r.n,
    successes,
    successRate: r.n ? successes / r.n : NaN,
    robustness: mean(rel),
    robustnessSd:
      successes > 1
        ? Math.sqrt(Math.max(0, (rel2 - (rel * rel) / successes) / (successes - 1)))
        : NaN,
    meanL2: mean(abs),
    meanSteps: mean(steps),
  };
}

/** Attack triples, image-major: row k is image imageIndex[k] with goal goals[k]. */
export interface AttackExamples {
  /** Row-major [n, dim] copies of the chosen inputs (one row per triple). */
  x0: Float32Array;
  trueLabels: Int32Array;
  goals: Int32Array;
  /** Index of each row's input in the `images` given. */
  imageIndex: Int32Array;
  n: number;
  dim: number;
}

export interface SelectOptions {
  /** Number of inputs (default 20), chosen at random among the correctly classified ones. */
  count?: number;
  /** Instead of `count`: this many correctly classified inputs of every class. */
  perClass?: number;
  seed: number;
}

export const DEFAULT_ATTACK_COUNT = 20;

export function selectAttackExamples(
  clf: Classifier,
  images: Float32Array,
  labels: Int32Array,
  n: number,
  o: SelectOptions,
): AttackExamples {
  const dim = clf.inputDim;
  const k = clf.numClasses;
  const { labels: pred } = predict(clf, images, n);
  // Shuffle all indices with the seed, then take correct ones in that order: a seeded
  // uniform choice without replacement.
  const order = new Rng(o.seed).permutation(n).filter((i) => pred[i] === labels[i]);
  let chosen: number[];
  if (o.perClass !== undefined) {
    chosen = [];
    for (let c = 0; c < k; c++) {
      const ofClass = order.filter((i) => labels[i] === c).slice(0, o.perClass);
      if (ofClass.length < o.perClass)
        throw new RangeError(
          `only ${ofClass.length} correctly classified inputs of class ${c}, need ${o.perClass}`,
        );
      chosen.push(...ofClass);
    }
  } else {
    const count = o.count ?? DEFAULT_ATTACK_COUNT;
    if (order.length < count)
      throw new RangeError(`only ${order.length} correctly classified inputs, need ${count}`);
    chosen = Array.from(order.subarray(0, count));
  }

  const m = chosen.length * (k - 1);
  const ex: AttackExamples = {
    x0: new Float32Array(m * dim),
    trueLabels: new Int32Array(m),
    goals: new Int32Array(m),
    imageIndex: new Int32Array(m),
    n: m,
    dim,
  };
  let row = 0;
  for (const i of chosen) {
    for (let g = 0; g < k; g++) {
      if (g === labels[i]) continue;
      ex.x0.set(images.subarray(i * dim, (i + 1) * dim), row * dim);
      ex.trueLabels[row] = labels[i];
      ex.goals[row] = g;
      ex.imageIndex[row] = i;
      row++;
    }
  }
  return ex;
}
