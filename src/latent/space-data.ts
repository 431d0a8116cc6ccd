/** Host data of a latent space, read from its code files (Node only). */
import type { DatasetName } from '../data/datasets.js';
import { RobustlabError } from '../data/errors.js';
import type { LatentSpace, SpaceData, SpaceDataOptions } from '../experiments/spaces.js';
import { codePath, defaultLatentDir, loadGenerator } from './jobs.js';
import { methodGenerator } from './codes.js';
import { LATENT_DIM } from './generators.js';
import { readCodeFile } from './store.js';
import { existsSync } from 'node:fs';

export async function loadLatentSpaceData(
  dataset: DatasetName,
  space: LatentSpace,
  o: SpaceDataOptions,
): Promise<SpaceData> {
  const dir = o.latentDir ?? defaultLatentDir(dataset);
  const split = (name: 'train' | 'test', limit?: number) => {
    const p = codePath(dir, space, name);
    if (!existsSync(p)) {
      throw new RobustlabError(
        `latent dataset ${p} not found; build it with \`robustlab latent --dataset ${dataset} --method ${space} --latent-dir ${dir}\``,
      );
    }
    const f = readCodeFile(p);
    if (f.header.provenance.dataset !== dataset)
      throw new RobustlabError(
        `${p}: holds codes of ${String(f.header.provenance.dataset)}, not ${dataset}`,
      );
    if (f.header.dim !== LATENT_DIM)
      throw new RobustlabError(
        `${p}: holds ${f.header.dim}-d codes; a ${space} space has ${LATENT_DIM}-d codes`,
      );
    if (f.header.provenance.method !== undefined && f.header.provenance.method !== space)
      throw new RobustlabError(
        `${p}: holds ${String(f.header.provenance.method)} codes, not ${space}`,
      );
    const n = limit ? Math.min(limit, f.header.n) : f.header.n;
    return {
      x: f.codes.subarray(0, n * LATENT_DIM),
      y: f.labels.subarray(0, n),
      n,
      provenance: f.header.provenance,
    };
  };
  const train = split('train', o.limitTrain);
  const test = split('test', o.limitTest);
  const kind = methodGenerator(space);
  return {
    dim: LATENT_DIM,
    train,
    test,
    provenance: { space, codes: train.provenance },
    generatorParts: () => loadGenerator(dir, kind).parts(),
    dispose: () => {},
  };
}
