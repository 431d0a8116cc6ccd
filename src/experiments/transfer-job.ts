/**
 * Adversarial accuracy through transfer (Figure 6): the successful adversarial images made
 * against an image-space classifier are mapped to a latent code (the latent classifier's own
 * method: encoder, VAE sample, or a full projection) and classified; the score is how often
 * the latent classifier still gives the true label.
 */
import { join } from 'node:path';
import { readCodeFile } from '../latent/store.js';
import { Generator } from '../latent/generators.js';
import { LatentPipelineClassifier } from '../latent/pipeline.js';
import type { LatentMethod } from '../latent/codes.js';
import { predict } from '../models/classifier.js';
import { loadClassifierDir } from './model-store.js';
import type { AttackRecord } from './attack-job.js';
import { RobustlabError } from '../data/errors.js';
import { readRegularFile } from '../util/safe-read.js';

export interface TransferCell {
  source: string; // image-space arch attacked
  space: string; // latent space of the target
  arch: string; // latent classifier arch
  n: number;
  accuracy: number;
}

/** Read an attack output directory, checking that its record and adversarial inputs agree. */
export function readAttackDir(
  dir: string,
  imageSpace = false,
): { record: AttackRecord; xAdv: Float32Array } {
  const path = join(dir, 'summary.json');
  let record: AttackRecord;
  try {
    record = JSON.parse(readRegularFile(path, 'attack summary', 'utf8')) as AttackRecord;
  } catch (e) {
    if (e instanceof RobustlabError) throw e;
    throw new RobustlabError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const n = Array.isArray(record?.success) ? record.success.length : -1;
  const intsIn = (a: unknown, lo: number, hi: number) =>
    Array.isArray(a) && a.length === n && a.every((x) => Number.isInteger(x) && x >= lo && x <= hi);
  if (
    n < 0 ||
    !intsIn(record.success, 0, 1) ||
    !intsIn(record.trueLabels, 0, 9) ||
    typeof record.space !== 'string'
  )
    throw new RobustlabError(`${path}: not an attack summary written by robustlab attack`);
  const adv = readCodeFile(join(dir, 'adversarial.rlc'));
  if (adv.header.n !== n)
    throw new RobustlabError(`${dir}: adversarial.rlc has ${adv.header.n} rows, summary.json ${n}`);
  if (imageSpace && (adv.header.dim !== 784 || record.space !== 'image'))
    throw new RobustlabError(
      `${dir}: holds an attack on a ${record.space} classifier (${adv.header.dim}-d); an image-space attack is needed`,
    );
  return { record, xAdv: adv.codes };
}

export function transferAccuracy(
  attackDir: string,
  latentModelDir: string,
  seed: number,
): TransferCell {
  const { record, xAdv } = readAttackDir(attackDir, true);
  const rows = record.success.map((s, i) => (s ? i : -1)).filter((i) => i >= 0);
  const x = new Float32Array(rows.length * 784);
  rows.forEach((i, k) => x.set(xAdv.subarray(i * 784, (i + 1) * 784), k * 784));
  const { meta, head, generator } = loadClassifierDir(latentModelDir);
  const kind = meta.space.startsWith('vae') ? 'vae' : 'ae';
  const pipeline = new LatentPipelineClassifier(
    head,
    Generator.fromParts(kind, generator),
    meta.space as LatentMethod,
    { seed },
  );
  try {
    const { labels } = predict(pipeline, x, rows.length, 1000);
    let correct = 0;
    rows.forEach((i, k) => (correct += labels[k] === record.trueLabels[i] ? 1 : 0));
    return {
      source: record.arch,
      space: meta.space,
      arch: meta.arch ?? '',
      n: rows.length,
      accuracy: rows.length ? correct / rows.length : NaN,
    };
  } finally {
    pipeline.dispose();
  }
}
