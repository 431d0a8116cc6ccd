/**
 * Pluggable dense linear algebra on host arrays (browser-safe). The spectral defence asks here
 * for an SVD; by default it uses its own exact float64 Jacobi SVD, and on Node the native
 * addon registers LAPACK's dgesdd (from OpenBLAS), which is exact too and ~10x faster, and
 * BLAS dgemm for the low-rank corrections (~20x faster than the JS loop).
 */

/** Thin SVD of a row-major [rows, cols] float64 matrix: W = U diag(s) Vᵀ, U [rows, k], Vᵀ [k, cols]. */
export type SvdProvider = (
  w: Float64Array,
  rows: number,
  cols: number,
) => { u: Float64Array; s: Float64Array; vt: Float64Array } | null;

let provider: SvdProvider | null = null;

export function setSvdProvider(p: SvdProvider | null): void {
  provider = p;
}

export function svdProvider(): SvdProvider | null {
  return provider;
}

/**
 * C += A·B in float64, row-major (A [m, k] with row stride lda, default k; B [k, n]; C [m, n]);
 * false if it could not run.
 */
export type GemmProvider = (
  m: number,
  n: number,
  k: number,
  a: Float64Array,
  b: Float64Array,
  c: Float64Array,
  lda?: number,
) => boolean;

let gemm: GemmProvider | null = null;

export function setGemmProvider(p: GemmProvider | null): void {
  gemm = p;
}

export function gemmProvider(): GemmProvider | null {
  return gemm;
}
