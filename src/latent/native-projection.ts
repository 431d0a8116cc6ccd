/**
 * The projection z⋆ = argmin_z ‖D(z) − x‖ₚᵖ without tfjs in the loop: the decoder's forward
 * pass, the fused sigmoid distance and the backward pass to z as BLAS calls and loops of the
 * native addon over host Float32Arrays, then Adam on z, as native-generator-fit.ts does for
 * training.
 *
 * Same algorithm as codes.ts's tfjs path (the same start, objective, gradient and Adam
 * bookkeeping, including tf.train.adam's float32 β powers): per step
 *   h = decoder pre-activations from z, ℓ = Σ_rows sigmoidDist(h, x), δh = ∂ℓ/∂h (one native pass)
 *   δ through a dense layer: δ(input) = δ·Wᵀ (no weight gradient: only z moves)
 *   leaky ReLU: δ·(a > 0 ? 1 : α), from the layer's output a
 *   z ← Adam(z, δz)
 * A tfjs step was ~25 kernels plus their tape; at n = 1000 that dispatch and the tape's copies
 * were about half of each step (docs/design.md, "Projections without tfjs").
 * native-projection.test.ts compares the codes with the tfjs path's.
 */
import { nativeLoops, type NativeElementwise } from '../backend/host-kernels.js';
import { LEAKY_RELU_ALPHA, type Mlp } from '../models/mlp.js';
import { nativeAdam } from '../models/native-fit.js';

export type NativeProjectionLoops = Required<
  Pick<NativeElementwise, 'sgemm' | 'adam' | 'sigmoidDist' | 'leakyRelu' | 'leakyReluBackward'>
>;

const ALPHA = Math.fround(LEAKY_RELU_ALPHA);

/**
 * The addon's loops, when it is loaded and the decoder has the study's shape (linear or leaky
 * ReLU hidden layers, a sigmoid output); else null, and the caller projects through tfjs.
 */
export function nativeProjectionLoops(decoder: Mlp): NativeProjectionLoops | null {
  const loops = nativeLoops();
  if (
    !loops?.sgemm ||
    !loops.adam ||
    !loops.sigmoidDist ||
    !loops.leakyRelu ||
    !loops.leakyReluBackward
  )
    return null;
  const layers = decoder.spec.layers;
  const ok =
    layers[layers.length - 1].activation === 'sigmoid' &&
    layers.slice(0, -1).every((l) => l.activation === 'linear' || l.activation === 'leakyRelu');
  return ok ? (loops as NativeProjectionLoops) : null;
}

/** The decoder's layer sizes, activations and weights as host arrays, and its forward pass. */
function hostDecoder(decoder: Mlp, loops: NativeProjectionLoops) {
  const dims = [decoder.spec.inputDim, ...decoder.spec.layers.map((l) => l.units)];
  const L = dims.length - 1;
  const leaky = decoder.spec.layers.map((l) => l.activation === 'leakyRelu');
  const W = decoder.layers.map((l) => l.W.dataSync() as Float32Array);
  const b = decoder.layers.map((l) => l.b.dataSync() as Float32Array);
  /** acts[i + 1] = output of layer i for `rows` rows of `input` (the last: pre-sigmoid logits). */
  const forward = (input: Float32Array, acts: Float32Array[], rows: number) => {
    for (let i = 0; i < L; i++) {
      loops.sgemm(false, false, rows, dims[i + 1], dims[i], i === 0 ? input : acts[i], W[i],
        acts[i + 1], null, null, null, null, b[i], 0); // prettier-ignore
      if (leaky[i]) loops.leakyRelu(acts[i + 1], rows * dims[i + 1], ALPHA);
    }
  };
  return { dims, L, leaky, W, forward };
}

export interface HostProjectionOptions {
  steps: number;
  lr: number;
  /** The distance's exponent: 2 (‖·‖₂²) or 1 (‖·‖₁). */
  p: 1 | 2;
  /** Rows per block (default PROJECTION_BLOCK); only the speed depends on it. */
  block?: number;
}

/** Rows per block: [128, 784] float32 arrays are 400 KB, inside a core's L2 with W. */
export const PROJECTION_BLOCK = 128;

/**
 * Project host images x [n, outputDim] onto the decoder's range, from the codes in z
 * [n, inputDim], which are updated in place. `onStep(step, objective)` (optional) sees the
 * summed objective Σ_rows ‖D(z) − x‖ₚᵖ at each step, before that step's update.
 */
