/**
 * The study's four ways to turn images into 32-d latent codes:
 *   ae-encoding    z = E(x)
 *   vae-encoding   z = μ(x) + σ(x)·ε, one seeded sample (the study's stochastic code), or μ(x)
 *   ae-projection, vae-projection   z = argmin_z ||D(z) − x||_p, p = 2 (default) or 1
 * Projection: Adam on z (lr 0.1 by default) for 500 steps from one start z ~ N(0, I), all images
 * of a batch at once. The objective is the sum over images, so each image's code gets its own
 * gradient and Adam's per-coordinate scaling makes the batch behave like independent solves.
 * p = 2 minimises the squared norm (same minimiser, smooth gradient); p = 1 uses the subgradient
 * sign(D(z) − x).
 */
import * as tf from '@tensorflow/tfjs';
import { fusedRowLoss, hasFusedSigmoidDist, SIGMOID_DIST_KERNEL } from '../backend/host-kernels.js';
import { adam } from '../models/adam.js';
import { RobustlabError } from '../data/errors.js';
import type { Mlp } from '../models/mlp.js';
import { deriveSeed } from '../util/rng.js';
import { tfRandomNormal } from '../util/tf-random.js';
import { type Generator, type GeneratorKind, LATENT_DIM } from './generators.js';
import { nativeProjectionLoops, projectHostNative } from './native-projection.js';

export const LATENT_METHODS = [
  'ae-encoding',
  'ae-projection',
  'vae-encoding',
  'vae-projection',
] as const;
export type LatentMethod = (typeof LATENT_METHODS)[number];

export function parseLatentMethod(s: string): LatentMethod {
  if ((LATENT_METHODS as readonly string[]).includes(s)) return s as LatentMethod;
  throw new RobustlabError(
    `unknown latent method '${s}' (expected one of: ${LATENT_METHODS.join(', ')})`,
  );
}

export function methodGenerator(m: LatentMethod): GeneratorKind {
  return m.startsWith('vae') ? 'vae' : 'ae';
}

export function isProjection(m: LatentMethod): boolean {
  return m.endsWith('projection');
}

export interface ProjectionOptions {
  steps?: number;
  lr?: number;
  norm?: 'l2' | 'l1';
  seed: number;
  /** Start from these codes instead of z ~ N(0, I) (warm start). */
  init?: tf.Tensor2D;
  /**
   * false: the tfjs path even when the native addon could project (native-projection.ts);
   * tests compare the two.
   */
  native?: boolean;
}

export const PROJECTION_DEFAULTS = { steps: 500, lr: 0.1, norm: 'l2' as const };

export interface CodeOptions extends ProjectionOptions {
  vaeCode?: 'sample' | 'mean';
}

export function checkProjectionOptions(o: ProjectionOptions): void {
  if (o.steps !== undefined && (!Number.isInteger(o.steps) || o.steps < 0))
    throw new RobustlabError(`projection steps must be an integer ≥ 0 (got ${o.steps})`);
  if (o.lr !== undefined && !(Number.isFinite(o.lr) && o.lr > 0))
    throw new RobustlabError(`projection learning rate must be a positive number (got ${o.lr})`);
  if (o.norm !== undefined && o.norm !== 'l2' && o.norm !== 'l1')
    throw new RobustlabError(`norm must be l2 or l1 (got ${o.norm})`);
}

/**
 * Project a batch of images onto the decoder's range. Returns the codes as a tensor [n, 32];
 * `onStep(step, meanError)` (optional) sees the mean per-image objective at each step.
 */
