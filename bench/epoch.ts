/**
 * Seconds per training epoch (60,000 MNIST images, batch 1000, Adam) for each classifier
 * architecture, with and without the transposed-matmul fix on the wasm backend.
 */
import * as tf from '@tensorflow/tfjs';
import { installMatmulFix, uninstallMatmulFix } from '../src/backend/matmul-fix.js';
import {
  installNativeMatmul,
  isNativeMatmulInstalled,
  uninstallNativeMatmul,
} from '../src/backend/native-matmul.js';
import { loadDataset } from '../src/data/node-io.js';
import { ARCHS, MlpClassifier } from '../src/models/classifier.js';
import { trainClassifier } from '../src/models/train.js';
import { time } from './util.js';

export interface EpochRow {
  arch: string;
  matmulFix: boolean;
  secondsPerEpoch: number;
  gflops: number;
}

/** FLOPs of one training step: forward 2·n·in·out per layer, backward twice that. */
export function stepFlops(
  spec: { inputDim: number; layers: { units: number }[] },
  n: number,
): number {
  let fanIn = spec.inputDim;
  let f = 0;
  for (const l of spec.layers) {
    f += 6 * n * fanIn * l.units;
    fanIn = l.units;
  }
  return f;
}

export async function benchEpochs(
  dataDir: string | undefined,
  opts: { repeats: number; archs?: string[] },
): Promise<EpochRow[]> {
  const ds = await loadDataset('mnist', { dataDir });
  const data = { x: ds.train.images, y: ds.train.labels, n: ds.train.n, dim: 784 };
  const rows: EpochRow[] = [];
  // This table is about the pure-wasm path: take the native kernel out while it runs.
  const hadNative = isNativeMatmulInstalled();
  uninstallNativeMatmul();
  for (const fix of [true, false]) {
    if (fix) installMatmulFix();
    else uninstallMatmulFix();
    for (const arch of ARCHS.filter((a) => !opts.archs || opts.archs.includes(a))) {
      const clf = MlpClassifier.create(arch, 784, { seed: 0 });
      const t = time(
        () =>
          // native: false — tfjs autodiff on wasm, not the native trainer (native-fit.ts)
          trainClassifier(clf, clf.net.variables(), data, {
            epochs: 1,
            seed: 0,
            silent: true,
            native: false,
          }),
        {
          warmup: 0,
          repeats: fix ? opts.repeats : 1,
        },
      );
      const flops = stepFlops(clf.net.spec, 1000) * 60;
      rows.push({
        arch,
        matmulFix: fix,
        secondsPerEpoch: t.median,
        gflops: flops / t.median / 1e9,
      });
      clf.dispose();
      if (tf.memory().numTensors !== 0) throw new Error('benchmark leaked tensors');
    }
  }
  installMatmulFix();
  if (hadNative) {
    uninstallMatmulFix();
    installNativeMatmul();
  }
  return rows;
}