export function projectHostNative(
  decoder: Mlp,
  loops: NativeProjectionLoops,
  x: Float32Array,
  n: number,
  z: Float32Array,
  o: HostProjectionOptions,
  onStep?: (step: number, objective: number) => void,
): void {
  const { dims, L, leaky, W, forward } = hostDecoder(decoder, loops);
  if (x.length < n * dims[L] || z.length < n * dims[0])
    throw new RangeError(`projection: ${n} rows need ${dims[0]}-d codes and ${dims[L]}-d images`);
  // Rows are independent (the objective is a sum over rows, Adam is per coordinate), so each
  // step runs in blocks of rows whose activations and deltas stay in cache between the
  // forward pass, the distance and the backward pass.
  const R = Math.max(1, Math.min(n, o.block ?? PROJECTION_BLOCK));
  // acts[i + 1]: the output of layer i (the last: pre-sigmoid logits); the input is z's block
  const acts = dims.map((d, i) => new Float32Array(i === 0 ? 0 : R * d));
  // deltas[i]: dℓ/d(output of layer i), made dℓ/d(pre-activation) before it is propagated
  const deltas = dims.slice(1).map((d) => new Float32Array(R * d));
  const dz = new Float32Array(n * dims[0]);
  const rowLoss = new Float32Array(R);
  const adamStep = nativeAdam(loops, [z], o.lr);
  for (let step = 0; step < o.steps; step++) {
    let objective = 0;
    for (let r0 = 0; r0 < n; r0 += R) {
      const m = Math.min(R, n - r0);
      forward(z.subarray(r0 * dims[0], (r0 + m) * dims[0]), acts, m);
      const xb = x.subarray(r0 * dims[L], (r0 + m) * dims[L]);
      loops.sigmoidDist(acts[L], xb, rowLoss, deltas[L - 1], m, dims[L], o.p);
      if (onStep) for (let r = 0; r < m; r++) objective += rowLoss[r];
      for (let i = L - 1; i >= 0; i--) {
        const out = i > 0 ? deltas[i - 1] : dz.subarray(r0 * dims[0], (r0 + m) * dims[0]);
        loops.sgemm(false, true, m, dims[i], dims[i + 1], deltas[i], W[i], out); // δ·Wᵀ
        if (i > 0 && leaky[i - 1]) loops.leakyReluBackward(out, acts[i], m * dims[i], ALPHA);
      }
    }
    onStep?.(step, objective);
    adamStep([dz]);
  }
}

export type NativeJacobianLoops = NativeProjectionLoops &
  Required<Pick<NativeElementwise, 'sigmoidCentralDiff'>>;

/** The projection loops plus `sigmoidCentralDiff` (absent from addons built before it), or null. */
export function nativeJacobianLoops(decoder: Mlp): NativeJacobianLoops | null {
  const loops = nativeProjectionLoops(decoder);
  return loops && nativeLoops()?.sigmoidCentralDiff ? (loops as NativeJacobianLoops) : null;
}

/** Examples per block of the Jacobian's decoder passes: 2·32·4 = 256 rows per sgemm. */
const JACOBIAN_BLOCK = 4;

/**
 * J = ∂D/∂z at each code z_e [n, k] by central differences, as latent/pipeline.ts's tfjs path
 * computes it: J_e[i, :] = (D(z_e + ε·e_i) − D(z_e − ε·e_i)) / (2ε), float32 throughout.
 * Returned row-major as [n, k, outDim] (one row of 784 per latent axis: no transpose needed).
 */
export function decoderJacobianNative(
  decoder: Mlp,
  loops: NativeJacobianLoops,
  z: Float32Array,
  n: number,
  eps: number,
): Float32Array {
  const { dims, L, forward } = hostDecoder(decoder, loops);
  const k = dims[0];
  const D = dims[L];
  const rows = 2 * k * Math.min(n, JACOBIAN_BLOCK);
  const acts = dims.map((d) => new Float32Array(rows * d));
  const J = new Float32Array(n * k * D);
  const e32 = Math.fround(eps);
  const h2 = Math.fround(2 * eps);
  for (let e0 = 0; e0 < n; e0 += JACOBIAN_BLOCK) {
    const m = Math.min(JACOBIAN_BLOCK, n - e0);
    // rows [2k·e, 2k·e + k): z_e + ε·e_i; the next k: z_e − ε·e_i (as z ± eye·ε in float32)
    const zs = acts[0];
    for (let e = 0; e < m; e++) {
      const ze = z.subarray((e0 + e) * k, (e0 + e + 1) * k);
      for (let i = 0; i < k; i++) {
        const p = (2 * k * e + i) * k;
        const q = p + k * k;
        zs.set(ze, p);
        zs.set(ze, q);
        zs[p + i] = Math.fround(ze[i] + e32);
        zs[q + i] = Math.fround(ze[i] - e32);
      }
    }
    forward(zs, acts, 2 * k * m);
    const logits = acts[L];
    for (let e = 0; e < m; e++)
      loops.sigmoidCentralDiff(
        logits.subarray(2 * k * e * D),
        logits.subarray((2 * k * e + k) * D),
        J.subarray((e0 + e) * k * D),
        k * D,
        h2,
      );
  }
  return J;
}

/** JᵀJ per example, [n, k, k], from J as [n, k, D] rows (J_e·J_eᵀ in that layout). */
export function jacobianGram(
  loops: NativeJacobianLoops,
  J: Float32Array,
  n: number,
  k: number,
  D: number,
): Float32Array {
  const G = new Float32Array(n * k * k);
  loops.sgemm(false, true, k, k, D, J, J, G, n, k * D, k * D, k * k);
  return G;
}

/** J_e·u_e per example, [n, D], from J as [n, k, D] rows and u [n, k] (u_eᵀ·J_e there). */
export function jacobianApply(
  loops: NativeJacobianLoops,
  J: Float32Array,
  u: Float32Array,
  n: number,
  k: number,
  D: number,
): Float32Array {
  const out = new Float32Array(n * D);
  loops.sgemm(false, false, 1, D, k, u, J, out, n, k, k * D, D);
  return out;
}
