/**
 * The spectral defence (study §2.2, §3.6): write every weight matrix as W = U Σ Vᵀ and zero
 * out, or scale down (by 1/10), the bottom k of its singular values. Biases are untouched.
 *
 * The SVD of each W is computed once, in float64 on the host (`computeSpectra`), so a sweep
 * over fractions only pays for the reconstructions.
 *
 * SVD method: Householder QR, W = Q R, then one-sided (Hestenes) Jacobi on Rᵀ, which gives
 * R = X Σ Ũᵀ, hence U = Q X and V = Ũ. Jacobi has high relative accuracy, so the smallest
 * singular values (exactly the ones this defence modifies) are as accurate as the largest;
 * measured: reconstruction, orthonormality and σ (against ml-matrix) all within ~1e-13. We
 * rejected the Gram-matrix shortcut (eigenvectors of WᵀW) because it squares the condition
 * number and loses those small σ. QR first shrinks a 784-row W to a 256x256 R, as a Jacobi
 * sweep costs ∝ rows; on Rᵀ it converged in 11 sweeps vs 11–13 on R.
 * Measured (Node 20, one call, on a shared machine with load ≈ 5 on 2 cores, so likely
 * pessimistic): 784x256 ≈ 0.8 s (ml-matrix SVD: 1.0–1.8 s), 256x256 ≈ 0.55 s, 256x10 < 1 ms;
 * a 784-256-256-10 classifier ≈ 1.3 s, then ≈ 50 ms per `defendSpectral` call.
 *
 * Browser-safe: no Node imports.
 */
import { RobustlabError } from '../data/errors.js';
import { MlpClassifier } from '../models/classifier.js';
import { HostMlpClassifier, type LayerWeights } from '../models/host-mlp.js';
import { Mlp } from '../models/mlp.js';
import { gemmProvider, svdProvider } from '../backend/linalg.js';

/** The SVD of one row-major matrix W of shape [rows, cols]: W = U diag(s) Vᵀ. */
export interface LayerSvd {
  rows: number;
  cols: number;
  /** Number of singular values, min(rows, cols). */
  count: number;
  /** Left singular vectors, row-major [rows, count], orthonormal columns. */
  u: Float64Array;
  /** Singular values, descending, all ≥ 0. */
  s: Float64Array;
  /** Right singular vectors transposed, row-major [count, cols], orthonormal rows. */
  vt: Float64Array;
  /** W itself, row-major: lets `reconstruct` add only what a transform changes. */
  w: Float64Array;
}

const EPS = 2.220446049250313e-16;
const MAX_SWEEPS = 60;
/** Below this a column's norm is treated as exactly zero (its square would be subnormal). */
const TINY = 1e-150;

/** Exact SVD of a row-major [rows, cols] matrix, in float64. */
export function svd(w: ArrayLike<number>, rows: number, cols: number): LayerSvd {
  if (
    !Number.isInteger(rows) ||
    !Number.isInteger(cols) ||
    rows < 1 ||
    cols < 1 ||
    w.length !== rows * cols
  ) {
    throw new RobustlabError(`svd: ${w.length} values do not make a ${rows}x${cols} matrix`);
  }
  const count = Math.min(rows, cols);
  const copy = Float64Array.from(w);
  // A registered provider (LAPACK via the native addon) when there is one; else our Jacobi.
  const fast = svdProvider()?.(copy, rows, cols);
  if (fast) return { rows, cols, count, u: fast.u, s: fast.s, vt: fast.vt, w: copy };
  if (rows >= cols) {
    // The tall core wants W column-major: transpose.
    const a = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) a[j * rows + i] = copy[i * cols + j];
    const t = svdTall(a, rows, cols);
    const u = new Float64Array(rows * count);
    for (let k = 0; k < count; k++)
      for (let i = 0; i < rows; i++) u[i * count + k] = t.u[k * rows + i];
    // Column k of V (column-major) is row k of Vᵀ (row-major): same memory.
    return { rows, cols, count, u, s: t.s, vt: t.v, w: copy };
  }
  // Wide: row-major W is column-major Wᵀ, which is tall. Wᵀ = U' Σ V'ᵀ, so W = V' Σ U'ᵀ.
  const t = svdTall(Float64Array.from(copy), cols, rows);
  const u = new Float64Array(rows * count);
  for (let k = 0; k < count; k++)
    for (let i = 0; i < rows; i++) u[i * count + k] = t.v[k * rows + i];
  return { rows, cols, count, u, s: t.s, vt: t.u, w: copy };
}

