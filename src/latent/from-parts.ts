/**
 * Any saved classifier as an image classifier (browser-safe): an image-space model as is, a
 * latent one composed with the generator stored beside it (encoder for encoding spaces,
 * decoder projection for projection spaces), as in the reproduce pipeline's pixel-space attacks.
 */
import { RobustlabError } from '../data/errors.js';
import { type Classifier, MlpClassifier, parseArch } from '../models/classifier.js';
import type { ModelMeta } from '../models/meta.js';
import type { Mlp } from '../models/mlp.js';
import { parseLatentMethod, type LatentMethod } from './codes.js';
import { Generator } from './generators.js';
import { LatentPipelineClassifier, type PipelineOptions } from './pipeline.js';

export interface ComposedClassifier {
  meta: ModelMeta;
  /** image → class (what attacks in pixel space and the lab use). */
  classifier: Classifier;
  /** The MLP on the model's own input space (pixels, or the 32-d code). */
  head: MlpClassifier;
  /** Latent models: the generator and the space's method; null for image models. */
  generator: Generator | null;
  method: LatentMethod | null;
}

/**
 * Build the image classifier of a loaded model directory. `opts` goes to the latent pipeline
 * (seed, projection steps, VAE code mode, projection gradient for attacks).
 */
export function imageClassifierFromParts(
  meta: ModelMeta,
  parts: Record<string, Mlp>,
  opts: PipelineOptions = {},
): ComposedClassifier {
  if (meta.kind !== 'classifier' || !parts.model)
    throw new RobustlabError(`a ${meta.kind} model is not a classifier`);
  const head = new MlpClassifier(parseArch(meta.arch ?? ''), parts.model);
  if (meta.space === 'image')
    return { meta, classifier: head, head, generator: null, method: null };
  const method = parseLatentMethod(meta.space);
  const gen = Generator.fromParts(method.startsWith('vae') ? 'vae' : 'ae', parts);
  const classifier = new LatentPipelineClassifier(head, gen, method, opts);
  return { meta, classifier, head, generator: gen, method };
}
