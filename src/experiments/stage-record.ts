/**
 * A stage's record, `stage.json`, is trusted only when it is what runStage writes: a regular
 * file holding a JSON object whose name, key and params are this stage's, whose seconds is a
 * number, whose result has the fields of its kind with values of the right type, and whose
 * output files are there. Anything else (empty, `{}`, a null result, a record copied from
 * another stage, a string where a number belongs, a FIFO) is "not done": the stage is
 * recomputed and the user is told why.
 */
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Stage } from './stages.js';

export const STAGE_RECORD = 'stage.json';

export interface StageRecord {
  name: string;
  key: string;
  params: Record<string, unknown>;
  seconds: number;
  finishedAt?: string;
  result: Record<string, unknown>;
}

type Check = (v: unknown) => boolean;
// JSON turns NaN into null: a mean over no examples is stored as null.
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const numOrNull: Check = (v) => v === null || num(v);
const unit: Check = (v) => num(v) && (v as number) >= 0 && (v as number) <= 1;
const unitOrNull: Check = (v) => v === null || unit(v);
const count: Check = (v) => Number.isInteger(v) && (v as number) >= 0;
const str: Check = (v) => typeof v === 'string';
const obj =
  (fields: Record<string, Check>): Check =>
  (v) =>
    !!v &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    Object.entries(fields).every(([k, c]) => c((v as Record<string, unknown>)[k]));
const arrayOf =
  (c: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(c);

/** The fields of each kind's result that the report reads, with their types. */
export const RESULT: Record<Stage['kind'], Check> = {
  classifier: obj({ trainAccuracy: unit, testAccuracy: unit, epochs: count, arch: str }),
  generator: obj({ testReconstructionL2: num, epochs: count, kind: str }),
  codes: obj({
    files: obj({ train: str, test: str }),
    reconstructionL2: obj({
      train: obj({ codes: num, encoder: num }),
      test: obj({ codes: num, encoder: num }),
    }),
  }),
  attack: obj({
    summary: obj({
      n: count,
      successes: count,
      successRate: unitOrNull,
      robustness: numOrNull,
      meanL2: numOrNull,
      meanSteps: numOrNull,
    }),
    mode: str,
  }),
  transfer: obj({ cells: arrayOf(obj({ n: count, accuracy: unitOrNull, space: str, arch: str })) }),
  svd: obj({
    points: arrayOf(
      obj({
        fraction: unit,
        trainAccuracy: unit,
        testAccuracy: unit,
        adversarialAccuracy: unitOrNull,
        reattackRobustness: numOrNull,
      }),
    ),
  }),
  evaluate: obj({
    norm: str,
    eps: num,
    n: count,
    cleanAccuracy: unit,
    robustAccuracy: unit,
    checks: arrayOf(obj({ id: str, status: str, detail: str })),
  }),
};

/** Files a finished stage must have beside stage.json (relative to its directory). */
function outputsOf(s: Stage): string[] {
  const p = s.params as Record<string, string>;
  switch (s.kind) {
    case 'classifier':
      return ['model/robustlab.json'];
    case 'generator':
      return [`${p.kind}/robustlab.json`];
    case 'codes':
      return [`${p.method}.train.rlc`, `${p.method}.test.rlc`];
    case 'attack':
      return ['summary.json', 'adversarial.rlc'];
    default:
      return [];
  }
}

export type StageStatus = { done: true; record: StageRecord } | { done: false; problem?: string };

/** Read and check a stage's record. `problem` is set when a record exists but is not valid. */
export function stageStatus(s: Stage): StageStatus {
  const path = join(s.dir, STAGE_RECORD);
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return { done: false };
  }
  const no = (problem: string) => ({ done: false as const, problem });
  if (!st.isFile()) return no(`${STAGE_RECORD} is not a regular file`);
  let rec: StageRecord;
  try {
    rec = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return no(`${STAGE_RECORD} is not valid JSON (empty or cut short)`);
  }
  if (!rec || typeof rec !== 'object' || Array.isArray(rec))
    return no(`${STAGE_RECORD} is not a record`);
  if (rec.name !== s.name || rec.key !== s.key)
    return no(`${STAGE_RECORD} belongs to another stage (${String(rec.name)} ${String(rec.key)})`);
  if (JSON.stringify(rec.params) !== JSON.stringify(s.params))
    return no(`${STAGE_RECORD} has other settings than this stage`);
  if (!num(rec.seconds) || rec.seconds < 0) return no(`${STAGE_RECORD}: 'seconds' is not a number`);
  if (!RESULT[s.kind](rec.result))
    return no(
      `${STAGE_RECORD}: the result is missing fields of a ${s.kind} stage or has wrong types`,
    );
  for (const f of outputsOf(s))
    if (!existsSync(join(s.dir, f))) return no(`its output ${f} is missing`);
  return { done: true, record: rec };
}

/**
 * Store paths inside the run as paths relative to the run directory, so a copied or moved run
 * reads its own files: every string in `value` that is an absolute path under `root`.
 */
export function relativeToRun(value: unknown, root: string): unknown {
  if (typeof value === 'string')
    return isAbsolute(value) && !relative(root, value).startsWith('..')
      ? relative(root, value) || '.'
      : value;
  if (Array.isArray(value)) return value.map((v) => relativeToRun(v, root));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, relativeToRun(v, root)]));
  return value;
}

/** A stage directory as stored in graph.json (relative), resolved against the run directory. */
export function stageDirIn(root: string, stored: string): string {
  // Older runs stored absolute paths: keep only the stage's own directory name.
  if (isAbsolute(stored)) return join(resolve(root), 'stages', stored.split(/[\\/]/).pop()!);
  return resolve(root, stored);
}

export function readStageRecordRaw(s: Stage): string {
  return readFileSync(join(s.dir, STAGE_RECORD), 'utf8');
}