/**
 * SVD of a column-major m×n matrix with m ≥ n (overwritten). Returns column-major U (m×n) and
 * V (n×n) and descending σ.
 */
function svdTall(
  a: Float64Array,
  m: number,
  n: number,
): { u: Float64Array; s: Float64Array; v: Float64Array } {
  const { beta, diag } = householderQr(a, m, n);
  // Rᵀ column-major: column j of Rᵀ is row j of R, which lives at a[i*m + j] (i > j) and diag[j].
  const rt = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    rt[j * n + j] = diag[j];
    for (let i = j + 1; i < n; i++) rt[j * n + i] = a[i * m + j];
  }
  const x = identity(n);
  jacobi(rt, n, n, x);
  // Now Rᵀ X = Ũ Σ, i.e. R = X Σ Ũᵀ: σ are the column norms of rt, V = Ũ, U = Q X.
  const s = new Float64Array(n);
  for (let j = 0; j < n; j++) s[j] = norm(rt.subarray(j * n, (j + 1) * n));
  const order = Array.from(s.keys()).sort((p, q) => s[q] - s[p]);
  const sSorted = new Float64Array(n);
  const v = new Float64Array(n * n);
  const u = new Float64Array(m * n);
  order.forEach((src, k) => {
    const sk = s[src] > TINY ? s[src] : 0;
    sSorted[k] = sk;
    if (sk > 0) for (let i = 0; i < n; i++) v[k * n + i] = rt[src * n + i] / sk;
    u.set(x.subarray(src * n, (src + 1) * n), k * m); // [X; 0], Q applied below
  });
  completeBasis(v, n, sSorted);
  applyQ(a, m, n, beta, u);
  return { u, s: sSorted, v };
}

/**
 * In-place Householder QR of a column-major m×n matrix: returns R's diagonal separately; R's
 * strict upper triangle and the reflectors (vₖ in rows k.. of column k) stay in `a`.
 */
function householderQr(
  a: Float64Array,
  m: number,
  n: number,
): { beta: Float64Array; diag: Float64Array } {
  const beta = new Float64Array(n);
  const diag = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const ck = k * m;
    let norm2 = 0;
    for (let i = k; i < m; i++) norm2 += a[ck + i] * a[ck + i];
    const norm = Math.sqrt(norm2);
    if (norm === 0) continue; // H = I, R[k][k] = 0
    const x0 = a[ck + k];
    // Reflect onto -sign(x0)·‖x‖ e₁ so that v₀ = x₀ − α involves no cancellation.
    const alpha = x0 > 0 ? -norm : norm;
    diag[k] = alpha;
    a[ck + k] = x0 - alpha;
    beta[k] = 1 / (norm * (norm + Math.abs(x0))); // 2 / vᵀv
    reflect(a, ck, a, k + 1, n, m, k, beta[k]);
  }
  return { beta, diag };
}

/**
 * Columns j ∈ [from, to) of the column-major `b` (column length m) ← H b_j, H = I − β v vᵀ with
 * v = a[ck + k .. ck + m): rows k.. only. The columns are independent, so four at a time (four
 * dot products in one pass, each summed in row order as one at a time would): same values.
 */
function reflect(
  a: Float64Array,
  ck: number,
  b: Float64Array,
  from: number,
  to: number,
  m: number,
  k: number,
  beta: number,
): void {
  let j = from;
  for (; j + 4 <= to; j += 4) {
    const c0 = j * m;
    const c1 = c0 + m;
    const c2 = c1 + m;
    const c3 = c2 + m;
    let d0 = 0;
    let d1 = 0;
    let d2 = 0;
    let d3 = 0;
    for (let i = k; i < m; i++) {
      const v = a[ck + i];
      d0 += v * b[c0 + i];
      d1 += v * b[c1 + i];
      d2 += v * b[c2 + i];
      d3 += v * b[c3 + i];
    }
    d0 *= beta;
    d1 *= beta;
    d2 *= beta;
    d3 *= beta;
    for (let i = k; i < m; i++) {
      const v = a[ck + i];
      b[c0 + i] -= d0 * v;
      b[c1 + i] -= d1 * v;
      b[c2 + i] -= d2 * v;
      b[c3 + i] -= d3 * v;
    }
  }
  for (; j < to; j++) {
    const cj = j * m;
    let dot = 0;
    for (let i = k; i < m; i++) dot += a[ck + i] * b[cj + i];
    dot *= beta;
    for (let i = k; i < m; i++) b[cj + i] -= dot * a[ck + i];
  }
}

