import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RobustlabError } from '../data/errors.js';
import { loadDataset } from '../data/node-io.js';
import { testBackend, TEST_DATA_DIR } from '../testing/fixtures.js';
import { classifierSpec, evaluate, MlpClassifier, parseArch, predict } from './classifier.js';
import { loadModel, saveModel } from './io.js';
import { crossEntropy, trainClassifier } from './train.js';

const tmp = mkdtempSync(join(tmpdir(), 'robustlab-clf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(testBackend);

async function mnist(nTrain: number, nTest: number) {
  const ds = await loadDataset('mnist', {
    dataDir: TEST_DATA_DIR,
    limitTrain: nTrain,
    limitTest: nTest,
  });
  return ds;
}

/** Float64 reference forward pass + cross-entropy, independent of tfjs: the oracle. */
function refLoss(
  clf: MlpClassifier,
  weights: { W: Float64Array; b: Float64Array }[],
  x: Float32Array,
  y: Int32Array,
  n: number,
): number {
  const spec = clf.net.spec;
  let total = 0;
  for (let r = 0; r < n; r++) {
    let h: number[] = Array.from(x.subarray(r * spec.inputDim, (r + 1) * spec.inputDim));
    spec.layers.forEach((l, li) => {
      const { W, b } = weights[li];
      const out = new Array<number>(l.units).fill(0);
      for (let j = 0; j < l.units; j++) {
        let s = b[j];
        for (let i = 0; i < h.length; i++) s += h[i] * W[i * l.units + j];
        out[j] = l.activation === 'relu' ? Math.max(0, s) : s;
      }
      h = out;
    });
    const m = Math.max(...h);
    const lse = m + Math.log(h.reduce((s, v) => s + Math.exp(v - m), 0));
    total += lse - h[y[r]];
  }
  return total / n;
}

describe('classifier architectures', () => {
  it("have the study's layer structure", () => {
    expect(classifierSpec('1L', 784).layers.map((l) => `${l.units}${l.activation}`)).toEqual([
      '256linear',
      '10linear',
    ]);
    expect(classifierSpec('2L', 32, 64).layers.map((l) => `${l.units}${l.activation}`)).toEqual([
      '64linear',
      '64linear',
      '10linear',
    ]);
    expect(classifierSpec('LRL', 784).layers.map((l) => l.activation)).toEqual([
      'linear',
      'relu',
      'linear',
      'linear',
    ]);
    expect(() => parseArch('3L')).toThrow(RobustlabError);
    expect(parseArch('lrl')).toBe('LRL');
  });
});

describe('gradients', () => {
  it('match central finite differences of a float64 reference', async () => {
    const ds = await mnist(16, 1);
    const n = 16;
    const x = ds.train.images.subarray(0, n * 784);
    const y = ds.train.labels.subarray(0, n);
    const clf = MlpClassifier.create('LRL', 784, { hidden: 12, seed: 3 });
    const vars = clf.net.variables();
    const grads = tf.tidy(() => {
      const xt = tf.tensor2d(x, [n, 784]);
      const yt = tf.tensor1d(y, 'int32');
      const { grads } = tf.variableGrads(() => crossEntropy(clf.logits(xt), yt), vars);
      return vars.map((v) => Array.from(grads[v.name].dataSync()));
    });
    const w64 = clf.net
      .weightsData()
      .map((l) => ({ W: Float64Array.from(l.W), b: Float64Array.from(l.b) }));
    const eps = 1e-4;
    // Probe a spread of parameters in every weight matrix and bias vector.
    for (let li = 0; li < w64.length; li++) {
      for (const key of ['W', 'b'] as const) {
        const arr = w64[li][key];
        const g = grads[li * 2 + (key === 'W' ? 0 : 1)];
        for (let k = 0; k < 6; k++) {
          const idx = Math.floor(((k + 0.5) / 6) * arr.length);
          const orig = arr[idx];
          arr[idx] = orig + eps;
          const up = refLoss(clf, w64, x, y, n);
          arr[idx] = orig - eps;
          const down = refLoss(clf, w64, x, y, n);
          arr[idx] = orig;
          const fd = (up - down) / (2 * eps);
          expect(Math.abs(g[idx] - fd)).toBeLessThan(2e-4 + 2e-3 * Math.abs(fd));
        }
      }
    }
    clf.dispose();
  });
});

describe('training on real MNIST', () => {
  it('is deterministic for a seed, keeps tensor count flat, and learns', async () => {
    const ds = await mnist(5000, 2000);
    const data = { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 };
    const counts: number[] = [];
    const run = (seed: number) => {
      const clf = MlpClassifier.create('2L', 784, { hidden: 64, seed });
      trainClassifier(clf, clf.net.variables(), data, {
        epochs: 3,
        batchSize: 100, // 150 steps: enough for a linear model to approach its ceiling
        seed,
        silent: true,
        onEpoch: () => counts.push(tf.memory().numTensors),
      });
      const w = clf.net.weightsData();
      const acc = evaluate(clf, ds.test.images, ds.test.labels, ds.test.n).accuracy;
      clf.dispose();
      return { w, acc };
    };
    const base = tf.memory().numTensors;
    const a = run(11);
    const b = run(11);
    const c = run(12);
    expect(tf.memory().numTensors).toBe(base);
    // Same number of live tensors at the end of every epoch.
    expect(new Set(counts).size).toBe(1);
    expect(a.acc).toBe(b.acc);
    a.w.forEach((l, i) =>
      expect(Buffer.from(l.W.buffer).equals(Buffer.from(b.w[i].W.buffer))).toBe(true),
    );
    expect(Buffer.from(a.w[0].W.buffer).equals(Buffer.from(c.w[0].W.buffer))).toBe(false);
    // A linear model on 5k images for 3 epochs: well above chance, near its ceiling.
    expect(a.acc).toBeGreaterThan(0.85);
  });
});

describe('save and load', () => {
  it('round-trips with identical predictions and metadata, and rejects damage clearly', async () => {
    const ds = await mnist(2000, 500);
    const clf = MlpClassifier.create('LRL', 784, { hidden: 32, seed: 4 });
    trainClassifier(
      clf,
      clf.net.variables(),
      { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 },
      { epochs: 1, seed: 4, silent: true },
    );
    const dir = join(tmp, 'lrl');
    saveModel(
      dir,
      { model: clf.net },
      {
        kind: 'classifier',
        dataset: 'mnist',
        space: 'image',
        arch: 'LRL',
        hidden: 32,
        seed: 4,
        epochs: 1,
      },
    );
    const { meta, parts } = loadModel(dir);
    expect(meta).toMatchObject({
      kind: 'classifier',
      dataset: 'mnist',
      space: 'image',
      arch: 'LRL',
      seed: 4,
      epochs: 1,
      parts: ['model'],
    });
    const loaded = new MlpClassifier('LRL', parts.model);
    const p1 = predict(clf, ds.test.images, ds.test.n);
    const p2 = predict(loaded, ds.test.images, ds.test.n);
    expect(Array.from(p2.labels)).toEqual(Array.from(p1.labels));
    expect(Array.from(p2.probs)).toEqual(Array.from(p1.probs));
    // The part file is a tfjs Layers model a browser can load.
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const layersModel = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: new Uint8Array(readFileSync(join(dir, 'model.weights.bin'))).buffer,
      }),
    );
    const viaLayers = tf.tidy(() =>
      (
        layersModel.predict(
          tf.tensor2d(ds.test.images.subarray(0, 784 * 10), [10, 784]),
        ) as tf.Tensor
      )
        .argMax(1)
        .dataSync(),
    );
    expect(Array.from(viaLayers)).toEqual(Array.from(p1.labels.subarray(0, 10)));
    layersModel.dispose();
    loaded.dispose();
    clf.dispose();

    // Damage: truncated weights, invalid JSON, missing metadata.
    truncateSync(join(dir, 'model.weights.bin'), 1000);
    expect(() => loadModel(dir)).toThrow(
      /model\.weights\.bin: weights file has 1000 bytes, expected \d+/,
    );
    writeFileSync(join(dir, 'model.json'), '{"format": "layers-mo');
    expect(() => loadModel(dir)).toThrow(/model\.json: not valid JSON/);
    rmSync(join(dir, 'robustlab.json'));
    expect(() => loadModel(dir)).toThrow(RobustlabError);
    expect(() => loadModel(join(tmp, 'nope'))).toThrow(/no robustlab model at/);
  });
});
