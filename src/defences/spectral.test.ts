import * as tf from '@tensorflow/tfjs';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { gemmProvider, setGemmProvider } from '../backend/linalg.js';
import { RobustlabError } from '../data/errors.js';
import { loadDataset } from '../data/node-io.js';
import { classifierSpec, evaluate, MlpClassifier } from '../models/classifier.js';
import { Mlp } from '../models/mlp.js';
import { trainClassifier } from '../models/train.js';
import { testBackend, TEST_DATA_DIR } from '../testing/fixtures.js';
import { Rng } from '../util/rng.js';
import {
  bottomCount,
  computeSpectra,
  defendSpectral,
  reconstruct,
  SpectralSweep,
  spectralTransform,
  svd,
  type LayerSvd,
  type SpectralOptions,
} from './spectral.js';

beforeAll(testBackend);

const EPS32 = 2 ** -23;

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: rows * cols }, () => rng.next() * 2 - 1);
}

/** U diag(s) Vᵀ by the definition, independent of `reconstruct`'s shortcuts. */
function product(d: LayerSvd, s = d.s): Float64Array {
  const out = new Float64Array(d.rows * d.cols);
  for (let i = 0; i < d.rows; i++) {
    for (let j = 0; j < d.cols; j++) {
      let v = 0;
      for (let k = 0; k < d.count; k++) v += d.u[i * d.count + k] * s[k] * d.vt[k * d.cols + j];
      out[i * d.cols + j] = v;
    }
  }
  return out;
}

