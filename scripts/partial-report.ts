/**
 * The study report of a run that has not finished (or was stopped): every figure, table and
 * claim from the stages that are done; what is missing shows as "—" or as inconclusive, and
 * the report's first line says how many stages it rests on.
 *
 *   node --import tsx scripts/partial-report.ts --run DIR --out DIR [--data-dir DIR]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/backend.js';
import { readRunGraph } from '../src/experiments/run-graph.js';
import { stageDone } from '../src/experiments/stages.js';
import { writeStudyReport } from '../src/report/study-report.js';
import { stageRecord } from '../src/experiments/stages.js';
import { VERSION } from '../src/version.js';
import * as tf from '@tensorflow/tfjs';
import { stageRecord } from '../src/experiments/stages.js';
import { VERSION } from '../src/version.js';
import * as tf from '@tensorflow/tfjs';

const { values } = parseArgs({
  options: { run: { type: 'string' }, out: { type: 'string' }, 'data-dir': { type: 'string' } },
});
if (!values.run || !values.out) {
  console.error('usage: partial-report.ts --run DIR --out DIR [--data-dir DIR]');
  process.exit(1);
}
const run = resolve(values.run);
const all = readRunGraph(run);
const done = all.filter(stageDone);
const graph = JSON.parse(readFileSync(join(run, 'graph.json'), 'utf8'));
await initBackend({});
const kinds = (list: typeof all) =>
  Object.entries(
    list.reduce<Record<string, number>>((a, s) => ((a[s.kind] = (a[s.kind] ?? 0) + 1), a), {}),
  )
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
const missing = all.filter((s) => !stageDone(s));
const banner =
  `> **Partial report**: ${done.length} of ${all.length} stages of this run are done ` +
  `(missing: ${missing.length ? kinds(missing) : 'none'}). Cells without their stages show "—"; ` +
  `claims that need them are inconclusive.\n\n`;
const out = resolve(values.out);
await writeStudyReport(
  out,
  done,
  {
    robustlab: VERSION,
    node: process.version,
    tfjs: tf.version.tfjs,
    preset: graph.preset?.name,
    seeds: graph.seeds,
    workers: 2,
    settings: graph.preset,
    totalStageSeconds: done.reduce((a, s) => a + (stageRecord(s).seconds ?? 0), 0),
    partial: { done: done.length, of: all.length },
  },
  values['data-dir'],
);
const md = join(out, 'report.md');
writeFileSync(md, banner + readFileSync(md, 'utf8'));
console.log(`${md}: ${done.length}/${all.length} stages`);