/** b ← Q b for column-major b (m×n), Q = H₀ H₁ … H_{n−1} from `householderQr`. */
function applyQ(a: Float64Array, m: number, n: number, beta: Float64Array, b: Float64Array): void {
  for (let k = n - 1; k >= 0; k--) {
    if (beta[k] === 0) continue;
    reflect(a, k * m, b, 0, n, m, k, beta[k]);
  }
}

/**
 * One-sided Jacobi: rotate pairs of columns of the column-major m×n `a` until all are mutually
 * orthogonal (to relative `tol`), applying the same rotations to the columns of `x`. Returns
 * the number of sweeps.
 */
function jacobi(a: Float64Array, m: number, n: number, x: Float64Array): number {
  const tol = EPS * Math.sqrt(m);
  const xm = x.length / n;
  for (let sweep = 1; sweep <= MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      const cp = p * m;
      for (let q = p + 1; q < n; q++) {
        const cq = q * m;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const ap = a[cp + i];
          const aq = a[cq + i];
          alpha += ap * ap;
          beta += aq * aq;
          gamma += ap * aq;
        }
        if (Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const ap = a[cp + i];
          const aq = a[cq + i];
          a[cp + i] = c * ap - s * aq;
          a[cq + i] = s * ap + c * aq;
        }
        const xp = p * xm;
        const xq = q * xm;
        for (let i = 0; i < xm; i++) {
          const vp = x[xp + i];
          const vq = x[xq + i];
          x[xp + i] = c * vp - s * vq;
          x[xq + i] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) return sweep;
  }
  throw new Error(`Jacobi SVD did not converge in ${MAX_SWEEPS} sweeps`);
}

function norm(a: Float64Array): number {
  let t = 0;
  for (let i = 0; i < a.length; i++) t += a[i] * a[i];
  return Math.sqrt(t);
}

function identity(n: number): Float64Array {
  const x = new Float64Array(n * n);
  for (let i = 0; i < n; i++) x[i * n + i] = 1;
  return x;
}

/**
 * Columns of the column-major n×n `v` whose σ is 0 have no direction of their own: fill them
 * with an orthonormal completion (Gram–Schmidt on unit vectors, twice for stability).
 */
function completeBasis(v: Float64Array, n: number, s: Float64Array): void {
  let e = 0;
  for (let k = 0; k < n; k++) {
    if (s[k] > 0) continue;
    for (; e < n; e++) {
      const col = v.subarray(k * n, (k + 1) * n);
      col.fill(0);
      col[e] = 1;
      for (let pass = 0; pass < 2; pass++) {
        for (let j = 0; j < n; j++) {
          if (j === k) continue; // later zero-σ columns are still all zeros
          let dot = 0;
          for (let i = 0; i < n; i++) dot += v[j * n + i] * col[i];
          for (let i = 0; i < n; i++) col[i] -= dot * v[j * n + i];
        }
      }
      const len = norm(col);
      if (len > 0.5) {
        for (let i = 0; i < n; i++) col[i] /= len;
        e++;
        break;
      }
    }
  }
}

/** A map from singular values (descending) to new ones; receives a copy it may modify. */
export type SigmaTransform = (s: Float64Array) => Float64Array;

/**
 * U diag(transform(σ)) Vᵀ as a row-major float32 matrix. Computed as W plus rank-1 corrections
 * for the σ that change, or from scratch over the nonzero new σ, whichever has fewer terms: a
 * transform touching few σ stays cheap, and an identity transform returns W bit-for-bit.
 */
