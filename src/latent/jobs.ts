/**
 * Jobs for the latent-space defence (Node only): train the AE / VAE, and turn a dataset's
 * 60k/10k splits into code datasets. Code datasets are built in chunks, each written
 * atomically, so an interrupted run resumes from the last finished chunk; the final file is
 * assembled atomically at the end and reused while its key (generator weights + settings +
 * data) is unchanged.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { readRegularFile, resolveInside } from '../util/safe-read.js';
import { mkdirp } from '../util/atomic.js';
import { join } from 'node:path';
import type { DatasetName } from '../data/datasets.js';
import { RobustlabError } from '../data/errors.js';
import { loadDataset } from '../data/node-io.js';
import { loadModel, readModelMeta, saveModel } from '../models/io.js';
import { Progress } from '../util/progress.js';
import {
  computeCodes,
  type CodeOptions,
  isProjection,
  type LatentMethod,
  methodGenerator,
  PROJECTION_DEFAULTS,
} from './codes.js';
import {
  checkGeneratorParts,
  Generator,
  type GeneratorKind,
  GENERATOR_DEFAULTS,
  LATENT_DIM,
  reconstructionError,
  trainGenerator,
} from './generators.js';
import { readCodeFileIfCurrent, sha256, writeCodeFile } from './store.js';

export function defaultLatentDir(dataset: string): string {
  return join('runs', 'latent', dataset);
}

export interface GeneratorJob {
  dataset: DatasetName;
  kind: GeneratorKind;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed: number;
  out: string;
  dataDir?: string;
  limitTrain?: number;
  limitTest?: number;
  silent?: boolean;
}

export async function runTrainGenerator(job: GeneratorJob) {
  const ds = await loadDataset(job.dataset, job);
  const gen = Generator.create(job.kind, job.seed);
  try {
    const t0 = performance.now();
    const epochs = job.epochs ?? GENERATOR_DEFAULTS.epochs;
    const losses = trainGenerator(
      gen,
      { x: ds.train.images, n: ds.train.n, dim: 784 },
      {
        epochs,
        batchSize: job.batchSize ?? GENERATOR_DEFAULTS.batchSize,
        lr: job.lr ?? GENERATOR_DEFAULTS.lr,
        seed: job.seed,
        label: `${job.dataset} ${job.kind}`,
        silent: job.silent,
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    const codes = computeCodes(gen, `${job.kind}-encoding`, ds.test.images, ds.test.n, {
      seed: job.seed,
      vaeCode: 'mean',
    });
    const testReconstructionL2 = reconstructionError(gen.decoder, codes, ds.test.images, ds.test.n);
    saveModel(job.out, gen.parts(), {
      kind: job.kind,
      dataset: job.dataset,
      space: 'image',
      seed: job.seed,
      epochs,
      trainSeconds: seconds,
      settings: {
        batchSize: job.batchSize ?? GENERATOR_DEFAULTS.batchSize,
        lr: job.lr ?? GENERATOR_DEFAULTS.lr,
        finalLoss: losses.at(-1),
        testReconstructionL2,
        limitTrain: job.limitTrain ?? null,
      },
    });
    return {
      out: job.out,
      dataset: job.dataset,
      kind: job.kind,
      epochs,
      seed: job.seed,
      seconds,
      finalLoss: losses.at(-1),
      testReconstructionL2,
    };
  } finally {
    gen.dispose();
  }
}

/** Hash of a model directory's weights: the identity of a generator for cache keys. */
export function modelHash(dir: string): string {
  const meta = readModelMeta(dir);
  return sha256(
    ...meta.parts!.map(
      (p) =>
        new Uint8Array(
          readRegularFile(resolveInside(dir, `${p}.weights.bin`, dir), 'weights file'),
        ),
    ),
  );
}

export function loadGenerator(latentDir: string, kind: GeneratorKind): Generator {
  const dir = join(latentDir, kind);
  if (!existsSync(join(dir, 'robustlab.json'))) {
    throw new RobustlabError(
      `no ${kind} model in ${dir}; train one with \`robustlab train ${kind} --dataset <D> --out ${dir}\``,
    );
  }
  const { meta, parts } = loadModel(dir);
  try {
    if (meta.kind !== kind)
      throw new RobustlabError(`${dir}: is a ${meta.kind} model, expected ${kind}`);
    if (Object.keys(parts).sort().join() !== 'decoder,encoder')
      throw new RobustlabError(`${dir}: a ${kind} model has exactly an encoder and a decoder`);
    checkGeneratorParts(kind, parts, dir);
  } catch (e) {
    for (const p of Object.values(parts)) p.dispose();
    throw e;
  }
  return Generator.fromParts(kind, parts);
}

export interface LatentJob extends CodeOptions {
  dataset: DatasetName;
  method: LatentMethod;
  latentDir: string;
  dataDir?: string;
  limitTrain?: number;
  limitTest?: number;
  /** Images per resumable chunk. */
  chunk?: number;
  /** Called after each chunk is safely on disk (tests use it to simulate an interruption). */
  onChunkSaved?: (split: string, start: number) => void;
  silent?: boolean;
}

/** File stem of a code dataset: the space name, plus a suffix for non-default variants. */
export function codeStem(method: LatentMethod, o: CodeOptions = { seed: 0 }): string {
  if (isProjection(method) && (o.norm ?? 'l2') === 'l1') return `${method}-l1`;
  if (method === 'vae-encoding' && o.vaeCode === 'mean') return `${method}-mean`;
  return method;
}

