/**
 * Load a saved classifier directory as a Classifier object. `head` acts on the model's own
 * input space (pixels or a 32-d code); `asImageClassifier()` gives image → class for any
 * model, composing a latent classifier with its generator (encoder or projection).
 */
import { RobustlabError } from '../data/errors.js';
import { type Classifier, MlpClassifier, parseArch } from '../models/classifier.js';
import { loadModel, type ModelMeta } from '../models/io.js';
import type { Mlp } from '../models/mlp.js';

export interface LoadedClassifier {
  meta: ModelMeta;
  head: MlpClassifier;
  /** Generator networks stored with a latent classifier (encoder/decoder), else empty. */
  generator: Record<string, Mlp>;
}

export function loadClassifierDir(dir: string): LoadedClassifier {
  const { meta, parts } = loadModel(dir);
  if (meta.kind !== 'classifier' || !parts.model) {
    for (const p of Object.values(parts)) p.dispose();
    throw new RobustlabError(`${dir}: is a ${meta.kind} model, not a classifier`);
  }
  const { model, ...generator } = parts;
  const head = new MlpClassifier(parseArch(meta.arch ?? ''), model);
  const dispose = head.dispose.bind(head);
  head.dispose = () => {
    dispose();
    for (const g of Object.values(generator)) g.dispose();
  };
  return { meta, head, generator };
}

export type { Classifier };
