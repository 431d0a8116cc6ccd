/**
 * The study's generative models, both with a 32-d latent space:
 *   AE:  encoder 784 → 32 (leaky ReLU 0.2), decoder 32 → 784 (sigmoid)
 *   VAE: encoder 784 → 150 (leaky ReLU) → [μ, log σ²] (32 + 32, linear),
 *        decoder 32 → 150 (leaky ReLU) → 784 (sigmoid)
 * Loss: binary cross-entropy summed over pixels (computed from the decoder's pre-sigmoid
 * output, for stability), plus, for the VAE, KL(q(z|x) || N(0, I)) with the
 * reparameterisation trick. Averaged over the batch.
 */
import * as tf from '@tensorflow/tfjs';
import { BCE_KERNEL, fusedRowLoss, hasFusedBce } from '../backend/host-kernels.js';
import { RobustlabError } from '../data/errors.js';
import { describeSpec, Mlp, type MlpSpec, sameSpec } from '../models/mlp.js';
import { fit, type FitOptions } from '../models/train.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { fitGeneratorNative, nativeGeneratorLoops } from './native-generator-fit.js';

export const LATENT_DIM = 32;
export const VAE_HIDDEN = 150;
export const GENERATOR_KINDS = ['ae', 'vae'] as const;
export type GeneratorKind = (typeof GENERATOR_KINDS)[number];

export const GENERATOR_DEFAULTS = { epochs: 30, batchSize: 256, lr: 1e-3 };

export function generatorSpecs(
  kind: GeneratorKind,
  inputDim = 784,
): { encoder: MlpSpec; decoder: MlpSpec } {
  if (kind === 'ae') {
    return {
      encoder: { inputDim, layers: [{ units: LATENT_DIM, activation: 'leakyRelu' }] },
      decoder: { inputDim: LATENT_DIM, layers: [{ units: inputDim, activation: 'sigmoid' }] },
    };
  }
  return {
    encoder: {
      inputDim,
      layers: [
        { units: VAE_HIDDEN, activation: 'leakyRelu' },
        { units: 2 * LATENT_DIM, activation: 'linear' },
      ],
    },
    decoder: {
      inputDim: LATENT_DIM,
      layers: [
        { units: VAE_HIDDEN, activation: 'leakyRelu' },
        { units: inputDim, activation: 'sigmoid' },
      ],
    },
  };
}

export function parseGeneratorKind(s: string): GeneratorKind {
  if ((GENERATOR_KINDS as readonly string[]).includes(s)) return s as GeneratorKind;
  throw new RobustlabError(`unknown generator '${s}' (expected ae or vae)`);
}

/**
 * Sum over pixels of BCE(x, sigmoid(logits)), per example. With the native addon one fused
 * kernel computes it and its gradient sigmoid(logits) − x (about 15 kernels otherwise).
 * Differentiable in `logits` only (x is data).
 */
export function bceSum(logits: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor1D {
  if (!hasFusedBce()) return tf.sum(tf.sub(tf.softplus(logits), tf.mul(x, logits)), 1);
  return fusedRowLoss(BCE_KERNEL, logits, x);
}

export class Generator {
  constructor(
    readonly kind: GeneratorKind,
    readonly encoder: Mlp,
    readonly decoder: Mlp,
  ) {}

  static create(kind: GeneratorKind, seed: number): Generator {
    const s = generatorSpecs(kind);
    return new Generator(
      kind,
      Mlp.create(s.encoder, deriveSeed(seed, 'encoder')),
      Mlp.create(s.decoder, deriveSeed(seed, 'decoder')),
    );
  }

  static fromParts(kind: GeneratorKind, parts: Record<string, Mlp>): Generator {
    if (!parts.encoder || !parts.decoder)
      throw new RobustlabError(`${kind} model needs an encoder and a decoder`);
    return new Generator(kind, parts.encoder, parts.decoder);
  }

  /** VAE: μ and log σ²; AE: the code itself and a zero log-variance. */
  encodeStats(x: tf.Tensor2D): { mu: tf.Tensor2D; logvar: tf.Tensor2D | null } {
    const h = this.encoder.apply(x);
    if (this.kind === 'ae') return { mu: h, logvar: null };
    const [mu, logvar] = tf.split(h, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    h.dispose();
    return { mu, logvar };
  }

  /** Deterministic code: E(x) for the AE, μ(x) for the VAE. */
  encodeMean(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.encodeStats(x).mu);
  }

  /** Stochastic VAE code z = μ + σ·ε with seeded ε (the AE has no noise: returns E(x)). */
  encodeSample(x: tf.Tensor2D, seed: number): tf.Tensor2D {
    return tf.tidy(() => {
      const { mu, logvar } = this.encodeStats(x);
      if (!logvar) return mu;
      const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', seed);
      return tf.add(mu, tf.mul(tf.exp(tf.mul(logvar, 0.5)), eps));
    });
  }

  decode(z: tf.Tensor2D): tf.Tensor2D {
    return this.decoder.apply(z);
  }

  /** Per-batch mean of the training loss (BCE summed over pixels, + KL for the VAE). */
  loss(x: tf.Tensor2D, seed: number): tf.Scalar {
    return tf.tidy(() => {
      const { mu, logvar } = this.encodeStats(x);
      if (!logvar) return tf.mean(bceSum(this.decoder.applyPreActivation(mu), x));
      const eps = tf.randomNormal(mu.shape, 0, 1, 'float32', seed);
      const z = tf.add(mu, tf.mul(tf.exp(tf.mul(logvar, 0.5)), eps)) as tf.Tensor2D;
      const rec = bceSum(this.decoder.applyPreActivation(z), x);
      const kl = tf.mul(
        -0.5,
        tf.sum(tf.sub(tf.sub(tf.add(1, logvar), tf.square(mu)), tf.exp(logvar)), 1),
      );
      return tf.mean(tf.add(rec, kl));
    });
  }

  variables(): tf.Variable[] {
    return [...this.encoder.variables(), ...this.decoder.variables()];
  }

  parts(): Record<string, Mlp> {
    return { encoder: this.encoder, decoder: this.decoder };
  }

  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
  }
}