export function codePath(latentDir: string, stem: string, split: 'train' | 'test'): string {
  return join(latentDir, `${stem}.${split}.rlc`);
}

export async function buildLatentDataset(job: LatentJob) {
  const kind = methodGenerator(job.method);
  const genDir = join(job.latentDir, kind);
  const gen = loadGenerator(job.latentDir, kind);
  const ds = await loadDataset(job.dataset, job);
  const stem = codeStem(job.method, job);
  const settings = isProjection(job.method)
    ? {
        steps: job.steps ?? PROJECTION_DEFAULTS.steps,
        lr: job.lr ?? PROJECTION_DEFAULTS.lr,
        norm: job.norm ?? PROJECTION_DEFAULTS.norm,
      }
    : job.method === 'vae-encoding'
      ? { vaeCode: job.vaeCode ?? 'sample' }
      : {};
  const provenanceBase = {
    dataset: job.dataset,
    method: job.method,
    generator: genDir,
    generatorHash: modelHash(genDir),
    seed: job.seed,
    ...settings,
  };
  const chunk = job.chunk ?? 5000;
  const t0 = performance.now();
  const files: Record<string, string> = {};
  const reconstruction: Record<
    string,
    { codes: number; encoder: number; codesSse?: number; encoderSse?: number }
  > = {};
  let reusedAll = true;
  try {
    for (const split of ['train', 'test'] as const) {
      const s = ds[split];
      const path = codePath(job.latentDir, stem, split);
      const key = sha256(JSON.stringify({ ...provenanceBase, split, n: s.n }));
      files[split] = path;
      const current = readCodeFileIfCurrent(path, key);
      if (current) {
        const p = current.header.provenance as {
          reconstructionL2: number;
          encoderReconstructionL2: number;
          reconstructionSse?: number;
          encoderReconstructionSse?: number;
        };
        reconstruction[split] = {
          codes: p.reconstructionL2,
          encoder: p.encoderReconstructionL2,
          codesSse: p.reconstructionSse,
          encoderSse: p.encoderReconstructionSse,
        };
        continue;
      }
      reusedAll = false;
      const partsDir = join(job.latentDir, '.parts', `${stem}.${split}.${key.slice(0, 16)}`);
      mkdirp(partsDir);
      const codes = new Float32Array(s.n * LATENT_DIM);
      const bar = new Progress({
        label: `${job.dataset} ${stem} ${split}`,
        total: s.n,
        unit: 'img',
        silent: job.silent,
      });
      for (let start = 0; start < s.n; start += chunk) {
        const end = Math.min(s.n, start + chunk);
        const partPath = join(partsDir, `${start}.rlc`);
        const partKey = sha256(key, String(start), String(end));
        const done = readCodeFileIfCurrent(partPath, partKey);
        if (done) {
          codes.set(done.codes, start * LATENT_DIM);
          bar.tick(end - start);
          continue;
        }
        const c = computeCodes(
          gen,
          job.method,
          s.images.subarray(start * 784, end * 784),
          end - start,
          {
            ...job,
            offset: start,
            onBatch: (k) => bar.tick(k),
          },
        );
        writeCodeFile(partPath, {
          header: {
            n: end - start,
            dim: LATENT_DIM,
            key: partKey,
            provenance: { ...provenanceBase, split, start, end },
          },
          codes: c,
          labels: s.labels.subarray(start, end),
        });
        codes.set(c, start * LATENT_DIM);
        job.onChunkSaved?.(split, start);
      }
      bar.finish();
      const reconstructionL2 = reconstructionError(gen.decoder, codes, s.images, s.n);
      const encoderCodes = isProjection(job.method)
        ? computeCodes(gen, `${kind}-encoding`, s.images, s.n, { seed: job.seed, vaeCode: 'mean' })
        : null;
      const encoderReconstructionL2 = encoderCodes
        ? reconstructionError(gen.decoder, encoderCodes, s.images, s.n)
        : reconstructionL2;
      const reconstructionSse = reconstructionError(gen.decoder, codes, s.images, s.n, 'sse');
      const encoderReconstructionSse = encoderCodes
        ? reconstructionError(gen.decoder, encoderCodes, s.images, s.n, 'sse')
        : reconstructionSse;
      reconstruction[split] = {
        codes: reconstructionL2,
        encoder: encoderReconstructionL2,
        codesSse: reconstructionSse,
        encoderSse: encoderReconstructionSse,
      };
      writeCodeFile(path, {
        header: {
          n: s.n,
          dim: LATENT_DIM,
          key,
          provenance: {
            ...provenanceBase,
            split,
            n: s.n,
            reconstructionL2,
            encoderReconstructionL2,
            reconstructionSse,
            encoderReconstructionSse,
          },
        },
        codes,
        labels: s.labels,
      });
      rmSync(partsDir, { recursive: true, force: true });
    }
    const partsRoot = join(job.latentDir, '.parts');
    if (existsSync(partsRoot) && readdirSync(partsRoot).length === 0)
      rmSync(partsRoot, { recursive: true, force: true });
  } finally {
    gen.dispose();
  }
  return {
    dataset: job.dataset,
    method: job.method,
    stem,
    settings,
    files,
    reconstructionL2: reconstruction,
    reused: reusedAll,
    seconds: (performance.now() - t0) / 1000,
  };
}
