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

/** Identity in the forward pass, zero gradient in the backward pass. */
const stopGradient = tf.customGrad(((a: tf.Tensor) => ({
  value: tf.clone(a),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as never) as unknown as (a: tf.Tensor) => tf.Tensor;

export interface PipelineOptions extends Partial<ProjectionOptions> {
  vaeCode?: 'sample' | 'mean';
  seed?: number;
}

export class LatentPipelineClassifier implements Classifier {
  private calls = 0;

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
    return tf.tidy(() => this.head.logits(this.code(x)));
  }

  dispose(): void {
    this.head.dispose();
    this.gen.dispose();
  }
}