export function reconstruct(svd: LayerSvd, transform?: SigmaTransform): Float32Array {
  const { count, s } = svd;
  const t = transform ? transform(Float64Array.from(s)) : s;
  if (t.length !== count || !t.every(Number.isFinite)) {
    throw new RobustlabError(`singular-value transform must return ${count} finite values`);
  }
  const changed = new Map<number, number>();
  const kept = new Map<number, number>();
  for (let k = 0; k < count; k++) {
    if (t[k] !== s[k]) changed.set(k, t[k] - s[k]);
    if (t[k] !== 0) kept.set(k, t[k]);
  }
  return changed.size <= kept.size ? combine(svd, 1, changed) : combine(svd, 0, kept);
}

/** combine's float64 work matrix (grown as needed; the result is always a fresh float32 copy). */
let work = new Float64Array(0);

/** α W + Σ c_k u_k v_kᵀ over the given (k, c_k), in float64, rounded once to float32. */
function combine(svd: LayerSvd, alpha: number, terms: Map<number, number>): Float32Array {
  const { rows, cols, count, u, vt, w } = svd;
  // One float64 work matrix, reused across calls (a sweep makes 20 × 3 of them: fresh 1.6 MB
  // arrays each time made its time vary 30–70 ms with the garbage collector); filled with a
  // plain copy or loop (.from and .map take the iterator path, ~3× slower).
  if (work.length < rows * cols) work = new Float64Array(rows * cols);
  const out = work.subarray(0, rows * cols);
  if (alpha === 0) out.fill(0);
  else if (alpha === 1) out.set(w);
  else for (let j = 0; j < out.length; j++) out[j] = w[j] * alpha;
  const gemm = gemmProvider();
  const keys = [...terms.keys()];
  if (gemm && keys.length > 1 && keys.every((k, t) => k === keys[0] + t)) {
    // A run of terms k0..k0+T−1 (what the defence's bottom/top splits give): U's columns are a
    // block of U itself (row stride `count`, no copy), and c scales the rows of Vᵀ instead.
    const T = keys.length;
    const k0 = keys[0];
    const vs = new Float64Array(T * cols);
    for (let t = 0; t < T; t++) {
      const ck = terms.get(k0 + t)!;
      const src = (k0 + t) * cols;
      for (let j = 0; j < cols; j++) vs[t * cols + j] = ck * vt[src + j];
    }
    if (gemm(rows, cols, T, u.subarray(k0), vs, out, count)) return new Float32Array(out);
  }
  if (gemm && terms.size > 1) {
    // out += (U_T diag(c)) · Vᵀ_T over the T terms: one BLAS call instead of T rank-1 loops.
    const T = terms.size;
    const uc = new Float64Array(rows * T);
    const vs = new Float64Array(T * cols);
    let t = 0;
    for (const [k, ck] of terms) {
      for (let i = 0; i < rows; i++) uc[i * T + t] = u[i * count + k] * ck;
      vs.set(vt.subarray(k * cols, (k + 1) * cols), t * cols);
      t++;
    }
    if (gemm(rows, cols, T, uc, vs, out)) return new Float32Array(out);
  }
  // Without BLAS (a browser, no addon): row by row, four terms per pass over the row, so each
  // element of `out` is loaded and stored once per four terms, not once per term. Each element
  // still adds the terms one by one in their order (a term whose coefficient is 0 is skipped, as
  // the term-by-term loop skipped it), so the sums are the term-by-term ones exactly.
  const ks = Int32Array.from(terms.keys());
  const cs = Float64Array.from(terms.values());
  const T = ks.length;
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    const ui = i * count;
    let t = 0;
    for (; t + 4 <= T; t += 4) {
      const c0 = u[ui + ks[t]] * cs[t];
      const c1 = u[ui + ks[t + 1]] * cs[t + 1];
      const c2 = u[ui + ks[t + 2]] * cs[t + 2];
      const c3 = u[ui + ks[t + 3]] * cs[t + 3];
      if (c0 === 0 || c1 === 0 || c2 === 0 || c3 === 0) {
        addTerms(out, row, cols, u, ui, vt, ks, cs, t, t + 4);
        continue;
      }
      const v0 = ks[t] * cols;
      const v1 = ks[t + 1] * cols;
      const v2 = ks[t + 2] * cols;
      const v3 = ks[t + 3] * cols;
      for (let j = 0; j < cols; j++)
        out[row + j] =
          out[row + j] + c0 * vt[v0 + j] + c1 * vt[v1 + j] + c2 * vt[v2 + j] + c3 * vt[v3 + j];
    }
    addTerms(out, row, cols, u, ui, vt, ks, cs, t, T);
  }
  return new Float32Array(out);
}

