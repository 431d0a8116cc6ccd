/**
 * The exact answers attacks are tested against: a 1L classifier is affine, logits = xA + c
 * (A = W1·W2, c = b1·W2 + b2), so the minimal perturbation that changes its label has closed
 * forms without the box, and the L∞ one with the box is a one-dimensional search.
 * Test-only (trains on the real MNIST subset); float64 on the host.
 */
import { loadDataset } from '../data/node-io.js';
import { MlpClassifier, predict } from '../models/classifier.js';
import { trainClassifier } from '../models/train.js';
import { TEST_DATA_DIR } from './fixtures.js';

export interface Affine {
  /** [d, k] row-major. */
  A: Float64Array;
  c: Float64Array;
  d: number;
  k: number;
}

export function affineOf(clf: MlpClassifier): Affine {
  const [l1, l2] = clf.net.weightsData();
  const d = clf.inputDim;
  const h = l1.b.length;
  const k = clf.numClasses;
  const A = new Float64Array(d * k);
  const c = Float64Array.from(l2.b);
  for (let j = 0; j < h; j++) {
    for (let q = 0; q < k; q++) {
      const w = l2.W[j * k + q];
      c[q] += l1.b[j] * w;
      for (let i = 0; i < d; i++) A[i * k + q] += l1.W[i * h + j] * w;
    }
  }
  return { A, c, d, k };
}

function logitsOf(f: Affine, x: Float32Array, e: number): Float64Array {
  const z = Float64Array.from(f.c);
  for (let i = 0; i < f.d; i++) {
    const v = x[e * f.d + i];
    if (v !== 0) for (let q = 0; q < f.k; q++) z[q] += v * f.A[i * f.k + q];
  }
  return z;
}

/** w = a_j − a_y for each other class j, and the gaps g_j = f_j − f_y (< 0 if correct). */
function differences(f: Affine, x: Float32Array, e: number, y: number) {
  const z = logitsOf(f, x, e);
  const out: { j: number; gap: number; w: Float64Array }[] = [];
  for (let j = 0; j < f.k; j++) {
    if (j === y) continue;
    const w = new Float64Array(f.d);
    for (let i = 0; i < f.d; i++) w[i] = f.A[i * f.k + j] - f.A[i * f.k + y];
    out.push({ j, gap: z[j] - z[y], w });
  }
  return out;
}

/**
 * Minimal L2 distance to the decision boundary without the box, min_j (f_y − f_j)/‖a_y − a_j‖₂,
 * and whether its minimiser x + δ* lies in [0,1] (then it is also the boxed optimum).
 */
export function exactL2(f: Affine, x: Float32Array, e: number, y: number) {
  let best = { dist: Infinity, inBox: false };
  for (const { gap, w } of differences(f, x, e, y)) {
    const n2 = w.reduce((s, v) => s + v * v, 0);
    const dist = -gap / Math.sqrt(n2);
    if (dist >= best.dist) continue;
    let inBox = true;
    for (let i = 0; i < f.d && inBox; i++) {
      const v = x[e * f.d + i] + (-gap / n2) * w[i];
      inBox = v >= 0 && v <= 1;
    }
    best = { dist, inBox };
  }
  return best;
}

/** Minimal L∞ distance without the box: min_j (f_y − f_j)/‖a_y − a_j‖₁. */
export function exactLinfUnboxed(f: Affine, x: Float32Array, e: number, y: number): number {
  let best = Infinity;
  for (const { gap, w } of differences(f, x, e, y))
    best = Math.min(best, -gap / w.reduce((s, v) => s + Math.abs(v), 0));
  return best;
}

/**
 * Minimal L2 distance with the box [0,1], and its minimiser. Per other class j the problem
 * min ‖δ‖₂ s.t. w·δ ≥ −gap, −x ≤ δ ≤ 1 − x is convex and separable given its multiplier λ
 * (KKT: δ_i = clip(λ·w_i, −x_i, 1 − x_i)), with w·δ(λ) nondecreasing in λ: bisection on λ. The
 * adversarial set is the union over j, so the minimum is the least over j.
 */