export function projectBatch(
  decoder: Mlp,
  x: tf.Tensor2D,
  o: ProjectionOptions,
  onStep?: (step: number, meanObjective: number) => void,
): tf.Tensor2D {
  checkProjectionOptions(o);
  const steps = o.steps ?? PROJECTION_DEFAULTS.steps;
  const norm = o.norm ?? PROJECTION_DEFAULTS.norm;
  const n = x.shape[0];
  const layers = decoder.spec.layers;
  // With the native addon: ||σ(h) − x||_p^p and its gradient in one pass over [n, 784].
  const fused = hasFusedSigmoidDist() && layers[layers.length - 1].activation === 'sigmoid';
  const loops = fused && (o.native ?? true) ? nativeProjectionLoops(decoder) : null;
  if (loops) {
    const z = new Float32Array(n * decoder.spec.inputDim);
    if (o.init) z.set(o.init.dataSync() as Float32Array);
    else if (o.seed)
      tfRandomNormal(z, o.seed); // tf.randomNormal's numbers, without a tensor
    else {
      // seed 0: tfjs draws unseeded (Math.random), as the tfjs path below
      const t = tf.randomNormal([n, LATENT_DIM], 0, 1, 'float32', o.seed);
      z.set(t.dataSync() as Float32Array);
      t.dispose();
    }
    const lr = o.lr ?? PROJECTION_DEFAULTS.lr;
    const p = norm === 'l2' ? 2 : 1;
    const report = onStep && ((i: number, sum: number) => onStep(i, Math.fround(sum) / n));
    projectHostNative(decoder, loops, x.dataSync() as Float32Array, n, z, { steps, lr, p }, report);
    return tf.tensor2d(z, [n, decoder.spec.inputDim]);
  }
  const z0 = o.init
    ? tf.clone(o.init)
    : (tf.randomNormal([n, LATENT_DIM], 0, 1, 'float32', o.seed) as tf.Tensor2D);
  const z = tf.variable(z0, true) as tf.Variable<tf.Rank.R2>;
  z0.dispose();
  const optimizer = adam(o.lr ?? PROJECTION_DEFAULTS.lr);
  const objective = () =>
    tf.tidy(() => {
      if (fused) {
        const h = decoder.applyPreActivation(z);
        const p = norm === 'l2' ? 2 : 1;
        return tf.sum(fusedRowLoss(SIGMOID_DIST_KERNEL, h, x, { p })) as tf.Scalar;
      }
      const d = tf.sub(decoder.apply(z), x);
      return (norm === 'l2' ? tf.sum(tf.square(d)) : tf.sum(tf.abs(d))) as tf.Scalar;
    });
  try {
    for (let i = 0; i < steps; i++) {
      const cost = optimizer.minimize(objective, onStep !== undefined, [z]);
      if (cost) {
        onStep!(i, cost.dataSync()[0] / n);
        cost.dispose();
      }
    }
    return tf.clone(z) as tf.Tensor2D;
  } finally {
    optimizer.dispose();
    z.dispose();
  }
}

/** Codes for host images [n, 784] by any method, in batches; returns host codes [n, 32]. */
export function computeCodes(
  gen: Generator,
  method: LatentMethod,
  x: Float32Array,
  n: number,
  o: CodeOptions & { batch?: number; offset?: number; onBatch?: (done: number) => void },
): Float32Array {
  if (methodGenerator(method) !== gen.kind)
    throw new RobustlabError(
      `method ${method} needs a ${methodGenerator(method)} model, got ${gen.kind}`,
    );
  const dim = gen.encoder.spec.inputDim;
  const batch = o.batch ?? (isProjection(method) ? 1000 : 5000);
  const out = new Float32Array(n * LATENT_DIM);
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    // The seed depends on the absolute position of the batch, so a resumed run (or any
    // chunking) draws the same noise for the same images.
    const seed = deriveSeed(o.seed, `${method}:${(o.offset ?? 0) + s}`);
    const codes = tf.tidy(() => {
      const xb = tf.tensor2d(x.subarray(s * dim, e * dim), [e - s, dim]);
      if (isProjection(method)) return projectBatch(gen.decoder, xb, { ...o, seed });
      if (method === 'vae-encoding' && (o.vaeCode ?? 'sample') === 'sample')
        return gen.encodeSample(xb, seed);
      return gen.encodeMean(xb);
    });
    out.set(codes.dataSync() as Float32Array, s * LATENT_DIM);
    codes.dispose();
    o.onBatch?.(e - s);
  }
  return out;
}
