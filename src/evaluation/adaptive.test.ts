import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../data/node-io.js';
import { Generator, LATENT_DIM, trainGenerator } from '../latent/generators.js';
import { LatentPipelineClassifier } from '../latent/pipeline.js';
import { MlpClassifier } from '../models/classifier.js';
import { trainClassifier } from '../models/train.js';
import { smallMnistLrl, testPgd } from '../testing/evaluation-fixtures.js';
import { testBackend, TEST_DATA_DIR, yieldToEventLoop } from '../testing/fixtures.js';
import { adaptiveTarget, EotClassifier } from './adaptive.js';
import { marginGradientNorms } from './checks.js';
import { evaluateRobustness } from './robust-accuracy.js';

let x: Float32Array;
let y: Int32Array;
let vae: Generator;
let head: MlpClassifier;
const N = 16;

beforeAll(async () => {
  await testBackend();
  const ds = await loadDataset('mnist', { dataDir: TEST_DATA_DIR, limitTrain: 3000, limitTest: N });
  ({ images: x, labels: y } = ds.test);
  vae = Generator.create('vae', 3);
  trainGenerator(
    vae,
    { x: ds.train.images, n: ds.train.n, dim: 784 },
    { epochs: 2, seed: 3, silent: true },
  );
  // the head on sampled codes of the training images, as the study trains it
  const codes = tf.tidy(() => vae.encodeSample(tf.tensor2d(ds.train.images, [ds.train.n, 784]), 5));
  head = MlpClassifier.create('LRL', LATENT_DIM, { hidden: 64, seed: 4 });
  trainClassifier(
    head,
    head.net.variables(),
    { x: codes.dataSync() as Float32Array, y: ds.train.labels, n: ds.train.n, dim: LATENT_DIM },
    { epochs: 20, batchSize: 100, seed: 4, silent: true },
  );
  codes.dispose();
});

describe('adaptive targets', () => {
  it('VAE sample code: EOT attack, fresh-draw judge, gradients reach the pixels', () => {
    const t = adaptiveTarget(head, 'vae-encoding', vae.parts(), { eot: 8, draws: 6, seed: 1 });
    expect(t.stochastic).toBe(true);
    expect(t.draws).toBe(6);
    expect(t.attack).toBeInstanceOf(EotClassifier);
    expect(t.raw).toBeInstanceOf(LatentPipelineClassifier);
    // EOT averages draws: its logits vary less from call to call than one draw's
    const spread = (c: { logits(x: tf.Tensor2D): tf.Tensor2D }) =>
      tf.tidy(() => {
        const xb = tf.tensor2d(x.subarray(0, 8 * 784), [8, 784]);
        return tf.mean(tf.abs(tf.sub(c.logits(xb), c.logits(xb)))).dataSync()[0];
      });
    const rawSpread = spread(t.raw);
    expect(rawSpread).toBeGreaterThan(0);
    expect(spread(t.attack)).toBeLessThan(rawSpread);
    const g = marginGradientNorms(t.attack, x, y, N);
    expect(Math.min(...g)).toBeGreaterThan(0);
    const before = tf.memory().numTensors;
    const ev = evaluateRobustness(t.attack, x, y, N, {
      norm: 'l2',
      eps: 2,
      judge: t.judge,
      draws: t.draws,
      attacks: [{ name: 'pgd', fn: testPgd, kind: 'bounded', options: { steps: 10 } }],
      silent: true,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(ev.robustAccuracyDraws).toHaveLength(6);
    expect(ev.robustAccuracy).toBeLessThan(ev.cleanAccuracy);
    t.dispose();
  });

  it('VAE mean code and AE encoding: deterministic, end to end', () => {
    const t = adaptiveTarget(head, 'vae-encoding', vae.parts(), { vaeCode: 'mean' });
    expect(t.stochastic).toBe(false);
    expect(t.attack).toBe(t.judge);
    const [a, b] = [0, 1].map(() =>
      tf.tidy(() => t.attack.logits(tf.tensor2d(x.subarray(0, 784), [1, 784])).dataSync()),
    );
    expect(Array.from(a)).toEqual(Array.from(b));
    t.dispose();
  });

  it('projection spaces: the attack differentiates a surrogate, the real projection judges', async () => {
    for (const projection of ['implicit', 'bpda'] as const) {
      await yieldToEventLoop();
      const t = adaptiveTarget(head, 'vae-projection', vae.parts(), { projection, seed: 2 });
      expect(t.attack).not.toBe(t.judge);
      expect(t.description).toMatch(projection === 'implicit' ? /implicit/ : /BPDA/);
      const g = marginGradientNorms(t.attack, x, y, 2);
      expect(Math.min(...g)).toBeGreaterThan(0);
      t.dispose();
    }
  });

  it('spectral defence: white box on the modified MLP', async () => {
    const { clf } = await smallMnistLrl({ test: N, train: 3000, epochs: 2 });
    const t = adaptiveTarget(clf, 'image', {}, { spectral: { mode: 'zero', fraction: 0.4 } });
    expect(t.space).toBe('image+spectral');
    expect(t.attack).toBe(t.judge);
    expect(t.attack).not.toBe(clf);
    const differ = tf.tidy(() => {
      const xb = tf.tensor2d(x, [N, 784]);
      return tf.max(tf.abs(tf.sub(t.attack.logits(xb), clf.logits(xb)))).dataSync()[0];
    });
    expect(differ).toBeGreaterThan(1e-3);
    t.dispose();
    clf.dispose();
  });
});