/** out[row, :] += c_t · vt[k_t, :] for terms t in [from, to), one at a time, zero c skipped. */
function addTerms(
  out: Float64Array,
  row: number,
  cols: number,
  u: Float64Array,
  ui: number,
  vt: Float64Array,
  ks: Int32Array,
  cs: Float64Array,
  from: number,
  to: number,
): void {
  for (let t = from; t < to; t++) {
    const c = u[ui + ks[t]] * cs[t];
    if (c === 0) continue;
    const vk = ks[t] * cols;
    for (let j = 0; j < cols; j++) out[row + j] += c * vt[vk + j];
  }
}

/**
 * W with its bottom k singular values multiplied by m. Both W + (m−1)·(bottom part) and
 * m·W + (1−m)·(top part) are exact; the cheaper one is used, so a sweep over fractions costs
 * at most half the rank-1 terms of a full reconstruction.
 */
function scaleBottom(svd: LayerSvd, k: number, m: number): Float32Array {
  const { count, s } = svd;
  const terms = new Map<number, number>();
  if (k <= count - k) {
    for (let j = count - k; j < count; j++) terms.set(j, (m - 1) * s[j]);
    return combine(svd, 1, terms);
  }
  for (let j = 0; j < count - k; j++) terms.set(j, (1 - m) * s[j]);
  return combine(svd, m, terms);
}

/** The SVD of every weight matrix of `net`, input layer first. Compute once, reuse per fraction. */
export function computeSpectra(net: Mlp): LayerSvd[] {
  return spectraOf(net, net.weightsData());
}

function spectraOf(net: Mlp, weights: { W: Float32Array }[]): LayerSvd[] {
  let fanIn = net.spec.inputDim;
  return net.spec.layers.map((l, i) => {
    const r = svd(weights[i].W, fanIn, l.units);
    fanIn = l.units;
    return r;
  });
}

export type SpectralMode = 'zero' | 'scale';
export const SPECTRAL_MODES: readonly SpectralMode[] = ['zero', 'scale'];
export const DEFAULT_SCALE_FACTOR = 0.1;

export interface SpectralOptions {
  /** `zero`: drop the bottom singular values (low-rank approximation); `scale`: multiply them by `factor`. */
  mode: SpectralMode;
  /** Fraction of each matrix's singular values to modify, in [0, 1]. */
  fraction: number;
  /** Multiplier for `scale` mode (default 0.1, the study's "scaling down by a factor of 10"); finite, ≥ 0. */
  factor?: number;
}

/** Validated options with the default filled in. */
export function checkSpectralOptions(opts: SpectralOptions): Required<SpectralOptions> {
  const { mode, fraction, factor = DEFAULT_SCALE_FACTOR } = opts ?? ({} as SpectralOptions);
  if (!SPECTRAL_MODES.includes(mode)) {
    throw new RobustlabError(
      `unknown spectral mode '${String(mode)}' (expected one of: ${SPECTRAL_MODES.join(', ')})`,
    );
  }
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction <= 1)) {
    throw new RobustlabError(
      `spectral fraction must be a number in [0, 1] (got ${String(fraction)})`,
    );
  }
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 0) {
    throw new RobustlabError(
      `spectral scale factor must be a finite number ≥ 0 (got ${String(factor)})`,
    );
  }
  return { mode, fraction, factor };
}

/**
 * How many of `count` singular values a fraction modifies: round(fraction × count), halves
 * rounding up (0.05 × 10 → 1, 0.4 × 256 = 102.4 → 102). The 1e-9 nudge keeps decimal
 * fractions whose product lands a hair below .5 in binary (e.g. 0.45 × 10) rounding up too.
 */
export function bottomCount(fraction: number, count: number): number {
  return Math.min(count, Math.floor(fraction * count + 0.5 + 1e-9));
}

/** The σ transform of the defence: the last (smallest) k values zeroed or scaled. */
export function spectralTransform(opts: SpectralOptions): SigmaTransform {
  const { mode, fraction, factor } = checkSpectralOptions(opts);
  return (s) => {
    const k = bottomCount(fraction, s.length);
    for (let i = s.length - k; i < s.length; i++) s[i] = mode === 'zero' ? 0 : s[i] * factor;
    return s;
  };
}

