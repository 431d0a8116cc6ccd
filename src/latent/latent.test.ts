import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RobustlabError } from '../data/errors.js';
import { loadDataset } from '../data/node-io.js';
import { evaluate, MlpClassifier } from '../models/classifier.js';
import { saveModel } from '../models/io.js';
import { trainClassifier } from '../models/train.js';
import { testBackend, TEST_DATA_DIR, yieldToEventLoop } from '../testing/fixtures.js';
import { computeCodes, projectBatch } from './codes.js';
import { Generator, reconstructionError, trainGenerator } from './generators.js';
import { buildLatentDataset, codePath } from './jobs.js';
import { LatentPipelineClassifier } from './pipeline.js';
import { decodeCodeFile, encodeCodeFile, readCodeFile } from './store.js';

const tmp = mkdtempSync(join(tmpdir(), 'robustlab-latent-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(testBackend);

const data = () =>
  loadDataset('mnist', { dataDir: TEST_DATA_DIR, limitTrain: 10000, limitTest: 1000 });

describe('autoencoders on real MNIST', () => {
  it('train (loss falls), and projection converges far below its random start', async () => {
    const ds = await data();
    for (const kind of ['ae', 'vae'] as const) {
      const gen = Generator.create(kind, 1);
      const losses = trainGenerator(
        gen,
        { x: ds.train.images, n: ds.train.n, dim: 784 },
        { epochs: 3, seed: 1, silent: true },
      );
      await yieldToEventLoop();
      expect(losses[2]).toBeLessThan(losses[0]);
      const n = 200;
      const x = tf.tensor2d(ds.test.images.subarray(0, n * 784), [n, 784]);
      const trace: number[] = [];
      const z = projectBatch(gen.decoder, x, { steps: 300, seed: 2 }, (_, m) => trace.push(m));
      // Monotone on average: the mean objective over each block of 30 steps decreases.
      const blocks = Array.from(
        { length: 10 },
        (_, b) => trace.slice(b * 30, b * 30 + 30).reduce((s, v) => s + v, 0) / 30,
      );
      for (let b = 1; b < blocks.length; b++) expect(blocks[b]).toBeLessThan(blocks[b - 1]);
      const codes = z.dataSync() as Float32Array;
      const startCodes = tf.tidy(
        () => tf.randomNormal([n, 32], 0, 1, 'float32', 2).dataSync() as Float32Array,
      );
      const projErr = reconstructionError(gen.decoder, codes, ds.test.images, n);
      const startErr = reconstructionError(gen.decoder, startCodes, ds.test.images, n);
      const encErr = reconstructionError(
        gen.decoder,
        computeCodes(gen, `${kind}-encoding`, ds.test.images, n, { seed: 0, vaeCode: 'mean' }),
        ds.test.images,
        n,
      );
      expect(projErr).toBeLessThan(0.6 * startErr);
      // Projection optimises exactly this error, so it does at least about as well as the encoder.
      expect(projErr).toBeLessThan(encErr * 1.05);
      tf.dispose([x, z]);
      gen.dispose();
    }
    expect(tf.memory().numTensors).toBe(0);
  });

  it('a latent classifier on AE codes learns, and works on images as one model', async () => {
    const ds = await data();
    const gen = Generator.create('ae', 3);
    trainGenerator(
      gen,
      { x: ds.train.images, n: ds.train.n, dim: 784 },
      { epochs: 5, seed: 3, silent: true },
    );
    await yieldToEventLoop();
    const trainCodes = computeCodes(gen, 'ae-encoding', ds.train.images, ds.train.n, { seed: 0 });
    const testCodes = computeCodes(gen, 'ae-encoding', ds.test.images, ds.test.n, { seed: 0 });
    const head = MlpClassifier.create('LRL', 32, { seed: 3 });
    for (let e = 0; e < 8; e++) {
      trainClassifier(
        head,
        head.net.variables(),
        { x: trainCodes, y: ds.train.labels, n: ds.train.n, dim: 32 },
        { epochs: 1, seed: 3 + e, silent: true, batchSize: 100 },
      );
      await yieldToEventLoop();
    }
    const acc = evaluate(head, testCodes, ds.test.labels, ds.test.n).accuracy;
    // A small AE (5 epochs on 10k) and 8 short epochs: far above chance (10%), not yet the ceiling.
    expect(acc).toBeGreaterThan(0.8);
    const pipeline = new LatentPipelineClassifier(head, gen, 'ae-encoding');
    expect(evaluate(pipeline, ds.test.images, ds.test.labels, ds.test.n).accuracy).toBeCloseTo(
      acc,
      6,
    );
    // The pipeline is differentiable in pixels.
    const g = tf.tidy(() =>
      tf.grad((x: tf.Tensor) => tf.sum(pipeline.logits(x as tf.Tensor2D)))(
        tf.tensor2d(ds.test.images.subarray(0, 784), [1, 784]),
      ),
    );
    expect(Math.max(...Array.from(g.dataSync()).map(Math.abs))).toBeGreaterThan(0);
    g.dispose();
    pipeline.dispose();
  });
});

describe('code files', () => {
  it('round-trip, and reject truncation and damage', () => {
    const f = {
      header: { n: 3, dim: 2, key: 'k', provenance: { a: 1 } },
      codes: Float32Array.from([1, 2, 3, 4, 5, 6]),
      labels: Int32Array.from([7, 8, 9]),
    };
    const bytes = encodeCodeFile(f);
    const back = decodeCodeFile(bytes, 'x.rlc');
    expect(Array.from(back.codes)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(back.labels)).toEqual([7, 8, 9]);
    expect(() => decodeCodeFile(bytes.subarray(0, bytes.length - 4), 'x.rlc')).toThrow(
      /x\.rlc: expected \d+ bytes, found \d+/,
    );
    const damaged = bytes.slice();
    damaged[damaged.length - 20] ^= 0xff;
    expect(() => decodeCodeFile(damaged, 'x.rlc')).toThrow(/checksum mismatch/);
    expect(() => decodeCodeFile(new Uint8Array(20), 'x.rlc')).toThrow(RobustlabError);
  });

  it('an interrupted build resumes from its finished chunks and gives the same codes', async () => {
    const ds = await data();
    const gen = Generator.create('ae', 4);
    trainGenerator(
      gen,
      { x: ds.train.images, n: ds.train.n, dim: 784 },
      { epochs: 1, seed: 4, silent: true },
    );
    const dirs = ['a', 'b'].map((d) => join(tmp, d));
    for (const d of dirs)
      saveModel(join(d, 'ae'), gen.parts(), {
        kind: 'ae',
        dataset: 'mnist',
        space: 'image',
        seed: 4,
        epochs: 1,
      });
    gen.dispose();
    const job = {
      dataset: 'mnist' as const,
      method: 'ae-projection' as const,
      steps: 20,
      seed: 5,
      dataDir: TEST_DATA_DIR,
      limitTrain: 2000,
      limitTest: 500,
      chunk: 500,
      silent: true,
    };
    await buildLatentDataset({ ...job, latentDir: dirs[0] });
    // Interrupt the second build after two chunks are on disk.
    let saved = 0;
    await expect(
      buildLatentDataset({
        ...job,
        latentDir: dirs[1],
        onChunkSaved: () => {
          if (++saved === 2) throw new Error('interrupted');
        },
      }),
    ).rejects.toThrow('interrupted');
    expect(existsSync(codePath(dirs[1], 'ae-projection', 'train'))).toBe(false);
    const resumed: number[] = [];
    await buildLatentDataset({
      ...job,
      latentDir: dirs[1],
      onChunkSaved: (_, start) => resumed.push(start),
    });
    expect(resumed.slice(0, 2)).toEqual([1000, 1500]); // chunks 0 and 500 were reused
    for (const split of ['train', 'test'] as const) {
      const a = readCodeFile(codePath(dirs[0], 'ae-projection', split));
      const b = readCodeFile(codePath(dirs[1], 'ae-projection', split));
      expect(Buffer.from(b.codes.buffer).equals(Buffer.from(a.codes.buffer))).toBe(true);
    }
    // A current file is reused; a changed generator rebuilds.
    expect((await buildLatentDataset({ ...job, latentDir: dirs[1] })).reused).toBe(true);
    const w = join(dirs[1], 'ae', 'decoder.weights.bin');
    const bytes = readFileSync(w);
    bytes[100] ^= 1;
    writeFileSync(w, bytes);
    expect((await buildLatentDataset({ ...job, latentDir: dirs[1] })).reused).toBe(false);
  });
});

describe('implicit gradient of the projection', () => {
  it('matches finite differences of the projected code, and releases its tensors', async () => {
    const ds = await data();
    const gen = Generator.create('ae', 6);
    trainGenerator(
      gen,
      { x: ds.train.images, n: ds.train.n, dim: 784 },
      { epochs: 2, seed: 6, silent: true },
    );
    await yieldToEventLoop();
    // A linear head so that d(logit)/dz is constant: the check is on dz⋆/dx.
    const head = MlpClassifier.create('1L', 32, { hidden: 8, seed: 6 });
    const p = new LatentPipelineClassifier(head, gen, 'ae-projection', {
      seed: 1,
      projectionGradient: 'implicit',
      attackSteps: 300,
    });
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(ds.test.images.subarray(0, 784), [1, 784]);
    p.prepare(x);
    const g = tf.tidy(() =>
      tf.grad((xx: tf.Tensor) => tf.sum(p.logits(xx as tf.Tensor2D).slice([0, 0], [1, 1])))(x),
    );
    // Directional derivative along g, by re-projecting x ± h·g/‖g‖ (warm start keeps it smooth).
    const gv = g.dataSync() as Float32Array;
    const norm = Math.hypot(...gv);
    const h = 0.05;
    const f = (sign: number) => {
      const xs = tf.tidy(() => tf.add(x, tf.mul(g, (sign * h) / norm)) as tf.Tensor2D);
      p.prepare(xs);
      const v = tf.tidy(() => p.logits(xs).slice([0, 0], [1, 1]).dataSync()[0]);
      xs.dispose();
      return v;
    };
    const fd = (f(1) - f(-1)) / (2 * h);
    // The implicit gradient predicts a directional derivative of ‖g‖ along g/‖g‖.
    expect(fd).toBeGreaterThan(0.5 * norm);
    expect(fd).toBeLessThan(1.5 * norm);
    // A forward-only prepare (Square's queries) gives the same value, without the Jacobian.
    const q = new LatentPipelineClassifier(head, gen, 'ae-projection', {
      seed: 1,
      projectionGradient: 'implicit',
      attackSteps: 300,
    });
    for (const forwardOnly of [false, true]) {
      (forwardOnly ? q : p).release();
      (forwardOnly ? q : p).prepare(x, { forwardOnly });
    }
    const [vp, vq] = [p, q].map((c) => tf.tidy(() => Array.from(c.logits(x).dataSync())));
    expect(vq).toEqual(vp);
    q.release();
    p.release();
    tf.dispose([x, g]);
    expect(tf.memory().numTensors).toBe(before);
    p.dispose();
  });
});
