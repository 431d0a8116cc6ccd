/**
 * Pluggable dense linear algebra on host arrays (browser-safe). The spectral defence asks here
 * for an SVD; by default it uses its own exact float64 Jacobi SVD, and on Node the native
 * addon registers LAPACK's dgesdd (from OpenBLAS), which is exact too and ~10x faster.
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
