/**
 * The spectral sweep stage with host weights per fraction (SpectralSweep + HostMlpClassifier:
 * host accuracy passes and the fused re-attack) against the tfjs path it replaced (a tfjs model
 * per fraction, tf.grad attack): the same points, bit for bit, on a real MNIST 2L.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installHostKernels, nativeLoops } from '../backend/host-kernels.js';
import { loadDataset } from '../data/node-io.js';
import { MlpClassifier } from '../models/classifier.js';
import { saveModel } from '../models/io.js';
import { trainClassifier } from '../models/train.js';
import { testBackend, TEST_DATA_DIR, yieldToEventLoop } from '../testing/fixtures.js';
import { runAttackJob } from './attack-job.js';
import { runSvdJob, type SvdJob } from './svd-job.js';
import { slowTests } from '../testing/slow-tests.js';

// tests of many seconds: vitest-setup.ts pauses before each (its RPC timeout)
slowTests();

let dir: string;
beforeAll(async () => {
  await testBackend();
  dir = mkdtempSync(join(tmpdir(), 'robustlab-svd-'));
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('runSvdJob', () => {
  it('host weights per fraction give the same points as a tfjs model per fraction', async () => {
    const ds = await loadDataset('mnist', { dataDir: TEST_DATA_DIR, limitTrain: 3000 });
    const clf = MlpClassifier.create('2L', 784, { seed: 3 });
    const train = { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 };
    trainClassifier(clf, clf.net.variables(), train, { epochs: 2, seed: 3, silent: true });
    const modelDir = join(dir, 'model');
    saveModel(
      modelDir,
      { model: clf.net },
      {
        kind: 'classifier',
        dataset: 'mnist',
        space: 'image',
        arch: '2L',
        hidden: 256,
        seed: 3,
        epochs: 2,
      },
    );
    clf.dispose();
    const attackDir = join(dir, 'attack');
    await runAttackJob({
      modelDir,
      mode: 'own-space',
      count: 2,
      seed: 1,
      dataDir: TEST_DATA_DIR,
      out: attackDir,
      silent: true,
    });
    await yieldToEventLoop();
    const job: SvdJob = {
      modelDir,
      attackDir,
      mode: 'zero',
      fractions: [0, 0.15, 0.4],
      reattackCount: 1,
      seed: 1,
      dataDir: TEST_DATA_DIR,
      limitTrain: 3000,
      limitTest: 1000,
      silent: true,
    };
    const before = tf.memory().numTensors;
    const host = await runSvdJob(job);
    expect(tf.memory().numTensors).toBe(before);
    expect(host.points).toHaveLength(3);
    expect(host.points[0].reattackSuccesses).toBeGreaterThan(0);
    await yieldToEventLoop();
    // The tfjs path: without the addon's loops a HostMlpClassifier builds its tfjs model and
    // the attack runs runAttack + tf.grad (matmuls still native, as before this change).
    const loops = nativeLoops();
    installHostKernels(tf.getBackend(), null);
    let ref: Awaited<ReturnType<typeof runSvdJob>>;
    try {
      ref = await runSvdJob(job);
    } finally {
      installHostKernels(tf.getBackend(), loops);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(host.points).toEqual(ref.points);
    expect(host.adversarialExamples).toBe(ref.adversarialExamples);
  }, 600_000);
});
