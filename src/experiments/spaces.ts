/**
 * The input spaces a classifier can live in: 'image' (784 pixels) or one of the study's four
 * latent spaces (32-d codes). Returns host arrays ready for training and evaluation.
 */
import { RobustlabError } from '../data/errors.js';
import type { DatasetName } from '../data/datasets.js';
import { loadDataset } from '../data/node-io.js';
import type { Mlp } from '../models/mlp.js';

export const LATENT_SPACES = [
  'ae-encoding',
  'ae-projection',
  'vae-encoding',
  'vae-projection',
] as const;
export type LatentSpace = (typeof LATENT_SPACES)[number];
export const SPACES = ['image', ...LATENT_SPACES] as const;
export type Space = (typeof SPACES)[number];

export function parseSpace(s: string): Space {
  if ((SPACES as readonly string[]).includes(s)) return s as Space;
  throw new RobustlabError(`unknown space '${s}' (expected one of: ${SPACES.join(', ')})`);
}

export interface SpaceDataOptions {
  dataDir?: string;
  limitTrain?: number;
  limitTest?: number;
  /** Directory of the generator (AE/VAE) model and of the latent datasets, for latent spaces. */
  latentDir?: string;
}

export interface HostSplit {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

export interface SpaceData {
  dim: number;
  train: HostSplit;
  test: HostSplit;
  /** Where the data came from (generator model, method, steps, ...). */
  provenance: Record<string, unknown>;
  /** The generator networks a latent classifier must carry to act on images. */
  generatorParts(): Record<string, Mlp>;
  dispose(): void;
}

export async function loadSpaceData(
  dataset: DatasetName,
  space: string,
  o: SpaceDataOptions,
): Promise<SpaceData> {
  const sp = parseSpace(space);
  if (sp === 'image') {
    const ds = await loadDataset(dataset, o);
    return {
      dim: 784,
      train: { x: ds.train.images, y: ds.train.labels, n: ds.train.n },
      test: { x: ds.test.images, y: ds.test.labels, n: ds.test.n },
      provenance: { space: 'image' },
      generatorParts: () => ({}),
      dispose: () => {},
    };
  }
  const { loadLatentSpaceData } = await import('../latent/space-data.js');
  return loadLatentSpaceData(dataset, sp, o);
}