/**
 * A new model whose every weight matrix has its bottom `fraction` of singular values zeroed or
 * scaled (k = bottomCount(fraction, min(in, out)) per matrix); biases are copied unchanged and
 * the original model is untouched. Pass `spectra` (from `computeSpectra` on the same model) to
 * reuse the SVDs across calls.
 *
 * Note that a 10-class output layer has only 10 σ, so there k moves in steps of 10% and each
 * step removes a whole logit direction: on a 2L MNIST classifier it is that layer, not the
 * 256-wide ones, that costs accuracy (see the tests).
 */
export function defendSpectral(
  model: MlpClassifier,
  opts: SpectralOptions,
  spectra?: LayerSvd[],
): MlpClassifier;
export function defendSpectral(model: Mlp, opts: SpectralOptions, spectra?: LayerSvd[]): Mlp;
export function defendSpectral(
  model: MlpClassifier | Mlp,
  opts: SpectralOptions,
  spectra?: LayerSvd[],
): MlpClassifier | Mlp {
  const { mode, fraction, factor } = checkSpectralOptions(opts);
  const net = model instanceof MlpClassifier ? model.net : model;
  const weights = net.weightsData();
  const svds = spectra ?? spectraOf(net, weights);
  checkSpectra(svds, net, weights);
  const out = Mlp.fromWeights(net.spec, defendedWeights(svds, weights, { mode, fraction, factor }));
  return model instanceof MlpClassifier ? new MlpClassifier(model.arch, out) : out;
}

/** The defended weights as host arrays: W with its bottom singular values modified, b copied. */
function defendedWeights(
  svds: LayerSvd[],
  weights: { b: Float32Array }[],
  opts: Required<SpectralOptions>,
): LayerWeights[] {
  const m = opts.mode === 'zero' ? 0 : opts.factor;
  return svds.map((l, i) => ({
    W: scaleBottom(l, bottomCount(opts.fraction, l.count), m),
    b: Float32Array.from(weights[i].b),
  }));
}

/**
 * A sweep of the defence over fractions on one classifier: its weights are read and its SVDs
 * computed (or checked) once; each fraction then costs only its reconstructions, and gives host
 * weights or a HostMlpClassifier (predictions and the targeted attack on the host with the
 * addon), with no tfjs model built. Same weights, bit for bit, as `defendSpectral`.
 */
export class SpectralSweep {
  readonly spectra: LayerSvd[];
  private readonly weights: { W: Float32Array; b: Float32Array }[];

  constructor(
    private readonly model: MlpClassifier,
    spectra?: LayerSvd[],
  ) {
    this.weights = model.net.weightsData();
    this.spectra = spectra ?? spectraOf(model.net, this.weights);
    checkSpectra(this.spectra, model.net, this.weights);
  }

  /** Each layer's defended W and b (host arrays, float32). */
  weightsAt(opts: SpectralOptions): LayerWeights[] {
    return defendedWeights(this.spectra, this.weights, checkSpectralOptions(opts));
  }

  /** The defended classifier (dispose it: it may build a tfjs model for other consumers). */
  classifierAt(opts: SpectralOptions): HostMlpClassifier {
    return new HostMlpClassifier(this.model.arch, this.model.net.spec, this.weightsAt(opts));
  }
}

/** Spectra reused from elsewhere must be of this very model, or the result is silently wrong. */
function checkSpectra(svds: LayerSvd[], net: Mlp, weights: { W: Float32Array }[]): void {
  if (svds.length !== net.layers.length) {
    throw new RobustlabError(
      `spectra have ${svds.length} layers, the model has ${net.layers.length}`,
    );
  }
  svds.forEach((l, i) => {
    const [rows, cols] = net.layers[i].W.shape;
    if (l.rows !== rows || l.cols !== cols) {
      throw new RobustlabError(
        `spectra layer ${i} is ${l.rows}x${l.cols}, the model's is ${rows}x${cols}`,
      );
    }
    const W = weights[i].W;
    for (let j = 0; j < W.length; j++) {
      if (W[j] !== l.w[j])
        throw new RobustlabError(`spectra layer ${i} was computed from different weights`);
    }
  });
}
