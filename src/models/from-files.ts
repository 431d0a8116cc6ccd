/**
 * Model directories read through any byte source (browser-safe): a page `fetch`es
 * `<dir>/robustlab.json`, `<part>.json` and `<part>.weights.bin`; Node code may pass a file
 * reader. The format is the one models/io.ts writes (tfjs Layers files plus robustlab.json).
 */
import { RobustlabError } from '../data/errors.js';
import type { ModelMeta } from './meta.js';
import type { Mlp } from './mlp.js';
import { mlpFromArtifacts, mlpToArtifacts, type PartArtifacts } from './serialize.js';

/** Reads one file of a model directory by its name (e.g. 'model.weights.bin'). */
export type ModelFileReader = (name: string) => Promise<Uint8Array>;

const text = (b: Uint8Array) => new TextDecoder().decode(b);

function parseJson<T>(bytes: Uint8Array, where: string): T {
  try {
    return JSON.parse(text(bytes)) as T;
  } catch (e) {
    throw new RobustlabError(`${where}: not valid JSON (${(e as Error).message})`);
  }
}

/** Load every part of a model directory through `read`; `where` names it in errors. */
export async function loadModelFrom(
  read: ModelFileReader,
  where = 'model',
): Promise<{ meta: ModelMeta; parts: Record<string, Mlp> }> {
  const meta = parseJson<ModelMeta>(await read('robustlab.json'), `${where}/robustlab.json`);
  if (!meta || !Array.isArray(meta.parts) || typeof meta.kind !== 'string')
    throw new RobustlabError(`${where}/robustlab.json: missing 'kind' or 'parts'`);
  const parts: Record<string, Mlp> = {};
  try {
    for (const name of meta.parts) {
      const json = parseJson<PartArtifacts['json']>(
        await read(`${name}.json`),
        `${where}/${name}.json`,
      );
      if (!json || !Array.isArray(json.weightsManifest))
        throw new RobustlabError(`${where}/${name}.json: no weights manifest`);
      const weights = await read(`${name}.weights.bin`);
      parts[name] = mlpFromArtifacts({ json, weights }, `${where}/${name}.weights.bin`);
    }
  } catch (e) {
    for (const p of Object.values(parts)) p.dispose();
    throw e;
  }
  return { meta, parts };
}

/** Load a model directory served over HTTP(S) at `baseUrl` (with or without a trailing /). */
export function fetchModel(
  baseUrl: string,
  init?: RequestInit,
): Promise<{ meta: ModelMeta; parts: Record<string, Mlp> }> {
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/';
  return loadModelFrom(async (name) => {
    const res = await fetch(base + name, init);
    if (!res.ok) throw new RobustlabError(`${base}${name}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }, baseUrl);
}

/**
 * The files of a model directory (what models/io.ts `saveModel` writes), in memory: a page can
 * offer them for download, Node code can write them. Keys are file names.
 */
export function modelToFiles(
  parts: Record<string, Mlp>,
  meta: ModelMeta,
  version = 'unknown',
): Record<string, Uint8Array> {
  const full: ModelMeta = {
    ...meta,
    parts: Object.keys(parts),
    robustlab: version,
    createdAt: new Date().toISOString(),
  };
  const enc = new TextEncoder();
  const files: Record<string, Uint8Array> = {};
  for (const [name, net] of Object.entries(parts)) {
    const a = mlpToArtifacts(net, name, full as unknown as Record<string, unknown>);
    files[`${name}.json`] = enc.encode(JSON.stringify(a.json));
    files[`${name}.weights.bin`] = a.weights;
  }
  // robustlab.json last: a reader that sees it may assume the rest is there.
  files['robustlab.json'] = enc.encode(JSON.stringify(full, null, 2) + '\n');
  return files;
}
