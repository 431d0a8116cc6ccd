/**
 * A stage as a queue job: plain JSON (name, kind, params, the dependencies' names and keys),
 * never code or paths to write to. A worker checks every field against the stage kinds' schemas
 * and recomputes the key from them, so a payload that is malformed, from another robustlab
 * version, or altered in transit is rejected before anything runs.
 */
import { isAbsolute, resolve } from 'node:path';
import { DATASET_NAMES } from '../data/datasets.js';
import { LATENT_METHODS } from '../latent/codes.js';
import { ARCHS } from '../models/classifier.js';
import { stageDir, stageKey, type Stage, type StageKind } from './stages.js';

/** Bumped when the payload's meaning changes; a worker refuses other versions. */
export const STAGE_JOB_FORMAT = 1;

export interface StageJob {
  format: number;
  key: string;
  name: string;
  kind: StageKind;
  params: Record<string, unknown>;
  deps: { name: string; key: string }[];
  /** The coordinator's artifact directory: the default for workers given no --artifacts. */
  root: string;
}

/** A job that can never run, whichever worker takes it (BullMQ does not retry it). */
export class MalformedJobError extends Error {}

export function stageJobOf(s: Stage, byName: Map<string, Stage>, root: string): StageJob {
  return {
    format: STAGE_JOB_FORMAT,
    key: s.key,
    name: s.name,
    kind: s.kind,
    params: s.params,
    deps: s.deps.map((d) => ({ name: d, key: byName.get(d)!.key })),
    root,
  };
}

/** BullMQ job ids: one per stage key, so enqueueing a stage twice is a no-op. */
export const jobIdOf = (key: string) => `stage-${key}`;

type Check = (v: unknown) => boolean;
const int =
  (min: number): Check =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min;
const intOrNull =
  (min: number): Check =>
  (v) =>
    v === null || int(min)(v);
const finite: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const oneOf =
  (xs: readonly unknown[]): Check =>
  (v) =>
    xs.includes(v);
const fractions: Check = (v) => Array.isArray(v) && v.every((x) => finite(x) && x >= 0 && x <= 1);

const SPACES = ['image', ...LATENT_METHODS];
const limits = { limitTrain: intOrNull(1), limitTest: intOrNull(1) };
const attack = {
  count: int(1),
  maxSteps: int(1),
  lambda: finite,
  optimizer: oneOf(['ngd', 'sgd', 'adam']),
  stepSize: finite,
  confidence: finite,
};

/** Every kind's params (all required unless listed optional) and its number of inputs. */
const SCHEMAS: Record<
  StageKind,
  { params: Record<string, Check>; optional?: string[]; deps: (p: any) => number | null }
> = {
  classifier: {
    params: {
      dataset: oneOf(DATASET_NAMES),
      space: oneOf(SPACES),
      arch: oneOf(ARCHS),
      epochs: int(0),
      hidden: int(1),
      seed: int(0),
      ...limits,
    },
    deps: (p) => (p.space === 'image' ? 0 : 1),
  },
  generator: {
    params: {
      dataset: oneOf(DATASET_NAMES),
      kind: oneOf(['ae', 'vae']),
      epochs: int(0),
      seed: int(0),
      ...limits,
    },
    deps: () => 0,
  },
  codes: {
    params: {
      dataset: oneOf(DATASET_NAMES),
      method: oneOf(LATENT_METHODS),
      steps: int(0),
      seed: int(0),
      ...limits,
    },
    deps: () => 1,
  },
  attack: {
    params: {
      mode: oneOf(['own-space', 'pixel-space']),
      seed: int(0),
      ...attack,
      pixelProjection: oneOf(['implicit', 'encoder']),
    },
    optional: ['pixelProjection'],
    deps: () => null, // 1 (image) or 2 (latent: classifier and codes)
  },
  transfer: { params: { seed: int(0) }, deps: () => null },
  svd: {
    params: {
      mode: oneOf(['zero', 'scale']),
      fractions,
      reattackCount: int(0),
      seed: int(0),
      ...attack,
      ...limits,
    },
    deps: () => 2,
  },
  evaluate: {
    params: {
      attacks: oneOf(['autoattack', 'autoattack-rand']),
      n: int(1),
      checkSubset: int(0),
      seed: int(0),
      norm: oneOf(['linf', 'l2']),
      eps: (v) => finite(v) && (v as number) > 0,
      projection: oneOf(['implicit', 'bpda']),
      curve: (v) =>
        Array.isArray(v) && v.length <= 201 && v.every((x) => finite(x) && x >= 0 && x <= 28),
      curveAttacks: oneOf(['apgd-ce']),
      curveN: int(1),
      spectral: (v) =>
        v === null ||
        (typeof v === 'object' &&
          !Array.isArray(v) &&
          oneOf(['zero', 'scale'])((v as Record<string, unknown>).mode) &&
          fractions([(v as Record<string, unknown>).fraction]) &&
          Object.keys(v as object).every((k) => k === 'mode' || k === 'fraction')),
    },
    optional: ['projection', 'curve', 'curveAttacks', 'curveN'],
    deps: () => null, // 1 (image) or 2 (latent: the model and the image model for transfer)
  },
};

