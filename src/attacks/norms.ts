/**
 * Threat models shared by the ε-bounded and minimum-norm attacks: per-row norms, projection
 * onto the ε-ball around x0 intersected with the box, and seeded random starts.
 *
 * Rows are examples ([n, d] tensors); every function works on the whole batch at once.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeLoops, nativeUniformFill } from '../backend/host-kernels.js';
import { fillUniform } from '../util/rng.js';

export const NORMS = ['linf', 'l2'] as const;
export type Norm = (typeof NORMS)[number];

/** The box for images scaled to [0, 1]. */
export const BOX = { min: 0, max: 1 } as const;

/** ‖δ‖ per row, [n]. */
export function rowNorms(delta: tf.Tensor2D, norm: Norm): tf.Tensor1D {
  return tf.tidy(() =>
    norm === 'linf' ? tf.max(tf.abs(delta), 1) : tf.sqrt(tf.sum(tf.square(delta), 1)),
  );
}

/** ‖δ‖ per row on host data (row-major [n, d]), in float64. */
export function hostRowNorms(a: Float32Array, b: Float32Array, n: number, d: number, norm: Norm) {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = i * d; j < (i + 1) * d; j++) {
      const v = Math.abs(a[j] - b[j]);
      s = norm === 'linf' ? Math.max(s, v) : s + v * v;
    }
    out[i] = norm === 'linf' ? s : Math.sqrt(s);
  }
  return out;
}

/**
 * x projected onto {x0 + δ : ‖δ‖ ≤ ε} and then clipped to the box. For L∞ the result is the
 * exact projection onto the intersection; for L2 clipping after scaling can only shrink δ, so
 * the result stays inside the ball (the usual torchattacks/AutoAttack order).
 */
export function projectToBall(
  x: tf.Tensor2D,
  x0: tf.Tensor2D,
  eps: number,
  norm: Norm,
  box: { min: number; max: number } | null = BOX,
): tf.Tensor2D {
  return tf.tidy(() => {
    let delta = tf.sub(x, x0);
    if (norm === 'linf') delta = tf.clipByValue(delta, -eps, eps);
    else {
      const n = tf.sqrt(tf.add(tf.sum(tf.square(delta), 1, true), 1e-24));
      delta = tf.mul(delta, tf.minimum(1, tf.div(eps, n)));
    }
    const y = tf.add(x0, delta) as tf.Tensor2D;
    return box ? tf.clipByValue(y, box.min, box.max) : y;
  });
}

/**
 * A seeded random point of the ε-ball around x0, in the box: L∞ uniform in the cube
 * (Madry et al.); L2 uniform in the ball (Gaussian direction, radius ε·u^(1/d)).
 */
export function randomStart(
  x0: tf.Tensor2D,
  eps: number,
  norm: Norm,
  seed: number,
  box: { min: number; max: number } | null = BOX,
): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, d] = x0.shape;
    let delta: tf.Tensor2D;
    if (norm === 'linf') {
      // drawn on the host (fillUniform), so that hostRandomStartLinf draws the same numbers
      const u = new Float32Array(n * d);
      fillUniform(u, -eps, eps, seed, nativeUniformFill());
      delta = tf.tensor2d(u, [n, d]);
    } else {
      const g = tf.randomNormal([n, d], 0, 1, 'float32', seed);
      const dir = tf.div(g, tf.sqrt(tf.add(tf.sum(tf.square(g), 1, true), 1e-24)));
      const r = tf.mul(eps, tf.pow(tf.randomUniform([n, 1], 0, 1, 'float32', seed + 1), 1 / d));
      delta = tf.mul(dir, r);
    }
    const y = tf.add(x0, delta) as tf.Tensor2D;
    return box ? tf.clipByValue(y, box.min, box.max) : y;
  });
}

/**
 * randomStart(x0, ε, 'linf', seed) on host arrays, bit for bit: the same uniform draws
 * (fillUniform), x0 + δ in float32, clamped to the box. Returns a new [n, d] array.
 */
export function hostRandomStartLinf(
  x0: Float32Array,
  n: number,
  d: number,
  eps: number,
  seed: number,
  box: { min: number; max: number } | null = BOX,
): Float32Array {
  const len = n * d;
  const out = new Float32Array(len);
  fillUniform(out, -eps, eps, seed, nativeUniformFill());
  // the bounds in locals (±∞ without a box: the same values), no property reads per element
  const lo = box ? box.min : -Infinity;
  const hi = box ? box.max : Infinity;
  const loops = nativeLoops();
  if (loops?.addClip) {
    loops.addClip(out, x0, len, lo, hi); // the loop below, in the addon
    return out;
  }
  for (let i = 0; i < len; i++) {
    const v = Math.fround(x0[i] + out[i]);
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return out;
}

/**
 * sign(x) ∈ {−1, 0, 1}, exact for every float. Not tf.sign: the wasm backend's Sign returns 0
 * for |x| below ~1.2e-7 (float epsilon), so on a confidently classified point, whose whole
 * cross-entropy gradient is that small, an L∞ step would not move at all (found by the PyTorch
 * cross-check, bench/crosscheck.ts: PGD/APGD robust accuracy 29% instead of 0% at ε = 0.3).
 */
export function exactSign(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    tf.sub(tf.cast(tf.greater(x, 0), 'float32'), tf.cast(tf.less(x, 0), 'float32')),
  );
}

/** Unit-norm steepest-ascent direction of a gradient per row: sign (L∞) or g/‖g‖₂ (L2). */
export function steepestDirection(g: tf.Tensor2D, norm: Norm): tf.Tensor2D {
  return tf.tidy(() =>
    norm === 'linf'
      ? (exactSign(g) as tf.Tensor2D)
      : tf.div(g, tf.sqrt(tf.add(tf.sum(tf.square(g), 1, true), 1e-24))),
  );
}
