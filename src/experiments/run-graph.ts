/** Reading a reproduce run's stage graph back (figure, reports of an earlier run). */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RobustlabError } from '../data/errors.js';
import { readRegularFile } from '../util/safe-read.js';
import { RESULT } from './stage-record.js';
import { resolveGraph, type Stage } from './stages.js';

/**
 * The stages of a run, from its graph.json. Directories and keys are recomputed from the stage
 * definitions (never taken from the file), so a copied run reads its own stages and a
 * tampered graph cannot point outside the run.
 */
export function readRunGraph(runDir: string): Stage[] {
  const path = join(runDir, 'graph.json');
  if (!existsSync(path))
    throw new RobustlabError(
      `${runDir} is not a reproduce run (graph.json missing); run 'robustlab reproduce' first`,
    );
  let graph: { stages?: unknown };
  try {
    graph = JSON.parse(readRegularFile(path, 'graph.json', 'utf8'));
  } catch (e) {
    if (e instanceof RobustlabError) throw e;
    throw new RobustlabError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const defs = graph?.stages;
  const ok =
    Array.isArray(defs) &&
    defs.every(
      (d) =>
        d &&
        typeof d.name === 'string' &&
        typeof d.kind === 'string' &&
        Object.hasOwn(RESULT, d.kind) &&
        d.params &&
        typeof d.params === 'object' &&
        Array.isArray(d.deps) &&
        d.deps.every((x: unknown) => typeof x === 'string'),
    );
  if (!ok) throw new RobustlabError(`${path}: not a robustlab stage graph`);
  try {
    return resolveGraph(
      (defs as Stage[]).map(({ name, kind, params, deps }) => ({ name, kind, params, deps })),
      resolve(runDir),
    );
  } catch (e) {
    throw new RobustlabError(`${path}: ${(e as Error).message}`);
  }
}
