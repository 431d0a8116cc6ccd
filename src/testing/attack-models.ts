/**
 * Test fixtures for the AutoAttack attacks (APGD, FAB, Square): small real MNIST models and
 * the exact minimal perturbations of a linear (1L) classifier, in float64 on the host.
 */
import { loadDataset } from '../data/node-io.js';
import { MlpClassifier, predict, type Arch } from '../models/classifier.js';
import { trainClassifier } from '../models/train.js';
import { TEST_DATA_DIR } from './fixtures.js';
import { affineOf, type Affine } from './linear-oracle.js';

export interface SmallMnist {
  train: { x: Float32Array; y: Int32Array; n: number };
  test: { x: Float32Array; y: Int32Array; n: number };
}

export async function smallMnist(limitTrain: number, limitTest: number): Promise<SmallMnist> {
  const ds = await loadDataset('mnist', { dataDir: TEST_DATA_DIR, limitTrain, limitTest });
  return {
    train: { x: ds.train.images, y: ds.train.labels, n: ds.train.n },
    test: { x: ds.test.images, y: ds.test.labels, n: ds.test.n },
  };
}

export function trainedMlp(
  arch: Arch,
  data: SmallMnist,
  o: { hidden: number; epochs: number; seed: number },
): MlpClassifier {
  const clf = MlpClassifier.create(arch, 784, { hidden: o.hidden, seed: o.seed });
  const train = { x: data.train.x, y: data.train.y, n: data.train.n, dim: 784 };
  trainClassifier(clf, clf.net.variables(), train, {
    epochs: o.epochs,
    batchSize: 100,
    seed: o.seed,
    silent: true,
  });
  return clf;
}

/** The first `count` test points the model classifies correctly. */
export function correctPoints(clf: MlpClassifier, data: SmallMnist, count: number, from = 0) {
  const { labels } = predict(clf, data.test.x, data.test.n);
  const idx: number[] = [];
  for (let i = from; i < data.test.n && idx.length < count; i++)
    if (labels[i] === data.test.y[i]) idx.push(i);
  const x = new Float32Array(idx.length * 784);
  idx.forEach((i, j) => x.set(data.test.x.subarray(i * 784, (i + 1) * 784), j * 784));
  return { x, y: Int32Array.from(idx, (i) => data.test.y[i]), n: idx.length };
}

/** f(x) = xA + c of a 1L classifier (A row-major [d, k]): the linear oracle's composition. */
export const affine = affineOf;

export type LinearModel = Affine;

/** For class j ≠ y at point e: gap = f_y − f_j (> 0 when correct) and w = ∇(f_j − f_y). */
export function margin(m: LinearModel, x: Float32Array, e: number, y: number, j: number) {
  const { A, c, d, k } = m;
  let gap = c[y] - c[j];
  const w = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    gap += x[e * d + i] * (A[i * k + y] - A[i * k + j]);
    w[i] = A[i * k + j] - A[i * k + y];
  }
  return { gap, w };
}

/** Unconstrained minimal distance to the decision boundary: min_j gap_j / ‖w_j‖_dual. */
export function unboxedMin(
  m: LinearModel,
  x: Float32Array,
  e: number,
  y: number,
  norm: 'linf' | 'l2',
) {
  let best = Infinity;
  let arg = -1;
  for (let j = 0; j < m.k; j++) {
    if (j === y) continue;
    const { gap, w } = margin(m, x, e, y, j);
    let dual = 0;
    for (const v of w) dual += norm === 'linf' ? Math.abs(v) : v * v;
    const dist = gap / (norm === 'linf' ? dual : Math.sqrt(dual));
    if (dist < best) [best, arg] = [dist, j];
  }
  return { dist: best, cls: arg };
}

/** max w·δ over ‖δ‖ ≤ ε and x + δ ∈ [0, 1]ᵈ (L∞: separable; L2: δ = clip(λw) by bisection). */
function maxGain(w: Float64Array, x: Float32Array, off: number, eps: number, norm: 'linf' | 'l2') {
  const room = (i: number) => (w[i] > 0 ? 1 - x[off + i] : x[off + i]);
  if (norm === 'linf') {
    let s = 0;
    for (let i = 0; i < w.length; i++) s += Math.abs(w[i]) * Math.min(eps, room(i));
    return s;
  }
  const delta = (lam: number) => {
    let n2 = 0;
    let gain = 0;
    for (let i = 0; i < w.length; i++) {
      const v = Math.min(lam * Math.abs(w[i]), room(i));
      n2 += v * v;
      gain += v * Math.abs(w[i]);
    }
    return { n: Math.sqrt(n2), gain };
  };
  let [lo, hi] = [0, 1];
  while (delta(hi).n < eps && hi < 1e12) hi *= 2;
  if (delta(hi).n < eps) return delta(hi).gain; // the whole box is inside the ball
  for (let t = 0; t < 60; t++) {
    const mid = (lo + hi) / 2;
    if (delta(mid).n < eps) lo = mid;
    else hi = mid;
  }
  return delta(lo).gain;
}

/** Exact minimal ε at which some class overtakes y inside box ∩ ball (bisection on ε). */
export function boxedMin(
  m: LinearModel,
  x: Float32Array,
  e: number,
  y: number,
  norm: 'linf' | 'l2',
) {
  let best = Infinity;
  for (let j = 0; j < m.k; j++) {
    if (j === y) continue;
    const { gap, w } = margin(m, x, e, y, j);
    const top = norm === 'linf' ? 1 : Math.sqrt(m.d);
    if (maxGain(w, x, e * m.d, top, norm) < gap) continue; // unreachable in the box
    let [lo, hi] = [0, top];
    for (let t = 0; t < 50; t++) {
      const mid = (lo + hi) / 2;
      if (maxGain(w, x, e * m.d, mid, norm) >= gap) hi = mid;
      else lo = mid;
    }
    best = Math.min(best, hi);
  }
  return best;
}

/** Per-row distance ‖a_i − b_i‖ in float64. */
export function rowDist(
  a: Float32Array,
  b: Float32Array,
  i: number,
  d: number,
  norm: 'linf' | 'l2',
) {
  let s = 0;
  for (let j = i * d; j < (i + 1) * d; j++) {
    const v = Math.abs(a[j] - b[j]);
    s = norm === 'linf' ? Math.max(s, v) : s + v * v;
  }
  return norm === 'linf' ? s : Math.sqrt(s);
}
