/**
 * A latent classifier used as an image classifier: image → code → class, one Classifier
 * object, so attacks, metrics and the browser treat image-space and latent models alike.
 *
 * Encoding spaces are differentiable end to end (the VAE's stochastic code draws fresh seeded
 * noise on every call, so averaging gradients over calls averages over samples). Projection is
 * an inner optimisation with no useful gradient; `logits` returns the projected code's class,
 * and the gradient is the encoder's (BPDA: the backward pass treats z ≈ E(x)), with the
 * forward value exactly the projection's. `project` may warm-start from the previous codes.
 */
import * as tf from '@tensorflow/tfjs';
import type { Classifier, MlpClassifier } from '../models/classifier.js';
import { deriveSeed } from '../util/rng.js';
import { isProjection, type LatentMethod, projectBatch, type ProjectionOptions } from './codes.js';
import type { Generator } from './generators.js';
import {
  decoderJacobianNative,
  jacobianApply,
  jacobianGram,
  nativeJacobianLoops,
} from './native-projection.js';

/** The central differences' step in z for the implicit gradient's Jacobian. */
const JACOBIAN_EPS = 1e-2;

/** Identity in the forward pass, zero gradient in the backward pass. */
const stopGradient = tf.customGrad(((a: tf.Tensor) => ({
  value: tf.clone(a),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as never) as unknown as (a: tf.Tensor) => tf.Tensor;

export interface PipelineOptions extends Partial<ProjectionOptions> {
  vaeCode?: 'sample' | 'mean';
  seed?: number;
  /**
   * Projection spaces, for attacks: 'implicit' makes `prepare(x)` project x (warm-started at
   * E(x), `attackSteps` Adam steps) and the gradient the Gauss–Newton implicit gradient of the
   * projection, d(z⋆)/dx ≈ (JᵀJ)⁻¹Jᵀ with J = ∂D/∂z at z⋆ (from the optimality condition
   * Jᵀ(D(z*) − x) = 0, dropping second derivatives of D).
   */
  projectionGradient?: 'encoder' | 'implicit';
  attackSteps?: number;
}

/** Solve the n small SPD systems A_i u_i = b_i (A: [n, k, k], b: [n, k]) by Cholesky, on host. */
function solveSpd(A: Float32Array, b: Float32Array, n: number, k: number): Float32Array {
  const u = new Float32Array(n * k);
  const L = new Float64Array(k * k);
  const y = new Float64Array(k);
  for (let e = 0; e < n; e++) {
    const a = A.subarray(e * k * k, (e + 1) * k * k);
    let trace = 0;
    for (let i = 0; i < k; i++) trace += a[i * k + i];
    const damp = 1e-6 * (trace / k) + 1e-12; // keeps a nearly flat decoder direction solvable
    for (let i = 0; i < k; i++) {
      for (let j = 0; j <= i; j++) {
        let sum = a[i * k + j] + (i === j ? damp : 0);
        for (let m = 0; m < j; m++) sum -= L[i * k + m] * L[j * k + m];
        L[i * k + j] = i === j ? Math.sqrt(Math.max(sum, 1e-30)) : sum / L[j * k + j];
      }
    }
    for (let i = 0; i < k; i++) {
      let sum = b[e * k + i];
      for (let m = 0; m < i; m++) sum -= L[i * k + m] * y[m];
      y[i] = sum / L[i * k + i];
    }
    for (let i = k - 1; i >= 0; i--) {
      let sum = y[i];
      for (let m = i + 1; m < k; m++) sum -= L[m * k + i] * u[e * k + m];
      u[e * k + i] = sum / L[i * k + i];
    }
  }
  return u;
}

export class LatentPipelineClassifier implements Classifier {
  private calls = 0;
  /** For 'implicit': the iterate `prepare` saw, its projection z* and Jacobian J [n, 784, 32]. */
  /** Jk: J on the host as [n, k, 784] rows, from the native addon (then J is null). */
  private prepared: {
    x: tf.Tensor2D;
    z: tf.Tensor2D;
    J: tf.Tensor3D | null;
    Jk?: Float32Array;
  } | null = null;

  constructor(
    readonly head: MlpClassifier,
    readonly gen: Generator,
    readonly method: LatentMethod,
    readonly opts: PipelineOptions = {},
  ) {}

  get inputDim(): number {
    return this.gen.encoder.spec.inputDim;
  }

  get numClasses(): number {
    return this.head.numClasses;
  }

  /** The code of x by this space's method (projection: a full solve from a random start). */
  code(x: tf.Tensor2D, init?: tf.Tensor2D): tf.Tensor2D {
    const seed = deriveSeed(this.opts.seed ?? 0, `pipeline:${this.calls++}`);
    if (isProjection(this.method)) {
      const projected = tf.tidy(() =>
        projectBatch(this.gen.decoder, x, { ...this.opts, seed, init }),
      );
      return tf.tidy(() => {
        const enc = this.gen.encodeMean(x);
        return tf.add(enc, stopGradient(tf.sub(projected, enc))) as tf.Tensor2D;
      });
    }
    if (this.method === 'vae-encoding' && (this.opts.vaeCode ?? 'sample') === 'sample')
      return this.gen.encodeSample(x, seed);
    return this.gen.encodeMean(x);
  }

  logits(x: tf.Tensor2D): tf.Tensor2D {
    if (this.prepared && this.prepared.x === x)
      return tf.tidy(() =>
        this.head.logits(
          this.prepared!.J || this.prepared!.Jk ? this.implicitCode(x) : this.prepared!.z,
        ),
      );
    return tf.tidy(() => this.head.logits(this.code(x)));
  }

  /** Project the attack's new iterate (outside any gradient tape) and linearise D there. */
  prepare(x: tf.Tensor2D, o: { forwardOnly?: boolean } = {}): void {
    if (this.opts.projectionGradient !== 'implicit' || !isProjection(this.method)) return;
    // Warm start: an attack moves x a little per step, so the last z⋆ (same rows) is close to
    // the new one and 10 steps suffice; otherwise start at E(x) with `attackSteps` (50) steps.
    const prev = this.prepared;
    const warm = prev !== null && prev.z.shape[0] === x.shape[0];
    const seed = deriveSeed(this.opts.seed ?? 0, `prepare:${this.calls++}`);
    const z = tf.tidy(() => {
      const init = warm ? prev.z : this.gen.encodeMean(x);
      const steps = warm ? 10 : (this.opts.attackSteps ?? 50);
      return projectBatch(this.gen.decoder, x, { ...this.opts, steps, seed, init });
    });
    this.release();
    // A forward-only query (Square's candidates, success checks) needs z* alone: the Jacobian
    // below costs 2 × 32 decoder passes per row, far more than the warm-started projection.
    if (o.forwardOnly) {
      this.prepared = { x, z, J: null };
      return;
    }
    // Central finite differences of D along each latent axis: J[:, :, i] = ∂D/∂z_i at z*.
    const loops = this.opts.native === false ? null : nativeJacobianLoops(this.gen.decoder);
    if (loops) {
      const Jk = decoderJacobianNative(
        this.gen.decoder,
        loops,
        z.dataSync() as Float32Array,
        z.shape[0],
        JACOBIAN_EPS,
      );
      this.prepared = { x, z, J: null, Jk };
      return;
    }
    const J = tf.tidy(() => {
      const [n, k] = z.shape;
      const eps = JACOBIAN_EPS;
      const eye = tf.mul(tf.eye(k), eps); // [k, k]
      const zs = tf.reshape(tf.add(tf.expandDims(z, 1), tf.expandDims(eye, 0)), [
        n * k,
        k,
      ]) as tf.Tensor2D;
      const zm = tf.reshape(tf.sub(tf.expandDims(z, 1), tf.expandDims(eye, 0)), [
        n * k,
        k,
      ]) as tf.Tensor2D;
      const d = tf.div(tf.sub(this.gen.decode(zs), this.gen.decode(zm)), 2 * eps); // [n*k, 784]
      return tf.transpose(tf.reshape(d, [n, k, -1]), [0, 2, 1]) as tf.Tensor3D; // [n, 784, k]
    });
    this.prepared = { x, z, J };
  }

  /** z*(x) with the Gauss–Newton implicit gradient in the backward pass. */
  private implicitCode(x: tf.Tensor2D): tf.Tensor2D {
    const { z, Jk } = this.prepared!;
    const J = this.prepared!.J!;
    const f = tf.customGrad(((xx: tf.Tensor) => ({
      value: tf.add(tf.mul(xx, 0).sum(1, true), z), // = z*, with a (zero) dependence on x
      gradFunc: (dy: tf.Tensor) => {
        const [n, k] = z.shape;
        const loops = Jk && nativeJacobianLoops(this.gen.decoder);
        if (Jk && loops) {
          // the same formula on the host, J kept as [n, k, D] rows (JᵀJ = J_e·J_eᵀ there)
          const D = this.inputDim;
          const G = jacobianGram(loops, Jk, n, k, D);
          const u = solveSpd(G, dy.dataSync() as Float32Array, n, k);
          return tf.tensor2d(jacobianApply(loops, Jk, u, n, k, D), [n, D]);
        }
        const JtJ = tf.matMul(J, J, true, false); // [n, k, k]
        const u = solveSpd(JtJ.dataSync() as Float32Array, dy.dataSync() as Float32Array, n, k);
        JtJ.dispose();
        // ∂L/∂x = J (JᵀJ)⁻¹ ∂L/∂z
        return tf.reshape(tf.matMul(J, tf.tensor3d(u, [n, k, 1])), [n, -1]);
      },
    })) as never) as unknown as (a: tf.Tensor) => tf.Tensor2D;
    return f(x);
  }

  /** Free the tensors kept by `prepare` (the head and generator stay). */
  release(): void {
    if (this.prepared) tf.dispose([this.prepared.z, ...(this.prepared.J ? [this.prepared.J] : [])]);
    this.prepared = null;
  }

  dispose(): void {
    this.release();
    this.head.dispose();
    this.gen.dispose();
  }
}