const maxAbs = (a: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Largest |GᵀG − I| over the `count` vectors of length `len` at get(vector, element). */
function orthoError(count: number, len: number, get: (k: number, i: number) => number): number {
  let worst = 0;
  for (let p = 0; p < count; p++) {
    for (let q = p; q < count; q++) {
      let dot = 0;
      for (let i = 0; i < len; i++) dot += get(p, i) * get(q, i);
      worst = Math.max(worst, Math.abs(dot - (p === q ? 1 : 0)));
    }
  }
  return worst;
}

function expectValidSvd(w: ArrayLike<number>, rows: number, cols: number): LayerSvd {
  const d = svd(w, rows, cols);
  expect([d.rows, d.cols, d.count]).toEqual([rows, cols, Math.min(rows, cols)]);
  // Exact to far better than float32: the brief asks for < 1e-5 × max|W|.
  expect(maxAbsDiff(product(d), w)).toBeLessThan(1e-11 * Math.max(maxAbs(w), 1e-300));
  expect(orthoError(d.count, rows, (k, i) => d.u[i * d.count + k])).toBeLessThan(1e-11);
  expect(orthoError(d.count, cols, (k, j) => d.vt[k * cols + j])).toBeLessThan(1e-11);
  for (let k = 0; k < d.count; k++) {
    expect(d.s[k]).toBeGreaterThanOrEqual(0);
    if (k > 0) expect(d.s[k]).toBeLessThanOrEqual(d.s[k - 1]);
  }
  return d;
}

function singularValues(w: ArrayLike<number>, rows: number, cols: number): Float64Array {
  return svd(w, rows, cols).s;
}

/** numpy's matrix_rank rule for a float32 matrix, relative to a given scale. */
const numericalRank = (s: Float64Array, scale: number, rows: number, cols: number) =>
  s.filter((v) => v > scale * Math.max(rows, cols) * EPS32).length;

function weightsOf(net: Mlp) {
  return net.weightsData().map((l) => ({ W: Float32Array.from(l.W), b: Float32Array.from(l.b) }));
}

describe('svd', () => {
  it('factors random, wide, rank-deficient and zero matrices exactly', () => {
    for (const [rows, cols] of [
      [784, 256],
      [256, 10],
      [32, 256],
      [1, 5],
    ]) {
      const w = randomMatrix(rows, cols, rows * 1000 + cols);
      const d = expectValidSvd(w, rows, cols);
      // An independent oracle for σ.
      const m = new Matrix(rows, cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m.set(i, j, w[i * cols + j]);
      const ref = new SingularValueDecomposition(m, { autoTranspose: true }).diagonal;
      expect(maxAbsDiff(d.s, ref.slice(0, d.count))).toBeLessThan(1e-12 * d.s[0]);
    }
    // Rank 5 of 40: the null directions still get an orthonormal basis.
    const a = randomMatrix(60, 5, 1);
    const b = randomMatrix(5, 40, 2);
    const low = new Float64Array(60 * 40);
    for (let i = 0; i < 60; i++)
      for (let k = 0; k < 5; k++)
        for (let j = 0; j < 40; j++) low[i * 40 + j] += a[i * 5 + k] * b[k * 40 + j];
    const d = expectValidSvd(low, 60, 40);
    expect(numericalRank(d.s, d.s[0], 60, 40)).toBe(5);
    const zero = expectValidSvd(new Float64Array(12), 3, 4);
    expect(Array.from(zero.s)).toEqual([0, 0, 0]);
    expect(() => svd(new Float64Array(5), 2, 3)).toThrow(RobustlabError);
  });

  it('factors every weight matrix of a classifier', () => {
    const before = tf.memory().numTensors;
    const net = Mlp.create(classifierSpec('2L', 784), 3);
    const spectra = computeSpectra(net);
    expect(spectra.map((d) => [d.rows, d.cols, d.count])).toEqual([
      [784, 256, 256],
      [256, 256, 256],
      [256, 10, 10],
    ]);
    net.weightsData().forEach((l, i) => {
      expect(maxAbsDiff(product(spectra[i]), l.W)).toBeLessThan(1e-11 * maxAbs(l.W));
    });
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('bottomCount', () => {
  it('rounds fraction × count half up', () => {
    expect(bottomCount(0.4, 256)).toBe(102);
    expect(bottomCount(0.4, 10)).toBe(4);
    expect(bottomCount(0.05, 10)).toBe(1);
    expect(bottomCount(0.45, 10)).toBe(5);
    expect(bottomCount(0.04, 10)).toBe(0);
    expect(bottomCount(0, 256)).toBe(0);
    expect(bottomCount(1, 256)).toBe(256);
  });
});

describe('defendSpectral', () => {
  it('zero mode is the best low-rank approximation (rank and Eckart–Young)', () => {
    const before = tf.memory().numTensors;
    const net = Mlp.create(classifierSpec('2L', 784), 5);
    const spectra = computeSpectra(net);
    const orig = weightsOf(net);
    for (const fraction of [0.1, 0.4, 0.75, 1]) {
      const defended = defendSpectral(net, { mode: 'zero', fraction }, spectra);
      defended.weightsData().forEach((l, i) => {
        const d = spectra[i];
        const k = bottomCount(fraction, d.count);
        const s = singularValues(l.W, d.rows, d.cols);
        expect(numericalRank(s, d.s[0], d.rows, d.cols)).toBe(d.count - k);
        // The kept singular values survive unchanged.
        for (let j = 0; j < d.count - k; j++)
          expect(Math.abs(s[j] - d.s[j])).toBeLessThan(1e-5 * d.s[j]);
        let diff2 = 0;
        for (let j = 0; j < l.W.length; j++) diff2 += (orig[i].W[j] - l.W[j]) ** 2;
        let removed2 = 0;
        for (let j = d.count - k; j < d.count; j++) removed2 += d.s[j] ** 2;
        expect(Math.abs(Math.sqrt(diff2) - Math.sqrt(removed2))).toBeLessThan(
          1e-4 * Math.sqrt(removed2),
        );
        expect(Array.from(l.b)).toEqual(Array.from(orig[i].b));
      });
      defended.dispose();
    }
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('scale mode multiplies exactly the bottom singular values', () => {
    const before = tf.memory().numTensors;
    const net = Mlp.create(classifierSpec('1L', 100, 64), 6);
    const spectra = computeSpectra(net);
    const defended = defendSpectral(net, { mode: 'scale', fraction: 0.25, factor: 0.1 }, spectra);
    defended.weightsData().forEach((l, i) => {
      const d = spectra[i];
      const k = bottomCount(0.25, d.count);
      const want = Array.from(d.s, (v, j) => (j >= d.count - k ? v * 0.1 : v)).sort(
        (p, q) => q - p,
      );
      const got = singularValues(l.W, d.rows, d.cols);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5 * d.s[0]);
    });
    defended.dispose();
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('BLAS dgemm corrections equal the JS rank-1 loop (both modes, several fractions)', () => {
    const gemm = gemmProvider();
    if (!gemm) return; // the native addon is not built: only the JS loop exists
    const net = Mlp.create(classifierSpec('2L', 100, 64), 8);
    const spectra = computeSpectra(net);
    const run = () =>
      [0.05, 0.3, 0.5, 0.8].flatMap((fraction) =>
        (['zero', 'scale'] as const).map((mode) => {
          const d = defendSpectral(net, { mode, fraction }, spectra);
          const w = d.weightsData().map((l) => l.W);
          d.dispose();
          return w;
        }),
      );
    const blas = run();
    setGemmProvider(null);
    const js = run();
    setGemmProvider(gemm);
    blas.forEach((layers, i) =>
      layers.forEach((w, j) => expect(maxAbsDiff(w, js[i][j])).toBeLessThan(4 * EPS32)),
    );
    net.dispose();
  });

  it('without BLAS, the row-blocked loop gives the term-by-term sums exactly (zero coefficients too)', () => {
    const gemm = gemmProvider();
    setGemmProvider(null);
    try {
      const rows = 23;
      const cols = 17;
      const count = 17;
      const rng = new Rng(4);
      const r = () => rng.next() * 2 - 1;
      const u = Float64Array.from({ length: rows * count }, (_, i) => (i % 7 === 3 ? 0 : r()));
      const d: LayerSvd = {
        rows,
        cols,
        count,
        u,
        s: Float64Array.from({ length: count }, (_, k) => count - k + r() / 4),
        vt: Float64Array.from({ length: count * cols }, r),
        w: Float64Array.from({ length: rows * cols }, r),
      };
      // 1..count changed σ: every remainder mod 4, and the W-free path (more changed than kept)
      for (let k = 1; k <= count; k++) {
        const transform = (s: Float64Array) => {
          for (let j = count - k; j < count; j++) s[j] = j % 5 === 0 ? 0 : s[j] * 0.3;
          return s;
        };
        const t = transform(Float64Array.from(d.s));
        const changed = new Map<number, number>();
        const kept = new Map<number, number>();
        for (let j = 0; j < count; j++) {
          if (t[j] !== d.s[j]) changed.set(j, t[j] - d.s[j]);
          if (t[j] !== 0) kept.set(j, t[j]);
        }
        const [alpha, terms] = changed.size <= kept.size ? [1, changed] : [0, kept];
        const ref = new Float64Array(rows * cols);
        for (let i = 0; i < ref.length; i++) ref[i] = alpha === 1 ? d.w[i] : 0;
        for (const [j, c] of terms)
          for (let i = 0; i < rows; i++) {
            const ci = u[i * count + j] * c;
            if (ci === 0) continue;
            for (let m = 0; m < cols; m++) ref[i * cols + m] += ci * d.vt[j * cols + m];
          }
        const got = reconstruct(d, transform);
        const want = new Float32Array(ref);
        for (let i = 0; i < want.length; i++) expect(Object.is(got[i], want[i])).toBe(true);
      }
    } finally {
      setGemmProvider(gemm);
    }
  });

  it('changes nothing with factor 1 or fraction 0, and never touches the original', () => {
    const before = tf.memory().numTensors;
    const clf = MlpClassifier.create('LRL', 50, { hidden: 32, seed: 7 });
    const orig = weightsOf(clf.net);
    const spectra = computeSpectra(clf.net);
    const unchanged: SpectralOptions[] = [
      { mode: 'scale', fraction: 0.6, factor: 1 },
      { mode: 'scale', fraction: 0 },
      { mode: 'zero', fraction: 0 },
    ];
    for (const opts of unchanged) {
      const d = defendSpectral(clf, opts, spectra);
      expect(d).toBeInstanceOf(MlpClassifier);
      expect(d.arch).toBe('LRL');
      d.net.weightsData().forEach((l, i) => {
        expect(maxAbsDiff(l.W, orig[i].W)).toBeLessThanOrEqual(EPS32 * maxAbs(orig[i].W));
        expect(Array.from(l.b)).toEqual(Array.from(orig[i].b));
      });
      d.dispose();
    }
    // Both of reconstruct's paths: W plus corrections (all σ doubled), and from scratch (only
    // the top quarter kept).
    spectra.forEach((d, i) => {
      const twice = reconstruct(d, (s) => s.map((v) => v * 2));
      expect(
        maxAbsDiff(
          twice,
          orig[i].W.map((v) => v * 2),
        ),
      ).toBeLessThan(1e-5 * maxAbs(orig[i].W));
      const top = (s: Float64Array) => s.map((v, k) => (k < d.count / 4 ? v : 0));
      expect(maxAbsDiff(reconstruct(d, top), product(d, top(d.s)))).toBeLessThan(
        1e-5 * maxAbs(orig[i].W),
      );
    });
    const d = defendSpectral(clf, { mode: 'zero', fraction: 0.5 });
    expect(d.net).not.toBe(clf.net);
    expect(d.net.layers[0].W).not.toBe(clf.net.layers[0].W);
    d.dispose();
    // Computing the spectra on the fly and reusing them give the same model.
    const a = defendSpectral(clf.net, { mode: 'scale', fraction: 0.3 });
    const b = defendSpectral(clf.net, { mode: 'scale', fraction: 0.3 }, spectra);
    expect(a).toBeInstanceOf(Mlp);
    a.weightsData().forEach((l, i) =>
      expect(Array.from(l.W)).toEqual(Array.from(b.weightsData()[i].W)),
    );
    a.dispose();
    b.dispose();
    clf.net.weightsData().forEach((l, i) => {
      expect(Array.from(l.W)).toEqual(Array.from(orig[i].W));
      expect(Array.from(l.b)).toEqual(Array.from(orig[i].b));
    });
    clf.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("SpectralSweep gives defendSpectral's weights bit for bit, without building tfjs models", () => {
    const clf = MlpClassifier.create('LRL', 50, { hidden: 32, seed: 8 });
    const spectra = computeSpectra(clf.net);
    const before = tf.memory().numTensors;
    const sweep = new SpectralSweep(clf, spectra);
    const options: SpectralOptions[] = [0, 0.05, 0.4, 0.95, 1].flatMap((fraction) => [
      { mode: 'zero', fraction },
      { mode: 'scale', fraction },
      { mode: 'scale', fraction, factor: 0.5 },
    ]);
    const host = options.map((o) => sweep.weightsAt(o));
    const m = sweep.classifierAt(options[4]);
    expect([m.arch, m.inputDim, m.numClasses]).toEqual(['LRL', 50, 10]);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
    options.forEach((o, k) => {
      const d = defendSpectral(clf, o, spectra);
      d.net.weightsData().forEach((l, i) => {
        expect(Array.from(host[k][i].W)).toEqual(Array.from(l.W));
        expect(Array.from(host[k][i].b)).toEqual(Array.from(l.b));
      });
      d.dispose();
    });
    const other = MlpClassifier.create('LRL', 50, { hidden: 32, seed: 9 });
    expect(() => new SpectralSweep(other, spectra)).toThrow(/different weights/);
    expect(() => sweep.weightsAt({ mode: 'zero', fraction: 2 })).toThrow(/fraction/);
    other.dispose();
    clf.dispose();
  });

  it('rejects bad options and foreign spectra', () => {
    const before = tf.memory().numTensors;
    const net = Mlp.create(classifierSpec('1L', 20, 8), 8);
    const bad = [
      { mode: 'zero', fraction: NaN },
      { mode: 'zero', fraction: -0.1 },
      { mode: 'scale', fraction: 1.5 },
      { mode: 'scale', fraction: '0.5' },
      { mode: 'halve', fraction: 0.5 },
      { mode: 'scale', fraction: 0.5, factor: Infinity },
      { mode: 'scale', fraction: 0.5, factor: NaN },
      { mode: 'scale', fraction: 0.5, factor: -1 },
    ] as unknown as SpectralOptions[];
    for (const opts of bad) {
      expect(() => defendSpectral(net, opts)).toThrow(RobustlabError);
      try {
        defendSpectral(net, opts);
      } catch (e) {
        expect((e as Error).message).not.toContain('\n');
      }
    }
    const other = Mlp.create(classifierSpec('1L', 20, 8), 9);
    const wrongShape = Mlp.create(classifierSpec('1L', 20, 16), 8);
    expect(() =>
      defendSpectral(net, { mode: 'zero', fraction: 0.5 }, computeSpectra(other)),
    ).toThrow(/different weights/);
    expect(() =>
      defendSpectral(net, { mode: 'zero', fraction: 0.5 }, computeSpectra(wrongShape)),
    ).toThrow(RobustlabError);
    expect(() =>
      defendSpectral(net, { mode: 'zero', fraction: 0.5 }, computeSpectra(net).slice(1)),
    ).toThrow(RobustlabError);
    expect(() => reconstruct(computeSpectra(net)[0], (s) => s.subarray(1))).toThrow(RobustlabError);
    for (const m of [net, other, wrongShape]) m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('on a trained MNIST 2L classifier, 40% scaled costs accuracy only through the 256x10 layer', async () => {
    const ds = await loadDataset('mnist', {
      dataDir: TEST_DATA_DIR,
      limitTrain: 10000,
      limitTest: 2000,
    });
    const before = tf.memory().numTensors;
    const clf = MlpClassifier.create('2L', 784, { seed: 1 });
    const { train, test } = ds;
    trainClassifier(
      clf,
      clf.net.variables(),
      { x: train.images, y: train.labels, n: train.n, dim: 784 },
      { epochs: 5, seed: 1, silent: true },
    );
    const acc = (c: MlpClassifier) => evaluate(c, test.images, test.labels, test.n).accuracy;
    const base = acc(clf);
    expect(base).toBeGreaterThan(0.85);

    const opts = { mode: 'scale', fraction: 0.4 } as const;
    const spectra = computeSpectra(clf.net);
    const weights = clf.net.weightsData();
    /** The defence applied to the listed layers only. */
    const accOnLayers = (layers: number[]) => {
      const t = spectralTransform(opts);
      const W = weights.map((l, i) =>
        layers.includes(i) ? reconstruct(spectra[i], t) : Float32Array.from(l.W),
      );
      const c = new MlpClassifier(
        '2L',
        Mlp.fromWeights(
          clf.net.spec,
          W.map((w, i) => ({ W: w, b: weights[i].b })),
        ),
      );
      const a = acc(c);
      c.dispose();
      return a;
    };
    const defended = defendSpectral(clf, opts, spectra);
    const all = acc(defended);
    defended.dispose();
    // The study (§3.6) reports "a very weak decrease" at 40%. That holds for the two hidden
    // layers (256 σ each: 102 scaled). It does not hold for the output layer, which has only
    // 10 σ: scaling 4 of them squeezes 4 of the 10 logit directions. Here 87.2% → 78.5%; a
    // 50-epoch full-data model loses 6.8 points on the full test set (92.5% → 85.7%).
    expect(Math.abs(accOnLayers([0, 1]) - base)).toBeLessThan(0.01);
    expect(Math.abs(accOnLayers([2]) - all)).toBeLessThan(0.005);
    clf.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
