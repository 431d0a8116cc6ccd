/**
 * The study's stages as benchmark workloads, each doing exactly what bench/pytorch_bench.py
 * does in PyTorch: same shapes, batch sizes, steps and optimiser. Each returns seconds for one
 * run and its floating-point work (matmul FLOPs, the dominant cost), for GFLOP/s.
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../src/data/datasets.js';
import { targetedCeL2, PIXEL_RANGE } from '../src/attacks/targeted-ce-l2.js';
import { SpectralSweep } from '../src/defences/spectral.js';
import { projectBatch } from '../src/latent/codes.js';
import { Generator, trainGenerator } from '../src/latent/generators.js';
import { type Arch, MlpClassifier } from '../src/models/classifier.js';
import { trainClassifier, trainClassifiers } from '../src/models/train.js';
import { selectAttackExamples } from '../src/metrics/robustness.js';
import { tidyData } from '../src/util/tidy-data.js';

export interface Workload {
  name: string;
  /** Runs once; returns FLOPs of matmul work done (0 if not meaningful). */
  run: () => number;
  setup?: () => void;
  teardown?: () => void;
}

/** Matmul FLOPs of one forward+backward step through dense layers (2·m·k·n each, ×3). */
function denseTrainFlops(dims: number[], batch: number): number {
  let f = 0;
  for (let i = 0; i + 1 < dims.length; i++) f += 6 * batch * dims[i] * dims[i + 1];
  return f;
}

export function workloads(ds: Dataset): Workload[] {
  const train = { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 };
  const w: Workload[] = [];
  const archDims: Record<Arch, number[]> = {
    '1L': [784, 256, 10],
    '2L': [784, 256, 256, 10],
    LRL: [784, 256, 256, 256, 10],
  };
  for (const arch of ['1L', '2L', 'LRL'] as Arch[]) {
    w.push({
      name: `epoch ${arch} (60k, batch 1000)`,
      run: () => {
        const clf = MlpClassifier.create(arch, 784, { seed: 0 });
        trainClassifier(clf, clf.net.variables(), train, { epochs: 1, seed: 0, silent: true });
        clf.dispose();
        return denseTrainFlops(archDims[arch], 1000) * 60;
      },
    });
  }
  // Latent classifiers: the study trains 12 per dataset, 150 epochs each, on 32-d codes. Here
  // normal random codes (the work does not depend on their values).
  // (tidyData: tf.tidy returning the host array walked its 1.9M values, ~3 s per call)
  const codes = tidyData(() => tf.randomNormal([ds.train.n, 32], 0, 1, 'float32', 0));
  const latent = { x: codes, y: ds.train.labels, n: ds.train.n, dim: 32 };
  for (const arch of ['1L', '2L', 'LRL'] as Arch[]) {
    w.push({
      name: `epoch ${arch} on 32-d codes (60k, batch 1000)`,
      run: () => {
        const clf = MlpClassifier.create(arch, 32, { seed: 0 });
        trainClassifier(clf, clf.net.variables(), latent, { epochs: 1, seed: 0, silent: true });
        clf.dispose();
        return denseTrainFlops([32, ...archDims[arch].slice(1)], 1000) * 60;
      },
    });
  }
  // The study's three heads on one code dataset (issue 17 item 2): one after the other, and
  // trained together (trainClassifiers: one gather per mini-batch, each model's arithmetic
  // unchanged). Same seed for all three, as the study's stages of one seed have.
  const heads = ['1L', '2L', 'LRL'] as Arch[];
  const headsFlops =
    heads.reduce((f, a) => f + denseTrainFlops([32, ...archDims[a].slice(1)], 1000), 0) * 60;
  for (const together of [false, true]) {
    w.push({
      name: `epoch 1L+2L+LRL on 32-d codes, ${together ? 'batched' : 'one at a time'} (60k, batch 1000)`,
      run: () => {
        const clfs = heads.map((a) => MlpClassifier.create(a, 32, { seed: 0 }));
        const o = { epochs: 1, seed: 0, silent: true };
        if (together) trainClassifiers(clfs, latent, o);
        else for (const c of clfs) trainClassifier(c, c.net.variables(), latent, o);
        clfs.forEach((c) => c.dispose());
        return headsFlops;
      },
    });
  }
  for (const kind of ['ae', 'vae'] as const) {
    const dims = kind === 'ae' ? [784, 32, 784] : [784, 150, 64];
    const dec = kind === 'ae' ? [] : [32, 150, 784];
    w.push({
      name: `epoch ${kind.toUpperCase()} (60k, batch 256)`,
      run: () => {
        const g = Generator.create(kind, 0);
        trainGenerator(
          g,
          { x: ds.train.images, n: ds.train.n, dim: 784 },
          { epochs: 1, seed: 0, silent: true },
        );
        g.dispose();
        return (
          (denseTrainFlops(dims, 256) + (dec.length ? denseTrainFlops(dec, 256) : 0)) *
          Math.ceil(60000 / 256)
        );
      },
    });
  }
  for (const kind of ['ae', 'vae'] as const) {
    let g: Generator;
    let x: tf.Tensor2D;
    const dims = kind === 'ae' ? [32, 784] : [32, 150, 784];
    w.push({
      name: `projection ${kind.toUpperCase()} (2000 img × 500 steps)`,
      setup: () => {
        g = Generator.create(kind, 0);
        x = tf.tensor2d(ds.test.images.subarray(0, 2000 * 784), [2000, 784]);
      },
      run: () => {
        // Two batches of 1000, as robustlab's latent job does.
        for (const s of [0, 1000]) {
          const xb = x.slice([s, 0], [1000, 784]);
          projectBatch(g.decoder, xb, { steps: 500, seed: 1 }).dispose();
          xb.dispose();
        }
        // Per step: forward, and backward to z only (no weight gradients): 4·m·k·n per layer.
        return (denseTrainFlops(dims, 2000) / 6) * 4 * 500;
      },
      teardown: () => {
        g.dispose();
        x.dispose();
      },
    });
  }
  let clf2: MlpClassifier;
  let ex: ReturnType<typeof selectAttackExamples>;
  w.push({
    name: 'attack 180 examples × 100 steps on 2L',
    setup: () => {
      clf2 = MlpClassifier.create('2L', 784, { seed: 0 });
      trainClassifier(clf2, clf2.net.variables(), train, { epochs: 3, seed: 0, silent: true });
      // choosing the examples (a pass over the test set) is not part of the timed attack
      ex = selectAttackExamples(clf2, ds.test.images, ds.test.labels, ds.test.n, {
        count: 20,
        seed: 0,
      });
    },
    run: () => {
      // confidence 1 is never reached: exactly 100 steps for every example, as in PyTorch.
      targetedCeL2(clf2, ex.x0, ex.n, ex.goals, {
        ...PIXEL_RANGE,
        confidence: 1,
        maxSteps: 100,
        silent: true,
      });
      return 0;
    },
  });
  w.push({
    name: 'SVD sweep of 2L (20 fractions)',
    run: () => {
      // SVDs once, then each fraction's modified weights (host arrays, as the sweep stage uses
      // them; no tfjs model per fraction), as PyTorch computes (u·s')·vh per fraction
      const sweep = new SpectralSweep(clf2);
      for (let k = 0; k < 20; k++) sweep.weightsAt({ mode: 'scale', fraction: k * 0.05 });
      return 0;
    },
    teardown: () => clf2.dispose(),
  });
  return w;
}