// Names become directory names: lower-case words and slashes only, no dots.
const NAME = /^[a-z]+(\/[A-Za-z0-9-]+){1,5}$/;
const KEY = /^[0-9a-f]{16}$/;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Check a job's payload; throws a MalformedJobError naming the first problem. */
export function parseStageJob(data: unknown): StageJob {
  const bad = (what: string): never => {
    throw new MalformedJobError(`malformed stage job: ${what}`);
  };
  if (!isObject(data)) return bad('the payload is not a JSON object');
  if (data.format !== STAGE_JOB_FORMAT)
    bad(
      `format ${JSON.stringify(data.format)}, this worker reads format ${STAGE_JOB_FORMAT} (same robustlab version on coordinator and workers?)`,
    );
  const { key, name, kind, params, deps, root } = data;
  if (typeof name !== 'string' || !NAME.test(name)) bad(`name ${JSON.stringify(name)}`);
  if (typeof key !== 'string' || !KEY.test(key)) bad(`key ${JSON.stringify(key)}`);
  if (typeof kind !== 'string' || !(kind in SCHEMAS))
    bad(`kind ${JSON.stringify(kind)} (expected one of: ${Object.keys(SCHEMAS).join(', ')})`);
  if (typeof root !== 'string' || !isAbsolute(root))
    bad(`root ${JSON.stringify(root)} (an absolute path)`);
  if (!isObject(params)) return bad('params is not an object');
  const schema = SCHEMAS[kind as StageKind];
  for (const [p, check] of Object.entries(schema.params)) {
    if (!(p in params)) {
      if (!schema.optional?.includes(p)) bad(`${kind} stage without params.${p}`);
    } else if (!check(params[p])) bad(`params.${p} = ${JSON.stringify(params[p])}`);
  }
  for (const p of Object.keys(params))
    if (!(p in schema.params)) bad(`unknown params.${p} for a ${kind} stage`);
  if (!Array.isArray(deps)) return bad('deps is not an array');
  for (const d of deps)
    if (
      !isObject(d) ||
      typeof d.name !== 'string' ||
      !NAME.test(d.name) ||
      typeof d.key !== 'string' ||
      !KEY.test(d.key)
    )
      bad(`dependency ${JSON.stringify(d)}`);
  const want = schema.deps(params);
  if ((want !== null && deps.length !== want) || (want === null && deps.length < 1))
    bad(`${deps.length} dependencies for a ${kind} stage`);
  const job = data as unknown as StageJob;
  const recomputed = stageKey(
    { name: job.name, kind: job.kind, params: job.params, deps: [] },
    job.deps.map((d) => d.key),
  );
  if (recomputed !== job.key)
    bad(`key ${job.key} does not match its name, params and dependencies (${recomputed})`);
  return job;
}

/** The stage a checked job describes, with its and its inputs' directories under `root`. */
export function stageOfJob(
  job: StageJob,
  root: string,
): { stage: Stage; dirs: Record<string, string> } {
  const r = resolve(root);
  return {
    stage: {
      name: job.name,
      kind: job.kind,
      params: job.params,
      deps: job.deps.map((d) => d.name),
      key: job.key,
      dir: stageDir(r, job.name, job.key),
    },
    dirs: Object.fromEntries(job.deps.map((d) => [d.name, stageDir(r, d.name, d.key)])),
  };
}
