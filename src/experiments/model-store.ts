/**
 * Load a saved classifier directory as a Classifier object. `head` acts on the model's own
 * input space (pixels or a 32-d code); `asImageClassifier()` gives image → class for any
 * model, composing a latent classifier with its generator (encoder or projection).
 */
import { RobustlabError } from '../data/errors.js';
import { DATASET_NAMES } from '../data/datasets.js';
import {
  ARCHS,
  type Arch,
  type Classifier,
  classifierSpec,
  MlpClassifier,
} from '../models/classifier.js';
import { loadModel, type ModelMeta } from '../models/io.js';
import { describeSpec, type Mlp, sameSpec } from '../models/mlp.js';
import { checkGeneratorParts, LATENT_DIM } from '../latent/generators.js';
import { SPACES } from './spaces.js';

export interface LoadedClassifier {
  meta: ModelMeta;
  head: MlpClassifier;
  /** Generator networks stored with a latent classifier (encoder/decoder), else empty. */
  generator: Record<string, Mlp>;
}

/**
 * Check a loaded classifier against its robustlab.json: dataset, space and architecture are
 * known names, the parts are exactly those of its space (model, plus encoder and decoder for a
 * latent space), and every network has the sizes its metadata implies (784 or 32 inputs, the
 * architecture's layers at the stated hidden width, the generator's own shapes).
 */
function checkClassifier(meta: ModelMeta, parts: Record<string, Mlp>, dir: string): Arch {
  const bad = (why: string) => new RobustlabError(`${dir}: ${why}`);
  if (!(DATASET_NAMES as readonly string[]).includes(meta.dataset))
    throw bad(`unknown dataset '${meta.dataset}' in robustlab.json`);
  if (!(SPACES as readonly string[]).includes(meta.space))
    throw bad(`unknown space '${meta.space}' in robustlab.json`);
  if (!(ARCHS as readonly string[]).includes(meta.arch ?? ''))
    throw bad(`unknown architecture '${meta.arch}' in robustlab.json`);
  const arch = meta.arch as Arch;
  const latent = meta.space !== 'image';
  const want = latent ? ['model', 'encoder', 'decoder'] : ['model'];
  const have = Object.keys(parts).sort();
  if (have.join() !== [...want].sort().join())
    throw bad(
      `a ${meta.space} classifier has parts ${want.join(', ')}; robustlab.json lists ${have.join(', ')}`,
    );
  const dim = latent ? LATENT_DIM : 784;
  const hidden = meta.hidden ?? parts.model.spec.layers[0]?.units;
  const spec = classifierSpec(arch, dim, hidden);
  if (!sameSpec(parts.model.spec, spec))
    throw bad(
      `the network (${describeSpec(parts.model.spec)}) is not a ${arch} ${meta.space} classifier (${describeSpec(spec)}) as robustlab.json says`,
    );
  if (latent) checkGeneratorParts(meta.space.startsWith('vae') ? 'vae' : 'ae', parts, dir);
  return arch;
}

export function loadClassifierDir(dir: string): LoadedClassifier {
  const { meta, parts } = loadModel(dir);
  let arch: Arch;
  try {
    if (meta.kind !== 'classifier' || !parts.model)
      throw new RobustlabError(`${dir}: is a ${meta.kind} model, not a classifier`);
    arch = checkClassifier(meta, parts, dir);
  } catch (e) {
    for (const p of Object.values(parts)) p.dispose();
    throw e;
  }
  const { model, ...generator } = parts;
  const head = new MlpClassifier(arch, model);
  const dispose = head.dispose.bind(head);
  head.dispose = () => {
    dispose();
    for (const g of Object.values(generator)) g.dispose();
  };
  return { meta, head, generator };
}

export type { Classifier };
