/**
 * Model directories on disk (Node only). A model directory holds one tfjs Layers model per
 * network part (`model`, or `encoder` + `decoder`, ...) and `robustlab.json` with metadata.
 * `robustlab.json` is written last inside an atomically renamed directory, so its presence
 * means the model is complete.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readRegularFile, resolveInside } from '../util/safe-read.js';
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

const KINDS = ['classifier', 'ae', 'vae'];
/** A part name is a plain file stem: it can never name a path outside the model directory. */
const PART_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** Check robustlab.json's fields (types and names); the networks are checked against it later. */
export function checkModelMeta(meta: unknown, metaPath: string): ModelMeta {
  const bad = (why: string) => new RobustlabError(`${metaPath}: ${why}`);
  if (!meta || typeof meta !== 'object' || Array.isArray(meta))
    throw bad('not a robustlab model description (expected a JSON object)');
  const m = meta as Record<string, unknown>;
  if (typeof m.kind !== 'string' || !KINDS.includes(m.kind))
    throw bad(`'kind' must be one of ${KINDS.join(', ')} (got ${JSON.stringify(m.kind)})`);
  if (!Array.isArray(m.parts) || !m.parts.length) throw bad("missing 'kind' or 'parts'");
  for (const p of m.parts)
    if (typeof p !== 'string' || !PART_NAME.test(p))
      throw bad(
        `part name ${JSON.stringify(p)} is not a plain name (refused: parts live in the model directory)`,
      );
  if (new Set(m.parts).size !== m.parts.length) throw bad('a part is listed twice');
  for (const k of ['dataset', 'space'] as const)
    if (typeof m[k] !== 'string') throw bad(`'${k}' must be a string`);
  if (m.arch !== undefined && typeof m.arch !== 'string') throw bad("'arch' must be a string");
  if (m.hidden !== undefined && !(Number.isInteger(m.hidden) && (m.hidden as number) >= 1))
    throw bad("'hidden' must be a positive integer");
  return m as unknown as ModelMeta;
}

export function readModelMeta(dir: string): ModelMeta {
  const metaPath = join(dir, 'robustlab.json');
  let text: string;
  try {
    text = readRegularFile(metaPath, 'robustlab.json', 'utf8');
  } catch (e) {
    if (e instanceof RobustlabError && / missing$/.test(e.message))
      throw new RobustlabError(`no robustlab model at ${dir} (robustlab.json missing)`);
    throw e;
  }
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    throw new RobustlabError(`${metaPath}: not valid JSON (${(e as Error).message})`);
  }
  return checkModelMeta(meta, metaPath);
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
  const metaPath = join(dir, 'robustlab.json');
  const jsonPath = resolveInside(dir, `${name}.json`, metaPath);
  let json: PartArtifacts['json'];
  const text = readRegularFile(jsonPath, 'model part', 'utf8');
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RobustlabError(`${jsonPath}: not valid JSON (${(e as Error).message})`);
  }
  if (!json || typeof json !== 'object' || !Array.isArray(json.weightsManifest)) {
    throw new RobustlabError(`${jsonPath}: no weights manifest`);
  }
  // The manifest names the weights file: it must be this part's own file, in this directory.
  const paths = json.weightsManifest.flatMap((g) => (Array.isArray(g?.paths) ? g.paths : [null]));
  if (paths.length !== 1 || paths[0] !== `${name}.weights.bin`)
    throw new RobustlabError(
      `${jsonPath}: the weights manifest must name ${name}.weights.bin (got ${JSON.stringify(paths).slice(0, 80)})`,
    );
  const binPath = resolveInside(dir, paths[0], jsonPath);
  const weights = new Uint8Array(readRegularFile(binPath, 'weights file'));
  return mlpFromArtifacts({ json, weights }, binPath, name);
}