export function exactL2Boxed(f: Affine, x: Float32Array, e: number, y: number) {
  const xe = x.subarray(e * f.d, (e + 1) * f.d);
  let best = { dist: Infinity, delta: new Float64Array(f.d) };
  for (const { gap, w } of differences(f, x, e, y)) {
    const at = (lam: number) => {
      const delta = new Float64Array(f.d);
      let gain = 0;
      for (let i = 0; i < f.d; i++) {
        delta[i] = Math.min(Math.max(lam * w[i], -xe[i]), 1 - xe[i]);
        gain += w[i] * delta[i];
      }
      return { delta, gain };
    };
    if (at(1e12).gain < -gap) continue;
    let hi = 1e-6;
    while (at(hi).gain < -gap) hi *= 2;
    let lo = 0;
    for (let it = 0; it < 60; it++) {
      const mid = (lo + hi) / 2;
      if (at(mid).gain >= -gap) hi = mid;
      else lo = mid;
    }
    const { delta } = at(hi);
    const dist = Math.sqrt(delta.reduce((s, v) => s + v * v, 0));
    if (dist < best.dist) best = { dist, delta };
  }
  return best;
}

/** The point of the L∞ ε-ball ∩ box with the largest max_j (f_j − f_y): a vertex. */
export function linfVertex(f: Affine, x: Float32Array, e: number, y: number, eps: number) {
  const xe = x.subarray(e * f.d, (e + 1) * f.d);
  let best = { gain: -Infinity, point: new Float32Array(f.d) };
  for (const { gap, w } of differences(f, x, e, y)) {
    const point = new Float32Array(f.d);
    let g = gap;
    for (let i = 0; i < f.d; i++) {
      const d = w[i] > 0 ? Math.min(eps, 1 - xe[i]) : Math.max(-eps, -xe[i]);
      point[i] = xe[i] + d;
      g += w[i] * d;
    }
    if (g > best.gain) best = { gain: g, point };
  }
  return best.point;
}

/**
 * Minimal L∞ distance with the box [0,1], by bisection on ε: at a given ε the largest gain of
 * f_j − f_y over the box ∩ ball is separable, Σ_i max(w_i·lo_i, w_i·hi_i) with
 * [lo_i, hi_i] = [max(−ε, −x_i), min(ε, 1 − x_i)]. Infinity if even ε = 1 cannot flip it.
 */
export function exactLinfBoxed(f: Affine, x: Float32Array, e: number, y: number): number {
  const diffs = differences(f, x, e, y);
  const xe = x.subarray(e * f.d, (e + 1) * f.d);
  const feasible = (eps: number) =>
    diffs.some(({ gap, w }) => {
      let g = gap;
      for (let i = 0; i < f.d; i++)
        g += w[i] > 0 ? w[i] * Math.min(eps, 1 - xe[i]) : w[i] * Math.max(-eps, -xe[i]);
      return g >= 0;
    });
  if (!feasible(1)) return Infinity;
  let [lo, hi] = [0, 1];
  for (let it = 0; it < 50; it++) {
    const mid = (lo + hi) / 2;
    if (feasible(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

export interface Points {
  /** Row-major [n, 784] images the model classifies correctly, and their labels. */
  x: Float32Array;
  y: Int32Array;
  n: number;
}

export interface LinearFixture {
  clf: MlpClassifier;
  affine: Affine;
  /**
   * The first `count` test points the model gets right. `contrast` < 1 maps each image to
   * 0.5 + contrast·(x − 0.5): the same digits away from the box's faces, so the unboxed
   * optimum x + δ* usually lies inside [0,1].
   */
  points(count: number, contrast?: number): Points;
}

/** A real 1L (784 → 64 → 10) trained on 5000 MNIST images for 2 epochs. */
export async function linearMnist(seed = 1): Promise<LinearFixture> {
  const ds = await loadDataset('mnist', {
    dataDir: TEST_DATA_DIR,
    limitTrain: 5000,
    limitTest: 500,
  });
  const clf = MlpClassifier.create('1L', 784, { hidden: 64, seed });
  trainClassifier(
    clf,
    clf.net.variables(),
    { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 },
    { epochs: 2, batchSize: 100, seed, silent: true },
  );
  const points = (count: number, contrast = 1): Points => {
    const images = ds.test.images.map((v) => 0.5 + contrast * (v - 0.5));
    const { labels: pred } = predict(clf, images, ds.test.n);
    const picked: number[] = [];
    for (let i = 0; i < ds.test.n && picked.length < count; i++)
      if (pred[i] === ds.test.labels[i]) picked.push(i);
    const x = new Float32Array(picked.length * 784);
    picked.forEach((i, k) => x.set(images.subarray(i * 784, (i + 1) * 784), k * 784));
    const y = Int32Array.from(picked, (i) => ds.test.labels[i]);
    return { x, y, n: picked.length };
  };
  return { clf, affine: affineOf(clf), points };
}
