/**
 * Model directories on disk (Node only). A model directory holds one tfjs Layers model per
 * network part (`model`, or `encoder` + `decoder`, ...) and `robustlab.json` with metadata.
 * `robustlab.json` is written last inside an atomically renamed directory, so its presence
 * means the model is complete.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RobustlabError } from '../data/errors.js';
import { VERSION } from '../version.js';
import type { ModelMeta } from './meta.js';
import type { Mlp } from './mlp.js';
import { mlpFromArtifacts, mlpToArtifacts, type PartArtifacts } from './serialize.js';
import { writeDirAtomic } from '../util/atomic.js';

export type { ModelMeta };

export function saveModel(dir: string, parts: Record<string, Mlp>, meta: ModelMeta): void {
  const full: ModelMeta = {
    ...meta,
    parts: Object.keys(parts),
    robustlab: VERSION,
    createdAt: new Date().toISOString(),
  };
  writeDirAtomic(dir, (tmp) => {
    for (const [name, net] of Object.entries(parts)) {
      const a = mlpToArtifacts(net, name, full as unknown as Record<string, unknown>);
      writeFileSync(join(tmp, `${name}.json`), JSON.stringify(a.json));
      writeFileSync(join(tmp, `${name}.weights.bin`), a.weights);
    }
    writeFileSync(join(tmp, 'robustlab.json'), JSON.stringify(full, null, 2) + '\n');
  });
}

export function readModelMeta(dir: string): ModelMeta {
  const metaPath = join(dir, 'robustlab.json');
  if (!existsSync(metaPath))
    throw new RobustlabError(`no robustlab model at ${dir} (robustlab.json missing)`);
  let meta: ModelMeta;
  try {
    meta = JSON.parse(readFileSync(metaPath, 'utf8'));
  } catch (e) {
    throw new RobustlabError(`${metaPath}: not valid JSON (${(e as Error).message})`);
  }
  if (!meta || !Array.isArray(meta.parts) || typeof meta.kind !== 'string') {
    throw new RobustlabError(`${metaPath}: missing 'kind' or 'parts'`);
  }
  return meta;
}

export function loadModel(dir: string): { meta: ModelMeta; parts: Record<string, Mlp> } {
  const meta = readModelMeta(dir);
  const parts: Record<string, Mlp> = {};
  try {
    for (const name of meta.parts!) parts[name] = loadPart(dir, name);
  } catch (e) {
    for (const p of Object.values(parts)) p.dispose();
    throw e;
  }
  return { meta, parts };
}

function loadPart(dir: string, name: string): Mlp {
  const jsonPath = join(dir, `${name}.json`);
  const binPath = join(dir, `${name}.weights.bin`);
  for (const p of [jsonPath, binPath])
    if (!existsSync(p)) throw new RobustlabError(`${p}: file missing`);
  let json: PartArtifacts['json'];
  try {
    json = JSON.parse(readFileSync(jsonPath, 'utf8'));
  } catch (e) {
    throw new RobustlabError(`${jsonPath}: not valid JSON (${(e as Error).message})`);
  }
  if (!json || !Array.isArray(json.weightsManifest)) {
    throw new RobustlabError(`${jsonPath}: no weights manifest`);
  }
  return mlpFromArtifacts({ json, weights: new Uint8Array(readFileSync(binPath)) }, binPath);
}