/**
 * Train with Adam on BCE (+ KL for the VAE). With the native addon (and `native` not false)
 * the loop runs in BLAS calls and native loops on host arrays (native-generator-fit.ts), with
 * the same batches, noise and update as the tfjs autodiff path it falls back to (a browser,
 * no OpenBLAS, `native: false`); the two agree to float32 rounding.
 */
export function trainGenerator(
  gen: Generator,
  data: { x: Float32Array; n: number; dim: number },
  o: Partial<FitOptions> & { seed: number; native?: boolean },
): number[] {
  const noise = new Rng(deriveSeed(o.seed, 'noise'));
  const { native, ...rest } = o;
  const opts: FitOptions = { ...GENERATOR_DEFAULTS, label: `train ${gen.kind}`, ...rest };
  const loops = native === false ? null : nativeGeneratorLoops(gen);
  if (loops) return fitGeneratorNative(gen, loops, data, opts, () => noise.seed());
  return fit(gen.variables(), data, (xb) => gen.loss(xb, noise.seed()), opts);
}

/**
 * Mean per-image reconstruction error for codes z: ||D(z) − x||_p, or with 'sse' the sum of
 * squared errors ||D(z) − x||₂² (the unit the AE/VAE literature reports).
 */
export function reconstructionError(
  decoder: Mlp,
  codes: Float32Array,
  x: Float32Array,
  n: number,
  norm: 'l2' | 'l1' | 'sse' = 'l2',
  batch = 2000,
): number {
  let sum = 0;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const v = tf.tidy(() => {
      const z = tf.tensor2d(codes.subarray(s * LATENT_DIM, e * LATENT_DIM), [e - s, LATENT_DIM]);
      const xt = tf.tensor2d(x.subarray(s * decoder.outputDim, e * decoder.outputDim), [
        e - s,
        decoder.outputDim,
      ]);
      const d = tf.sub(decoder.apply(z), xt);
      const per =
        norm === 'l2'
          ? tf.sqrt(tf.sum(tf.square(d), 1))
          : norm === 'sse'
            ? tf.sum(tf.square(d), 1)
            : tf.sum(tf.abs(d), 1);
      return tf.sum(per);
    });
    sum += v.dataSync()[0];
    v.dispose();
  }
  return sum / n;
}

/** Check that loaded parts are this kind's encoder and decoder, of the right sizes. */
export function checkGeneratorParts(
  kind: GeneratorKind,
  parts: Record<string, Mlp>,
  dir: string,
): void {
  const want = generatorSpecs(kind);
  for (const p of ['encoder', 'decoder'] as const) {
    const net = parts[p];
    if (!net) throw new RobustlabError(`${dir}: the ${kind} model has no ${p}`);
    if (!sameSpec(net.spec, want[p]))
      throw new RobustlabError(
        `${dir}: the ${kind} ${p} is ${describeSpec(net.spec)}, expected ${describeSpec(want[p])}`,
      );
  }
}
